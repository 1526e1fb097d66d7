"""Questions: what is the peak memory (RSS) of upscaling one 4K frame x2 with the default
2 GB budget? The run happens in a child process so its peak is measured alone; the peer in
the same run is the bare ONNX Runtime call on a whole frame of at most 1920x1080 (no tiling), also in a child.
And of `dustbust` (and, for the record, the other temporal nodes) on an 8K sequence
(7680x4320 half-float EXR): one frame from the middle of five, so the window holds what a
long sequence's does; the peer in the same run is dustbust with a budget so large that the
whole frame is one band (whole-frame planes, as before the bands).

Goals: reelfix under 2 GB for 4K x2; dustbust under 2 GB for 8K (issue 17, goal 4).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

from benchmarks.common import CACHE, ROOT, cpu_name, photo_frame, write_section
from reelfix import __version__, colour
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


def child_peak(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run cmd in a fresh child; return (peak RSS in GiB, seconds). Children run one at a
    time, so RUSAGE_CHILDREN's maximum grows only when this child's peak is higher: each
    measurement runs in its own grandchild wrapper to isolate it."""
    wrapper = (
        "import resource, subprocess, sys, time; t=time.perf_counter(); "
        "r=subprocess.run(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter()-t, r.returncode)"
    )
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, cwd=ROOT, check=True, env=env)
    kib, secs, rc = out.stdout.split()[-3:]
    if rc != "0":
        raise SystemExit(f"{cmd} failed with {rc}")
    return int(kib) / 1024**2, float(secs)


def main(height: int, width: int, model: str) -> dict[str, float]:
    """The upscale figures (4K x2 by default)."""
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


TEMPORAL_FRAMES = range(1001, 1006)
OTHERS = ("scratch", "deflicker", "degrain")  # measured for the record (their owners' nodes, unchanged here)


def temporal_plate(height: int, width: int) -> Path:
    """Five frames of a slow pan over real photos, scene-linear half-float EXR, with grain
    (fresh noise per frame) and a few dozen specks of dirt on the middle one; written once."""
    folder = CACHE / "peak_memory" / f"temporal_grain_{width}x{height}"
    if not (folder / f"plate.{TEMPORAL_FRAMES[-1]}.exr").exists():
        base = colour.convert(photo_frame(height, width), "srgb_tx", "lin_srgb")
        rng = np.random.default_rng(7)
        middle = TEMPORAL_FRAMES[len(TEMPORAL_FRAMES) // 2]
        for i, n in enumerate(TEMPORAL_FRAMES):
            pix = np.ascontiguousarray(np.roll(base, (i, 2 * i), axis=(0, 1)))
            pix += rng.normal(0.0, 0.01, pix.shape).astype(np.float32) * np.sqrt(np.maximum(pix, 0.0))
            if n == middle:
                for y, x in zip(rng.integers(0, height - 12, 40), rng.integers(0, width - 12, 40)):
                    pix[y : y + 6, x : x + 5] = 0.02 if (y + x) % 2 else 2.0
            write_image(str(folder / f"plate.{n}.exr"), Frame(pix, ("R", "G", "B"), "lin_srgb", n), bit_depth="half", compression="zip")
    return folder


def node_peak(folder: Path, node: str, max_memory: str, tree: Path | None = None, label: str = "") -> tuple[float, float]:
    """Peak RSS (GiB) and seconds of `reelfix run` of one node with its defaults, rendering
    the middle frame of the five (all five are its input range); with `tree`, the reelfix of
    that checkout (its core/ first on PYTHONPATH)."""
    middle = TEMPORAL_FRAMES[len(TEMPORAL_FRAMES) // 2]
    job = {
        "input": {"path": str(folder / "plate.####.exr"), "colorspace": "lin_srgb"},
        "output": {"path": str(output(folder, node, label or max_memory)).replace(f".{middle}.", ".####.")},
        "pipeline": [{"node": node, "params": {}}],
        "device": "cpu",
        "max_memory": max_memory,
    }
    path = folder / f"{node}_{label or max_memory}.json"
    path.write_text(json.dumps(job))
    env = None if tree is None else {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree / "core"), os.environ.get("PYTHONPATH", "")])}
    return child_peak([sys.executable, "-m", "reelfix", "run", str(path), "--frames", str(middle), "--no-resume"], env)


def output(folder: Path, node: str, label: str) -> Path:
    return folder / node / label / f"out.{TEMPORAL_FRAMES[len(TEMPORAL_FRAMES) // 2]}.exr"


def same_output(folder: Path, label: str) -> bool:
    """Whether dustbust's written frame (half-float EXR) of route `label` is bit-identical to the default route's."""
    from reelfix.frames.image_io import read_image

    a, b = (read_image(str(output(folder, "dustbust", x))).pixels for x in ("2GB", label))
    return a.shape == b.shape and bool(np.array_equal(a.view(np.uint32), b.view(np.uint32)))


def temporal(height: int, width: int, others: bool = True, before: Path | None = None) -> dict[str, tuple[float, ...]]:
    """{route: (peak GiB, seconds[, output identical to the default route's])}: dustbust at the
    default budget and as one band, with `before` (a checkout of the code before the bands)
    also that code's, and the other temporal nodes."""
    folder = temporal_plate(height, width)
    out: dict[str, tuple[float, ...]] = {"dustbust": node_peak(folder, "dustbust", "2GB")}
    out["dustbust_one_band"] = (*node_peak(folder, "dustbust", "1TB"), same_output(folder, "1TB"))
    if before is not None:
        out["dustbust_before"] = (*node_peak(folder, "dustbust", "2GB", before, "before"), same_output(folder, "before"))
    for node in OTHERS if others else ():
        try:
            out[node] = node_peak(folder, node, "2GB")
        except SystemExit:  # a node that fails on these frames is named as such, the others still measured
            out[node] = (float("nan"), float("nan"))
    return out


