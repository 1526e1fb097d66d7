"""ONNX Runtime sessions checked against their model card, loaded once per process.

`get_session(path, card, device)` is the entry point: it builds the provider list for the
device, creates the session with reelfix's session options, checks the model's inputs and
outputs against the card (`validate_against_card`), runs a tiny probe to confirm the card's
scale, and caches the result per (file, its mtime and size, device, providers, card).

Session options (measured on a 2-core AVX-512 machine with a random SR net, 150 runs of
random tile sizes 64..1100 px):
- CPU memory arena ON and memory patterns OFF: RSS plateaus at the largest tile's working
  set (~235 MB there). Patterns ON cache a plan per input shape and kept growing
  (~320 MB); arena OFF was up to 4x slower (fresh page faults every run) and not smaller
  with patterns on (~440 MB). Tiles of one size (see `tiling.plan_tiles`) keep it flat.
- intra-op threads = `CPUProvider.resolved_threads()`, inter-op 1, sequential execution,
  graph optimisation ORT_ENABLE_ALL, ORT log level ERROR (reelfix logs its own warnings).
- intra-op spinning OFF: ORT's idle workers otherwise spin after each operator, taking a core
  from the frame readers, writers and OpenColorIO bands that run beside the model (the
  near-free-model pipeline of `benchmarks/host_overhead.py`: ~6% faster per frame); the
  model alone runs as fast either way (span-x2 and grain-denoise, 2 cores: within 1%).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from ..models.card import ModelCard
from ..models.shuffle_tail import PixelShuffle, cut
from . import ov_int8
from .cpu_runtime import OpenVINOSession, choose_cpu_precision, choose_cpu_runtime, int8_cache_dir
from .providers import CPUProvider, Provider, providers_for

log = logging.getLogger(__name__)

_REINSTALL = "re-install or re-convert the model (e.g. `reelfix models install NAME` or `reelfix convert`)"
_ORT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


def _is_dynamic(dim: Any) -> bool:
    """ORT reports a symbolic dim as its name (str), an unknown one as None."""
    return not isinstance(dim, int) or dim <= 0


def session_options(providers: Sequence[Provider]) -> Any:
    """reelfix's `onnxruntime.SessionOptions` (see the module docstring for the choices)."""
    import onnxruntime as ort

    threads = next((p.resolved_threads() for p in providers if isinstance(p, CPUProvider)), None)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads or CPUProvider().resolved_threads()
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.enable_cpu_mem_arena = True
    so.enable_mem_pattern = False
    so.log_severity_level = 3
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return so


def validate_against_card(session: Any, card: ModelCard, path: Path | str, out_channels: int | None = None) -> None:
    """Check an `onnxruntime.InferenceSession` against its card; raise ModelError naming the
    model file, what the card says and what the model has.

    Checks: the card's input/output names exist; both are rank 4 (NCHW); the channel dims
    equal `card.channels` (where static); the element type is float32 or float16; H and W
    are dynamic, or, for a model exported with a fixed size, both equal `card.multiple_of`
    (the card then declares the only tile size the model takes). `out_channels`: the output's
    channels where they differ from the input's (a model cut before its pixel shuffle).
    """
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    where = f"model {path}"
    if card.input_name not in inputs:
        raise ModelError(
            f"{where}: its card says input_name {card.input_name!r}, but the model's inputs are {sorted(inputs)}",
            hint=f"set input_name in {card.name}.card.json to the model's input",
        )
    if card.output_name not in outputs:
        raise ModelError(
            f"{where}: its card says output_name {card.output_name!r}, but the model's outputs are {sorted(outputs)}",
            hint=f"set output_name in {card.name}.card.json to the model's output",
        )
    for role, arg in (("input", inputs[card.input_name]), ("output", outputs[card.output_name])):
        shape = list(arg.shape)
        if len(shape) != 4:
            raise ModelError(
                f"{where}: {role} {arg.name!r} has shape {shape}, but reelfix needs rank 4 (N, C, H, W)",
                hint="re-export the model with NCHW input and output",
            )
        if arg.type not in _ORT_TYPES:
            raise ModelError(
                f"{where}: {role} {arg.name!r} is {arg.type}, but reelfix feeds float32 or float16 tensors",
                hint="re-export the model with float input and output",
            )
        ch, want = shape[1], (out_channels or card.channels) if role == "output" else card.channels
        if not _is_dynamic(ch) and ch != want:
            raise ModelError(
                f"{where}: {role} {arg.name!r} has {ch} channels, but its card says channels={want}",
                hint=f"fix channels in {card.name}.card.json or use a model with {card.channels}-channel {role}",
            )
    in_shape = list(inputs[card.input_name].shape)
    static = [d for d in in_shape[2:] if not _is_dynamic(d)]
    if static and not (len(static) == 2 and static[0] == static[1] == card.multiple_of):
        raise ModelError(
            f"{where}: input {card.input_name!r} has a fixed size {in_shape[2:]} (H, W), but reelfix needs "
            f"dynamic H and W to run tiles of any size (card multiple_of={card.multiple_of})",
            hint="re-export with dynamic axes for height and width (torch.onnx.export(..., dynamic_shapes=...)), "
            "or for a square fixed-size model set the card's multiple_of to that size",
        )


