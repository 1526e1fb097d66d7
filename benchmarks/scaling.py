"""Question: does `reelfix upscale`'s cost grow with the picture as it should? (issue 17, goal 4)

Each size runs in its own child process (`python -m benchmarks.scaling --child ...`), so its peak
RSS (the kernel's VmHWM for that process) is its own: half-float EXR frames (zip) of real photos,
scene-linear, through `run_job` (EXR read, OpenColorIO both ways, tiles, model, EXR write,
provenance) with the default 2 GB memory budget on the CPU. One warm-up frame (model load, OCIO
processors), then the timed frames; seconds per input megapixel is the figure, in the steady state
(from the first frame written to the last: what each further frame of a shot costs while the
pipeline overlaps one frame's read and write with its neighbours' model; with a single frame
nothing overlaps, so the whole job's time, also shown, favours sizes run with more frames).

Two models:
- `nearfree-x2`: a 1x1 convolution + DepthToSpace adopted with `reelfix models convert` (as in
  benchmarks.host_overhead), so the curve shows reelfix's own work from 0.5K to 8K input
  (8K input -> 16K output) in minutes;
- `span-x2`: the built-in model at the sizes that fit in a few minutes on this 2-core machine
  (its model time dominates, so it shows the tiling's cost: overlap, padding), and once at 4K
  input -> 8K output for the peak-RSS goal.

The peer for the per-megapixel figure is the same route at 2K input (ratios to it); the machine
is shared, so sizes are interleaved in rounds and each figure is the median over rounds.

Goals: time per megapixel flat within 15% from 0.5K to 8K input (max/min of the near-free
curve <= 1.15); peak RSS under 2 GB for an 8K output (4K input x2) on the CPU.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import CACHE, ROOT

SIZES = {"0.5K": (270, 480), "1K": (540, 960), "2K": (1080, 1920), "4K": (2160, 3840), "8K": (4320, 7680)}
FLAT = 1.15
RSS_GOAL_GIB = 2.0
DOC = ROOT / "docs" / "bench" / "scaling.md"
PLOT = ROOT / "docs" / "bench" / "scaling.png"


def vm_hwm_gib() -> float:
    """This process's peak resident set (VmHWM), GiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024**2
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def child(model: str, height: int, width: int, frames: int, warm: bool = True) -> dict[str, Any]:
    """One size in this (fresh) process: the seconds per frame and this process's peak RSS
    (`warm`: one frame first, untimed)."""
    home = Path(tempfile.mkdtemp(prefix="reelfix-bench-home-"))
    os.environ["REELFIX_HOME"] = str(home)
    os.environ["REELFIX_MODEL_PATH"] = ""
    os.environ["REELFIX_CACHE"] = str(CACHE / "scaling_cache")  # not the user's; shared by this run's children (the int8 model is made once)
    from benchmarks.common import photo_frame
    from benchmarks.host_overhead import make_nearfree_x2
    from reelfix import colour
    from reelfix.frames.frame import Frame
    from reelfix.frames.image_io import write_image
    from reelfix.jobs.load import job_from_data
    from reelfix.pipeline import run_job

    work = CACHE / "scaling" / f"{model}_{width}x{height}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if model == "nearfree-x2":
        from reelfix.models.adopt import adopt_onnx

        adopt_onnx(make_nearfree_x2(work / "nearfree.onnx"), name="nearfree-x2", colorspace="srgb_tx")
    numbers = list(range(1001 - int(warm), 1001 + frames))  # a warm-up frame first, if any
    for i, n in enumerate(numbers):
        lin = colour.convert(grainy(photo_frame(height, width, i), n), "srgb_tx", "lin_srgb")
        write_image(str(work / f"in/p.{n}.exr"), Frame(lin, ("R", "G", "B"), "lin_srgb", n), compression="zip")
        del lin
    job = job_from_data(
        {
            "input": {"path": str(work / "in/p.####.exr"), "colorspace": "lin_srgb"},
            "output": {"path": str(work / "out/p.####.exr"), "compression": "zip", "bit_depth": "half"},
            "pipeline": [{"node": "upscale", "params": {"scale": 2, "model": model}}],
            "device": "cpu",
        },
        "benchmark",
    )
    if warm:
        run_job(job, frames=str(numbers[0]), resume=False)
    timed = numbers[int(warm):]
    marks: list[tuple[float, float]] = []  # (wall, CPU) as each frame is reported written

    def written(result: Any, done: int, total: int) -> None:
        marks.append((time.perf_counter(), time.process_time()))

    t0, c0 = time.perf_counter(), time.process_time()
    summary = run_job(job, frames=f"{timed[0]}-{timed[-1]}", resume=False, progress=written)
    wall, cpu = (time.perf_counter() - t0) / frames, (time.process_time() - c0) / frames
    if summary.failed:
        raise SystemExit(f"scaling run failed: {summary.failed[0].error}")
    # steady state: from the first frame written to the last, each further frame of the shot
    # (its read, model and write overlapping its neighbours', as in any shot longer than a frame)
    steady = ((marks[-1][0] - marks[0][0]) / (len(marks) - 1), (marks[-1][1] - marks[0][1]) / (len(marks) - 1)) if len(marks) > 1 else (wall, cpu)
    peak = vm_hwm_gib()  # before the peer below reads whole output frames
    tiles, work_factor = tile_work(model, height, width, summary.providers[0], job.max_memory_bytes)
    outputs = [work / f"out/p.{n}.exr" for n in timed]
    out_bytes = sum(p.stat().st_size for p in outputs) / (len(outputs) * 4 * height * width)  # x2: 4 output pixels per input pixel
    peer = oiio_peer(work, timed) if model == "nearfree-x2" else None
    probe = zip_width_probe(outputs[0], work) if model == "nearfree-x2" and 2 * width > ZIP_WINDOW // 3 else None
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(home, ignore_errors=True)
    return {
        "s_per_frame": wall, "cpu_s_per_frame": cpu, "steady_s_per_frame": steady[0], "steady_cpu_s_per_frame": steady[1],
        "peak_gib": peak, "providers": summary.providers, "tiles": tiles, "work": work_factor, "out_bytes_per_px": out_bytes,
        "peer_s_per_frame": peer[0] if peer else None, "peer_cpu_s_per_frame": peer[1] if peer else None, "zip_probe": probe,
    }  # fmt: skip


