"""Check a converted ncnn model against the ncnn runtime, and measure what its card needs.

Shared by `reelfix models install` (packs) and `reelfix models convert` (adopted ONNX):

- `verify_against_ncnn`: the ONNX model and the ncnn runtime (fp32, CPU, no Vulkan) on real
  photo crops from scikit-image; the maximum difference must be at most 1/255, or, where two
  fp32 runtimes disagree by more, the ONNX result must be at least as close as ncnn to a
  float64 evaluation of the same layers (the rule tools/build_builtin_models.py uses);
- `receptive_field`: how far a one-pixel change reaches (tile overlap for the card);
- `bytes_per_pixel`: peak RSS growth of a fresh ONNX Runtime (or OpenVINO) session, per input pixel.

Needs the `ncnn` Python package (the `dev` extra) for the runtime comparison.
"""

from __future__ import annotations

import math
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError

TOLERANCE = 1.0 / 255.0
THREADS = 2


def photo_crops(size: int = 96) -> dict[str, np.ndarray]:
    """Real photo crops (CHW float32 in [0, 1]): one `size` square and one odd-sized crop."""
    from skimage import data

    odd = max(size * 2 // 3, 8) | 1
    crops = {
        f"astronaut {size}x{size}": data.astronaut()[100 : 100 + size, 180 : 180 + size],
        f"coffee odd {odd}x{odd + 12}": data.coffee()[211 : 211 + odd, 301 : 301 + odd + 12],
    }
    return {k: np.ascontiguousarray(v.transpose(2, 0, 1).astype(np.float32) / 255.0) for k, v in crops.items()}


def ort_session(source: Path | bytes, threads: int = THREADS) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(source if isinstance(source, bytes) else str(source), options, providers=["CPUExecutionProvider"])


@lru_cache(maxsize=8)
def ncnn_blobs(param: Path) -> tuple[str, str]:
    """(input blob of the Input layer, output blob: produced and never consumed)."""
    lines = [line.split() for line in Path(param).read_text().splitlines()[2:] if line.strip()]
    produced: list[str] = []
    consumed: set[str] = set()
    input_blob = ""
    for parts in lines:
        n_in, n_out = int(parts[2]), int(parts[3])
        inputs, outputs = parts[4 : 4 + n_in], parts[4 + n_in : 4 + n_in + n_out]
        if parts[0] == "Input":
            input_blob = outputs[0]
        consumed.update(inputs)
        produced.extend(outputs)
    outputs = [b for b in produced if b not in consumed]
    if not input_blob or len(outputs) != 1:
        raise ModelError(f"{param}: expected one Input layer and one output blob, found outputs {outputs}")
    return input_blob, outputs[0]


@lru_cache(maxsize=8)
def _ncnn_net(param: str, bin_: str, threads: int) -> Any:
    """An ncnn.Net loaded for fp32 CPU inference, once per (model, threads): repeated runs
    (several photos, benchmark repeats) time inference only."""
    try:
        import ncnn
    except ImportError:
        raise ModelError(
            "the `ncnn` Python package is needed to verify a converted model",
            hint="install it with `pip install ncnn` (or reelfix's `dev` extra)",
        ) from None
    net = ncnn.Net()
    for option in ("use_vulkan_compute", "use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic", "use_bf16_storage"):
        setattr(net.opt, option, False)
    net.opt.num_threads = threads
    if net.load_param(param) != 0 or net.load_model(bin_) != 0:
        raise ModelError(f"the ncnn runtime cannot load {param} / {bin_}")
    return net


def run_ncnn(param: Path, bin_: Path, image: np.ndarray, threads: int = THREADS) -> np.ndarray:
    """The ncnn runtime's fp32 CPU result for one CHW image (also the benchmarks' speed peer)."""
    import ncnn

    net = _ncnn_net(str(param), str(bin_), int(threads))
    src, dst = ncnn_blobs(param)
    image = np.ascontiguousarray(image, dtype=np.float32)
    mat = ncnn.Mat(image)  # no copy: `image` must outlive the extraction
    extractor = net.create_extractor()
    extractor.input(src, mat)
    ret, out = extractor.extract(dst)
    if ret != 0:
        raise ModelError(f"the ncnn runtime failed on {param} (code {ret})")
    return np.array(out, copy=True)


def reference_f64(param: Path, bin_: Path, image: np.ndarray) -> np.ndarray | None:
    """The network in float64 with numpy, straight from the parsed ncnn layers (independent of
    both runtimes); None when it uses a layer this small evaluator does not know."""
    from .ncnn_format import conv_spec, load_net

    values: dict[str, Any] = {}
    y: Any = None
    for layer in load_net(param, bin_).layers:
        x: Any = values.get(layer.inputs[0]) if layer.inputs else None
        if layer.type == "Input":
            y = image.astype(np.float64)
        elif layer.type == "MemoryData":
            y = layer.weights["data"].astype(np.float64)
        elif layer.type == "Split":
            y = x
        elif layer.type == "Convolution" and conv_spec(layer).kernel[0] > 0:
            spec = conv_spec(layer)
            (kh, kw), (top, left, bottom, right) = spec.kernel, spec.pads
            padded = np.pad(x, ((0, 0), (top, bottom), (left, right)))
            windows = np.lib.stride_tricks.sliding_window_view(padded, (kh, kw), axis=(1, 2))
            cols = windows.transpose(0, 3, 4, 1, 2).reshape(-1, windows.shape[1] * windows.shape[2])
            y = (layer.weights["weight"].astype(np.float64).reshape(spec.num_output, -1) @ cols).reshape(spec.num_output, *windows.shape[1:3])
            y += layer.weights["bias"].astype(np.float64)[:, None, None] if spec.bias_term else 0.0
            if layer.get_int(9, 0) not in (0,):
                return None  # fused activations: not evaluated here
        elif layer.type in ("Swish", "Sigmoid"):
            y = 1.0 / (1.0 + np.exp(-x)) * (x if layer.type == "Swish" else 1.0)
        elif layer.type == "BinaryOp" and layer.get_int(0, 0) in (0, 1, 2, 3):
            other = layer.get_float(2, 0.0) if layer.get_int(1, 0) else values[layer.inputs[1]]
            y = {0: np.add, 1: np.subtract, 2: np.multiply, 3: np.divide}[layer.get_int(0, 0)](x, other)
        elif layer.type == "Concat":
            y = np.concatenate([values[blob] for blob in layer.inputs], axis=0)
        elif layer.type == "PixelShuffle":
            r, (c, h, w) = layer.get_int(0, 1), x.shape
            y = x.reshape(c // (r * r), r, r, h, w).transpose(0, 3, 1, 4, 2).reshape(c // (r * r), h * r, w * r)
        else:
            return None
        for blob in layer.outputs:
            values[blob] = y
    return y


def verify_against_ncnn(
    param: Path, bin_: Path, onnx_path: Path, images: dict[str, np.ndarray], scale: int, prepad: int = 0
) -> list[str]:
    """Compare the ONNX model with ncnn on every image; returns one line per image.

    Raises ModelError when an image misses 1/255 and a float64 evaluation does not show the
    ONNX model at least as close to the exact result as ncnn itself. `prepad`: the ONNX model
    replicates that many edge pixels itself; ncnn gets an input padded the same way."""
    session = ort_session(onnx_path)
    name_in, name_out = session.get_inputs()[0].name, session.get_outputs()[0].name
    report = []
    for label, image in images.items():
        fed = np.pad(image, ((0, 0), (prepad, prepad), (prepad, prepad)), mode="edge") if prepad else image
        expected = run_ncnn(param, bin_, fed)
        got = session.run([name_out], {name_in: image[None]})[0][0]
        if got.shape != expected.shape:
            raise ModelError(f"{onnx_path.name} on {label}: ONNX output {got.shape} but ncnn gives {expected.shape}")
        worst = float(np.abs(got - expected).max())
        line = f"{label}: max |ONNX - ncnn| {worst:.3e}"
        if worst > TOLERANCE:
            exact = reference_f64(param, bin_, fed)
            if exact is None or exact.shape != got.shape:
                raise ModelError(f"{onnx_path.name} differs from the ncnn runtime by {worst:.4g} (> 1/255) on {label}")
            ours, theirs = float(np.abs(got - exact).max()), float(np.abs(expected - exact).max())
            if ours > max(TOLERANCE, theirs):
                raise ModelError(f"{onnx_path.name} differs from ncnn by {worst:.4g} on {label} and is further from the float64 result ({ours:.3g}) than ncnn ({theirs:.3g})")
            line += f" (float64 arbitration: ONNX {ours:.3e}, ncnn {theirs:.3e})"
        report.append(line)
    return report


def receptive_field(onnx_path: Path, scale: int, channels: int = 3, size: int = 96, threshold: float = 1e-6) -> tuple[int, bool]:
    """(radius in input pixels a one-pixel change reaches, whether it stayed inside the probe).

    When the change reaches the probe's edge the radius is a lower bound."""
    from skimage import data

    photo = data.astronaut()[200 : 200 + size, 200 : 200 + size].astype(np.float32) / 255.0
    image = np.ascontiguousarray(np.resize(photo.transpose(2, 0, 1), (channels, size, size)))
    session = ort_session(onnx_path)
    name_in = session.get_inputs()[0].name
    dtype = np.float16 if "float16" in session.get_inputs()[0].type else np.float32
    base = session.run(None, {name_in: image[None].astype(dtype)})[0][0].astype(np.float32)
    poked = image.copy()
    c = size // 2
    poked[:, c, c] = 1.0 - poked[:, c, c]
    changed = np.abs(session.run(None, {name_in: poked[None].astype(dtype)})[0][0].astype(np.float32) - base).max(axis=0) > threshold
    ys, xs = np.nonzero(changed)
    if ys.size == 0:
        return 0, True
    radius = int(max(np.abs(ys // scale - c).max(), np.abs(xs // scale - c).max()))
    return radius, radius < c - 1


def card_overlap(radius: int) -> int:
    """The card's receptive_field: the measured radius plus a margin, rounded up to 8."""
    return int(math.ceil((radius + 3) / 8) * 8)


_PROBE_HEAD = """
import re, sys
import numpy as np
def status(key):
    return int(re.search(key + r":\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) * 1024
try:
    open("/proc/self/clear_refs", "w").write("5")
except OSError:
    pass
size, channels = int(sys.argv[3]), int(sys.argv[4])
x = np.random.default_rng(0).random((1, channels, size, size), dtype=np.float32)
"""

_MEMORY_PROBE = _PROBE_HEAD + """
import onnxruntime as ort
base = status("VmRSS")
options = ort.SessionOptions()
options.intra_op_num_threads = int(sys.argv[2])
session = ort.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
inp = session.get_inputs()[0]
session.run(None, {inp.name: x.astype(np.float16 if "float16" in inp.type else np.float32)})
print(status("VmHWM") - base)
"""

# OpenVINO (reelfix's CPU runtime where it is installed, `runtime/cpu_runtime.py`) plans its buffers
# for the whole graph and reuses them: SPAN takes about two thirds of the memory per pixel ONNX Runtime
# takes. What its plugin loads once per process (its libraries, thread pools: ~100 MB, which at 512x512
# would read as ~400 bytes a pixel) is loaded before the measurement, as the tile budget reserves it apart.
_OPENVINO_PROBE = _PROBE_HEAD + """
import openvino as ov
from reelfix.runtime.cpu_runtime import openvino_config
core = ov.Core()
def run(n):
    model = core.read_model(sys.argv[1])
    model.reshape({model.inputs[0].get_any_name(): [1, channels, n, n]})
    request = core.compile_model(model, "CPU", openvino_config(int(sys.argv[2]))).create_infer_request()
    request.infer({0: x[:, :, :n, :n]})
run(16)  # OpenVINO's CPU plugin and its threads load on a first compile: once per process, not per pixel
try:
    open("/proc/self/clear_refs", "w").write("5")  # the peak from here on
except OSError:
    pass
base = status("VmRSS")
run(size)
print(status("VmHWM") - base)
"""


def bytes_per_pixel(onnx_path: Path, size: int = 512, channels: int = 3, runtime: str = "onnxruntime") -> tuple[float, int]:
    """(measured, card value): peak RSS growth of a fresh ONNX Runtime session (`runtime`
    'openvino': an OpenVINO CPU model compiled for the size, fp32) on a size x size input, per
    input pixel; the card value adds 15% and rounds up to a multiple of 64."""
    probe = _OPENVINO_PROBE if runtime == "openvino" else _MEMORY_PROBE
    try:
        out = subprocess.run(
            [sys.executable, "-c", probe, str(onnx_path), str(THREADS), str(size), str(channels)],
            check=True, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    except (subprocess.SubprocessError, OSError) as exc:
        raise ModelError(f"could not measure the working memory of {onnx_path}: {exc}") from None
    measured = int(out.stdout.strip().splitlines()[-1]) / (size * size)
    return measured, max(64, int(math.ceil(measured * 1.15 / 64) * 64))


def openvino_bytes_per_pixel(onnx_path: Path, size: int = 512, channels: int = 3) -> int | None:
    """The card's `bytes_per_pixel_openvino` (`bytes_per_pixel` measured on OpenVINO), or None
    where OpenVINO is not installed or cannot run the model (tiles then take the ONNX Runtime figure)."""
    from ..runtime.cpu_runtime import openvino_available

    if not openvino_available():
        return None
    try:
        return bytes_per_pixel(onnx_path, size=size, channels=channels, runtime="openvino")[1]
    except ModelError:
        return None
