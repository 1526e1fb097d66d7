"""Which runtime runs fp32 models on the CPU: ONNX Runtime's CPU provider, or OpenVINO.

OpenVINO (the optional `cpu` extra: `pip install reelfix[cpu]`) reads the same ONNX files and
runs them with oneDNN's JIT kernels. On an x86-64 CPU with AVX2 (2 cores, quiet) it ran SPAN
about 6% faster than ONNX Runtime and as fast as the ncnn runtime (docs/bench/cpu_speed.md); its results
differ from ONNX Runtime's by float32 rounding only (a few 1e-6 on 0-1 pictures, far below what a
half-float EXR keeps), but they are not bit-identical, so the choice is a rule, not a timing:

- `REELFIX_CPU_RUNTIME=onnxruntime` or `openvino` pins it (a farm of mixed machines pins it
  in the job's environment, so every node gives the same bits);
- `auto` (the default): OpenVINO when it is installed and the CPU is x86-64 with AVX2 (its
  CPU plugin's main target), else ONNX Runtime. The same machine with the same packages
  always makes the same choice; it is recorded in the run's manifest (`runtime`) and in each
  model node's `provider` ("OpenVINO:CPU").

Only fp32 models go to OpenVINO; int8/fp16 variants stay on ONNX Runtime, which they were
checked against when made.

On the OpenVINO route an upscaler runs with most of its convolutions in int8
(`REELFIX_CPU_PRECISION`, `choose_cpu_precision`): `runtime/ov_int8.py` makes that model once per
machine, keeping convolutions in fp32 until the whole model stays within 47 dB of fp32 on probe
crops (SPAN x2: ~1.4x faster, PSNR on held-out photos within 0.01 dB; docs/bench/cpu_speed.md).
`REELFIX_CPU_PRECISION=fp32` pins fp32 (the selection of fp32 convolutions is measured on the
machine, so a farm of mixed CPUs that must give the same bits pins fp32 or one machine's cache).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import io
import math
import os
import platform
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .. import buffers
from ..errors import DeviceError, UserError

RUNTIMES = ("auto", "onnxruntime", "openvino")
PRECISIONS = ("auto", "fp32", "int8")
OPENVINO_PROVIDER = "OpenVINO:CPU"
_OV_HINT = "install the optional extra: `pip install reelfix[cpu]` (or `pip install openvino`)"


@lru_cache(maxsize=None)  # importlib.metadata scans sys.path each call: ~2 ms per job record
def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def openvino_available() -> bool:
    return importlib.util.find_spec("openvino") is not None


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo); empty where they cannot be read."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def auto_rule(openvino: bool, machine: str, flags: frozenset[str]) -> tuple[str, str]:
    """(runtime, reason) that `auto` picks from what is installed and the CPU (pure: tested)."""
    if not openvino:
        return "onnxruntime", "auto: OpenVINO is not installed (`pip install reelfix[cpu]`)"
    if machine.lower() not in ("x86_64", "amd64"):
        return "onnxruntime", f"auto: OpenVINO is installed, but this CPU is {machine}, not x86-64"
    if flags and "avx2" not in flags:
        return "onnxruntime", "auto: OpenVINO is installed, but this CPU has no AVX2"
    return "openvino", "auto: OpenVINO is installed and the CPU is x86-64 with AVX2 (docs/bench/cpu_speed.md)"


def choose_cpu_runtime() -> tuple[str, str]:
    """(runtime, reason) for fp32 models on the CPU: `REELFIX_CPU_RUNTIME`, else the auto rule.
    Raises UserError for an unknown value, DeviceError for `openvino` where it is not installed."""
    env = os.environ.get("REELFIX_CPU_RUNTIME", "").strip().lower() or "auto"
    if env not in RUNTIMES:
        raise UserError(f"REELFIX_CPU_RUNTIME={env!r} is not one of {', '.join(RUNTIMES)}", hint="set it to onnxruntime or openvino, or unset it")
    if env == "openvino" and not openvino_available():
        raise DeviceError("REELFIX_CPU_RUNTIME=openvino, but OpenVINO is not installed", hint=_OV_HINT)
    if env != "auto":
        return env, f"REELFIX_CPU_RUNTIME={env}"
    return auto_rule(openvino_available(), platform.machine(), cpu_flags())


def choose_cpu_precision(task: str) -> tuple[str, str]:
    """(precision, reason) for an fp32 model of `task` on the OpenVINO route: 'int8' (most
    convolutions int8, `runtime/ov_int8.py`) or 'fp32'. `REELFIX_CPU_PRECISION`, else auto:
    int8 for upscalers (measured: docs/bench/cpu_speed.md), fp32 for the rest."""
    env = os.environ.get("REELFIX_CPU_PRECISION", "").strip().lower() or "auto"
    if env not in PRECISIONS:
        raise UserError(f"REELFIX_CPU_PRECISION={env!r} is not one of {', '.join(PRECISIONS)}", hint="set it to fp32 or int8, or unset it")
    if env != "auto":
        return env, f"REELFIX_CPU_PRECISION={env}"
    if task != "upscale":
        return "fp32", f"auto: int8 is measured for upscalers only, this is a {task} model"
    return "int8", "auto: convolutions in int8 where the model stays within 47 dB of fp32 on probe crops (docs/bench/cpu_speed.md)"


def int8_cache_dir() -> Path:
    """Where the int8 models made for OpenVINO are kept, beside its compiled models."""
    return openvino_cache_dir().parent / "int8"


def runtime_record() -> dict[str, Any]:
    """What the manifest records about the CPU runtime: the choice, why, and the versions."""
    try:
        chosen, reason = choose_cpu_runtime()
    except (UserError, DeviceError) as exc:
        chosen, reason = "unknown", exc.message
    record = {"cpu": chosen, "reason": reason, "onnxruntime": _version("onnxruntime") or _version("onnxruntime-gpu"), "openvino": _version("openvino")}
    if chosen == "openvino":  # how it compiles (threads: the run's own thread count)
        options = {k: v for k, v in openvino_config(0).items() if k != "INFERENCE_NUM_THREADS"}
        record["openvino_options"] = {**options, "static_shapes": True, "CACHE_DIR": str(openvino_cache_dir())}
        try:
            record["upscaler_precision"] = dict(zip(("precision", "reason"), choose_cpu_precision("upscale")))
        except UserError as exc:
            record["upscaler_precision"] = {"precision": "unknown", "reason": exc.message}
    return record


class _Arg(NamedTuple):
    """An input/output as ONNX Runtime describes it (the subset reelfix reads)."""

    name: str
    shape: list[Any]
    type: str


_OV_TYPES = {"f32": "tensor(float)", "f16": "tensor(float16)"}


OV_STATIC_SHAPES = 4  # input shapes compiled for (LRU); tiles of a frame share one shape (tiling.plan_tiles)
# A compiled model holds its shape's working memory (~1.7 KB per input pixel for SPAN) until it
# is dropped, so of the shapes above this many input pixels only the latest is kept: a process
# that meets several tile sizes holds one working set, as ONNX Runtime's arena does.
OV_SMALL_SHAPE = 128 * 128


def _copied(value: Any) -> np.ndarray:
    """A model output, copied out of the infer request's buffer (`buffers.empty`: no fresh pages per call)."""
    view = np.asarray(value)
    out = buffers.empty(view.shape, view.dtype)
    np.copyto(out, view)
    return out