ZIP_WINDOW = 32768  # bytes: deflate's window (EXR zip)


def zip_width_probe(path: Path, work: Path) -> dict[str, float]:
    """One output frame written by OpenImageIO alone whole and as its two halves side by side
    (half, zip), alternately `PROBE_ROUNDS` times: the median CPU seconds and seconds per MP and
    the file bytes per pixel of each (the pixels are the same)."""
    from benchmarks.host_overhead import _oiio_read, _oiio_write

    pixels = _oiio_read(str(path))
    mp = pixels.shape[0] * pixels.shape[1] / 1e6
    ways = {"whole": [pixels], "halves": [np.ascontiguousarray(p) for p in np.array_split(pixels, 2, axis=1)]}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    out: dict[str, float] = {"width": pixels.shape[1]}
    for _ in range(PROBE_ROUNDS):
        for name, parts in ways.items():
            targets = [work / f"probe_{name}_{i}.exr" for i in range(len(parts))]
            c0, t0 = time.process_time(), time.perf_counter()
            for part, target in zip(parts, targets):
                _oiio_write(str(target), part, "zip")
            times[name].append(((time.process_time() - c0) / mp, (time.perf_counter() - t0) / mp))
            out[f"{name}_bytes_per_px"] = sum(t.stat().st_size for t in targets) / (mp * 1e6)
    for name, got in times.items():
        out[f"{name}_cpu_s_per_mp"] = statistics.median(c for c, _ in got)
        out[f"{name}_s_per_mp"] = statistics.median(w for _, w in got)
    return out


PROBE_ROUNDS = 3


def oiio_peer(work: Path, timed: list[int]) -> tuple[float, float]:
    """(seconds, CPU seconds) per frame that OpenImageIO alone takes to read each input frame and
    write the frame reelfix wrote for it (read beforehand, untimed; half, zip, as reelfix writes):
    the file work any tool pays at this size (benchmarks/host_overhead.py's peer, at every size)."""
    from benchmarks.host_overhead import _oiio_read, _oiio_write

    wall = cpu = 0.0
    for n in timed:
        pixels = _oiio_read(str(work / f"out/p.{n}.exr"))
        t0, c0 = time.perf_counter(), time.process_time()
        _oiio_read(str(work / f"in/p.{n}.exr"))
        _oiio_write(str(work / f"peer.{n}.exr"), pixels, "zip")
        wall, cpu = wall + time.perf_counter() - t0, cpu + time.process_time() - c0
        del pixels
    return wall / len(timed), cpu / len(timed)


GRAIN = 0.01  # std of the grain on every frame (sRGB-encoded values)


