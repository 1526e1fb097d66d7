"""Export a model as TorchScript for NukeX's CatFileCreator -> Inference route.

NukeX runs `.cat` files made by its CatFileCreator node from a TorchScript file whose
`forward` takes one 1xCxHxW float tensor and returns one tensor. What reelfix's runtime does
around a model that can live inside `forward` goes there: the input is clamped to the card's
`input_range` (the values the model was trained on). The network is traced; the wrapper around
it is scripted, so its attributes `clamp_input` (1/0), `input_min` and `input_max` can be knobs
(Foundry: CatFileCreator's custom knobs set a scripted module's attributes of the same name).
The traced graph is checked for baked-in devices (refused: they break Inference's "Use GPU if
available") and for operators the torch of each Nuke release lacks (torchscript_compat). The
archive's inner folder is named after the output file, as torch.jit.save names it for a file
saved in place. What cannot live in `forward` stays outside and is
documented in docs/nuke.md: the colour conversion into the card's `colorspace` (an
OCIOColorSpace node before the Inference node and its inverse after it), tiling, highlight
handling and provenance.

Sources:
- a catalog model (built-in span-x2/x4, packs, adopted or converted models): its ONNX graph is
  turned back into torch modules by onnx2torch (a maintained converter, not ours) and traced;
- a weights file (.pth/.pt/.ckpt/.safetensors): spandrel builds the network (reelfix.models.pth_load).

Before the file is kept it is reloaded with `torch.jit.load` and compared on real photo crops
(one square, one odd-sized, neither the traced size) with ONNX Runtime on the catalog model,
or with the eager torch network for a weights file: the maximum difference must be < 1e-4.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from .catalog import find_model, verify
from .ncnn_verify import ort_session, photo_crops
from .pth_convert import PAD_RETRIES, max_difference
from .torch_export import padded_to_multiple, quiet_torch_export
from .pth_load import SUFFIXES, detect
from .spandrel_compat import import_onnx2torch, require_torch
from .torchscript_compat import describe, device_constants

TOLERANCE = 1e-4
_TRACE_SIZE = 32  # photo crops checked afterwards are 80x80 and 53x65: the trace must not bake in its size


@dataclass
class TorchScriptReport:
    path: Path
    scale: int
    channels: int
    colorspace: str
    input_range: tuple[float, float]
    model_id: str
    checks: list[str]


def _nuke_module(traced: Any, lo: float, hi: float) -> Any:
    """One tensor in, one out; the card's input range applied inside forward unless the
    `clamp_input` attribute (a CatFileCreator custom knob of that name) is 0. Scripted, so the
    attributes stay attributes (a trace would bake their values in)."""
    torch = require_torch()

    module_base: Any = torch.nn.Module

    class ReelfixForNuke(module_base):
        def __init__(self) -> None:
            super().__init__()
            self.net = traced
            self.clamp_input = 1
            self.input_min, self.input_max = float(lo), float(hi)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.clamp_input != 0:
                x = torch.clamp(x, self.input_min, self.input_max)
            return self.net(x)

    return torch.jit.script(ReelfixForNuke().eval())


def _from_catalog(name: str) -> tuple[Any, Any, dict[str, Any]]:
    """(torch network, reference: CHW image -> CHW result by ONNX Runtime, what the card says)."""
    import onnx

    entry = find_model(name)
    path = verify(entry)
    card = entry.card
    if card.noise_input or card.precision != "fp32":
        raise ModelError(
            f"model '{card.name}' ({card.precision}{', with a noise input' if card.noise_input else ''}) cannot be exported for Nuke",
            hint="export the fp32 model with one image input (see `reelfix models list`)",
        )
    onnx2torch = import_onnx2torch()
    try:
        with quiet_torch_export():
            net = onnx2torch.convert(onnx.load(str(path))).eval()
    except Exception as exc:  # noqa: BLE001 - onnx2torch raises NotImplementedError and others for unknown ops
        raise ModelError(f"onnx2torch cannot convert {path}: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}") from None
    session = ort_session(path)
    name_in = session.get_inputs()[0].name

    def reference(image: np.ndarray) -> np.ndarray:
        return session.run(None, {name_in: np.clip(image, *card.input_range)[None]})[0][0]

    info = {"scale": card.scale, "channels": card.channels, "colorspace": card.colorspace, "input_range": tuple(card.input_range)}
    return net, reference, {**info, "origin": f"catalog model '{card.name}' via onnx2torch"}


def _from_weights(path: Path, colorspace: str) -> Iterator[tuple[Any, Any, dict[str, Any]]]:
    """The network of a weights file, then the same behind padding to 8, 16, 32, 64: a trace of a
    network that pads to its window itself (SwinIR, ...) only works for the size class traced."""
    torch = require_torch()
    descriptor = detect(path)
    first = max(1, descriptor.size_requirements.multiple_of)
    info = {"scale": int(descriptor.scale), "channels": int(descriptor.input_channels), "colorspace": colorspace, "input_range": (0.0, 1.0)}
    for multiple in [first] + [m for m in PAD_RETRIES if m > first and m % first == 0]:
        net = padded_to_multiple(descriptor.model, multiple, int(descriptor.scale))

        def reference(image: np.ndarray, net: Any = net) -> np.ndarray:
            with torch.no_grad():
                return net(torch.from_numpy(np.clip(image, 0.0, 1.0))[None]).numpy()[0]

        padded = f", padded to a multiple of {multiple}" if multiple > 1 else ""
        yield net, reference, {**info, "origin": f"{path.name} via spandrel{padded}"}


def export_torchscript(source: str, out: Path, *, colorspace: str = "srgb_tx", force: bool = False) -> TorchScriptReport:
    """Write `source` (a catalog model name, an .onnx path with its card, or a weights file) as
    TorchScript to `out`, checked after reloading it."""
    require_torch()
    out = Path(out).expanduser()
    if out.suffix.lower() not in (".pt", ".pth", ".torchscript"):
        raise ModelError(f"-o {out}: name the TorchScript file with a .pt suffix (CatFileCreator's Torchscript File)")
    if out.exists() and not force:
        raise ModelError(f"{out} already exists", hint="choose another -o or pass --force")
    weights = Path(source).expanduser()
    from_weights = weights.suffix.lower() in SUFFIXES
    attempts = list(_from_weights(weights, colorspace)) if from_weights else [_from_catalog(source)]
    out.parent.mkdir(parents=True, exist_ok=True)
    # written under its final name in a temporary folder beside it: torch names the archive's
    # inner folder after the file, and CatFileCreator sees that name
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    tmp = work / out.name
    try:
        for i, (net, reference, info) in enumerate(attempts):
            try:
                checks = _trace_and_check(net, reference, info, source, tmp)
                break
            except ModelError as exc:
                if " fails on " not in exc.message or i == len(attempts) - 1:
                    raise
        os.replace(tmp, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    model_id = weights.stem if from_weights or source.endswith(".onnx") else source
    lo, hi = info["input_range"]
    return TorchScriptReport(out, info["scale"], info["channels"], info["colorspace"], (lo, hi), model_id, checks)


def _trace_and_check(net: Any, reference: Any, info: dict[str, Any], source: str, tmp: Path) -> list[str]:
    torch = require_torch()
    lo, hi = info["input_range"]
    example = torch.rand(1, info["channels"], _TRACE_SIZE, _TRACE_SIZE) * (hi - lo) + lo
    try:
        with quiet_torch_export(), torch.no_grad():
            module = _nuke_module(torch.jit.trace(net.eval(), example, check_trace=False), lo, hi)
    except Exception as exc:  # noqa: BLE001 - tracing fails in many ways for exotic graphs
        raise ModelError(f"{source} cannot be traced to TorchScript: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}") from None
    check_devices(module, source)
    with quiet_torch_export():  # TorchScript is deprecated in torch 2.x, and still what NukeX reads
        torch.jit.save(module, str(tmp))
    return ([f"traced {info['origin']}; forward clamps to the input range [{lo:g}, {hi:g}] (attribute clamp_input: 1, 0 = off)"]
            + _check(tmp, reference, info["channels"], info["scale"]) + describe(module))


def check_devices(module: Any, source: str) -> None:
    """Refuse a graph with a device baked in: Inference's "Use GPU if available" moves the model
    and its input to the GPU, and a `cpu` constant made in forward then mixes devices."""
    devices = device_constants(module)
    if devices:
        raise ModelError(
            f"{source}: the traced graph has device constants ({', '.join(devices)}) made in forward; on Nuke's "
            "GPU (Use GPU if available) it would mix devices. Not written",
            hint="create tensors in forward from the input (torch.zeros_like(x), x.new_zeros(...)), not with device=",
        )


def _check(path: Path, reference: Any, channels: int, scale: int) -> list[str]:
    torch = require_torch()
    with quiet_torch_export():
        loaded = torch.jit.load(str(path), map_location="cpu")
    lines = []
    for label, photo in photo_crops(80).items():
        image = np.ascontiguousarray(np.resize(photo, (channels, *photo.shape[1:])))
        try:
            with torch.no_grad(), torch.jit.optimized_execution(False):  # no profiling runs: one plain pass
                got = loaded(torch.from_numpy(image)[None]).numpy()[0]
        except Exception as exc:  # noqa: BLE001 - a trace that baked in its size fails here
            raise ModelError(f"the TorchScript model fails on {label} ({str(exc).strip().splitlines()[-1][:200]}); not written") from None
        expected = reference(image)
        if expected.shape[1:] != (image.shape[1] * scale, image.shape[2] * scale):
            raise ModelError(f"the model gives {expected.shape} on {label}, not x{scale}; not written")
        worst = max_difference(got, expected, f"the TorchScript model, against the reference on {label}", TOLERANCE, "not written")
        lines.append(f"{label}: max |TorchScript - reference| {worst:.2e}")
    return lines
