"""`deflicker`: removes frame-to-frame brightness flicker, keeping intentional changes.

Brightness is measured on a small copy of each frame's luminance. Every frame of the window
is compared directly with the centre frame: the content is aligned (phase correlation, so
a pan does not read as a brightness change) and the ratio of the light the two pictures
hold is taken over the whole frame and in each cell of a coarse grid, over the pixels
both show (pixels whose log ratio is far from the median, such as a small moving object,
are left out). A ratio of light is what the frame-mean luminance sees; comparing with the
centre directly, rather than chaining consecutive pairs, keeps the pairs' small errors
from adding up into a slow drift that would read as an exposure ramp. Each pair is
measured once (earlier frame first) and shared by both its frames' windows.

A smooth trend is fitted over the window (`global_motion.trend_at_zero`: constant, ramp,
parabola, step or fade-like kink, chosen per series by BIC), so fades, exposure ramps and
a light switched on are followed while random flicker is not; the centre frame is
corrected by the difference, as a gain in linear light, per cell and smoothly
interpolated between cell centres. Nothing is clipped; alpha and extra channels are
untouched. The correction (in stops, global and per cell) is written to the frame's
`reelfix:deflicker` metadata, which the run manifest records per frame.

What is left is the flicker's own average over the window: with random flicker of
standard deviation s per frame, about s / sqrt(2 x radius + 1) (see docs/nodes/deflicker.md).
"""

from __future__ import annotations

import hashlib
import json
import weakref
from collections import OrderedDict
from typing import Any

import cv2
import numpy as np

from .. import global_motion as gm
from ..frames.frame import Frame, picture_indices
from .spec import NodeContext, NodeSpec, Param, Window

WORK_SIDE = 256  # long side of the picture brightness is measured on
MIN_PEAK = 0.05  # below this phase-correlation peak a pair is compared without alignment
DARK = 0.02  # pixels darker than this fraction of the frame mean are not measured
SIGMA_FLOOR = 0.002  # stops: flicker below this is noise
OUTLIER = 3.0  # pixels whose log ratio is this many spreads from the median are not measured


def grid_shape(grid: int, height: int, width: int) -> tuple[int, int]:
    """(rows, cols): `grid` cells along the long side, about square cells."""
    if width >= height:
        return max(1, round(grid * height / width)), grid
    return grid, max(1, round(grid * width / height))


def _interp_matrix(n_out: int, n_cells: int) -> np.ndarray:
    """(n_out, n_cells) linear interpolation weights between cell centres (edges held)."""
    pos = (np.arange(n_out) + 0.5) * n_cells / n_out - 0.5
    pos = np.clip(pos, 0.0, n_cells - 1.0)
    lo = np.minimum(np.floor(pos).astype(int), max(n_cells - 2, 0))
    frac = pos - lo
    m = np.zeros((n_out, n_cells), dtype=np.float32)
    m[np.arange(n_out), lo] = 1.0 - frac
    if n_cells > 1:
        m[np.arange(n_out), lo + 1] += frac
    return m


