"""`scratch`: vertical line scratches that persist over many frames.

Detection works on the perceptual luma (`reelfix.motion`) in horizontal bands of rows. In
each band, the column profile of the difference from a horizontally smoothed frame (a grey
top-hat for bright scratches, a black-hat for dark ones, over `max_width` + 2 px) is its
median over the band's rows: texture averages out, a line running down the band does not.
A column stands out when its profile exceeds the threshold and the profile's own spread.
A scratch is a run of such columns at most `max_width` (+1 for anti-aliasing) wide that
runs on over at least two bands and is found again, within a couple of pixels (scratches
drift slowly), in the other frames of the window: one frame's thin vertical detail is not
a scratch, nor is a wide structure.

Repair, row by row across the scratch (dilated 1 px): interpolation between the pixels on
both sides, replaced by the median of the motion-compensated neighbours where those show no
scratch there (the camera moved, the scratch did not) and agree with the interpolation
within the scratch's own contrast. Every other pixel stays bit-identical; the repaired
pixels are the node's matte.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .. import motion
from ..frames.frame import Frame, picture_indices
from .dustbust import set_matte
from .spec import NodeContext, NodeSpec, Param, Window

NAME = "scratch"
BAND = 64  # rows per band
BASELINE = 15  # columns each side for the profile's local baseline
DRIFT = 2  # px a scratch may move between neighbouring frames


@dataclass(frozen=True)
class Settings:
    threshold: float
    max_width: int


def settings(params: dict[str, Any]) -> Settings:
    return Settings(threshold=0.012 + 0.06 * (1.0 - float(params["sensitivity"])), max_width=int(params["max_width"]))


def _bands(height: int) -> list[tuple[int, int]]:
    n = max(1, round(height / BAND))
    edges = np.linspace(0, height, n + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def _running_median(profile: np.ndarray, half: int) -> np.ndarray:
    padded = np.pad(profile, ((0, 0), (half, half)), mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1, axis=1)
    return np.median(windows, axis=2)


def column_scores(q: np.ndarray, st: Settings) -> np.ndarray:
    """(2, bands, W) signed-free scores: how far each column's band profile stands above its
    local baseline, for bright (0) and dark (1) lines, in perceptual units."""
    kernel = np.ones((1, st.max_width + 2), np.uint8)
    residuals = (q - cv2.morphologyEx(q, cv2.MORPH_OPEN, kernel), cv2.morphologyEx(q, cv2.MORPH_CLOSE, kernel) - q)
    out = []
    for r in residuals:
        prof = np.stack([np.median(r[a:b], axis=0) for a, b in _bands(q.shape[0])])
        out.append(prof - _running_median(prof, BASELINE))
    return np.stack(out).astype(np.float32)


def candidates(scores: np.ndarray, st: Settings) -> np.ndarray:
    """(2, bands, W) bool: columns standing out from the profile's own spread."""
    spread = 1.4826 * np.median(np.abs(scores - np.median(scores, axis=2, keepdims=True)), axis=2, keepdims=True)
    return scores > np.maximum(st.threshold, 5.0 * spread)


_memo_lock = threading.Lock()
_memo: dict[tuple[int, Settings], tuple[weakref.ref[np.ndarray], tuple[np.ndarray, np.ndarray]]] = {}


def frame_candidates(frame: Frame, st: Settings) -> tuple[np.ndarray, np.ndarray]:
    """(`column_scores`, `candidates`) of a frame, memoised while its pixel array lives (a
    frame is a neighbour of several centres)."""
    key = (id(frame.pixels), st)
    with _memo_lock:
        hit = _memo.get(key)
        if hit is not None and hit[0]() is frame.pixels:
            return hit[1]
    scores = column_scores(motion.perceptual_luma(frame), st)
    found = (scores, candidates(scores, st))
    with _memo_lock:
        for k in [k for k, v in _memo.items() if v[0]() is None]:
            del _memo[k]
        _memo[key] = (weakref.ref(frame.pixels), found)
    return found


