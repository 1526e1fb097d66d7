"""How big the review report of a long shot gets, how fast it opens, and what writing it costs.

A 2,000-frame shot (a slow pan across a CC0 photo, with flicker and dust specks, scene-linear EXR)
goes through `reelfix run --report`; the page's cost is the time the run spent in the report's
frame observer, against the whole run's time in the same run (the build machine is shared, so two
separate runs would not compare). The page is then opened in headless Chromium (Debian's `chromium`) from the file system:
load time from the navigation timing, median of three opens. Separately, the previews of one shot
at 2K (60 frames of 2048x1080, the per-shot cap) measure the largest pictures a page holds.

python -m benchmarks.report_size [--frames 2000] [--height 144] [--width 256]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import CACHE, ROOT, photo_frame  # noqa: E402
from reelfix import colour  # noqa: E402
from reelfix.frames.frame import Frame  # noqa: E402
from reelfix.frames.image_io import write_image  # noqa: E402
from reelfix.report import ReportCollector  # noqa: E402

GOAL_MB, GOAL_OPEN_S = 50.0, 2.0


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def make_shot(folder: Path, frames: int, height: int, width: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    photo = colour.convert(np.clip(photo_frame(height * 2, width * 3, 0), 0, 1), "srgb_tx", "lin_srgb")
    rng = np.random.default_rng(5)
    for i in range(frames):
        path = folder / f"shot.{1001 + i:04d}.exr"
        if path.exists():
            continue
        x = int(round(i * (photo.shape[1] - width) / max(1, frames - 1)))
        y = int(round(height / 2 + 3 * np.sin(i / 7)))
        pix = photo[y : y + height, x : x + width] * np.float32(1 + 0.05 * rng.uniform(-1, 1))
        for _ in range(3):
            cy, cx = rng.integers(3, height - 3), rng.integers(3, width - 3)
            pix[cy - 1 : cy + 1, cx - 1 : cx + 1] = 0.9
        write_image(str(path), Frame(np.ascontiguousarray(pix, np.float32), ("R", "G", "B"), "lin_srgb", 1001 + i), compression="zip", bit_depth="half")


def timed_run(root: Path, *extra: str) -> float:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "reelfix", "run", "job.yaml", "--no-resume", "--progress", "plain", *extra], cwd=root, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stdout[-2000:] + r.stderr[-2000:])
    return time.perf_counter() - t0


def open_seconds(page: Path, tries: int = 3) -> tuple[float, list[str]]:
    sys.path.insert(0, str(ROOT))
    from tests.report.chromium import Browser, find_chromium

    exe = find_chromium()
    if exe is None:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
    times, errors = [], []
    browser = Browser(exe)
    try:
        for _ in range(tries):
            browser.open(page.as_uri())
            times.append(float(browser.eval("performance.getEntriesByType('navigation')[0].loadEventEnd")) / 1000.0)
        errors = browser.errors()
    finally:
        browser.close()
    return statistics.median(times), errors


def previews_2k(folder: Path) -> int:
    """Bytes of one shot's previews at the per-shot cap (60 frames) from a 2048x1080 plate."""
    collector = ReportCollector(folder, range(60), per_shot=60)
    base = colour.convert(np.clip(photo_frame(1080, 2048, 1), 0, 1), "srgb_tx", "lin_srgb")
    for n in range(60):
        frame = Frame(np.ascontiguousarray(np.roll(base, 8 * n, axis=1)), ("R", "G", "B"), "lin_srgb", n)
        frame.mattes = {"dustbust": np.zeros((1080, 2048), np.float32)}
        collector.observe(n, frame, frame)
    return folder_bytes(folder)