def gain_field(stops: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W) linear gain from per-cell corrections in stops, interpolated between cell centres."""
    rows, cols = stops.shape
    field = _interp_matrix(height, rows) @ stops.astype(np.float32) @ _interp_matrix(width, cols).T
    return np.exp2(field, out=field)


def light_ratio(diff: np.ndarray, ya: np.ndarray, yb: np.ndarray, valid: np.ndarray) -> float:
    """log2 of how much more light b holds than a over the valid pixels: the ratio of their
    sums, which is what a viewer (and the frame-mean luminance) sees change, and which
    chains exactly from pair to pair. Pixels whose log ratio is far from the median
    (`OUTLIER` x its spread: a moving object, a reflection) are left out of both sums."""
    d = diff[valid]
    med = float(np.median(d))
    spread = 1.4826 * float(np.median(np.abs(d - med)))
    keep = np.abs(d - med) <= max(OUTLIER * spread, 0.05)
    num, den = float(yb[valid][keep].sum(dtype=np.float64)), float(ya[valid][keep].sum(dtype=np.float64))
    return float(np.log2(num / den)) if num > 0 and den > 0 else med


class Deflicker:
    """The per-job deflicker runner; per-frame measurements and per-pair ratios are computed once."""

    def __init__(self, params: dict[str, Any], ctx: NodeContext) -> None:
        self.params = params
        self.strength: float = params["strength"]
        self.grid: int = params["grid"]
        self._small: dict[int, tuple[weakref.ref[np.ndarray], tuple[np.ndarray, np.ndarray, float, bytes]]] = {}
        self._pairs: OrderedDict[tuple[bytes, tuple[int, int]], np.ndarray] = OrderedDict()

    def provenance(self) -> dict[str, Any]:
        return {"node": SPEC.name, "params": dict(self.params)}

    def _measure(self, frame: Frame) -> tuple[np.ndarray, np.ndarray, float, bytes]:
        """(small linear luma, its log2, log2 of the darkness threshold, digest) of a frame, memoised."""
        key = id(frame.pixels)
        hit = self._small.get(key)
        if hit is not None and hit[0]() is frame.pixels:
            return hit[1]
        y = gm.block_mean(gm.luma(frame), gm.factor_for(frame.height, frame.width, WORK_SIDE))
        small = gm.log_luma(y)
        dark = float(np.log2((DARK + gm.LOG_FLOOR) * max(float(np.mean(y, dtype=np.float64)), 1e-6)))
        digest = hashlib.blake2b(small.tobytes(), digest_size=16).digest()
        self._small = {k: v for k, v in self._small.items() if v[0]() is not None}
        found = (y, small, dark, digest)
        self._small[key] = (weakref.ref(frame.pixels), found)
        return found

    def pair(self, a: Frame, b: Frame, shape: tuple[int, int]) -> np.ndarray:
        """log2 brightness of b over a: [whole frame, cell by cell (row-major)]; NaN where unmeasured."""
        ya, la, dark_a, da = self._measure(a)
        yb, lb, dark_b, db = self._measure(b)
        key = (da + db, shape)
        if key in self._pairs:
            self._pairs.move_to_end(key)
            return self._pairs[key]
        out = np.full(1 + shape[0] * shape[1], np.nan)
        if la.shape == lb.shape:
            dx, dy, peak = gm.phase_correlation(la, lb) if min(la.shape) >= 4 else (0.0, 0.0, 0.0)
            if peak < MIN_PEAK:
                dx = dy = 0.0
            h, w = la.shape
            move = gm.rigid(dx, dy, 0.0, (0.0, 0.0))
            aligned = gm.warp_plane(lb, move, cv2.INTER_LINEAR)
            lit = gm.warp_plane(yb, move, cv2.INTER_LINEAR)
            diff = aligned - la
            valid = (la > dark_a) & (aligned > dark_b)
            my, mx = int(np.ceil(abs(dy))) + 1, int(np.ceil(abs(dx))) + 1
            border = np.zeros_like(valid)
            border[my : h - my, mx : w - mx] = True
            valid &= border
            if valid.sum() >= 16:
                out[0] = light_ratio(diff, ya, lit, valid)
            rows = np.linspace(0, h, shape[0] + 1).astype(int)
            cols = np.linspace(0, w, shape[1] + 1).astype(int)
            for i in range(shape[0]):
                for j in range(shape[1]):
                    cell = (slice(rows[i], rows[i + 1]), slice(cols[j], cols[j + 1]))
                    cell_valid = valid[cell]
                    if cell_valid.sum() >= max(16, 0.1 * cell_valid.size):
                        out[1 + i * shape[1] + j] = light_ratio(diff[cell], ya[cell], lit[cell], cell_valid)
        self._pairs[key] = out
        if len(self._pairs) > 2 * self.params["radius"] ** 2 + 4 * self.params["radius"] + 16:  # every pair until its later frame is a centre
            self._pairs.popitem(last=False)
        return out

    def levels(self, window: Window, shape: tuple[int, int]) -> tuple[list[int], np.ndarray]:
        """(times, levels): each frame's log2 brightness relative to the centre frame, whole frame
        then per cell (unmeasured cells follow the frame), each measured directly against the
        centre. Chaining consecutive pairs instead would add up their small errors into a
        slow drift that reads as an exposure ramp. Each pair is measured once, earlier frame
        first, and shared by both its frames' windows."""
        t = window.number
        numbers = [n for n in sorted(window.frames) if window.frames[n].pixels.shape[:2] == window.centre.pixels.shape[:2]]
        levels = {t: np.zeros(1 + shape[0] * shape[1])}
        for n in numbers:
            if n == t:
                continue
            a, b = min(n, t), max(n, t)
            r = self.pair(window.frames[a], window.frames[b], shape)
            if np.isnan(r[0]):
                continue
            r = np.where(np.isnan(r), r[0], r)
            levels[n] = r if n > t else -r
        times = sorted(levels)
        return [s - t for s in times], np.array([levels[s] for s in times])

    def correction(self, window: Window) -> tuple[float, np.ndarray, int]:
        """(global stops, per-cell stops (rows, cols), frames used) to apply to the centre frame."""
        frame = window.centre
        shape = grid_shape(self.grid, frame.height, frame.width)
        times, values = self.levels(window, shape)
        if len(times) < 2:
            return 0.0, np.zeros(shape), len(times)
        sigma = gm.noise_sigma(times, values, SIGMA_FLOOR)
        est = self.strength * gm.trend_at_zero(times, values, sigma, log_levels=True)
        return float(est[0]), est[1:].reshape(shape), len(times)

    def process(self, window: Window) -> Frame:
        frame = window.centre
        glob, cells, used = self.correction(window)
        idx = picture_indices(frame.channels)
        pix = frame.pixels.copy()
        if self.grid > 1 and np.abs(cells).max() > 1e-7:
            gain = gain_field(cells, frame.height, frame.width)
            for c in idx:
                pix[:, :, c] *= gain
        elif self.grid <= 1 and abs(glob) > 1e-7:
            pix[:, :, idx] *= np.float32(2.0**glob)
        out = frame.with_pixels(pix)
        record: dict[str, Any] = {"stops": round(glob, 5), "frames": used}
        if self.grid > 1:
            record["grid"] = list(cells.shape)
            record["cells"] = [[round(float(v), 5) for v in row] for row in cells]
        out.metadata["reelfix:deflicker"] = json.dumps(record, separators=(",", ":"))
        return out


SPEC = NodeSpec(
    name="deflicker",
    label="Deflicker",
    help="Removes frame-to-frame brightness flicker (global and uneven across the frame), keeping fades, exposure ramps and lights switched on.",
    params=(
        Param("strength", float, 1.0, "fraction of the measured flicker removed (0 = none, 1 = all)", min=0.0, max=1.0),
        Param("radius", int, 15, "frames each side the brightness trend is fitted over (more: less residual flicker, more memory)", min=1, max=48),
        Param("grid", int, 4, "cells along the long side for uneven flicker (1 = one gain for the whole frame)", min=1, max=16),
    ),
    factory=lambda params, ctx: Deflicker(params, ctx),
    radius=lambda params: params["radius"],
)