@dataclass
class ModelSession:
    """A loaded model: its card, file, the provider that actually runs it, and `run`."""

    card: ModelCard
    path: Path
    session: Any = field(repr=False)
    requested: tuple[Provider, ...] = ()
    shuffle: PixelShuffle | None = None  # `run` returns the channels before the model's final pixel shuffle
    precision: str = ""  # OpenVINO route: "fp32" or what of the model runs in int8 (`runtime.ov_int8`)

    @property
    def provider(self) -> str:
        """The execution provider ONNX Runtime really uses first (after any silent fallback)."""
        return str(self.session.get_providers()[0])

    @cached_property
    def input_dtype(self) -> type:
        arg = next(i for i in self.session.get_inputs() if i.name == self.card.input_name)
        return _ORT_TYPES[arg.type]

    @cached_property
    def fixed_size(self) -> tuple[int, int] | None:
        """(H, W) for a model exported with a fixed input size, else None. Such a model
        (accepted when its card's multiple_of equals the size) gets every tile exactly that
        size (`tiling.run_tiled(..., fixed=size)`, as the upscale node passes it)."""
        arg = next(i for i in self.session.get_inputs() if i.name == self.card.input_name)
        h, w = arg.shape[2], arg.shape[3]
        return None if _is_dynamic(h) or _is_dynamic(w) else (int(h), int(w))

    def run(self, x_nchw: np.ndarray) -> np.ndarray:
        """Run the model on a 1xCxHxW (or NxCxHxW) float array; returns float32 NCHW.

        Input is cast to the model's input type (float16 models get float16) and made
        contiguous. ORT failures become ModelError naming the model and the input shape.
        """
        if x_nchw.ndim != 4 or x_nchw.shape[1] != self.card.channels:
            raise ModelError(
                f"model {self.path}: got input of shape {tuple(x_nchw.shape)}, expected (N, {self.card.channels}, H, W)",
                hint="this is a reelfix bug if it came from a node; please report it",
            )
        x: np.ndarray = np.ascontiguousarray(x_nchw, dtype=self.input_dtype)
        try:
            (y,) = self.session.run([self.card.output_name], {self.card.input_name: x})
        except Exception as exc:  # noqa: BLE001 - ORT raises its own pybind exception types
            raise ModelError(
                f"model {self.path} failed on input {tuple(x.shape)} with {self.provider}: {exc}",
                hint=f"check the card's multiple_of ({self.card.multiple_of}); for out-of-memory use a smaller "
                "--tile or --max-memory",
            ) from None
        return np.asarray(y, dtype=np.float32)