def grainy(picture: np.ndarray, seed: int) -> np.ndarray:
    """The picture with grain, kept within 0..1 (so every size takes the same in-range route). The
    photos are tiled to the size asked for, and without grain a wide frame repeats itself exactly
    every two photo widths: EXR's zip (deflate, a 32 KB window) then finds the repeats and writes
    and reads a 4K frame at half the CPU per megapixel of a 960-wide one (measured: 0.058 against
    0.109 CPU s per MP to write). Film never repeats itself exactly; with grain, the frames of
    every size cost the same per pixel to store."""
    noise = np.random.default_rng(seed).standard_normal(picture.shape, dtype=np.float32)
    return np.clip(picture + GRAIN * noise, 0.0, 1.0, out=noise)


def tile_work(model: str, height: int, width: int, provider: str, max_memory: int) -> tuple[int, float]:
    """How upscale tiles this frame: the number of tiles and the model's input pixels per frame
    pixel (1.0 = one tile; above it, the tiles' overlap the model computes twice)."""
    from reelfix.models.catalog import find_model
    from reelfix.nodes.upscale import tiling_for
    from reelfix.tiling import plan_tiles

    card = find_model(model).card
    tile, overlap = tiling_for(card, height, width, provider, max_memory)
    tiles = plan_tiles(height, width, tile, overlap, card.multiple_of)
    pixels = sum((t.input.y1 - t.input.y0) * (t.input.x1 - t.input.x0) for t in tiles)
    return len(tiles), pixels / (height * width)


MP_PER_RUN = 8.3e6  # input pixels each timed run covers at least (one 4K frame)
MIN_FRAMES = 3  # timed frames at every size: two intervals between frames written


def frames_for(size: str, frames: int) -> int:
    """Timed frames for a size: at least `frames` and `MIN_FRAMES`, and at least `MP_PER_RUN` input
    pixels (0.5K: 65 frames, 1K: 17, 2K: 5, 4K and 8K: 3), so a job's fixed start-up (model session,
    thread pools, manifest) weighs about the same per megapixel at every size."""
    h, w = SIZES[size]
    return max(frames, MIN_FRAMES, math.ceil(MP_PER_RUN / (h * w)))


def run_child(model: str, size: str, frames: int, warm: bool = True) -> dict[str, Any]:
    h, w = SIZES[size]
    cmd = [sys.executable, "-m", "benchmarks.scaling", "--child", model, str(h), str(w), str(frames), str(int(warm))]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["mp"] = h * w / 1e6
    r["frames"] = frames
    for key in ("s_per", "cpu_s_per", "steady_s_per", "steady_cpu_s_per", "peer_s_per", "peer_cpu_s_per"):
        r[f"{key}_mp"] = r[f"{key}_frame"] / r["mp"] if r.get(f"{key}_frame") is not None else None
    return r


def _median_rows(runs: list[dict[str, Any]]) -> dict[str, Any]:
    row = dict(runs[0])
    for r in runs:  # reelfix against the file work alone, per round (the rounds share the machine's load with their peer)
        r["peer_ratio"] = r["steady_s_per_mp"] / r["peer_s_per_mp"] if r.get("peer_s_per_mp") else None
    for key in ("s_per_frame", "cpu_s_per_frame", "s_per_mp", "cpu_s_per_mp", "steady_s_per_mp", "steady_cpu_s_per_mp",
                "peer_s_per_mp", "peer_cpu_s_per_mp", "peer_ratio", "out_bytes_per_px"):  # fmt: skip
        if all(r.get(key) is not None for r in runs):
            row[key] = statistics.median(r[key] for r in runs)
    row["peak_gib"] = max(r["peak_gib"] for r in runs)
    return row


def main(nearfree: list[str], span: list[str], rss_size: str | None, rounds: int = 2, frames: int = 2) -> dict[str, Any]:
    """Per model and size the median over `rounds` (sizes interleaved within each round)."""
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    shutil.rmtree(CACHE / "scaling_cache", ignore_errors=True)
    load = os.getloadavg()[0]
    for _ in range(rounds):
        for model, sizes in (("nearfree-x2", nearfree), ("span-x2", span)):
            for size in sizes:
                runs.setdefault((model, size), []).append(run_child(model, size, frames_for(size, frames)))
    rows = {key: _median_rows(v) for key, v in runs.items()}
    rss = run_child("span-x2", rss_size, 1, warm=False) if rss_size else None  # one cold frame: its peak is the goal
    result: dict[str, Any] = {"rows": rows, "rss": rss, "rss_size": rss_size, "rounds": rounds, "frames": frames}
    for model in ("nearfree-x2", "span-x2"):
        for key, name in (("steady_s_per_mp", "spread"), ("steady_cpu_s_per_mp", "cpu_spread"), ("s_per_mp", "job_spread"),
                          ("peer_s_per_mp", "peer_spread"), ("peer_ratio", "ratio_spread")):  # fmt: skip
            per_mp = [r[key] for (m, _), r in rows.items() if m == model and r.get(key) is not None]
            result[f"{model}_{name}"] = max(per_mp) / min(per_mp) if len(per_mp) > 1 else float("nan")
    result["load"] = (load, os.getloadavg()[0])
    return result


