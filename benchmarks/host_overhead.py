"""Question: how much does reelfix add around the model? (issue 17, goal 1)

A near-free x2 model (a 1x1 convolution to 12 channels, then DepthToSpace), adopted the way a
user adopts one (`reelfix models convert nearfree.onnx --name nearfree-x2`, into an isolated
REELFIX_HOME), upscales 1920x1080 half-float EXR frames (zip) to 3840x2160 half-float EXR (zip)
through `reelfix upscale`'s code path (`run_job`, colour-managed, provenance, atomic writes).
The peer, in the same run on the same cores: OpenImageIO alone reads the same input frames and
writes the same output frames (the pixels reelfix wrote, read back before timing), same
compression and pixel type. Each side is timed over every frame after one warm-up frame, the two
sides alternating over a few rounds (a shared machine's load changes by the minute), reelfix's run twice
per round (with its recycled buffers, then with them off); the medians
are reported with each round's ratio.

Goal: reelfix at most 1.3x the OpenImageIO-only time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import CACHE, photo_frame

GOAL = 1.3


def make_nearfree_x2(path: Path) -> Path:
    """A 1x1 convolution (3 -> 12 channels, a nearest-neighbour x2 arrangement) then DepthToSpace."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.zeros((12, 3, 1, 1), np.float32)
    for c in range(3):
        w[c * 4 : c * 4 + 4, c, 0, 0] = 1.0  # DepthToSpace (CRD) reads channel c*4+k as sub-pixel k of colour c
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["input", "w"], ["feat"]),
            helper.make_node("DepthToSpace", ["feat"], ["output"], blocksize=2, mode="CRD"),
        ],
        "nearfree_x2",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, "h2", "w2"])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _oiio_read(path: str, pixel_type: str = "float") -> np.ndarray:
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(path)
    px = inp.read_image(0, 0, 0, 3, pixel_type)
    inp.close()
    return px


def _oiio_write(path: str, pixels: np.ndarray, compression: str) -> None:
    import OpenImageIO as oiio

    spec = oiio.ImageSpec(pixels.shape[1], pixels.shape[0], 3, "half")
    spec.attribute("compression", compression)
    out = oiio.ImageOutput.create(path)
    out.open(path, spec)
    out.write_image(pixels)
    out.close()


def _median(values: list[float]) -> float:
    return float(np.median(values))