def _runs(row: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of the runs of True in a 1-D bool array."""
    d = np.diff(np.concatenate([[0], row.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def _near(cands: np.ndarray, tol: int) -> np.ndarray:
    """Whether `cands` (kinds, bands, W) has a True within `tol` columns."""
    k = np.ones((1, 2 * tol + 1), np.uint8)
    return cv2.dilate(cands.reshape(-1, cands.shape[2]).astype(np.uint8), k).reshape(cands.shape).astype(bool)


def _centroid(profile: np.ndarray, lo: float, hi: float) -> float | None:
    """Sub-pixel position of the strongest line in profile[lo:hi] (score-weighted, +-1 px)."""
    a, b = max(int(np.floor(lo)), 0), min(int(np.ceil(hi)) + 1, profile.shape[0])
    if b - a < 1:
        return None
    peak = a + int(np.argmax(profile[a:b]))
    c0, c1 = max(peak - 1, 0), min(peak + 2, profile.shape[0])
    w = np.maximum(profile[c0:c1], 0)
    return float((np.arange(c0, c1) * w).sum() / w.sum()) if w.sum() > 0 else None


def follows_picture(others: list[np.ndarray], offsets: list[int], velocity: float, pos: float, floor: float) -> bool:
    """Whether a line at sub-pixel `pos` in the centre's band profile moves with the picture
    (velocity px/frame) in the other frames' profiles rather than staying put."""
    err_stay = err_follow = 0.0
    for prof, d in zip(others, offsets):
        shift = velocity * d
        if abs(shift) < 0.6:  # the picture hardly moved: this frame cannot tell
            continue
        r = abs(shift) + 1.5
        p = _centroid(prof, pos - r, pos + r)
        if p is None or prof[int(round(p))] < floor:
            continue
        err_stay += abs(p - pos)
        err_follow += abs(p - pos - shift)
    return err_follow < 0.5 * err_stay


def detect(
    centre: tuple[np.ndarray, np.ndarray],
    others: list[tuple[np.ndarray, np.ndarray]],
    offsets: list[int],
    velocity: np.ndarray | None,
    st: Settings,
    height: int,
) -> np.ndarray:
    """The scratch mask (HxW bool, not dilated) from the centre's and the other frames'
    (scores, candidates). `velocity` (bands, W): the picture's horizontal motion per frame.
    A line must persist (within a drift) in at least half the other frames, run on over two
    bands, be at most `max_width` + 1 wide, and not move with the picture."""
    scores, cands = centre
    kinds, n_bands, width = cands.shape
    if others:
        votes = np.sum([_near(c, DRIFT + abs(d) // 2) for (_, c), d in zip(others, offsets)], axis=0)
        persistent = cands & (votes * 2 >= len(others))
    else:
        persistent = cands.copy()
    spread = 1.4826 * np.median(np.abs(scores - np.median(scores, axis=2, keepdims=True)), axis=2, keepdims=True)
    wide = _near(scores > 0.5 * np.maximum(st.threshold, 5.0 * spread), 1)
    above = np.zeros_like(wide)
    above[:, 1:] = wide[:, :-1]
    below = np.zeros_like(wide)
    below[:, :-1] = wide[:, 1:]
    kept = persistent & (above | below)
    mask = np.zeros((height, width), bool)
    for (a, b), band in zip(_bands(height), range(n_bands)):
        for kind in range(kinds):
            for x0, x1 in _runs(kept[kind, band]):
                if x1 - x0 > st.max_width + 1:
                    continue
                peak = float(scores[kind, band, x0:x1].max())
                if x0 > 0 and scores[kind, band, x0 - 1] > 0.2 * peak:  # anti-aliased edges
                    x0 -= 1
                if x1 < width and scores[kind, band, x1] > 0.2 * peak:
                    x1 += 1
                if velocity is not None and others:
                    pos = _centroid(scores[kind, band], x0, x1 - 1)
                    v = float(velocity[band, (x0 + x1) // 2])
                    profiles = [o[0][kind, band] for o in others]
                    if pos is not None and follows_picture(profiles, offsets, v, pos, 0.5 * st.threshold):
                        continue
                mask[a:b, x0:x1] = True
    return mask


def band_velocity(flow: np.ndarray, step: int, height: int) -> np.ndarray:
    """(bands, W): the picture's horizontal flow per band and column, per frame of `step`:
    the band's mean, then a running median over 41 columns (a scratch drags the flow
    at its own columns along with it)."""
    rows = np.stack([flow[a:b, :, 0].mean(axis=0) for a, b in _bands(height)])
    return (_running_median(rows, 20) / step).astype(np.float32)


def line_columns(cands: np.ndarray, st: Settings, height: int) -> np.ndarray:
    """(H, W) bool: every candidate line of a frame (any kind, at most `max_width` + 1 wide),
    dilated 1 px: where a neighbour's own scratches may be."""
    kinds, n_bands, width = cands.shape
    out = np.zeros((height, width), bool)
    for (a, b), band in zip(_bands(height), range(n_bands)):
        row = np.zeros(width, bool)
        for kind in range(kinds):
            for x0, x1 in _runs(cands[kind, band]):
                if x1 - x0 <= st.max_width + 1:
                    row[max(x0 - 1, 0) : x1 + 1] = True
        out[a:b] = row
    return out


def repair(
    centre: Frame, mask: np.ndarray, neighbours: list[Frame], flows: list[np.ndarray], lines: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ys, xs, values over all channels) for the pixels of `mask`: the median of the
    neighbours that show clean picture there once aligned (their own lines elsewhere, and
    within the scratch's contrast of the interpolation), else interpolated across the row."""
    pix = centre.pixels
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    # each masked pixel's nearest unmasked pixels left and right on its row
    idx = np.arange(w)[None, :].repeat(h, 0)
    left = np.maximum.accumulate(np.where(mask, -1, idx), axis=1)
    right = np.minimum.accumulate(np.where(mask, w, idx)[:, ::-1], axis=1)[:, ::-1]
    xl, xr = left[ys, xs], right[ys, xs]
    xl_c, xr_c = np.clip(xl, 0, w - 1), np.clip(xr, 0, w - 1)
    t = np.where((xl >= 0) & (xr < w), (xs - xl) / np.maximum(xr - xl, 1), np.where(xl < 0, 1.0, 0.0)).astype(np.float32)
    spatial = pix[ys, xl_c] * (1 - t[:, None]) + pix[ys, xr_c] * t[:, None]
    if not neighbours:
        return ys, xs, spatial.astype(np.float32)
    q = motion.perceptual_luma(centre)
    q_sp = q[ys, xl_c] * (1 - t) + q[ys, xr_c] * t
    contrast = np.abs(q[ys, xs] - q_sp)
    cands, ok = [], []
    for nb, fl, line in zip(neighbours, flows, lines):
        off = fl[ys, xs]
        nx = np.clip(np.rint(xs + off[:, 0]).astype(int), 0, w - 1)
        ny = np.clip(np.rint(ys + off[:, 1]).astype(int), 0, h - 1)
        nq = motion.sample_at(motion.perceptual_luma(nb), ys, xs, off)[:, 0]
        cands.append(motion.sample_at(nb.pixels, ys, xs, off))
        ok.append(~line[ny, nx] & (np.abs(nq - q_sp) < np.maximum(contrast, 0.02)))
    good = np.stack(ok)
    values = spatial.copy()
    use = good.any(axis=0)
    if use.any():
        c = np.where(good[:, use, None], np.stack(cands)[:, use], np.nan)
        values[use] = np.nanmedian(c, axis=0)
    return ys, xs, values.astype(np.float32)


class Scratch:
    def __init__(self, params: dict[str, Any], ctx: NodeContext) -> None:
        self.params = params
        self.ctx = ctx
        self.settings = settings(params)

    def provenance(self) -> dict[str, Any]:
        return {"node": NAME, "params": dict(self.params), "flow": "OpenCV DIS (reelfix.motion)"}

    def process(self, window: Window) -> Frame:
        centre = window.centre
        others = sorted((n for n in window.frames if n != window.number), key=lambda n: (abs(n - window.number), n))
        frames = [window.frames[n] for n in others]
        flows = [motion.flow(centre, f) for f in frames]
        velocity = band_velocity(flows[0], others[0] - window.number, centre.height) if flows else None
        found_nb = [frame_candidates(f, self.settings) for f in frames]
        found = detect(
            frame_candidates(centre, self.settings),
            found_nb,
            [n - window.number for n in others],
            velocity,
            self.settings,
            centre.height,
        )
        mask = found
        pixels = centre.pixels.copy()
        if mask.any():
            pic = np.asarray(picture_indices(centre.channels))
            lines = [line_columns(c, self.settings, centre.height) for _, c in found_nb]
            ys, xs, values = repair(centre, mask, frames, flows, lines)
            pixels[ys[:, None], xs[:, None], pic[None, :]] = values[:, pic]
        out = centre.with_pixels(pixels)
        set_matte(out, NAME, mask.astype(np.float32))
        return out


SPEC = NodeSpec(
    name=NAME,
    label="Scratch Repair",
    help="Repairs vertical line scratches (bright or dark, 1-4 px, drifting slowly) that persist over frames: "
    "interpolated across, or taken from the motion-compensated neighbours where the camera moved. Matte: repaired pixels.",
    params=(
        Param("sensitivity", float, 0.5, "0..1: higher finds fainter scratches (and risks more false repairs)", min=0.0, max=1.0),
        Param("max_width", int, 4, "widest scratch, in pixels", min=1, max=16),
        Param("radius", int, 2, "frames each side in which a scratch must persist", min=1, max=4),
    ),
    factory=lambda params, ctx: Scratch(params, ctx),
    radius=lambda params: int(params["radius"]),
    category="Cleanup",
)
