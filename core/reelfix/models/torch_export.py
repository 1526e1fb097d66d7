"""Export a spandrel network to ONNX, and the small torch helpers conversion and TorchScript share.

`python -m reelfix.models.torch_export WEIGHTS OUT.onnx MINIMUM MULTIPLE` is the child process in which
torch's dynamo exporter runs (see `export_onnx`): it rebuilds the network from the weights file
the same way the parent did (reelfix.models.pth_load) and exits 0 with OUT written, or non-zero
with the reason as the last line on stderr.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import ModelError, ReelfixError
from .spandrel_compat import require_torch

OPSET = 17  # what the built-in models use; onnx2torch (TorchScript for Nuke) knows its operator versions
DYNAMO = "torch.onnx dynamo exporter"
TORCHSCRIPT = "torch.onnx TorchScript exporter"
CHILD_TIMEOUT_S = 1800


@contextmanager
def quiet_torch_export() -> Iterator[None]:
    """torch's exporters log and warn a lot for things that do not concern the user."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "torch.fx", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def probe_sizes(minimum: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """A small input and an odd-sized, non-square one, both at least `minimum`."""
    return (max(32, minimum), max(32, minimum)), (max(23, minimum) | 1, max(37, minimum) | 1)


def padded_to_multiple(module: Any, multiple_of: int, scale: int) -> Any:
    """`module` behind edge-replicating padding up to a multiple of `multiple_of`, cropped back
    after (what spandrel's own call does), so the exported model takes any size and the card
    keeps multiple_of 1; the runtime's tile overlap hides the padded edge."""
    torch = require_torch()
    if multiple_of <= 1:
        return module

    module_base: Any = torch.nn.Module

    class PadToMultiple(module_base):
        def __init__(self) -> None:
            super().__init__()
            self.net = module

        def forward(self, x: Any) -> Any:
            h, w = x.shape[2], x.shape[3]
            ph, pw = (multiple_of - h % multiple_of) % multiple_of, (multiple_of - w % multiple_of) % multiple_of
            y = self.net(torch.nn.functional.pad(x, (0, pw, 0, ph), mode="replicate"))
            return y[:, :, : h * scale, : w * scale]

    return PadToMultiple().eval()


def export_onnx(source: Path, module: Any, channels: int, minimum: int, multiple: int, path: Path) -> str:
    """Write the network of `source` (`module`: already built, padded to `multiple`) as a
    single-file ONNX model with dynamic H/W; returns the exporter used.

    torch's dynamo exporter runs in a child process (`python -m reelfix.models.torch_export`):
    on some architectures it crashes the interpreter (SPAN: a segmentation fault in torch
    2.13's decompositions), which must become a message, not a dead CLI. Where it fails,
    crashes or fixes the size, the TorchScript-based exporter runs here."""
    failures = []
    try:
        child = subprocess.run(
            [sys.executable, "-m", "reelfix.models.torch_export", str(source), str(path), str(minimum), str(multiple)],
            capture_output=True, text=True, timeout=CHILD_TIMEOUT_S,
        )  # fmt: skip
        if child.returncode == 0 and path.is_file():
            fixed = _fixed_size(path)
            if not fixed:
                return DYNAMO
            failures.append(f"{DYNAMO}: the graph came out with a fixed {fixed} input")
        else:
            lines = [ln for ln in child.stderr.splitlines() if ln.strip()]
            why = f"crashed (signal {-child.returncode})" if child.returncode < 0 else (lines[-1][:200] if lines else f"exit {child.returncode}")
            failures.append(f"{DYNAMO}: {why}")
    except subprocess.TimeoutExpired:
        failures.append(f"{DYNAMO}: no result in {CHILD_TIMEOUT_S} s")
    torch = require_torch()
    x = torch.rand(1, channels, *probe_sizes(minimum)[0])
    axes = {2: "height", 3: "width"}
    try:
        with quiet_torch_export(), torch.no_grad():
            torch.onnx.export(
                module, (x,), str(path), dynamo=False, opset_version=OPSET, input_names=["input"], output_names=["output"],
                dynamic_axes={"input": axes, "output": axes},
            )  # fmt: skip
        fixed = _fixed_size(path)
        if not fixed:
            return f"{TORCHSCRIPT} (the dynamo exporter: {failures[0].split(': ', 1)[1]})"
        failures.append(f"{TORCHSCRIPT}: the graph came out with a fixed {fixed} input")
    except Exception as exc:  # noqa: BLE001 - exporter failures come in many types
        failures.append(f"{TORCHSCRIPT}: {type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}")
    raise ModelError(f"the network cannot be exported to ONNX with a dynamic size ({'; '.join(failures)})", hint="export it yourself and adopt the .onnx")


def export_dynamo(module: Any, channels: int, minimum: int, path: Path) -> None:
    """torch's dynamo exporter, dynamic H/W, weights inside the file (run in the child process)."""
    torch = require_torch()
    x = torch.rand(1, channels, *probe_sizes(minimum)[0])
    dims = {2: torch.export.Dim("height", min=max(minimum, 1)), 3: torch.export.Dim("width", min=max(minimum, 1))}
    with quiet_torch_export(), torch.no_grad():
        torch.onnx.export(
            module, (x,), str(path), dynamo=True, external_data=False, dynamic_shapes=(dims,), optimize=True,
            opset_version=OPSET, input_names=["input"], output_names=["output"],
        )  # fmt: skip


def _fixed_size(path: Path) -> str:
    """'HxW' when the exported model's input height/width are fixed numbers, else ''."""
    import onnx

    dims = onnx.load(str(path), load_external_data=False).graph.input[0].type.tensor_type.shape.dim
    h, w = (d.dim_value if d.HasField("dim_value") else 0 for d in dims[2:4])
    return f"{h}x{w}" if h or w else ""


def _main(argv: list[str]) -> int:
    from .pth_load import detect

    source, out, minimum, multiple = Path(argv[0]), Path(argv[1]), int(argv[2]), int(argv[3])
    try:
        descriptor = detect(source)
        module = padded_to_multiple(descriptor.model, multiple, int(descriptor.scale))
        export_dynamo(module, int(descriptor.input_channels), minimum, out)
    except ReelfixError as exc:
        sys.stderr.write(exc.message + "\n")
        return 2
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which falls back
        sys.stderr.write(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