def main(
    frames: int = 6, height: int = 1080, width: int = 1920, compression: str = "zip", rounds: int = 5
) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="reelfix-bench-home-"))
    os.environ["REELFIX_HOME"] = str(home)
    os.environ["REELFIX_MODEL_PATH"] = ""
    from reelfix import colour
    from reelfix.frames.frame import Frame
    from reelfix.frames.image_io import write_image
    from reelfix.jobs.load import job_from_data
    from reelfix.models.adopt import adopt_onnx
    from reelfix.pipeline import run_job

    work = CACHE / "host_overhead"
    shutil.rmtree(work, ignore_errors=True)
    (work / "peer").mkdir(parents=True)
    adopt_onnx(make_nearfree_x2(work / "nearfree.onnx"), name="nearfree-x2", colorspace="srgb_tx")
    numbers = list(range(1001, 1002 + frames))  # one extra: the warm-up frame
    for i, n in enumerate(numbers):
        lin = colour.convert(photo_frame(height, width, i), "srgb_tx", "lin_srgb")
        write_image(str(work / f"in/plate.{n}.exr"), Frame(lin, ("R", "G", "B"), "lin_srgb", n), compression=compression)
    job = job_from_data(
        {
            "input": {"path": str(work / "in/plate.####.exr"), "colorspace": "lin_srgb"},
            "output": {"path": str(work / "out/plate.####.exr"), "compression": compression, "bit_depth": "half"},
            "pipeline": [{"node": "upscale", "params": {"scale": 2, "model": "nearfree-x2"}}],
            "device": "cpu",
        },
        "benchmark",
    )
    run_job(job, frames=str(numbers[0]), resume=False)  # warm-up: model load, OCIO processors, first-call set-up
    timed = numbers[1:]
    outputs: dict[int, np.ndarray] = {}
    halves: dict[int, np.ndarray] = {}
    _oiio_write(str(work / "peer/warm.exr"), _oiio_read(str(work / f"out/plate.{numbers[0]}.exr")), compression)
    # Rounds alternate the two sides (all frames through reelfix, then the same frames through OIIO alone),
    # so a change in the load from other work on this shared machine falls on both; each round gives a ratio.
    per_round: list[dict[str, float]] = []
    from reelfix import buffers

    keep_limit = buffers.set_limit

    def reelfix_round(recycle: bool) -> tuple[float, float]:
        # the same job with buffers.py's recycling off (its limit 0: every large array fresh; numpy's huge pages stay off)
        buffers.set_limit = keep_limit if recycle else (lambda nbytes: keep_limit(0))  # type: ignore[assignment]
        try:
            t0, c0 = time.perf_counter(), time.process_time()
            summary = run_job(job, frames=f"{timed[0]}-{timed[-1]}", resume=False)
            wall, cpu = (time.perf_counter() - t0) / len(timed), (time.process_time() - c0) / len(timed)
        finally:
            buffers.set_limit = keep_limit  # type: ignore[assignment]
        if summary.failed:
            raise SystemExit(f"benchmark run failed: {summary.failed[0].error}")
        return wall, cpu

    for _ in range(rounds):
        reelfix_s, reelfix_cpu = reelfix_round(True)
        fresh_s, fresh_cpu = reelfix_round(False)
        if not outputs:  # what the peer writes: the pixels reelfix wrote, read untimed
            outputs = {n: _oiio_read(str(work / f"out/plate.{n}.exr")) for n in timed}
            halves = {n: _oiio_read(str(work / f"out/plate.{n}.exr"), "half") for n in timed}
        t0, c0 = time.perf_counter(), time.process_time()
        for n in timed:
            _oiio_read(str(work / f"in/plate.{n}.exr"))
            _oiio_write(str(work / f"peer/plate.{n}.exr"), outputs[n], compression)
        peer_s, peer_cpu = (time.perf_counter() - t0) / len(timed), (time.process_time() - c0) / len(timed)
        t0, c0 = time.perf_counter(), time.process_time()
        for n in timed:  # the floor no float pipeline reaches: halves in and out, no conversion at all
            _oiio_read(str(work / f"in/plate.{n}.exr"), "half")
            _oiio_write(str(work / f"peer/plate.{n}.exr"), halves[n], compression)
        bare_s, bare_cpu = (time.perf_counter() - t0) / len(timed), (time.process_time() - c0) / len(timed)
        per_round.append(
            {"reelfix_s": reelfix_s, "oiio_s": peer_s, "reelfix_cpu_s": reelfix_cpu, "oiio_cpu_s": peer_cpu, "half_s": bare_s, "half_cpu_s": bare_cpu,
             "fresh_s": fresh_s, "fresh_cpu_s": fresh_cpu}
        )
    shutil.rmtree(home, ignore_errors=True)
    ratios = [r["reelfix_s"] / r["oiio_s"] for r in per_round]
    ratio = _median(ratios)
    return {
        "frames": len(timed),
        "rounds": rounds,
        "size": (height, width),
        "compression": compression,
        **{k: _median([r[k] for r in per_round]) for k in per_round[0]},
        "ratio": ratio,
        "ratios": ratios,
        "cpu_ratio": _median([r["reelfix_cpu_s"] / r["oiio_cpu_s"] for r in per_round]),
        "fresh_ratio": _median([r["fresh_s"] / r["oiio_s"] for r in per_round]),
        "fresh_cpu_ratio": _median([r["fresh_cpu_s"] / r["oiio_cpu_s"] for r in per_round]),
        "recycle_gain": _median([r["fresh_s"] / r["reelfix_s"] for r in per_round]),
        "load": os.getloadavg()[1],
        "met": ratio <= GOAL,
    }


