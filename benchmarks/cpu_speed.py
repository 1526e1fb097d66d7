"""Question: which CPU runtime runs the SPAN weights fastest at fp32 quality? (issue 17, goal 3)

The same SPAN weights through: the ncnn runtime fp32 (the .param/.bin the built-in model was
converted from; the peer), a plain `onnxruntime.InferenceSession` with default options, ONNX
Runtime with reelfix's thread count and spinning off (all graph optimisations, NCHWc layout
transforms included) and with extended optimisations only (no layout transforms), OpenVINO fp32
variants (if installed, the `cpu` extra: dynamic shapes; static shape with the throughput hint,
one stream; static shape with denormals flushed), and reelfix's own session as `device: cpu`
picks it (`REELFIX_CPU_RUNTIME` / the auto rule, reelfix/runtime/cpu_runtime.py: OpenVINO with
a static shape per input size, latency hint). Each route uses the same thread count
(`default_threads()`); the routes are interleaved in every round, each round starting one route
later, and each figure is the median over rounds with its spread (min-max); the speed-up is
shown both as the ratio of medians and as the median of per-round ratios (the machine is
shared and loaded: read the ratios). CPU seconds (this process, all threads) beside wall
seconds, and the load average. The compile cost of a new OpenVINO session with an empty and
a warm compiled-model cache (CACHE_DIR) is measured too.

Quality: real photos (scikit-image's held-out set, none used to calibrate int8) downscaled by the
model's scale (area average), upscaled by each route; PSNR against the original, and the largest
difference from ONNX Runtime's result. On the OpenVINO route reelfix runs upscalers with most
convolutions in int8 (`REELFIX_CPU_PRECISION`, runtime/ov_int8.py); the row pinned to fp32 shows
the same route without it.

Goal: the route reelfix runs at least 1.25x faster than ncnn fp32 (ratio of medians and median
per-round ratio), within 0.1 dB of ncnn's PSNR.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from benchmarks.common import ROOT, cpu_name, photo_frame, span_ncnn_files

GOAL = 1.25
DOC = ROOT / "docs" / "bench" / "cpu_speed.md"

Route = Callable[[np.ndarray], np.ndarray]  # 1x3xHxW float32 -> 1x3x(sH)x(sW)


def routes(model: str, threads: int) -> tuple[dict[str, Route], str]:
    """name -> route, and how reelfix's own session runs (its provider)."""
    import onnxruntime as ort

    from reelfix.models.catalog import find_model, verify
    from reelfix.models.ncnn_verify import run_ncnn
    from reelfix.runtime.cpu_runtime import OpenVINOSession, openvino_available
    from reelfix.runtime.session import get_session

    entry = find_model(model)
    if entry.origin != "built-in" or entry.card.precision != "fp32":
        raise SystemExit(f"{model} resolved to {entry.onnx_path} ({entry.card.precision}), not the built-in fp32 model")
    path = str(verify(entry))
    param, bin_ = span_ncnn_files(model)
    out: dict[str, Route] = {"ncnn fp32": lambda x: run_ncnn(param, bin_, x[0], threads)[None]}
    plain = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = plain.get_inputs()[0].name
    out["ONNX Runtime, default options"] = lambda x: plain.run(None, {name: x})[0]
    for label, level, spin in (
        (f"ONNX Runtime, {threads} threads, no spinning (NCHWc: all optimisations)", ort.GraphOptimizationLevel.ORT_ENABLE_ALL, "0"),
        (f"ONNX Runtime, {threads} threads, spinning, no layout transforms (extended)", ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED, "1"),
    ):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.graph_optimization_level = level
        so.add_session_config_entry("session.intra_op.allow_spinning", spin)
        out[label] = (lambda s: lambda x: s.run(None, {name: x})[0])(ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]))
    if openvino_available():
        cache = Path(os.environ["REELFIX_HOME"]) / "ov-variants"
        for label, static, options in (
            ("OpenVINO fp32, dynamic shapes (latency hint)", False, {}),
            ("OpenVINO fp32, static shape, throughput hint, 1 stream", True, {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": 1}),
            ("OpenVINO fp32, static shape, latency hint, denormals flushed", True, {"CPU_DENORMALS_OPTIMIZATION": True}),
        ):
            ov = OpenVINOSession(path, threads, cache, static=static, options=options)
            out[label] = (lambda s: lambda x: s.run(None, {name: x})[0])(ov)
    if openvino_available():  # reelfix's OpenVINO route pinned to fp32: the same session with no int8 in it
        os.environ["REELFIX_CPU_PRECISION"] = "fp32"
        try:
            out["reelfix session, `REELFIX_CPU_PRECISION=fp32`"] = get_session(path, entry.card, "cpu").run
        finally:
            del os.environ["REELFIX_CPU_PRECISION"]
    t0 = time.perf_counter()
    ours = get_session(path, entry.card, "cpu")  # an empty REELFIX_CACHE: an int8 model is made here, once
    BUILD[model] = (time.perf_counter() - t0, ours.precision)
    out["reelfix session (`device: cpu`)"] = ours.run
    return out, ours.provider


BUILD: dict[str, tuple[float, str]] = {}  # model -> (seconds to load reelfix's session with an empty cache, its precision)


def photos(scale: int, size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(low-res 1x3xhxw input, original HxWx3) pairs from real photos: scikit-image's held-out set
    (`models.calibration.MEASUREMENT_PHOTOS`), none of which the int8 ranges were calibrated on."""
    from reelfix.models.calibration import MEASUREMENT_PHOTOS, _skimage_photo

    pairs = []
    for img in (_skimage_photo(n) for n in MEASUREMENT_PHOTOS):
        side = min(size, img.shape[0], img.shape[1]) // scale * scale
        hi = np.ascontiguousarray(img[:side, :side], np.float32)
        lo = hi.reshape(hi.shape[0] // scale, scale, hi.shape[1] // scale, scale, 3).mean(axis=(1, 3))
        pairs.append((np.ascontiguousarray(lo.transpose(2, 0, 1))[None], hi))
    return pairs


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.clip(a, 0, 1) - b) ** 2))
    return 10 * np.log10(1.0 / max(mse, 1e-12))


def main(model: str = "span-x2", height: int = 270, width: int = 480, rounds: int = 7) -> dict[str, Any]:
    os.environ["REELFIX_HOME"] = tempfile.mkdtemp(prefix="reelfix-bench-home-")  # built-in models only
    os.environ["REELFIX_MODEL_PATH"] = ""
    os.environ["REELFIX_CACHE"] = os.environ["REELFIX_HOME"]  # reelfix's own OpenVINO cache, not the user's
    from reelfix.runtime.cpu_runtime import runtime_record
    from reelfix.runtime.providers import default_threads

    threads = default_threads()
    rs, provider = routes(model, threads)
    scale = int(model.split("x")[-1])
    quality: dict[str, dict[str, float]] = {}
    pairs = photos(scale, 256)
    ref = [rs["ONNX Runtime, default options"](lo) for lo, _ in pairs]
    for label, fn in rs.items():
        outs = [fn(lo) for lo, _ in pairs]
        quality[label] = {
            "psnr": statistics.mean(psnr(o[0].transpose(1, 2, 0), hi) for o, (_, hi) in zip(outs, pairs)),
            "max_diff": max(float(np.abs(o - r).max()) for o, r in zip(outs, ref)),
        }
    x = np.ascontiguousarray(photo_frame(height, width).transpose(2, 0, 1))[None]
    walls: dict[str, list[float]] = {k: [] for k in rs}
    cpus: dict[str, list[float]] = {k: [] for k in rs}
    for fn in rs.values():
        fn(x)  # warm-up at the timed size
    labels, load = list(rs), [os.getloadavg()[0]]
    for i in range(rounds):
        for label in labels[i % len(labels) :] + labels[: i % len(labels)]:  # each round starts one route later
            c0, t0 = time.process_time(), time.perf_counter()
            rs[label](x)
            walls[label].append(time.perf_counter() - t0)
            cpus[label].append(time.process_time() - c0)
    load.append(os.getloadavg()[0])
    peer = statistics.median(walls["ncnn fp32"])
    rows = {}
    for k in rs:
        paired = [a / b for a, b in zip(walls["ncnn fp32"], walls[k])]  # ncnn's time / this route's, round by round
        rows[k] = {
            "wall": statistics.median(walls[k]), "wall_min": min(walls[k]), "wall_max": max(walls[k]),
            "cpu": statistics.median(cpus[k]), "speedup": peer / statistics.median(walls[k]),
            "paired": statistics.median(paired), "paired_min": min(paired), "paired_max": max(paired), **quality[k],
        }  # fmt: skip
    ours = rows["reelfix session (`device: cpu`)"]
    dpsnr = ours["psnr"] - rows["ncnn fp32"]["psnr"]
    return {
        "model": model, "size": (height, width), "rounds": rounds, "threads": threads, "rows": rows,
        "provider": provider, "runtime": runtime_record(), "cpu": cpu_name(), "load": load,
        "compile": compile_seconds(model, threads, (1, 3, height, width)),
        "met": min(ours["speedup"], ours["paired"]) >= GOAL and abs(dpsnr) <= 0.1, "dpsnr": dpsnr,
        "build": BUILD.get(model),
    }  # fmt: skip


def compile_seconds(model: str, threads: int, shape: tuple[int, ...]) -> tuple[float, float] | None:
    """Seconds a new OpenVINO session takes to read the model and compile it for `shape`: with an
    empty compiled-model cache (CACHE_DIR), then with the cache that left (what a later process pays)."""
    from reelfix.models.catalog import find_model
    from reelfix.runtime.cpu_runtime import OpenVINOSession, openvino_available

    if not openvino_available():
        return None
    cache, took = Path(tempfile.mkdtemp(prefix="reelfix-ov-cache-")), []
    for _ in range(2):
        t0 = time.perf_counter()
        OpenVINOSession(find_model(model).onnx_path, threads, cache)._compiled_for(shape)
        took.append(time.perf_counter() - t0)
    return took[0], took[1]


def markdown(results: list[dict[str, Any]]) -> list[str]:
    r0 = results[0]
    lines = [
        "## CPU runtimes on the same SPAN weights (issue 17, goal 3)",
        "",
        f"{r0['cpu']}, {r0['threads']} threads for every route; machine shared and loaded, so the routes are interleaved "
        f"in every round and the figures are medians. reelfix's CPU runtime here: {r0['runtime']['cpu']} "
        f"({r0['runtime']['reason']}; onnxruntime {r0['runtime']['onnxruntime']}, openvino {r0['runtime']['openvino'] or 'not installed'}). "
        "The OpenVINO rows need the optional `cpu` extra (`pip install -e .[cpu]`); without it reelfix's session is "
        "ONNX Runtime's and there is no OpenVINO row.",
        "",
    ]
    for r in results:
        h, w = r["size"]
        lines += [
            f"### {r['model']}, {w}x{h} input, {r['rounds']} rounds (load average {r['load'][0]:.1f} at the start, {r['load'][1]:.1f} at the end)",
            "",
            f"Command: `python -m benchmarks.cpu_speed --model {r['model']} --height {h} --width {w} --rounds {r['rounds']}`",
            "",
            "| route | wall seconds (median, min-max) | speed vs ncnn fp32 (ratio of medians) | per round: ncnn / route (median, min-max) | CPU seconds (ncnn's / this) | PSNR on held-out photos (dB) | max diff from ONNX Runtime |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for label, row in r["rows"].items():
            lines.append(
                f"| {label} | {row['wall']:.3f} ({row['wall_min']:.2f}-{row['wall_max']:.2f}) | {row['speedup']:.2f}x | "
                f"{row['paired']:.2f}x ({row['paired_min']:.2f}-{row['paired_max']:.2f}) | {row['cpu']:.3f} ({r['rows']['ncnn fp32']['cpu'] / row['cpu']:.2f}x) | {row['psnr']:.3f} | {row['max_diff']:.1e} |"
            )
        ours = r["rows"]["reelfix session (`device: cpu`)"]
        lines += [
            "",
            f"Goal: reelfix's CPU route ({r['provider']}) at least {GOAL}x faster than ncnn fp32 within 0.1 dB "
            f"(both the ratio of medians and the median per-round ratio): {ours['speedup']:.2f}x / {ours['paired']:.2f}x, "
            f"{r['dpsnr']:+.3f} dB ({'met' if r['met'] else 'NOT met'}). In CPU seconds (the work, less sensitive to the load): "
            f"{r['rows']['ncnn fp32']['cpu'] / ours['cpu']:.2f}x.",
            "",
        ]
        if r.get("build") and r["build"][1].startswith("int8"):
            lines += [
                f"reelfix's route runs `{r['build'][1]}` (`runtime/ov_int8.py`): made on first use in "
                f"{r['build'][0]:.1f} s (once per machine and model, kept under `$REELFIX_CACHE/int8`), PSNR on the "
                "held-out photos beside fp32 in the table. ncnn int8 is not measured: its quantisation tools "
                "(ncnn2table, ncnn2int8) are C++ programs that the `ncnn` wheel does not ship; the int8 route is held "
                "to fp32 quality instead (the goal's 0.1 dB).",
                "",
            ]
        if r["compile"]:
            lines += [
                f"Compile: a new OpenVINO session read the model and compiled it for {w}x{h} in {r['compile'][0]:.2f} s with an empty "
                f"compiled-model cache and in {r['compile'][1]:.2f} s from the cache that left (CACHE_DIR, `$REELFIX_CACHE/openvino`).",
                "",
            ]
    from reelfix.runtime.cpu_runtime import cpu_flags

    wide = sorted(f for f in cpu_flags() if f.startswith(("avx512", "amx")))
    lines += [
        f"bf16: this CPU's flags list {', '.join(wide) or 'no AVX-512 or AMX'}"
        + ("" if {"avx512_bf16", "amx_bf16"} & set(wide) else ", so there are no bf16 kernels to measure here")
        + "; reelfix compiles OpenVINO with INFERENCE_PRECISION_HINT f32, so on CPUs with AMX/AVX512-BF16 it does not "
        "switch to bf16 by itself (OpenVINO's default there), which would move results far more than float32 rounding.",
        "",
        "Choosing a backend changes results slightly (float32 rounding: the largest difference column, on 0-1 "
        "pictures); the choice is a fixed rule per machine and installed packages, recorded in the manifest "
        "(`runtime`, and each model node's `provider`), and `REELFIX_CPU_RUNTIME=onnxruntime|openvino` pins it "
        "(for a farm of mixed machines).",
        "",
    ]
    return lines


def write(results: list[dict[str, Any]]) -> list[str]:
    """The section, also written to docs/bench/cpu_speed.md."""
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text("\n".join(lines := markdown(results)))
    return lines


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="span-x2,span-x4", help="comma-separated built-in SPAN models")
    ap.add_argument("--height", type=int, default=270)
    ap.add_argument("--width", type=int, default=480)
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args()
    res = [main(m, a.height, a.width, a.rounds) for m in a.model.split(",")]
    print("\n".join(write(res)))
