"""Question: how fast is `reelfix upscale --device cuda` end to end (EXR in, model, colour, EXR out)
on a GPU machine, with the host work around the model on one thread or on all cores, for the
fp32 model and its fp16 variant?

`python -m benchmarks.gpu_e2e [--frames 10]`: writes a 2048x1080 half-float EXR sequence of
real photos (scikit-image) to a temp folder and runs `reelfix upscale` (x2, span-x2) once per
(REELFIX_HOST_THREADS = 1 or all) x (model span-x2 = the variant chosen for CUDA, span-x2-fp32),
printing wall seconds per frame (process start included) and the run's own summary line.
Needs onnxruntime-gpu; prints a note and exits 0 without CUDA.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import photo_frame
from reelfix import colour
from reelfix.frames.frame import Frame
from reelfix.frames.image_io import write_image


def main(frames: int = 10, height: int = 1080, width: int = 2048) -> dict[str, float]:
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        print("CUDAExecutionProvider not available: nothing measured")  # noqa: T201
        return {}
    root = Path(tempfile.mkdtemp(prefix="reelfix-gpu-e2e-"))
    for i in range(frames):
        lin = colour.convert(photo_frame(height, width, i), "srgb_tx", "lin_srgb")
        write_image(str(root / f"in.{1001 + i:04d}.exr"), Frame(lin, ("R", "G", "B"), "lin_srgb", 1001 + i), bit_depth="half")
    out: dict[str, float] = {}
    for threads in ("1", ""):
        for model in ("span-x2", "span-x2-fp32"):
            key = f"host_{threads or 'all'}.{model}"
            cmd = [sys.executable, "-m", "reelfix", "upscale", str(root / "in.####.exr"), str(root / key / "o.####.exr"),
                   "--device", "cuda", "--in-colorspace", "lin_srgb", "--model", model, "--no-resume"]  # fmt: skip
            t0 = time.perf_counter()
            r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, REELFIX_HOST_THREADS=threads))
            out[key] = (time.perf_counter() - t0) / frames
            summary = [line for line in r.stdout.splitlines() if " done, " in line][-1:]
            print(f"{key}: rc {r.returncode}, {out[key]:.3f} s per frame (process start included) {summary}", flush=True)  # noqa: T201
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=10)
    a = ap.parse_args()
    main(a.frames)