def markdown(r: dict[str, Any]) -> list[str]:
    h, w = r["size"]
    spread = ", ".join(f"{x:.2f}x" for x in r["ratios"])
    return [
        f"## Host work around the model: {w}x{h} half EXR -> {2 * w}x{2 * h}, a near-free x2 model",
        "",
        f"Command: `python -m benchmarks.host_overhead --frames {r['frames']} --rounds {r['rounds']} --height {h} --width {w}`. "
        "The model is a 1x1 convolution + DepthToSpace adopted with `reelfix models convert`, so what is left is reelfix's "
        "host work: EXR read and write, OpenColorIO both ways, tiling, provenance, atomic rename. The peer reads the same "
        f"inputs and writes the same outputs with OpenImageIO alone ({r['compression']}, half), in the same run. The two "
        f"sides alternate over {r['rounds']} rounds of {r['frames']} frames each (wall time per frame over a round, after "
        "a warm-up frame); the table gives the medians over the rounds.",
        "",
        "| route | seconds per frame | ratio | CPU seconds per frame (all threads) | CPU ratio |",
        "| --- | --- | --- | --- | --- |",
        f"| `reelfix upscale` code path (`run_job`) | {r['reelfix_s']:.3f} | {r['ratio']:.2f}x | {r['reelfix_cpu_s']:.3f} "
        f"| {r['cpu_ratio']:.2f}x |",
        f"| the same with `buffers.py`'s recycling off (every large array fresh from the kernel; ordinary pages in both rows, `buffers.small_pages`) | {r['fresh_s']:.3f} "
        f"| {r['fresh_ratio']:.2f}x | {r['fresh_cpu_s']:.3f} | {r['fresh_cpu_ratio']:.2f}x |",
        f"| OpenImageIO read + write only (float32 arrays, OIIO's own half conversions): the peer | {r['oiio_s']:.3f} | 1.00x "
        f"| {r['oiio_cpu_s']:.3f} | 1.00x |",
        f"| OpenImageIO with half arrays in and out (no conversion: a floor, not a float pipeline) | {r['half_s']:.3f} "
        f"| {r['half_s'] / r['oiio_s']:.2f}x | {r['half_cpu_s']:.3f} | {r['half_cpu_s'] / r['oiio_cpu_s']:.2f}x |",
        "",
        "The peer is what a float pipeline built on OpenImageIO alone does: `read_image(..., \"float\")` and "
        "`write_image` of float32 pixels into a half file, OIIO converting both ways (~5 ns a value). reelfix reads the "
        "halves as stored and casts them with OpenCV's F16C cast (`frames/half.py`, exact), and casts to half itself "
        "before writing; the last row shows the I/O alone with no conversion, a floor below any float pipeline "
        f"(reelfix against it: {r['reelfix_s'] / r['half_s']:.2f}x).",
        "",
        f"Recycled buffers (`core/reelfix/buffers.py`): a new array over 32 MB is fresh memory the kernel zeroes on first "
        "touch (65 ms of system time per 100 MB on this VM); reelfix's frame-sized arrays come from mappings kept for "
        f"reuse. Per round, the run with recycling off over the run with it: median {r['recycle_gain']:.2f}x.",
        "",
        f"Ratio in each round: {spread}; load average {r['load']:.1f} over the last 5 minutes at the end (2 cores: above 2, "
        "other work shared them, and the wall-time ratio drifts towards the CPU ratio).",
        "",
        f"Goal: at most {GOAL}x the OpenImageIO-only time ({'met' if r['met'] else 'NOT met'}: {r['ratio']:.2f}x).",
        "",
    ]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--compression", default="zip")
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    print("\n".join(markdown(main(a.frames, a.height, a.width, a.compression, a.rounds))))
