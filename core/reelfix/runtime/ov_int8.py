"""int8 upscalers for OpenVINO on the CPU: convolutions in u8 x s8, made once per model and cached.

On an AMD EPYC (Zen 3, AVX2, no VNNI, 2 threads) OpenVINO runs an int8 convolution about
twice as fast as fp32 (oneDNN's u8s8 kernels); fp32 OpenVINO runs SPAN as fast as ncnn, so
int8 is what makes the CPU route clearly faster (docs/bench/cpu_speed.md). The recipe, measured
on SPAN x2/x4 with held-out photos:

- Only convolutions are quantised (the quantize/dequantize pair on each convolution's input
  and per-output-channel int8 weights); SiLU gates, residual adds and the attention products
  stay float (they are cheap beside the convolutions, and int8 there would add error for
  little speed).
- Activations: asymmetric uint8 over the min..max seen on calibration crops (SiLU outputs are
  -0.28..60: a symmetric range wastes half of the codes). Ranges come from the fp32 model run
  by ONNX Runtime on `calibration.calibration_crops()` (photos never used to score), snapped
  outwards to 1/64 of an octave, so float rounding between machines or thread counts does not
  move a range and the same model gives the same bytes.
- Weights: symmetric int8 per output channel (-127..127), exact from the weights.
- Which convolutions stay fp32: the first and the last always (the picture's own precision goes
  in and comes out there); then each other convolution is quantised alone and its output
  compared with fp32 on probe crops (OpenVINO itself runs them: its AVX2 kernels round as they
  do); the most damaging are kept fp32 until the whole model reproduces fp32 within
  `FIDELITY_DB` on the probes. Measured here (docs/bench/cpu_speed.md): SPAN x2 keeps 7 of its 22
  convolutions fp32, SPAN x4 10; on held-out photos their PSNR moved +0.001 and -0.048 dB, and
  they ran 1.60x and 1.56x faster than ncnn fp32 (OpenVINO fp32: 1.10x and 1.19x).

The result is an ONNX model in QDQ form (QuantizeLinear/DequantizeLinear), written with fixed
node names by the `onnx` library: the same source bytes and recipe give the same bytes (a
test checks), so farm nodes that build it separately run the same model. OpenVINO reads QDQ
as FakeQuantize and runs the convolutions in int8; ONNX Runtime runs the same file (tests).
No pickle: the cache holds the .onnx and a JSON report beside it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from ..models.card import sha256_of

log = logging.getLogger(__name__)

RECIPE = "reelfix-ov-int8-1"  # bump when the recipe changes: cached models are keyed by it
FIDELITY_DB = 47.0  # probe PSNR against fp32 (SPAN x2 ~31 dB on photos: an independent error at 47 dB costs ~0.1 dB)
PROBES = 6
SNAP = 64  # range ends snapped outwards to 1/SNAP of an octave

Runner = Callable[[np.ndarray], np.ndarray]
RunnerFactory = Callable[[Path], Runner]  # a model file -> its 1xCxHxW float32 runner


def snap_out(value: float, up: bool) -> float:
    """`value` moved to the grid of 1/SNAP of its octave: towards +infinity with `up`, else towards
    -infinity (so a range snapped this way only widens). Zero stays; a non-finite value gives 0."""
    if not math.isfinite(value):
        return 0.0
    if value == 0.0:
        return value
    mag = abs(value)
    k = math.floor(math.log2(mag))
    step = 2.0**k / SNAP
    n = mag / step
    n = math.ceil(n - 1e-9) if (value > 0) == up else math.floor(n + 1e-9)
    return math.copysign(n * step, value)


def _convs(model: Any) -> list[Any]:
    inits = {t.name for t in model.graph.initializer}
    return [n for n in model.graph.node if n.op_type == "Conv" and len(n.input) >= 2 and n.input[1] in inits]


def _named(model: Any) -> Any:
    for i, node in enumerate(model.graph.node):
        node.name = node.name or f"{node.op_type}_{i}"
    return model


def activation_ranges(model: Any, crops: Sequence[np.ndarray], threads: int = 1) -> dict[str, tuple[float, float]]:
    """min..max of every convolution's input over `crops`, from the fp32 model on ONNX Runtime,
    snapped outwards (`snap_out`)."""
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    wanted = list(dict.fromkeys(n.input[0] for n in _convs(model)))
    have = {o.name for o in probe.graph.output}
    probe.graph.output.extend(onnx.ValueInfoProto(name=t) for t in wanted if t not in have)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    sess = ort.InferenceSession(probe.SerializeToString(), so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    lo = dict.fromkeys(wanted, math.inf)
    hi = dict.fromkeys(wanted, -math.inf)
    for x in crops:
        for t, a in zip(wanted, sess.run(wanted, {name: np.ascontiguousarray(x, np.float32)})):
            lo[t], hi[t] = min(lo[t], float(a.min())), max(hi[t], float(a.max()))
    return {t: (snap_out(min(lo[t], 0.0), up=False), snap_out(max(hi[t], 0.0), up=True)) for t in wanted}


def quantize(model: Any, ranges: dict[str, tuple[float, float]], only: Sequence[str]) -> Any:
    """A copy of `model` with the convolutions named in `only` in QDQ int8 (module docstring)."""
    import onnx
    from onnx import helper, numpy_helper

    q = onnx.ModelProto()
    q.CopyFrom(model)
    inits = {t.name: t for t in q.graph.initializer}
    chosen = set(only)
    nodes: list[Any] = []
    for node in q.graph.node:
        if node.op_type == "Conv" and node.name in chosen and node.input[1] in inits:
            tag = node.name
            lo, hi = ranges[node.input[0]]
            scale = max((hi - lo) / 255.0, 1e-12)
            zp = int(np.clip(round(-lo / scale), 0, 255))
            w = numpy_helper.to_array(inits[node.input[1]]).astype(np.float64)
            amax = np.maximum(np.abs(w).reshape(w.shape[0], -1).max(axis=1), 1e-12)
            w_scale = (amax / 127.0).astype(np.float32)
            w_q = np.clip(np.round(w / w_scale.astype(np.float64).reshape(-1, *[1] * (w.ndim - 1))), -127, 127).astype(np.int8)
            q.graph.initializer.extend(
                [
                    numpy_helper.from_array(np.array(scale, np.float32), f"{tag}/x_scale"),
                    numpy_helper.from_array(np.array(zp, np.uint8), f"{tag}/x_zero"),
                    numpy_helper.from_array(w_q, f"{tag}/w_int8"),
                    numpy_helper.from_array(w_scale, f"{tag}/w_scale"),
                    numpy_helper.from_array(np.zeros(w.shape[0], np.int8), f"{tag}/w_zero"),
                ]
            )
            x = node.input[0]
            nodes += [
                helper.make_node("QuantizeLinear", [x, f"{tag}/x_scale", f"{tag}/x_zero"], [f"{tag}/x_q"], name=f"{tag}/x_quantize"),
                helper.make_node("DequantizeLinear", [f"{tag}/x_q", f"{tag}/x_scale", f"{tag}/x_zero"], [f"{tag}/x_dq"], name=f"{tag}/x_dequantize"),
                helper.make_node("DequantizeLinear", [f"{tag}/w_int8", f"{tag}/w_scale", f"{tag}/w_zero"], [f"{tag}/w_dq"], name=f"{tag}/w_dequantize", axis=0),
            ]  # fmt: skip
            node.input[0], node.input[1] = f"{tag}/x_dq", f"{tag}/w_dq"
        nodes.append(node)
    del q.graph.node[:]
    q.graph.node.extend(nodes)
    used = {i for n in q.graph.node for i in n.input}
    kept_inits = [t for t in q.graph.initializer if t.name in used]
    del q.graph.initializer[:]
    q.graph.initializer.extend(kept_inits)
    if not any(o.domain in ("", "ai.onnx") and o.version >= 13 for o in q.opset_import):
        raise ModelError("int8 needs an ONNX model of opset 13 or later (per-channel DequantizeLinear)", hint="re-export the model")
    return q


def _fidelity(run: Runner, probes: Sequence[np.ndarray], refs: Sequence[np.ndarray]) -> float:
    mse = float(np.mean([np.mean((np.clip(run(x), 0, 1) - r) ** 2, dtype=np.float64) for x, r in zip(probes, refs)]))
    return 99.0 if mse <= 1e-10 else 10.0 * math.log10(1.0 / mse)


def build(
    src: Path, out: Path, crops: Sequence[np.ndarray], runner: RunnerFactory, *, target_db: float = FIDELITY_DB, threads: int = 1
) -> dict[str, Any]:
    """Write the int8 model of the fp32 ONNX `src` to `out`; returns the report (what is int8,
    what stayed fp32 and why, the fidelity on the probes). `runner` runs a model file as the
    target runtime does (OpenVINO in reelfix; anything in tests)."""
    import onnx

    model = _named(onnx.load(str(src)))
    convs = [n.name for n in _convs(model)]
    if len(convs) < 3:
        raise ModelError(f"model {src} has {len(convs)} convolutions: nothing to make int8 between the first and the last")
    ranges = activation_ranges(model, crops, threads)
    probes = list(crops[:: max(1, len(crops) // PROBES)][:PROBES])
    fp32 = runner(src)
    refs = [np.clip(fp32(x), 0, 1) for x in probes]
    with tempfile.TemporaryDirectory(prefix="reelfix-int8-") as tmp:

        def fidelity(only: Sequence[str]) -> float:
            path = Path(tmp) / f"probe-{len(os.listdir(tmp))}.onnx"
            onnx.save_model(quantize(model, ranges, only), str(path))
            return round(_fidelity(runner(path), probes, refs), 2)

        kept = list(dict.fromkeys([convs[0], convs[-1]]))
        middle = [c for c in convs if c not in kept]
        alone = {c: fidelity([c]) for c in middle}
        order = sorted(middle, key=lambda c: (alone[c], convs.index(c)))
        fid = fidelity([c for c in convs if c not in kept])
        while fid < target_db and order:
            kept.append(order.pop(0))
            fid = fidelity([c for c in convs if c not in kept])
    int8 = [c for c in convs if c not in kept]
    if not int8:
        raise ModelError(f"model {src}: no convolution can be int8 within {target_db:g} dB of fp32 on the probes")
    final = quantize(model, ranges, int8)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_name(out.name + f".{os.getpid()}.tmp")
    onnx.save_model(final, str(tmp_out))
    os.replace(tmp_out, out)
    return {
        "recipe": RECIPE, "target_db": target_db, "fidelity_db": fid, "int8": int8,
        "fp32": [c for c in convs if c in kept], "alone_db": alone, "crops": len(crops), "probes": len(probes),
    }  # fmt: skip


def cached_int8(src: Path, cache_dir: Path, runner: RunnerFactory, *, threads: int = 1, target_db: float = FIDELITY_DB) -> tuple[Path, dict[str, Any]]:
    """The int8 model of `src` from `cache_dir` (keyed by the source's sha256, `RECIPE` and the
    target), built there first if missing: (path, report)."""
    from ..models.calibration import calibration_crops

    key = hashlib.sha256(f"{sha256_of(src)} {RECIPE} {target_db:g}".encode()).hexdigest()[:24]
    path = cache_dir / f"{key}.int8.onnx"
    report_path = path.with_suffix(".json")
    if path.is_file() and report_path.is_file():
        try:
            report = json.loads(report_path.read_text())
            if report.get("sha256") == sha256_of(path):
                return path, report
        except (OSError, ValueError):
            pass
    log.info("making the int8 model of %s (once per machine: about 15 s for SPAN on 2 cores)", src.name)
    report = build(src, path, calibration_crops(size=96), runner, target_db=target_db, threads=threads)
    report["sha256"] = sha256_of(path)
    report["source"] = str(src)
    tmp = report_path.with_name(report_path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(report, indent=1, sort_keys=True))
    os.replace(tmp, report_path)
    return path, report
