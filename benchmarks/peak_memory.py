"""Question: what is the peak memory (RSS) of upscaling one 4K frame x2 with the default
2 GB budget? The run happens in a child process so its peak is measured alone; the peer in
the same run is the bare ONNX Runtime call on a whole frame of at most 1920x1080 (no tiling), also in a child.

Goal: reelfix under 2 GB for 4K x2.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from benchmarks.common import CACHE, ROOT, photo_frame
from reelfix import colour
from reelfix.frames.frame import Frame
from reelfix.frames.image_io import write_image

BARE = """
import sys, numpy as np
from reelfix.models.catalog import find_model, verify
from reelfix.runtime.session import get_session
e = find_model(sys.argv[1]); s = get_session(verify(e), e.card, "cpu")
x = np.random.default_rng(0).random((1, 3, int(sys.argv[2]), int(sys.argv[3])), dtype=np.float32)
s.run(x)
"""


def child_peak(cmd: list[str]) -> tuple[float, float]:
    """Run cmd in a fresh child; return (peak RSS in GiB, seconds). Children run one at a
    time, so RUSAGE_CHILDREN's maximum grows only when this child's peak is higher: each
    measurement runs in its own grandchild wrapper to isolate it."""
    wrapper = (
        "import resource, subprocess, sys, time; t=time.perf_counter(); "
        "r=subprocess.run(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter()-t, r.returncode)"
    )
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, cwd=ROOT, check=True)
    kib, secs, rc = out.stdout.split()[-3:]
    if rc != "0":
        raise SystemExit(f"{cmd} failed with {rc}")
    return int(kib) / 1024**2, float(secs)


def main(height: int, width: int, model: str) -> dict[str, float]:
    work = CACHE / "peak_memory"
    lin = colour.convert(photo_frame(height, width), "srgb_tx", "lin_srgb")
    write_image(str(work / "in/plate.0001.exr"), Frame(lin, ("R", "G", "B"), "lin_srgb", 1), compression="zip")
    scale = model.split("x")[-1]
    reelfix_gib, reelfix_s = child_peak(
        [sys.executable, "-m", "reelfix", "upscale", str(work / "in/plate.####.exr"), str(work / "out/plate.####.exr"),
         "--scale", scale, "--model", model, "--device", "cpu", "--no-resume", "--in-colorspace", "lin_srgb"]
    )
    # the peer runs a quarter of the frame at most: a whole 4K frame through ORT at once needs
    # roughly four times the 1080p figure, more than this 24 GB machine can spare beside the rest
    bh, bw = min(height, 1080), min(width, 1920)
    bare_gib, bare_s = child_peak([sys.executable, "-c", BARE, model, str(bh), str(bw)])
    return {
        "reelfix_peak_gib": reelfix_gib,
        "reelfix_s": reelfix_s,
        "bare_whole_frame_peak_gib": bare_gib,
        "bare_s": bare_s,
        "bare_size": f"{bw}x{bh}",
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--height", type=int, default=2160)
    ap.add_argument("--width", type=int, default=3840)
    ap.add_argument("--model", default="span-x2")
    a = ap.parse_args()
    print(main(a.height, a.width, a.model))
