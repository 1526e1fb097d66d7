"""Convert a PyTorch super-resolution model (.pth/.pt/.ckpt/.safetensors) to a carded ONNX model.

`reelfix models convert MODEL.pth`: the weights are read as data only and spandrel detects the
network (reelfix.models.pth_load); the network is exported to one self-contained ONNX file
(weights inside, `external_data=False`) with dynamic height and width; the ONNX model must
match torch within 1e-4 on a random and an odd-sized input before anything is installed.
Then the ONNX model is adopted like any user ONNX model (reelfix.models.adopt: probed scale
and channels, measured receptive field) with what the conversion knows better on its card:
the architecture, fp16 safety (spandrel's support flag *and* a measured fp16 error below
1/255 on a photo), the working memory measured by a fresh ONNX Runtime session, and the
source file's name and sha256.
"""

from __future__ import annotations

import copy
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from .adopt import AdoptReport, adopt_onnx, install_target
from .card import CARD_SUFFIX, ModelCard, sha256_of
from .ncnn_verify import TOLERANCE, bytes_per_pixel, ort_session, photo_crops
from .pth_load import detect, load_state_dict
from .spandrel_compat import require_torch
from .torch_export import export_onnx, padded_to_multiple, probe_sizes, quiet_torch_export

UNKNOWN_LICENCE = "licence unknown"
MATCH_TOLERANCE = 1e-4
MEMORY_PROBE_SIZE = 256
PAD_RETRIES = (8, 16, 32, 64)


@dataclass
class ConvertReport:
    card: ModelCard
    onnx_path: Path
    checks: list[str]
    copy_path: Path | None = None


def check_against_torch(module: Any, onnx_path: Path, channels: int, sizes: tuple[tuple[int, int], ...], tolerance: float = MATCH_TOLERANCE) -> list[str]:
    """Run ONNX Runtime and torch on random inputs of each size; ModelError above `tolerance`."""
    torch = require_torch()
    session = ort_session(onnx_path)
    name_in = session.get_inputs()[0].name
    rng = np.random.default_rng(0)
    lines = []
    for h, w in sizes:
        x = rng.random((1, channels, h, w), dtype=np.float32)
        with torch.no_grad():
            expected = module(torch.from_numpy(x)).numpy()
        try:
            got = session.run(None, {name_in: x})[0]
        except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types
            raise ModelError(f"the exported ONNX model fails on a {h}x{w} input ({str(exc).splitlines()[0][:200]}); nothing was installed") from None
        worst = max_difference(got, expected, f"the exported ONNX model, against torch on a {h}x{w} input", tolerance, "nothing was installed")
        lines.append(f"{h}x{w} random input: max |ONNX - torch| {worst:.2e}")
    return lines


def max_difference(got: np.ndarray, expected: np.ndarray, what: str, tolerance: float, consequence: str) -> float:
    """max |got - expected|; ModelError (saying `consequence`) on a shape mismatch or at `tolerance`."""
    if got.shape != expected.shape:
        raise ModelError(f"{what}: output shape {got.shape}, expected {expected.shape}; {consequence}")
    worst = float(np.abs(got - expected).max())
    if not worst < tolerance:
        raise ModelError(f"{what}: differs by {worst:.3g} (> {tolerance:g}); {consequence}")
    return worst


def fp16_error(module: Any, channels: int) -> float | None:
    """Max |fp16 - fp32| of the network on a real photo crop (None: fp16 does not run here)."""
    torch = require_torch()
    photo = next(iter(photo_crops(32).values()))
    image = torch.from_numpy(np.ascontiguousarray(np.resize(photo, (channels, *photo.shape[1:]))))[None]
    try:
        with torch.no_grad(), quiet_torch_export():
            full = module(image)
            half = copy.deepcopy(module).half()(image.half()).float()
    except Exception:  # noqa: BLE001 - CPU kernels missing for some fp16 ops
        return None
    return float((half - full).abs().max()) if bool(torch.isfinite(half).all()) else math.inf