def _runtime_for(card: ModelCard, providers: Sequence[Provider]) -> str:
    """'openvino' (or 'openvino-int8', `choose_cpu_precision`) for an fp32 model on the CPU alone
    where `choose_cpu_runtime` picks OpenVINO, else 'onnxruntime' (GPU providers, int8/fp16 variants)."""
    if card.precision != "fp32" or not all(isinstance(p, CPUProvider) for p in providers):
        return "onnxruntime"
    runtime = choose_cpu_runtime()[0]
    if runtime == "openvino" and choose_cpu_precision(card.task)[0] == "int8":
        return "openvino-int8"
    return runtime


def _openvino_int8(path: Path, card: ModelCard, threads: int) -> tuple[Path, str]:
    """(model file, precision note) for the int8 route: the int8 model made from `path` (cached
    under `int8_cache_dir()`), or `path` itself in fp32 where none can be made (logged)."""

    def runner(p: Path) -> Callable[[np.ndarray], np.ndarray]:
        sess = OpenVINOSession(p, threads, cache=False)  # probe models: not worth a compiled blob each
        return lambda x: sess.run([card.output_name], {card.input_name: np.ascontiguousarray(x, np.float32)})[0]

    try:
        q, report = ov_int8.cached_int8(path, int8_cache_dir(), runner, threads=threads, target_db=ov_int8.FIDELITY_DB)
    except (ModelError, OSError, RuntimeError) as exc:
        log.info("model %s: no int8 model for OpenVINO (%s); it runs in fp32", path.name, exc)
        return path, "fp32 (no int8 model could be made)"
    total = len(report["int8"]) + len(report["fp32"])
    return q, f"int8: {len(report['int8'])} of {total} convolutions, {report['fidelity_db']:.1f} dB of fp32 on probe crops"


def _create(
    path: Path, card: ModelCard, providers: Sequence[Provider], runtime: str = "onnxruntime", pre_shuffle: bool = False
) -> ModelSession:
    if not path.is_file():
        raise ModelError(f"model file not found: {path}", hint=_REINSTALL)
    tail = cut(path, card) if pre_shuffle else None
    if tail is None:
        return _create_whole(path, card, providers, runtime)
    ms = _create_whole(tail.path, card.model_copy(update={"output_name": tail.output_name}), providers, runtime, tail.shuffle)
    ms.path = path  # messages name the user's model
    return ms


def _create_whole(
    path: Path, card: ModelCard, providers: Sequence[Provider], runtime: str, shuffle: PixelShuffle | None = None
) -> ModelSession:
    import onnxruntime as ort

    out_channels = card.channels * shuffle.block**2 if shuffle else None
    if runtime.startswith("openvino"):
        threads = next(p.resolved_threads() for p in providers if isinstance(p, CPUProvider))
        run_path, precision = _openvino_int8(path, card, threads) if runtime == "openvino-int8" else (path, "fp32")
        try:
            ov_sess = OpenVINOSession(run_path, threads)
        except Exception as exc:  # noqa: BLE001 - OpenVINO raises RuntimeError and its own types
            raise ModelError(f"cannot load model {path} with OpenVINO: {exc}", hint="or set REELFIX_CPU_RUNTIME=onnxruntime") from None
        ms = ModelSession(card=card, path=path, session=ov_sess, requested=tuple(providers), shuffle=shuffle, precision=precision)
        validate_against_card(ov_sess, card, path, out_channels)
        _probe(ms)
        return ms
    so = session_options(providers)
    names = [p.ort_name for p in providers]
    opts = [p.ort_options() for p in providers]
    for p in providers:
        cache = getattr(p, "cache_dir", None)
        if cache is not None:
            Path(cache()).mkdir(parents=True, exist_ok=True)
    try:
        sess = ort.InferenceSession(str(path), sess_options=so, providers=names, provider_options=opts)
    except Exception as exc:  # noqa: BLE001 - InvalidProtobuf, Fail, InvalidGraph, NoSuchFile, ...
        raise ModelError(f"cannot load model {path}: {exc}", hint=_REINSTALL) from None
    ms = ModelSession(card=card, path=path, session=sess, requested=tuple(providers), shuffle=shuffle)
    if ms.provider != names[0]:
        log.warning(
            "model %s: asked for %s but ONNX Runtime runs it on %s (the provider failed to load, "
            "e.g. missing CUDA/cuDNN/TensorRT libraries); run `reelfix devices` to check",
            path.name,
            names[0],
            ms.provider,
        )
    validate_against_card(sess, card, path, out_channels)
    if ms.provider != "TensorrtExecutionProvider":  # a probe there would build a TensorRT engine for it
        _probe(ms)
    return ms