def main(frames: int = 2000, height: int = 144, width: int = 256) -> dict[str, float | int | str]:
    root = CACHE / f"report_{frames}_{width}x{height}"
    make_shot(root / "plates", frames, height, width)
    job = {
        "input": {"path": "plates/shot.####.exr", "colorspace": "lin_srgb"},
        "output": {"path": "out/shot.####.exr", "compression": "zip", "mattes": "out/mattes/shot.####.exr"},
        "pipeline": [{"node": "dustbust"}],
        "device": "cpu",
    }
    (root / "job.yaml").write_text(yaml.safe_dump(job))
    wall = timed_run(root, "--report", "review")
    review = root / "review"
    page = (review / "index.html").read_text()
    cost = float(re.search(r'data-derived="cost.seconds">([\d.]+)<', page).group(1))
    waited = float(re.search(r'data-derived="cost.waited">([\d.]+)<', page).group(1))
    run_s = float(json.loads((root / "out" / "shot.reelfix.json").read_text())["runs"][-1]["seconds"])
    seconds, errors = open_seconds(review / "index.html")
    big = previews_2k(CACHE / "report_previews_2k")
    result = {
        "frames": frames,
        "size": f"{width}x{height}",
        "report_mb": folder_bytes(review) / 1e6,
        "html_mb": (review / "index.html").stat().st_size / 1e6,
        "files": sum(1 for p in review.rglob("*") if p.is_file()),
        "open_s": seconds,
        "console_errors": len(errors),
        "wall_s": wall,
        "run_s": run_s,
        "report_s": cost,
        "waited_s": waited,
        "share": cost / run_s,
        "previews_2k_mb": big / 1e6,
    }
    (ROOT / "docs" / "bench").mkdir(parents=True, exist_ok=True)
    (ROOT / "docs" / "bench" / "report.md").write_text("\n".join(markdown(result)) + "\n")
    return result


def ok(flag: bool) -> str:
    return "met" if flag else "NOT met"


def markdown(r: dict) -> list[str]:
    worst = r["report_mb"] + r["previews_2k_mb"]
    return [
        f"## Review report of a {r['frames']}-frame shot",
        "",
        f"Command: `python -m benchmarks.report_size --frames {r['frames']} --width {r['size'].split('x')[0]} --height {r['size'].split('x')[1]}`. "
        f"A {r['frames']}-frame {r['size']} scene-linear EXR shot (a slow pan across a CC0 photo, flicker, dust), "
        "`dustbust` with mattes, run with `--report` (the page written while the job runs; its cost is the time spent in its frame "
        "observer within the same run, since the build machine is shared); the page opened from the "
        "file system in headless Chromium (load event from the navigation timing, median of 3).",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| report folder (index.html + {r['files'] - 1} pictures) | {r['report_mb']:.2f} MB |",
        f"| of which index.html (curves of every frame, provenance) | {r['html_mb']:.2f} MB |",
        f"| one shot's previews at the cap from a 2048x1080 plate (60 x before, after, matte, thumbnail) | {r['previews_2k_mb']:.2f} MB |",
        f"| open time (load event) | {r['open_s']:.3f} s |",
        f"| console errors | {r['console_errors']} |",
        f"| the run (dustbust, {r['frames']} frames, with `--report`) | {r['run_s']:.1f} s |",
        f"| the report's work (measures, previews; on its own thread) | {r['report_s']:.1f} s ({r['share']:.1%} of the run's time) |",
        f"| of which the run waited for it | {r['waited_s']:.1f} s ({r['waited_s'] / r['run_s']:.1%}) |",
        "",
        f"Goals: under {GOAL_MB:.0f} MB for a 2,000-frame shot even with 2K previews ({worst:.1f} MB: {ok(worst < GOAL_MB)}); "
        f"opens in under {GOAL_OPEN_S:.0f} s ({ok(r['open_s'] < GOAL_OPEN_S)}).",
        "",
    ]


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=2000)
    ap.add_argument("--height", type=int, default=144)
    ap.add_argument("--width", type=int, default=256)
    a = ap.parse_args()
    print(json.dumps(main(a.frames, a.height, a.width), indent=2))