def section(m: dict[str, float], t: dict[str, tuple[float, ...]], mem_args: tuple[int, int], t_args: tuple[int, int], before_label: str = "") -> list[str]:
    """The markdown of both questions."""
    ok, yes = {True: "met", False: "NOT met"}, {True: "yes", False: "NO"}
    (h, w), (th, tw) = mem_args, t_args
    frame_gib = th * tw * 3 * 4 / 1024**3
    db, one = t["dustbust"], t["dustbust_one_band"]
    lines = [
        f"## Peak memory, one {w}x{h} frame x2 (default 2 GB budget)",
        "",
        f"Command: `python -m benchmarks.peak_memory --height {h} --width {w}`",
        "",
        "| route | peak RSS (GiB) | seconds |",
        "| --- | --- | --- |",
        f"| `reelfix upscale` (whole process: read, tiles, write) | {m['reelfix_peak_gib']:.2f} | {m['reelfix_s']:.1f} |",
        f"| bare ONNX Runtime on one whole {m['bare_size']} frame (no tiling; a quarter of 4K) | {m['bare_whole_frame_peak_gib']:.2f} | {m['bare_s']:.1f} |",
        "",
        f"Goal: under 2 GB for 4K x2 ({ok[m['reelfix_peak_gib'] < 2.0]}).",
        "",
        f"## Peak memory, temporal nodes on a {tw}x{th} sequence (half-float EXR, default 2 GB budget)",
        "",
        f"Command: `python -m benchmarks.peak_memory --temporal-height {th} --temporal-width {tw}{' --before-tree TREE' if before_label else ''}`. `reelfix run` of one node with "
        f"its defaults over five frames, rendering the middle one (the window then holds what it holds in a long sequence); "
        f"whole process, in a child. One frame in memory is {frame_gib:.2f} GiB (float32 RGB), {frame_gib / 2:.2f} GiB held as half.",
        "",
        "| route | peak RSS (GiB) | seconds | RSS ratio | written frame bit-identical to the first row's |",
        "| --- | --- | --- | --- | --- |",
        f"| `dustbust`, default budget (bands sized from it) | {db[0]:.2f} | {db[1]:.1f} | {db[0] / one[0]:.2f}x one band | - |",
        f"| `dustbust` with `max_memory: 1TB` (one band: all of the frame's planes at once) | {one[0]:.2f} | {one[1]:.1f} | 1.00 | {yes[bool(one[2])]} |",
    ]
    if "dustbust_before" in t:
        b = t["dustbust_before"]
        lines.append(f"| `dustbust` of the code before the bands (`--before-tree`, {before_label}) | {b[0]:.2f} | {b[1]:.1f} | {b[0] / one[0]:.2f}x | {yes[bool(b[2])]} |")
    for node in OTHERS:
        if node in t:
            r = t[node]
            row = f"{r[0]:.2f} | {r[1]:.1f} | {r[0] / one[0]:.2f}x" if r[0] == r[0] else "failed | - | -"
            lines.append(f"| `{node}` (not banded; for the record) | {row} | - |")
    lines += [
        "",
        (f"Goal: dustbust under 2 GB for 8K ({ok[db[0] < 2.0]})." if th * tw >= 4320 * 7680 else "Goal (8K): not judged at this size.") + " Bands change no pixel and no matte value (float32, tests/nodes/test_dustbust_memory.py), "
        "nor do frames held as half (tests/nodes/test_dustbust_half.py). "
        f"What the budget cannot cover: the frames the pipeline holds for a radius-1 window (the centre, two neighbours each side "
        f"for the ends of a shot, one read ahead: up to {6 * frame_gib / 2:.2f} GiB, as dustbust holds a half file's frames at its "
        f"precision and casts the rows it works on; {6 * frame_gib:.2f} GiB as float32, as the other nodes take them), the output "
        "frame and its matte, and the frame being written; the bands bound only the node's own working memory.",
        "",
    ]
    return lines


def stamp() -> str:
    """Date, the commit of the reelfix the children ran (its own checkout, e.g. a worktree), machine."""
    import reelfix

    tree = Path(reelfix.__file__).resolve().parents[2]

    def git(*args: str) -> str:
        r = subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = " plus uncommitted changes" if git("status", "--porcelain", "--", "core") else ""
    load = os.getloadavg()[1]
    return f"_Measured {datetime.date.today()}, reelfix {__version__} at commit {commit}{dirty}, {cpu_name()}, {os.cpu_count()} logical cores, Python {platform.python_version()}; load average {load:.1f} over the last 5 minutes._"


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--height", type=int, default=2160)
    ap.add_argument("--width", type=int, default=3840)
    ap.add_argument("--model", default="span-x2")
    ap.add_argument("--temporal-height", type=int, default=4320)
    ap.add_argument("--temporal-width", type=int, default=7680)
    ap.add_argument("--no-others", action="store_true", help="dustbust only among the temporal nodes")
    ap.add_argument("--before-tree", type=Path, help="a checkout of the code before dustbust's bands, measured as a third dustbust route")
    a = ap.parse_args()
    up = main(a.height, a.width, a.model)
    tm = temporal(a.temporal_height, a.temporal_width, not a.no_others, a.before_tree)
    print(up, tm)
    label = ""
    if a.before_tree:
        label = "commit " + subprocess.run(["git", "-C", str(a.before_tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    lines = section(up, tm, (a.height, a.width), (a.temporal_height, a.temporal_width), label)
    write_section("peak_memory", lines + [stamp(), ""])