def _probe(ms: ModelSession) -> None:
    """Run one small input to confirm the card's scale and output channels (before the pixel
    shuffle for a model cut there: C*s*s channels at the input's size)."""
    card = ms.card
    fixed = ms.fixed_size
    if fixed is not None:
        h, w = fixed
    else:
        m = card.multiple_of
        h = w = m * max(1, -(-16 // m))
    x = np.full((1, card.channels, h, w), 0.5, np.float32)
    y = ms.run(x)
    s = ms.shuffle.block if ms.shuffle else 1
    want = (1, card.channels * s * s, h * card.scale // s, w * card.scale // s)
    if tuple(y.shape) != want:
        got_scale = y.shape[2] / h if y.ndim == 4 else float("nan")
        raise ModelError(
            f"model {ms.path}: a {h}x{w} input gave output shape {tuple(y.shape)} (scale {got_scale:g}), "
            f"but its card says scale={card.scale}, channels={card.channels} -> expected {want}",
            hint=f"fix scale/channels in {card.name}.card.json",
        )


_CacheKey = tuple[str, int, int, tuple[Provider, ...], ModelCard, str, bool]
_cache: dict[_CacheKey, ModelSession] = {}
_lock = threading.Lock()


def get_session(
    path: Path | str,
    card: ModelCard,
    device: str = "auto",
    *,
    providers: Sequence[Provider] | None = None,
    pre_shuffle: bool = False,
) -> ModelSession:
    """The ModelSession for a model file, created once per process and reused.

    On the CPU alone an fp32 model may run on OpenVINO instead of ONNX Runtime
    (`cpu_runtime.choose_cpu_runtime`; `provider` then says "OpenVINO:CPU").
    Cached per (resolved path, file mtime and size, providers, card, runtime) — the providers come
    from `providers_for(device, fp16=card.fp16_safe or card.precision == "fp16")` unless given,
    and the card carries the precision. A changed file (new mtime/size) is reloaded and its stale session dropped.
    `pre_shuffle`: where the model ends in a pixel shuffle (DepthToSpace), run it without that
    op and say so in `ModelSession.shuffle` (see `models.shuffle_tail`; the upscale node does the
    shuffle itself, fused with its colour conversion).
    Thread-safe: concurrent callers wait for one load. Raises ModelError (missing or
    corrupt file, card mismatch) or DeviceError (device not available).
    """
    p = Path(path).expanduser().resolve()
    fp16 = card.fp16_safe or card.precision == "fp16"  # an fp16 variant: TensorRT builds fp16 engines for it
    provs = tuple(providers) if providers is not None else tuple(providers_for(device, fp16=fp16))
    try:
        st = p.stat()
    except OSError:
        raise ModelError(f"model file not found: {p}", hint=_REINSTALL) from None
    runtime = _runtime_for(card, provs)
    key: _CacheKey = (str(p), st.st_mtime_ns, st.st_size, provs, card, runtime, pre_shuffle)
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            return hit
        for old in [k for k in _cache if k[0] == key[0] and k[3:] == key[3:]]:
            del _cache[old]  # the file changed on disk: drop the stale session
        ms = _create(p, card, provs, runtime, pre_shuffle)
        _cache[key] = ms
        return ms


def clear_session_cache() -> None:
    """Forget every cached session (tests; hosts that reload models)."""
    with _lock:
        _cache.clear()
