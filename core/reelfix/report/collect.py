"""What the review page needs from the frames, taken as they pass through a run (no second pass).

`ReportCollector` is the pipeline's frame observer: for every frame it gets the input frame
(before) and the output frame (after, with the mattes of what repair nodes changed) and keeps
only small numbers: frame-mean luminance in linear light, defects repaired per matte, frame-to-frame
motion of a small grey copy (for residual weave), what deflicker and stabilize reported, and
shot changes. On the chosen frames (at most `max_previews` per shot) it writes small JPEG
previews shown through an OCIO display/view, a matte overlay PNG and a thumbnail, straight to
the report's assets folder, so memory stays bounded however long the shot.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable, Sequence

import cv2
import numpy as np

from .. import colour
from ..cuts import signature, signatures_cut
from ..frames.frame import Frame
from .display import DisplayView, jpeg, matte_png, small_picture

ASSETS = "assets"
ANALYSIS_WIDTH = 320  # the small copy luminance, motion and cuts are measured on
LINEAR = "lin_srgb"
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)  # Rec.709 / sRGB primaries
NOT_DEFECTS = ("stabilize",)  # mattes of filled borders, not repairs
BEHIND = 2  # frames handed over by the pipeline and not yet measured
OWN_FILES = re.compile(r"-?\d+_(before|after|thumb)\.jpg|-?\d+_matte\.png")


def plan_previews(numbers: Sequence[int], cuts: Iterable[int] = (), per_shot: int = 60) -> set[int]:
    """At most `per_shot` evenly spaced frames (first and last included) of each shot the job names."""
    order = sorted(set(numbers))
    cut_set = set(cuts)
    shots: list[list[int]] = []
    for n in order:
        if not shots or n in cut_set:
            shots.append([])
        shots[-1].append(n)
    chosen: set[int] = set()
    for shot in shots:
        k = min(len(shot), max(1, per_shot))
        chosen.update(shot[int(i)] for i in np.unique(np.round(np.linspace(0, len(shot) - 1, k)).astype(int)))
    return chosen


def _mean_luminance(small: np.ndarray, colorspace: str) -> float:
    lin = colour.convert(small, colorspace, LINEAR) if colorspace else small
    return float(np.tensordot(lin.reshape(-1, 3).mean(axis=0), LUMA, axes=1))


def _grey(small: np.ndarray) -> np.ndarray:
    g = small.mean(axis=2)
    g = np.log2(np.maximum(g, 0.0) + 1e-3)  # flicker and exposure matter less than edges
    return np.ascontiguousarray(g - g.mean(), dtype=np.float32)


def _defects(matte: np.ndarray) -> tuple[int, float]:
    """(separate repaired areas, share of the frame changed) of one matte."""
    mask = (matte > 0.25).astype(np.uint8)
    count = int(cv2.connectedComponents(mask, connectivity=8)[0]) - 1 if mask.any() else 0
    return count, float(np.mean(matte))


def _matte_preview(mattes: dict[str, np.ndarray], width: int, height: int) -> np.ndarray:
    """All mattes combined (max) at preview size; small specks grown first so they stay visible."""
    combined: np.ndarray = np.max(np.stack([m.astype(np.float32, copy=False) for m in mattes.values()]), axis=0)
    factor = combined.shape[1] / max(1, width)
    if factor > 1.5:
        k = int(math.ceil(factor))
        combined = cv2.dilate(combined, np.ones((k, k), np.uint8))
    return cv2.resize(combined, (width, height), interpolation=cv2.INTER_AREA)


def _json_meta(frame: Frame, key: str) -> dict[str, Any] | None:
    raw = frame.metadata.get(key)
    if not isinstance(raw, str):
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class ReportCollector:
    """Call it with (number, before, after) for every frame, in order; `data()` gives what it kept."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        numbers: Sequence[int] = (),
        *,
        cuts: Iterable[int] = (),
        per_shot: int = 60,
        preview_width: int = 960,
        thumb_width: int = 192,
        display: str | None = None,
        view: str | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.assets = self.folder / ASSETS
        self.assets.mkdir(parents=True, exist_ok=True)
        for old in self.assets.iterdir():  # an earlier page's pictures in this folder (ours only, by name)
            if OWN_FILES.fullmatch(old.name) and old.is_file():
                old.unlink()
        self.cuts = set(cuts)
        self.per_shot = per_shot
        self.chosen = plan_previews(numbers, self.cuts, per_shot) if numbers else set()
        self.preview_width, self.thumb_width = preview_width, thumb_width
        self.display, self.view = display, view
        self._views: dict[str, DisplayView] = {}
        self.frames: dict[int, dict[str, Any]] = {}
        self.previews: dict[int, dict[str, str]] = {}
        self.shot_starts: list[int] = []
        self._last: tuple[int, Any, np.ndarray, np.ndarray] | None = None  # number, signature, grey before, grey after
        self.colorspaces: dict[str, str] = {}
        self.seconds = 0.0  # spent in observe: what the report costs a run
        self.waited = 0.0  # of which the run was held up (a frame handed over while two are still in work)
        self.problems: list[str] = []
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future[None]] = deque()

    def _view(self, colorspace: str) -> DisplayView:
        if colorspace not in self._views:
            self._views[colorspace] = DisplayView(colorspace, self.display, self.view)
        return self._views[colorspace]

    def __call__(self, number: int, before: Frame, after: Frame) -> None:
        """The pipeline's hook: the frame is measured on the report's own thread while the run goes
        on; at most BEHIND frames wait there (their pictures stay referenced until then). An earlier
        frame's failure is raised here, so the pipeline drops the observer with a warning."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reelfix-report")
        started = time.perf_counter()
        try:
            while len(self._pending) >= BEHIND:
                self._pending.popleft().result()
        finally:
            self.waited += time.perf_counter() - started
        self._pending.append(self._pool.submit(self.observe, number, before, after))

    def flush(self) -> None:
        """Wait for the frames still in work; a failure is kept in `problems`, never raised."""
        while self._pending:
            try:
                self._pending.popleft().result()
            except Exception as exc:  # noqa: BLE001 - the page names it; the run's frames are safe
                self.problems.append(f"report: a frame could not be measured: {type(exc).__name__}: {exc}")
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def observe(self, number: int, before: Frame, after: Frame) -> None:
        started = time.perf_counter()
        try:
            self._observe(number, before, after)
        finally:
            self.seconds += time.perf_counter() - started

    def _observe(self, number: int, before: Frame, after: Frame) -> None:
        self.colorspaces.setdefault("before", before.colorspace)
        self.colorspaces.setdefault("after", after.colorspace)
        b_small = small_picture(before, ANALYSIS_WIDTH)
        sh, sw = b_small.shape[:2]
        a_small = small_picture(after, sw, sh)
        record: dict[str, Any] = {
            "luma_before": _mean_luminance(b_small, before.colorspace),
            "luma_after": _mean_luminance(a_small, after.colorspace),
        }
        defects = {name: _defects(m) for name, m in sorted(after.mattes.items())}
        if defects:
            record["defects"] = {k: v[0] for k, v in defects.items() if k not in NOT_DEFECTS}
            record["changed"] = {k: round(v[1], 6) for k, v in defects.items()}
        deflicker = _json_meta(after, "reelfix:deflicker")
        if deflicker is not None and "stops" in deflicker:
            record["deflicker_stops"] = deflicker["stops"]
        stabilize = _json_meta(after, "reelfix:stabilize")
        if stabilize is not None and "shift" in stabilize:
            record["stabilize_shift"] = stabilize["shift"]
        sig = signature(Frame(b_small, ("R", "G", "B"), before.colorspace, number))
        g_before, g_after = _grey(b_small), _grey(a_small)
        last = self._last
        consecutive = last is not None and last[0] == number - 1
        crossed = sorted(c for c in self.cuts if last is not None and last[0] < c <= number)  # the job's cuts
        new_shot = last is None or bool(crossed) or consecutive and signatures_cut(last[1], sig)
        if not new_shot and last is not None and consecutive and last[2].shape == g_before.shape:
            to_input = before.width / sw  # motion in input pixels
            (bx, by), _ = cv2.phaseCorrelate(last[2], g_before)
            (ax, ay), _ = cv2.phaseCorrelate(last[3], g_after)
            record["motion_before"] = [round(bx * to_input, 4), round(by * to_input, 4)]
            record["motion_after"] = [round(ax * to_input, 4), round(ay * to_input, 4)]
        if new_shot and last is not None:  # the first frame seen starts the run, not a shot
            self.shot_starts.extend(crossed or [number])
        self._last = (number, sig, g_before, g_after)
        self.frames[number] = record
        if number in self.chosen or new_shot:
            self._write_preview(number, before, after)

    def _write_preview(self, number: int, before: Frame, after: Frame) -> None:
        small = small_picture(before, self.preview_width)
        h, w = small.shape[:2]
        a_small = small_picture(after, w, h)
        before8 = self._view(before.colorspace).rgb8(small)
        after8 = self._view(after.colorspace).rgb8(a_small)
        names = {"before": f"{number}_before.jpg", "after": f"{number}_after.jpg", "thumb": f"{number}_thumb.jpg"}
        (self.assets / names["before"]).write_bytes(jpeg(before8))
        (self.assets / names["after"]).write_bytes(jpeg(after8))
        th = max(1, round(h * self.thumb_width / w))
        (self.assets / names["thumb"]).write_bytes(jpeg(cv2.resize(after8, (self.thumb_width, th), interpolation=cv2.INTER_AREA), 70))
        if after.mattes:
            names["matte"] = f"{number}_matte.png"
            (self.assets / names["matte"]).write_bytes(matte_png(_matte_preview(after.mattes, w, h)))
        self.previews[number] = {k: f"{ASSETS}/{v}" for k, v in names.items()}
        self.previews[number]["size"] = f"{w}x{h}"

    def data(self) -> dict[str, Any]:
        """Per-frame numbers, previews, shots and the display transform used."""
        self.flush()
        views = {k: (self._view(v).display, self._view(v).view) for k, v in self.colorspaces.items() if v}
        return {
            "frames": {n: self.frames[n] for n in sorted(self.frames)},
            "previews": {n: self.previews[n] for n in sorted(self.previews)},
            "shot_starts": sorted(self.shot_starts),
            "colorspaces": dict(self.colorspaces),
            "display": {k: {"display": d, "view": v} for k, (d, v) in views.items()},
            "cost": {"seconds": round(self.seconds, 3), "waited": round(self.waited, 3), "frames": len(self.frames), "previews": len(self.previews)},
        }
