"""Import spandrel (and onnx2torch) beside a torch build that torchvision cannot join.

Why this exists: spandrel imports torchvision at import time for two architectures it
registers eagerly (LaMa: `torchvision.transforms.functional.InterpolationMode, rotate`;
RestoreFormer: `torchvision.transforms.functional.normalize`), and onnx2torch imports
`torchvision` and `torchvision.ops.roi_align` for its NMS/RoIAlign converters. reelfix needs
none of those: it converts super-resolution networks only. But torchvision must be built
for the exact torch release beside it; the PyPI torchvision next to the torch==2.13.0 CPU
build reelfix pins fails on import with `RuntimeError: operator torchvision::nms does not
exist`, and without torchvision the import fails with ModuleNotFoundError. Either way
`import spandrel` would fail for every architecture.

So, before importing spandrel, `torchvision_problem()` tries the real torchvision once. If it
imports, it is used. If it is missing *or installed but broken* (pip pulls PyPI's torchvision
with spandrel, so "installed but broken" is the usual case), every partly imported
`torchvision*` module is dropped from `sys.modules` and a minimal stand-in is put there
*while spandrel or onnx2torch is imported*: only the names those modules import at import
time. Calling any of them raises ModelError saying why, so an inpainting or detection path
can never silently run on it. Afterwards the stand-in leaves `sys.modules` again (the
importing modules keep their references): torch's ONNX exporter asks
`importlib.util.find_spec("torchvision")` and must keep seeing the truth.
"""

from __future__ import annotations

import enum
import importlib
import importlib.machinery
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from ..errors import ModelError

CONVERT_HINT = "install the converter extra: pip install 'reelfix[convert]'"
STANDIN_VERSION = "0.0.0+reelfix-standin"

# module name -> names it must hold, for what spandrel 0.4.2 and onnx2torch 1.5 import at import time
_STANDIN_NAMES: dict[str, tuple[str, ...]] = {
    "torchvision": (),
    "torchvision.transforms": (),
    "torchvision.transforms.functional": ("rotate", "normalize"),
    "torchvision.ops": ("nms", "roi_align", "box_convert"),
}

_torchvision_problem: str | None = None  # why the real torchvision was not used (None: it was, or not tried yet)
_torchvision_tried = False


class _InterpolationMode(enum.Enum):
    """The enum LaMa references at import time (values as torchvision spells them)."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


def _unavailable(qualname: str) -> Any:
    def call(*_args: Any, **_kwargs: Any) -> NoReturn:
        raise ModelError(
            f"{qualname} is not available: torchvision could not be imported here ({_torchvision_problem}), "
            "so reelfix installed a stand-in that only lets spandrel/onnx2torch import",
            hint="reelfix converts super-resolution models, which never need torchvision; for other "
            "architectures install a torchvision built for this torch release",
        )

    call.__name__ = qualname.rsplit(".", 1)[-1]
    call.__qualname__ = qualname
    return call


def _drop_torchvision_modules() -> None:
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]  # a failed import can leave half-initialised modules behind


def _standin_modules() -> dict[str, types.ModuleType]:
    modules: dict[str, types.ModuleType] = {}
    for name, attrs in _STANDIN_NAMES.items():
        module = types.ModuleType(name, "reelfix stand-in for torchvision (see reelfix.models.spandrel_compat)")
        module.__path__ = []  # a package, so `import torchvision.ops` resolves through sys.modules
        module.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
        for attr in attrs:
            setattr(module, attr, _unavailable(f"{name}.{attr}"))
        modules[name] = module
    modules["torchvision"].__version__ = STANDIN_VERSION  # type: ignore[attr-defined]
    modules["torchvision.transforms.functional"].InterpolationMode = _InterpolationMode  # type: ignore[attr-defined]
    for name, module in modules.items():
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(modules[parent], child, module)
    return modules


def torchvision_problem() -> str | None:
    """Why the real torchvision cannot be used here (None: it imports). Tried once per process."""
    global _torchvision_problem, _torchvision_tried
    if not _torchvision_tried:
        _torchvision_tried = True
        try:
            import torchvision  # type: ignore[import-not-found]  # noqa: F401
        except Exception as exc:  # noqa: BLE001 - ImportError when absent, RuntimeError/OSError when built for another torch
            first = str(exc).splitlines()[0] if str(exc) else ""
            _torchvision_problem = f"{type(exc).__name__}: {first}".rstrip(": ")
            _drop_torchvision_modules()
    return _torchvision_problem


@contextmanager
def torchvision_standin() -> Iterator[str | None]:
    """While the block runs, `import torchvision` gives the real module if it works, else the
    stand-in; yields the reason the real one was not used (None when it was)."""
    problem = torchvision_problem()
    if problem is None:
        yield None
        return
    modules = _standin_modules()
    sys.modules.update(modules)
    try:
        yield problem
    finally:
        for name, module in modules.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]


def require_torch() -> Any:
    """The torch module, or ModelError telling how to install the converter extra."""
    try:
        import torch
    except ImportError:
        raise ModelError("converting models needs PyTorch, which is not installed", hint=CONVERT_HINT) from None
    return torch


def _import_beside_torchvision(module: str, purpose: str) -> Any:
    require_torch()
    try:
        with torchvision_standin():
            return importlib.import_module(module)
    except ImportError as exc:
        raise ModelError(f"{purpose} needs {module}, which cannot be imported ({exc})", hint=CONVERT_HINT) from None


def import_spandrel() -> Any:
    """The spandrel module, importable whatever state torchvision is in."""
    return _import_beside_torchvision("spandrel", "converting .pth models")


def import_onnx2torch() -> Any:
    """The onnx2torch module (ONNX graphs back to torch modules), with the same torchvision rule."""
    return _import_beside_torchvision("onnx2torch", "exporting ONNX models to TorchScript")
