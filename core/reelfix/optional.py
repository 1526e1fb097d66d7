"""Optional dependencies: which extra of reelfix brings each, and the one-line message a user
sees when one is missing (exit 2), never an ImportError traceback.

`make install` installs the `farm` extra only; `convert` brings torch, spandrel, onnx2torch,
onnxscript, safetensors, einops and ncnn (`.pth` conversion, TorchScript, model packs checked
against ncnn); `train` brings torch and onnxscript; `dev` has them all plus the test tools.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import UserError

EXTRAS: dict[str, str] = {
    "torch": "convert",
    "torchvision": "convert",
    "spandrel": "convert",
    "onnx2torch": "convert",
    "onnxscript": "convert",
    "safetensors": "convert",
    "einops": "convert",
    "ncnn": "convert",
    "openjd": "farm",
    "psutil": "dev",
}


class MissingExtra(UserError):
    """An optional package a command needs is not installed."""


def missing_extra(exc: ImportError, purpose: str = "this command") -> MissingExtra | None:
    """The message for an ImportError of an optional package; None for anything else (a real bug)."""
    module = (getattr(exc, "name", None) or "").split(".")[0]
    extra = EXTRAS.get(module)
    if extra is None:
        return None
    return MissingExtra(
        f"{purpose} needs the optional package '{module}', which is not installed: "
        f"install reelfix's '{extra}' extra (pip install 'reelfix[{extra}]'; in a clone: .venv/bin/pip install -e '.[{extra}]')"
    )


def require(module: str, purpose: str) -> ModuleType:
    """Import an optional module, or MissingExtra naming the extra that brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise (missing_extra(exc, purpose) or exc) from None