def convert_pth(
    source: Path,
    name: str | None = None,
    *,
    colorspace: str = "srgb_tx",
    licence: str | None = None,
    dest: Path | None = None,
    copy_to: Path | None = None,
    force: bool = False,
    memory_probe_size: int = MEMORY_PROBE_SIZE,
) -> ConvertReport:
    """Convert, check and install a weights file as NAME (default: the file's stem)."""
    source = Path(source).expanduser()
    if copy_to is not None and copy_to.suffix.lower() != ".onnx":
        raise ModelError(f"-o {copy_to}: the output must be an .onnx file")
    name = name or (copy_to.stem if copy_to is not None else source.stem)
    if copy_to is not None and copy_to.stem != name:
        raise ModelError(f"-o {copy_to}: its card is found by file name, so name the file {name}.onnx", hint="or drop --name")
    install_target(name, dest, force)
    state = load_state_dict(source)
    descriptor = detect(source, state)
    arch, scale, channels = descriptor.architecture.name, int(descriptor.scale), int(descriptor.input_channels)
    req = descriptor.size_requirements
    tags = f" ({', '.join(descriptor.tags)})" if descriptor.tags else ""
    checks = [f"{source.name}: {arch}{tags}, x{scale}, {channels} channels, size requirements: {req}"]
    with tempfile.TemporaryDirectory(prefix="reelfix-convert-") as tmp:
        onnx_tmp = Path(tmp) / f"{name}.onnx"
        module, exporter = _export_checked(source, descriptor, onnx_tmp, checks)
        err16 = fp16_error(module, channels) if descriptor.supports_half else None
        fp16_safe = bool(descriptor.supports_half and err16 is not None and err16 <= TOLERANCE)
        checks.append(
            "fp16: not supported by the architecture" if not descriptor.supports_half
            else "fp16: does not run on this CPU (not measured; fp16_safe false)" if err16 is None
            else f"fp16: max |fp16 - fp32| {err16:.2e} on a photo crop -> fp16_safe {str(fp16_safe).lower()}"
        )  # fmt: skip
        measured, bpp = bytes_per_pixel(onnx_tmp, size=memory_probe_size, channels=channels)
        checks.append(f"working memory: {measured:.0f} bytes/pixel at {memory_probe_size}x{memory_probe_size} -> card {bpp}")
        report = adopt_onnx(
            onnx_tmp, name, colorspace=colorspace, licence=licence or UNKNOWN_LICENCE, dest=dest, force=force,
            card_fields=_card_fields(source, arch, tags, fp16_safe, bpp, licence, exporter),
        )  # fmt: skip
    return _finish(report, checks, scale, channels, copy_to)


def _export_checked(source: Path, descriptor: Any, path: Path, checks: list[str]) -> tuple[Any, str]:
    """Export and check against torch; (the torch module exported, the exporter used).

    Networks that pad inputs to their window size themselves (SwinIR, OmniSR, ...) can come
    out of the exporter working only for the size class they were traced at (32x32): the
    odd-sized check then fails, and the export is retried with reelfix padding the input to
    8, 16, 32, then 64 first (cropped after), so the network's own padding is always zero."""
    req, scale, channels = descriptor.size_requirements, int(descriptor.scale), int(descriptor.input_channels)
    first = max(1, req.multiple_of)
    candidates = [first] + [m for m in PAD_RETRIES if m > first and m % first == 0]
    for i, multiple in enumerate(candidates):
        module = padded_to_multiple(descriptor.model, multiple, scale)
        exporter = export_onnx(source, module, channels, req.minimum, multiple, path)
        try:
            lines = check_against_torch(module, path, channels, probe_sizes(req.minimum))
        except ModelError as exc:
            if " fails on " not in exc.message or i == len(candidates) - 1:
                raise
            tried = "without padding" if multiple == 1 else f"padded to a multiple of {multiple}"
            checks.append(f"{tried}: {exc.message.split(' (')[0]}; retrying")
            continue
        if multiple > 1:
            checks.append(f"inputs padded (edge) to a multiple of {multiple} inside the graph and cropped after: any size runs")
        checks.append(f"exported with the {exporter}: one file, {path.stat().st_size / 1e6:.1f} MB, dynamic height/width")
        checks.extend(lines)
        return module, exporter
    raise ModelError("unreachable")  # the loop returns or raises


def _card_fields(source: Path, arch: str, tags: str, fp16_safe: bool, bpp: int, licence: str | None, exporter: str) -> dict[str, Any]:
    notes = (
        f"Converted from {source.name} with `reelfix models convert` (spandrel detected {arch}{tags}; {exporter}); "
        f"ONNX matches torch within {MATCH_TOLERANCE:g} on a random and an odd-sized input. bytes_per_pixel measured "
        "(fresh ONNX Runtime session, +15%); fp16_safe from spandrel's support flag and a measured fp16 error on a photo. "
        "Input range 0..1 (spandrel's convention)."
    )
    if not licence:
        notes += " Licence unknown: not given at conversion (use --licence)."
    return {
        "architecture": arch, "fp16_safe": fp16_safe, "bytes_per_pixel": bpp,
        "source": f"{source.name} sha256:{sha256_of(source)}", "notes": notes,
    }  # fmt: skip


def _finish(report: AdoptReport, checks: list[str], scale: int, channels: int, copy_to: Path | None) -> ConvertReport:
    card = report.card
    if (card.scale, card.channels) != (scale, channels):
        for path in (report.onnx_path, report.onnx_path.with_name(card.name + CARD_SUFFIX)):
            path.unlink(missing_ok=True)
        raise ModelError(f"the exported model runs at x{card.scale} with {card.channels} channels, but spandrel says x{scale}, {channels}; nothing installed")
    copy_path = None
    if copy_to is not None and copy_to.resolve() != report.onnx_path.resolve():
        copy_to.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(report.onnx_path, copy_to)
        shutil.copyfile(report.onnx_path.with_name(card.name + CARD_SUFFIX), copy_to.with_name(card.name + CARD_SUFFIX))
        copy_path = copy_to
    return ConvertReport(card, report.onnx_path, checks + report.checks, copy_path)
