"""`deflicker`: removes frame-to-frame brightness flicker, keeping intentional changes.

Brightness is measured in a log domain on a small copy of each frame's luminance. For
each pair of consecutive frames of the window the content is aligned (phase correlation,
so a pan does not read as a brightness change) and the median log-ratio of the two
pictures is taken over the whole frame and in each cell of a coarse grid (medians ignore
small moving objects). Chained, these give each frame's brightness relative to the
centre frame. A smooth trend is fitted over the window (`global_motion.trend_at_zero`:
constant, ramp, parabola, step or fade-like kink, chosen per series by BIC), so fades,
exposure ramps and a light switched on are followed while random flicker is not; the
centre frame is corrected by the difference, as a gain in linear light, per cell and
smoothly interpolated between cell centres. Nothing is clipped; alpha and extra
channels are untouched. The correction (in stops, global and per cell) is written to
the frame's `reelfix:deflicker` metadata.
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


class Deflicker:
    """The per-job deflicker runner; per-frame measurements and per-pair ratios are computed once."""

    def __init__(self, params: dict[str, Any], ctx: NodeContext) -> None:
        self.params = params
        self.strength: float = params["strength"]
        self.grid: int = params["grid"]
        self._small: dict[int, tuple[weakref.ref[np.ndarray], np.ndarray, float, bytes]] = {}
        self._pairs: OrderedDict[tuple[bytes, tuple[int, int]], np.ndarray] = OrderedDict()

    def provenance(self) -> dict[str, Any]:
        return {"node": SPEC.name, "params": dict(self.params)}

    def _measure(self, frame: Frame) -> tuple[np.ndarray, float, bytes]:
        """(small log2 luma, log2 of the darkness threshold, digest) of a frame, memoised."""
        key = id(frame.pixels)
        hit = self._small.get(key)
        if hit is not None and hit[0]() is frame.pixels:
            return hit[1], hit[2], hit[3]
        y = gm.block_mean(gm.luma(frame), gm.factor_for(frame.height, frame.width, WORK_SIDE))
        small = gm.log_luma(y)
        dark = float(np.log2((DARK + gm.LOG_FLOOR) * max(float(np.mean(y, dtype=np.float64)), 1e-6)))
        digest = hashlib.blake2b(small.tobytes(), digest_size=16).digest()
        self._small = {k: v for k, v in self._small.items() if v[0]() is not None}
        self._small[key] = (weakref.ref(frame.pixels), small, dark, digest)
        return small, dark, digest

    def pair(self, a: Frame, b: Frame, shape: tuple[int, int]) -> np.ndarray:
        """log2 brightness of b over a: [whole frame, cell by cell (row-major)]; NaN where unmeasured."""
        la, dark_a, da = self._measure(a)
        lb, dark_b, db = self._measure(b)
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
            aligned = gm.warp_plane(lb, gm.rigid(dx, dy, 0.0, (0.0, 0.0)), cv2.INTER_LINEAR)
            diff = aligned - la
            valid = (la > dark_a) & (aligned > dark_b)
            my, mx = int(np.ceil(abs(dy))) + 1, int(np.ceil(abs(dx))) + 1
            border = np.zeros_like(valid)
            border[my : h - my, mx : w - mx] = True
            valid &= border
            if valid.sum() >= 16:
                out[0] = float(np.median(diff[valid]))
            rows = np.linspace(0, h, shape[0] + 1).astype(int)
            cols = np.linspace(0, w, shape[1] + 1).astype(int)
            for i in range(shape[0]):
                for j in range(shape[1]):
                    cell_valid = valid[rows[i] : rows[i + 1], cols[j] : cols[j + 1]]
                    if cell_valid.sum() >= max(16, 0.1 * cell_valid.size):
                        out[1 + i * shape[1] + j] = float(np.median(diff[rows[i] : rows[i + 1], cols[j] : cols[j + 1]][cell_valid]))
        self._pairs[key] = out
        if len(self._pairs) > 2 * self.params["radius"] + 16:
            self._pairs.popitem(last=False)
        return out

    def levels(self, window: Window, shape: tuple[int, int]) -> tuple[list[int], np.ndarray]:
        """(times, levels): each frame's log2 brightness relative to the centre frame, whole frame
        then per cell, chained through consecutive pairs (unmeasured cells follow the frame)."""
        t = window.number
        numbers = [n for n in sorted(window.frames) if window.frames[n].pixels.shape[:2] == window.centre.pixels.shape[:2]]
        i = numbers.index(t)
        k = 1 + shape[0] * shape[1]
        levels = {t: np.zeros(k)}
        for step, seq in ((1, numbers[i:]), (-1, numbers[: i + 1][::-1])):
            acc = np.zeros(k)
            for p, q in zip(seq, seq[1:]):
                a, b = (p, q) if step == 1 else (q, p)
                r = self.pair(window.frames[a], window.frames[b], shape)
                if np.isnan(r[0]):
                    break
                r = np.where(np.isnan(r), r[0], r)
                acc = acc + r if step == 1 else acc - r
                levels[q] = acc
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
