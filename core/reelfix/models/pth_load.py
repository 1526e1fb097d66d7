"""Read a PyTorch weights file safely and let spandrel say which network it is.

Weights files are loaded as *data only*: `.pth`/`.pt`/`.ckpt` with
`torch.load(weights_only=True)` (torch's restricted unpickler: tensors, containers and
numbers; any other Python object is refused before it is built, so nothing in the file can
run), `.safetensors` with safetensors. The usual wrappers (`params_ema`, `params`,
`state_dict`, a `module.` prefix, ...) are unwrapped the way spandrel does it, then
spandrel detects the architecture and its hyper-parameters from the tensor names and shapes.
Only super-resolution networks with the same channels in and out are accepted: reelfix runs
them as the `upscale` node; inpainting, face restoration and other purposes are refused.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..errors import ModelError
from .spandrel_compat import import_spandrel, require_torch

SUFFIXES = (".pth", ".pt", ".ckpt", ".safetensors")
_GLOBAL = re.compile(r"\bGLOBAL ([\w.]+)")  # torch names the refused global: "GLOBAL io.open was not an allowed ..."


def _unpickler_detail(message: str) -> str:
    """The useful line of torch's long weights_only error."""
    tail = message.split("WeightsUnpickler error:", 1)[-1]
    lines = [ln.strip() for ln in tail.splitlines() if ln.strip() and "documentation of torch.load" not in ln]
    return lines[0] if lines else message.splitlines()[0]


def _load_pickled(path: Path) -> Any:
    torch = require_torch()
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError, EOFError, ...
        text = str(exc)
        found = _GLOBAL.search(text)
        if found:
            raise ModelError(
                f"{path}: refused: the file holds a pickled Python object ({found.group(1)}), not only tensors; "
                "loading it could run code, so it was not loaded",
                hint="re-save the weights as a plain state dict (torch.save(model.state_dict(), ...)) or as .safetensors",
            ) from None
        if "TorchScript archives" in text:
            raise ModelError(
                f"{path} is a TorchScript program, not a weights file; reelfix reads state dicts only",
                hint="convert the original .pth/.safetensors weights instead",
            ) from None
        reason = _unpickler_detail(text) if "Weights only load failed" in text else (text.splitlines()[0] if text else type(exc).__name__)
        raise ModelError(
            f"{path} cannot be read as PyTorch weights ({reason[:200]}); the file is corrupt, truncated or not a PyTorch file",
            hint="download or export the weights again",
        ) from None


def _load_safetensors(path: Path) -> Any:
    require_torch()
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise ModelError("reading .safetensors needs the safetensors package", hint="pip install 'reelfix[convert]'") from None
    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:  # noqa: BLE001 - safetensors raises SafetensorError / OSError
        raise ModelError(f"{path} cannot be read as safetensors ({str(exc).splitlines()[0][:200]}); the file is corrupt or truncated") from None


def _describe(obj: Any, limit: int = 8) -> str:
    if not isinstance(obj, dict):
        return f"a {type(obj).__name__}"
    keys = [str(k) for k in obj][:limit]
    more = f", ... ({len(obj)} in all)" if len(obj) > limit else ""
    return f"{len(obj)} entries: {', '.join(keys)}{more}" if obj else "an empty dict"


def load_state_dict(path: Path) -> dict[str, Any]:
    """The tensors of a weights file, unwrapped as spandrel does; ModelError names the file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    if path.suffix.lower() not in SUFFIXES:
        raise ModelError(f"{path}: unsupported weights file type '{path.suffix}'", hint=f"expected one of {', '.join(SUFFIXES)}")
    raw = _load_safetensors(path) if path.suffix.lower() == ".safetensors" else _load_pickled(path)
    if not isinstance(raw, dict):
        raise ModelError(f"{path} holds {_describe(raw)}, not a state dict (names -> tensors)")
    torch = require_torch()
    spandrel = import_spandrel()
    state = spandrel.canonicalize_state_dict(raw)
    tensors = {str(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise ModelError(f"{path} holds no tensors: found {_describe(state)}", hint="is it a training checkpoint without weights?")
    return tensors


def detect(path: Path, state: dict[str, Any] | None = None) -> Any:
    """spandrel's ImageModelDescriptor for the file (float32, CPU, eval mode)."""
    path = Path(path).expanduser()
    state = load_state_dict(path) if state is None else state
    spandrel = import_spandrel()
    try:
        descriptor = spandrel.ModelLoader("cpu").load_from_state_dict(state)
    except spandrel.UnsupportedModelError:
        raise ModelError(
            f"{path}: spandrel does not recognise this network; the state dict has {_describe(state)}",
            hint="only architectures spandrel 0.4 detects can be converted (ESRGAN/RRDBNet, Real-ESRGAN Compact, SPAN, "
            "SwinIR, HAT, DAT, OmniSR, PLKSR, ...); export the model to ONNX yourself and adopt the .onnx",
        ) from None
    except Exception as exc:  # noqa: BLE001 - a detected architecture whose tensors do not fit raises anything
        raise ModelError(
            f"{path}: the tensors look like a known network but do not load into it ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
            f"the state dict has {_describe(state)}",
            hint="the file may be truncated or a variant spandrel does not support",
        ) from None
    name, purpose = descriptor.architecture.name, descriptor.purpose
    if purpose != "SR" or not isinstance(descriptor, spandrel.ImageModelDescriptor):
        raise ModelError(
            f"{path}: {name} is a {purpose} model; reelfix converts super-resolution (upscale) models only",
            hint="inpainting, face restoration and other restoration networks cannot run as the upscale node",
        )
    if descriptor.input_channels != descriptor.output_channels:
        raise ModelError(
            f"{path}: {name} takes {descriptor.input_channels} channels and gives {descriptor.output_channels}; "
            "reelfix needs the same count in and out"
        )
    if descriptor.size_requirements.square:
        raise ModelError(f"{path}: {name} needs square inputs; reelfix's tiles are not square", hint="export it to ONNX with a fixed square size and adopt that")
    return descriptor.float().eval()