def plot(r: dict[str, Any], path: Path = PLOT) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for model, style in (("nearfree-x2", "o-"), ("span-x2", "s-")):
        pts = sorted((row["mp"], row, size) for (m, size), row in r["rows"].items() if m == model)
        if not pts:
            continue
        mps = [p[0] for p in pts]
        base = statistics.median(p[1]["steady_s_per_mp"] for p in pts)
        a.plot(mps, [p[1]["steady_s_per_mp"] / base for p in pts], style, label=f"{model} (1.0 = {base:.3f} s/MP)")
        b.plot(mps, [p[1]["peak_gib"] for p in pts], style, label=model)
    if r["rss"]:
        b.plot([r["rss"]["mp"]], [r["rss"]["peak_gib"]], "r*", markersize=12, label=f"span-x2 {r['rss_size']} in -> x2")
    a.axhspan(1 / FLAT ** 0.5, FLAT ** 0.5, color="0.9", label="15% band")
    b.axhline(RSS_GOAL_GIB, color="r", linestyle="--", label="2 GB goal")
    for ax, title in ((a, "time per input megapixel, steady (relative to the median)"), (b, "peak RSS (GiB)")):
        ax.set_xscale("log")
        ax.set_xlabel("input megapixels")
        ax.set_title(title)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def markdown(r: dict[str, Any], command: str) -> list[str]:
    ok = lambda flag: "met" if flag else "NOT met"  # noqa: E731
    counts = ", ".join(f"{k}: {frames_for(k, r['frames'])}" for k in SIZES)
    lines = [
        "## Cost against picture size (upscale x2 on the CPU, default 2 GB budget)",
        "",
        f"Command: `{command}`. Each size in a fresh child process (peak RSS = its VmHWM), half-float EXR (zip) in and out "
        "through `run_job`; one warm-up frame, then timed frames covering at least 8.3 MP of input and at least "
        f"{MIN_FRAMES} ({counts} frames: a job's fixed start-up weighs about the same per "
        "megapixel at every size; the peak-RSS run: one cold frame). The goal's figure is the steady cost: from the first frame "
        "written to the last, per frame, what each further frame of a shot costs with its read and write overlapping its "
        "neighbours' (the whole job's time per MP is beside it: one frame's read before anything overlaps and one frame's write "
        f"after weigh more where there are fewer frames); median over {r['rounds']} rounds with the sizes interleaved. "
        "`nearfree-x2` is a 1x1 convolution + DepthToSpace (reelfix's own work); `span-x2` the built-in model.",
        "",
        "| model | input | megapixels | tiles (model input / frame) | frames | seconds per MP, steady | CPU seconds per MP, steady | "
        "seconds per MP, whole job | OpenImageIO alone, read + write: seconds per MP | reelfix steady / OpenImageIO | "
        "output file bytes per pixel | peak RSS (GiB) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
    for (model, size), row in sorted(r["rows"].items(), key=lambda kv: (kv[0][0], kv[1]["mp"])):
        lines.append(
            f"| {model} | {size} ({SIZES[size][1]}x{SIZES[size][0]}) | {row['mp']:.2f} | {row['tiles']} ({row['work']:.2f}x) | {row['frames']} | "
            f"{row['steady_s_per_mp']:.3f} | {row['steady_cpu_s_per_mp']:.3f} | {row['s_per_mp']:.3f} | {fmt(row.get('peer_s_per_mp'), '.3f')} | "
            f"{fmt(row.get('peer_ratio'), '.2f')} | {fmt(row.get('out_bytes_per_px'), '.2f')} | {row['peak_gib']:.2f} |"
        )
    if r["rss"]:
        h, w = SIZES[r["rss_size"]]
        lines.append(
            f"| span-x2 (peak RSS run, 1 frame) | {r['rss_size']} ({w}x{h} -> {2 * w}x{2 * h}) | {r['rss']['mp']:.2f} | {r['rss']['tiles']} ({r['rss']['work']:.2f}x) | 1 | "
            f"- | - | {r['rss']['s_per_mp']:.3f} | - | - | {r['rss']['out_bytes_per_px']:.2f} | {r['rss']['peak_gib']:.2f} |"
        )
    spread = r["nearfree-x2_spread"]
    lines += [
        "",
        f"![time per megapixel and peak RSS against input size]({PLOT.name})",
        "",
        f"Goal: time per megapixel flat within 15% from 0.5K to 8K input (steady): near-free model max/min {spread:.2f}x "
        f"({ok(spread <= FLAT)}); span-x2 over the sizes it ran {r['span-x2_spread']:.2f}x. "
        f"CPU seconds per MP, steady (less sensitive to the load: {r['load'][0]:.1f} at the start, {r['load'][1]:.1f} at the end) "
        f"max/min: near-free {r['nearfree-x2_cpu_spread']:.2f}x, span-x2 {r['span-x2_cpu_spread']:.2f}x. Whole job's time per MP "
        f"max/min: near-free {r['nearfree-x2_job_spread']:.2f}x, span-x2 {r['span-x2_job_spread']:.2f}x. "
        f"Runtime: {', '.join(sorted({p for row in r['rows'].values() for p in row['providers']}))}.",
        "",
        f"The file work alone: OpenImageIO reading each input frame and writing the frame reelfix wrote (half, zip), one frame "
        f"after the other in the same child, costs max/min {r['nearfree-x2_peer_spread']:.2f}x per MP over the same sizes, and "
        f"reelfix's steady time over it spreads {r['nearfree-x2_ratio_spread']:.2f}x. EXR's zip compresses each block of 16 "
        "rows with deflate, whose window is 32 KB, after laying out the block's bytes channel by channel: a row's bytes lie "
        "3 x width bytes from the row above, inside the window up to about 10,900 pixels wide (8K output) and outside it at "
        "16K, so a 16K frame keeps less of its rows' likeness (output file bytes per pixel above) and costs more CPU per "
        "pixel to write, in any program" + _probe_text(r) + ".",
    ]
    if r["rss"]:
        lines.append(f"Goal: peak RSS under 2 GB for an 8K output: span-x2 {r['rss']['peak_gib']:.2f} GiB ({ok(r['rss']['peak_gib'] < RSS_GOAL_GIB)}).")
    lines.append("")
    return lines


def _probe_text(r: dict[str, Any]) -> str:
    """What `zip_width_probe` found in the widest near-free run, as a clause (empty where none ran)."""
    probes = [row["zip_probe"] for (m, _), row in r["rows"].items() if m == "nearfree-x2" and row.get("zip_probe")]
    if not probes:
        return ""
    p = probes[-1]
    return (f" (one {p['width']}-wide output frame written by OpenImageIO alone, median of {PROBE_ROUNDS} alternating writes: "
            f"whole, {p['whole_s_per_mp']:.3f} s and {p['whole_cpu_s_per_mp']:.3f} CPU s per MP, {p['whole_bytes_per_px']:.2f} "
            f"bytes per pixel; as its two halves side by side, {p['halves_s_per_mp']:.3f} s, {p['halves_cpu_s_per_mp']:.3f} CPU s "
            f"and {p['halves_bytes_per_px']:.2f} bytes)")


def write(r: dict[str, Any], command: str) -> list[str]:
    lines = markdown(r, command)
    plot(r)
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text("\n".join(lines))
    return lines


def run(nearfree: str, span: str, rss: str, rounds: int = 2, frames: int = 1) -> list[str]:
    """Sizes as comma-separated names (e.g. "0.5K,1K"; "" for none): measure, write the doc and plot."""
    sizes = lambda text: [x for x in text.split(",") if x]  # noqa: E731
    command = f"python -m benchmarks.scaling --nearfree '{nearfree}' --span '{span}' --rss '{rss}' --rounds {rounds} --frames {frames}"
    return write(main(sizes(nearfree), sizes(span), rss or None, rounds, frames), command)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        m, hh, ww, ff, warm_up = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == "1"
        print(json.dumps(child(m, hh, ww, ff, warm_up)))
        sys.exit(0)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nearfree", default="0.5K,1K,2K,4K,8K", help="sizes for the near-free model")
    ap.add_argument("--span", default="0.5K,1K,2K", help="sizes for span-x2 (its time per MP)")
    ap.add_argument("--rss", default="4K", help="input size of the span-x2 peak-RSS run (x2 output); '' to skip")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--frames", type=int, default=1)
    a = ap.parse_args()
    print("\n".join(run(a.nearfree, a.span, a.rss, a.rounds, a.frames)))
