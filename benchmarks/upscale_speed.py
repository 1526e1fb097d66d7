"""Question: how close does `reelfix upscale` (EXR in, EXR out, colour-managed, tiled) come
to the bare ONNX Runtime call of the same model, and how does ONNX Runtime compare with the
ncnn runtime on the same SPAN weights? Same frames, same run.

The baseline is plain: `onnxruntime.InferenceSession(path)` with default options (ORT picks its
own thread count), not reelfix's session; reelfix's own session is its own row. Models are looked
up with `REELFIX_HOME` and `REELFIX_MODEL_PATH` pointed at an empty folder, so an installed int8 or
fp16 variant can never be timed against an fp32 baseline: both sides run the built-in fp32 file,
and reelfix's CPU runtime is pinned to ONNX Runtime (`REELFIX_CPU_RUNTIME`): the same runtime
and precision as the baseline. OpenVINO and its int8 route are measured in benchmarks.cpu_speed.

Goals (CPU): end-to-end within 1.10x of the bare model call; ORT >= 1.25x faster than ncnn
(fp32 against fp32).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

import numpy as np

from benchmarks.common import CACHE, median_time, photo_frame, span_ncnn_files
from reelfix.models.ncnn_verify import run_ncnn
from reelfix import colour
from reelfix.frames.frame import Frame
from reelfix.frames.image_io import write_image
from reelfix.jobs.load import job_from_data
from reelfix.models.catalog import find_model, verify
from reelfix.pipeline import run_job
from reelfix.runtime.providers import default_threads
from reelfix.runtime.session import get_session


def isolated_models() -> None:
    """Only the built-in models are visible to this process (no user-installed variants), and
    reelfix runs them on ONNX Runtime in fp32 like the baseline (where OpenVINO is installed it would
    otherwise pick OpenVINO and, for upscalers, int8: docs/bench/cpu_speed.md measures that route)."""
    empty = tempfile.mkdtemp(prefix="reelfix-bench-home-")
    os.environ["REELFIX_HOME"] = empty
    os.environ["REELFIX_MODEL_PATH"] = ""
    os.environ["REELFIX_CACHE"] = empty
    os.environ["REELFIX_CPU_RUNTIME"] = "onnxruntime"


def main(height: int, width: int, frames: int, model: str) -> dict[str, float]:
    isolated_models()
    work = CACHE / "upscale_speed"
    shutil.rmtree(work, ignore_errors=True)
    numbers = list(range(1001, 1001 + frames))
    srgb = {n: photo_frame(height, width, i) for i, n in enumerate(numbers)}
    for n in numbers:  # the plate: scene-linear half EXR, as a compositor has it
        lin = colour.convert(srgb[n], "srgb_tx", "lin_srgb")
        write_image(str(work / f"in/plate.{n}.exr"), Frame(lin, ("R", "G", "B"), "lin_srgb", n), compression="zip")
    scale = int(model.split("x")[-1])

    def timed_run(max_memory: str) -> tuple[float, list[str]]:
        job = job_from_data(
            {
                "input": {"path": str(work / "in/plate.####.exr"), "colorspace": "lin_srgb"},
                "output": {"path": str(work / "out/plate.####.exr"), "compression": "zip"},
                "pipeline": [{"node": "upscale", "params": {"scale": scale, "model": model}}],
                "device": "cpu",
                "max_memory": max_memory,
            },
            "benchmark",
        )
        run_job(job, frames=str(numbers[0]), resume=False)  # warm-up: model load, first-call set-up
        t0 = time.perf_counter()
        summary = run_job(job, resume=False)
        if summary.failed:
            raise SystemExit(f"benchmark run failed: {summary.failed[0].error}")
        return (time.perf_counter() - t0) / frames, summary.providers

    e2e, providers = timed_run("16GB")  # budget for one tile: the same model work as the bare call
    e2e_tiled, _ = timed_run("2GB")  # the default budget: tiles with overlap where the frame needs it

    import onnxruntime as ort

    entry = find_model(model)
    if entry.origin != "built-in" or entry.card.precision != "fp32":
        raise SystemExit(f"benchmark isolation failed: {model} resolved to {entry.onnx_path} ({entry.card.precision})")
    path = verify(entry)
    inputs = [np.ascontiguousarray(srgb[n].transpose(2, 0, 1))[None] for n in numbers]
    plain = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])  # default options: the plain baseline
    name = plain.get_inputs()[0].name
    plain.run(None, {name: inputs[0]})
    bare = sum(median_time(lambda x=x: plain.run(None, {name: x}), 1) for x in inputs) / frames
    ours = get_session(path, entry.card, "cpu")
    ours.run(inputs[0])
    ours_s = sum(median_time(lambda x=x: ours.run(x), 1) for x in inputs) / frames

    param, bin_ = span_ncnn_files(model)
    threads = default_threads()
    run_ncnn(param, bin_, inputs[0][0], threads)
    ncnn = sum(median_time(lambda x=x: run_ncnn(param, bin_, x[0], threads), 1) for x in inputs) / frames
    return {
        "e2e_s": e2e,
        "e2e_tiled_s": e2e_tiled,
        "e2e_tiled_over_bare": e2e_tiled / bare,
        "bare_s": bare,
        "session_s": ours_s,
        "session_over_bare": ours_s / bare,
        "ncnn_s": ncnn,
        "e2e_over_bare": e2e / bare,
        "ncnn_over_ort": ncnn / bare,
        "threads": threads,
        "provider": ",".join(providers),
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--height", type=int, default=540)
    ap.add_argument("--width", type=int, default=960)
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--model", default="span-x2")
    a = ap.parse_args()
    print(main(a.height, a.width, a.frames, a.model))