def openvino_config(threads: int) -> dict[str, Any]:
    """reelfix's OpenVINO CPU options (docs/bench/cpu_speed.md measured the alternatives): fp32
    kernels (INFERENCE_PRECISION_HINT f32: no bf16 even on AMX CPUs), latency hint (one stream:
    reelfix runs one tile at a time), `threads` compute threads."""
    return {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": int(threads)}


def openvino_cache_dir() -> Path:
    """Where OpenVINO keeps compiled models (`$REELFIX_CACHE/openvino` or
    `~/.cache/reelfix/openvino`, beside the TensorRT engines): a later process loads the
    compiled blob instead of compiling again."""
    root = os.environ.get("REELFIX_CACHE")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "reelfix") / "openvino"


def _read_onnx(core: Any, path: Path) -> tuple[Any, dict[str, np.ndarray]]:
    """(OpenVINO model, {input name: default value}) for an ONNX file. An ONNX graph input that is
    also an initializer is an input with a default value: ONNX Runtime lets a caller feed it
    (grain-denoise's `sigma`), OpenVINO's reader folds it into a constant, so its port is gone.
    Such initializers are taken out of a copy of the graph given to OpenVINO in memory, and their
    values are fed where a caller leaves them out; a model without any is read from its file."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    inputs = {i.name for i in proto.graph.input}
    defaults = [t for t in proto.graph.initializer if t.name in inputs]
    if not defaults:
        return core.read_model(str(path)), {}
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer):
        onnx.load_external_data_for_model(proto, str(path.parent))
    values = {t.name: onnx.numpy_helper.to_array(t) for t in defaults}
    keep = [t for t in proto.graph.initializer if t.name not in inputs]
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(keep)
    return core.read_model(io.BytesIO(proto.SerializeToString())), values


class OpenVINOSession:
    """An OpenVINO compiled model behind the part of `onnxruntime.InferenceSession`'s interface
    reelfix uses (`get_inputs`, `get_outputs`, `get_providers`, `run`), with `openvino_config`.

    Static shapes: each input shape is compiled for on first use (the model reshaped to it),
    so OpenVINO plans its buffers and kernels once for that shape instead of on every call;
    the last `OV_STATIC_SHAPES` shapes are kept, of them only one above `OV_SMALL_SHAPE`.
    Compiled models go to `openvino_cache_dir()` (CACHE_DIR) so the next process imports
    them. Thread-safe: one infer request per
    calling thread and shape. `static=False` compiles once for dynamic shapes and `options`
    override `openvino_config` (benchmarks.cpu_speed measures both)."""

    def __init__(
        self,
        path: Path | str,
        threads: int,
        cache_dir: Path | None = None,
        *,
        static: bool = True,
        options: dict[str, Any] | None = None,
        cache: bool = True,
    ) -> None:
        import openvino as ov

        self._core = ov.Core()
        self.cache_dir: Path | None = (cache_dir if cache_dir is not None else openvino_cache_dir()) if cache else None
        try:
            if self.cache_dir is not None:
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                self._core.set_property({"CACHE_DIR": str(self.cache_dir)})
        except (OSError, RuntimeError):
            self.cache_dir = None  # a read-only home: compile every time
        self._model, self._defaults = _read_onnx(self._core, Path(path))
        self.config = {**openvino_config(threads), **(options or {})}
        self.static = static
        self._compiled: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self._lock = threading.Lock()
        self._local = threading.local()

        def describe(port: Any) -> _Arg:
            shape = [d.get_length() if d.is_static else None for d in port.get_partial_shape()]
            return _Arg(port.get_any_name(), shape, _OV_TYPES.get(port.get_element_type().get_type_name(), "other"))

        self._inputs = [describe(p) for p in self._model.inputs]
        self._outputs = [describe(p) for p in self._model.outputs]

    def get_inputs(self) -> list[_Arg]:
        return list(self._inputs)

    def get_outputs(self) -> list[_Arg]:
        return list(self._outputs)

    def get_providers(self) -> list[str]:
        return [OPENVINO_PROVIDER]

    def compiled_shapes(self) -> list[tuple[int, ...]]:
        """The input shapes compiled for, oldest first: the first input's shape, followed by the
        other inputs' shapes, flattened, where the model has more than one."""
        with self._lock:
            return list(self._compiled)

    def _compiled_for(self, shape: tuple[int, ...], shapes: dict[str, tuple[int, ...]]) -> Any:
        with self._lock:
            hit = self._compiled.get(shape)
            if hit is not None:
                self._compiled.move_to_end(shape)
                return hit
            model = self._model.clone()
            if shapes:  # {} = dynamic shapes
                model.reshape({name: list(s) for name, s in shapes.items()})
            compiled = self._core.compile_model(model, "CPU", self.config)
            self._compiled[shape] = compiled
            large = [k for k in self._compiled if k != shape and math.prod(k[2:4]) > OV_SMALL_SHAPE]
            for old in large if math.prod(shape[2:4]) > OV_SMALL_SHAPE else []:
                del self._compiled[old]
            while len(self._compiled) > OV_STATIC_SHAPES:
                self._compiled.popitem(last=False)
            return compiled

    def run(self, output_names: Sequence[str] | None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        arrays = {k: np.ascontiguousarray(v) for k, v in feeds.items()}
        for name, value in self._defaults.items():  # an input with a default that was not fed: as ONNX Runtime does
            arrays.setdefault(name, value)
        shapes = {i.name: tuple(int(n) for n in arrays[i.name].shape) for i in self._inputs} if self.static else {}
        shape = tuple(n for s in shapes.values() for n in s)
        compiled = self._compiled_for(shape, shapes)
        requests = getattr(self._local, "requests", None)
        if requests is None:
            requests = self._local.requests = {}
        request = requests.get(shape)
        if request is None or request[0] is not compiled:  # new shape, or recompiled after eviction
            live = set(self.compiled_shapes())
            for old in [s for s in requests if s not in live]:
                del requests[old]  # this thread's requests for evicted shapes
            request = requests[shape] = (compiled, compiled.create_infer_request())
        # share_inputs: the arrays are read in place (infer waits for the result); the outputs are views of
        # the request's own buffers (overwritten by its next call), copied out here into recycled memory
        result = request[1].infer(arrays, share_inputs=True, share_outputs=True)
        by_name = {port.get_any_name(): _copied(value) for port, value in result.items()}
        names = list(output_names) if output_names else [o.name for o in self._outputs]
        return [by_name[n] for n in names]
