"""`deflicker`: removes frame-to-frame brightness flicker, keeping intentional changes.

Brightness is analysed over long stretches of the shot, not a short window around each
frame: random flicker of s per frame leaves about s / sqrt(frames) behind in any
estimate of the intended level, so a window of 31 frames leaves a sixth of the flicker,
and a whole 10-second shot a fifteenth. The graph hands the node `Analysis`: two
half-overlapping segments of 2 x `span` frames around the frame (at fixed frame numbers,
limited to the shot), with each input frame's small linear luminance measured once
(`brightness.measure`); no picture is held for it.

Per segment (computed once, shared by all its frames):
1. every frame's level, over the whole frame and per cell of a coarse grid, from pairs
   of aligned frames 1, 2, 4 ... 64 apart solved together (`brightness.solve_levels`);
2. the intended trend of each series (`trend.fit_trend`): a constant plus the few steps,
   kinks and ramps that the series clearly holds (a light switched on, a fade, an
   exposure ramp), fitted in stops, in linear light or in display values (whichever the
   series supports best); flicker buys no change. On a short segment (under 64 frames, a
   shot of a few seconds) the whole frame's jitter is measured from what its strongest
   change leaves (`trend.short_sigma`): the MAD of so few second differences reads it low
   on some draws, and the flicker then buys knots; a cell's, halfway (geometric mean of
   the two: a cell's series can hold two changes, a light switched on and the shot's fade);
3. uneven flicker: the cells share most of their flicker, so the common part (the cells'
   mean departure from their trends) is taken out of each cell before its trend is
   fitted again (three rounds). A light switched on over part of the frame is then found
   against the small cell-to-cell jitter, not against the whole flicker. Cells are fitted in the
   domain the whole frame's trend chose (they share the shot's fades).
The frame is corrected by trend minus its own level (the two segments blended by the
frame's place between their centres), as a gain in linear light per cell, smoothly
interpolated between cell centres. Display- and log-encoded frames are converted to
linear light for it and back. Nothing is clipped; alpha and extra channels are
untouched. The correction is written to the frame's `reelfix:deflicker` metadata, which
the run manifest records per frame: read in order, the shot's correction curve (`stops`:
the gain the frame's light got on the whole, what the cells' field applied).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import numpy as np

from .. import brightness, colour
from ..frames.frame import Frame, picture_indices
from ..motion import is_scene_linear
from ..trend import fit_trend, jitter_sigma, short_sigma
from .spec import NodeContext, NodeSpec, Param, Window

CELL_ROUNDS = 3  # rounds of taking the cells' common flicker out before fitting each cell


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


class Segment:
    """The corrections (stops) for every frame of one segment: whole frame, and per cell."""

    def __init__(self, numbers: tuple[int, ...], levels: np.ndarray, measured: np.ndarray, grid: bool) -> None:
        self.corrections: dict[int, np.ndarray] = {}
        self.changes: list[str] = []
        use = np.flatnonzero(measured)
        if use.size < 3:
            return
        times = np.array([numbers[i] for i in use], dtype=np.float64)
        lev = levels[use]
        corr = np.zeros_like(lev)
        trend, kinds, domain = fit_trend(times, lev[:, 0], short_sigma(times, lev[:, 0], float(jitter_sigma(lev[:, :1])[0])))
        corr[:, 0] = trend - lev[:, 0]
        self.changes = [f"{k[0]}@{numbers[use[k[1]]]}" + (f"-{numbers[use[k[2]]]}" if k[0] == "ramp" else "") for k in kinds if k[0] != "line"]
        self.changes += [f"line ({domain})"] if any(k[0] == "line" for k in kinds) else []
        if grid and lev.shape[1] > 1:
            cells = lev[:, 1:]
            common = np.zeros(len(use))
            fits = cells
            for _ in range(CELL_ROUNDS):
                z = cells - common[:, None]
                sig = jitter_sigma(z)
                fits = np.stack([fit_trend(times, z[:, j], float(np.sqrt(sig[j] * short_sigma(times, z[:, j], float(sig[j]), (domain,)))), (domain,))[0] for j in range(z.shape[1])], axis=1)
                common = np.mean(cells - fits, axis=1)
            corr[:, 1:] = fits - cells
        for pos, i in enumerate(use):
            self.corrections[numbers[i]] = corr[pos]


class Deflicker:
    """The per-job deflicker runner; pairs and segments are computed once and shared."""

    def __init__(self, params: dict[str, Any], ctx: NodeContext) -> None:
        self.params = params
        self.strength: float = params["strength"]
        self.grid: int = params["grid"]
        self._pairs: OrderedDict[tuple[int, int, tuple[int, int]], np.ndarray] = OrderedDict()
        self._segments: OrderedDict[tuple[tuple[int, ...], tuple[int, int]], Segment] = OrderedDict()

    def provenance(self) -> dict[str, Any]:
        return {"node": SPEC.name, "params": dict(self.params)}

    measure_kind = "deflicker-light-1"  # bump when `brightness.measure` changes what it returns

    def measure(self, frame: Frame) -> brightness.FrameLight:
        """What the graph keeps of every input frame of the segments (about 170 kB)."""
        return brightness.measure(frame)

    @staticmethod
    def pack(light: brightness.FrameLight) -> dict[str, np.ndarray]:
        """A measurement as arrays for the analysis store (exact: loading gives the same numbers)."""
        return {"luma": light.luma, "dark": np.array(light.dark, dtype=np.float64)}

    @staticmethod
    def unpack(arrays: dict[str, np.ndarray]) -> brightness.FrameLight:
        return brightness.from_luma(np.ascontiguousarray(arrays["luma"], dtype=np.float32), float(arrays["dark"]))

    def _pair(self, a: int, b: int, stats: Any, shape: tuple[int, int], neighbours: bool) -> np.ndarray:
        key = (a, b, shape)
        if key in self._pairs:
            self._pairs.move_to_end(key)
            return self._pairs[key]
        r = brightness.pair_ratios(stats[a], stats[b], shape, neighbours=neighbours)
        self._pairs[key] = r
        if len(self._pairs) > 4 * self.params["span"] * len(brightness.LINKS) + 64:
            self._pairs.popitem(last=False)
        return r

    def segment(self, numbers: tuple[int, ...], stats: Any, shape: tuple[int, int]) -> Segment:
        key = (numbers, shape)
        if key not in self._segments:
            links = []
            for i, a in enumerate(numbers):
                for step in brightness.LINKS:
                    if i + step < len(numbers):
                        r = self._pair(a, numbers[i + step], stats, shape, step == 1)
                        if not np.isnan(r[0]):
                            links.append((i, i + step, np.where(np.isnan(r), r[0], r)))
            levels, measured = brightness.solve_levels(len(numbers), links)
            self._segments[key] = Segment(numbers, levels, measured, self.grid > 1)
            if len(self._segments) > 4:
                self._segments.popitem(last=False)
        return self._segments[key]

    def correction(self, window: Window) -> tuple[float, np.ndarray, int, list[str]]:
        """(whole-frame stops, per-cell stops (rows, cols), frames analysed, changes kept) for the centre frame."""
        frame = window.centre
        shape = grid_shape(self.grid, frame.height, frame.width)
        total = np.zeros(1 + shape[0] * shape[1])
        analysis = window.analysis
        if analysis is None:
            return 0.0, np.zeros(shape), 1, []
        weight, used, changes = 0.0, 0, []
        for w, numbers in analysis.segments:
            seg = self.segment(numbers, analysis.stats, shape)
            c = seg.corrections.get(window.number)
            if c is None:
                continue
            total += w * c
            weight += w
            used = max(used, len(numbers))
            changes += [x for x in seg.changes if x not in changes]
        if weight <= 0:
            return 0.0, np.zeros(shape), used, changes
        est = self.strength * total / weight
        return float(est[0]), est[1:].reshape(shape), used, changes

    def process(self, window: Window) -> Frame:
        frame = window.centre
        glob, cells, used, changes = self.correction(window)
        idx = picture_indices(frame.channels)
        out_pix = frame.pixels
        gain: Any = None
        if self.grid > 1 and np.abs(cells).max() > 1e-7:
            gain = gain_field(cells, frame.height, frame.width)[:, :, None]
        elif self.grid <= 1 and abs(glob) > 1e-7:
            gain = np.float32(2.0**glob)
        if gain is not None:
            out_pix = frame.pixels.copy()
            pic = np.ascontiguousarray(out_pix[:, :, idx])
            linear = is_scene_linear(frame.colorspace) or not frame.colorspace or len(idx) != 3
            light = pic if linear else colour.convert(pic, frame.colorspace, colour.canonical_name(brightness.LINEAR_SPACE))
            lit = light * gain  # a gain of light: in linear light, and back to the frame's encoding
            if self.grid > 1:  # the record: the gain the frame's light got on the whole (the cells' field)
                before, after = float(light.sum(dtype=np.float64)), float(lit.sum(dtype=np.float64))
                glob = float(np.log2(after / before)) if before > 0 and after > 0 else glob
            pic = lit if linear else colour.convert(lit, colour.canonical_name(brightness.LINEAR_SPACE), frame.colorspace)
            out_pix[:, :, idx] = pic
        out = frame.with_pixels(out_pix)
        record: dict[str, Any] = {"stops": round(glob, 5), "frames": used}
        if changes:
            record["kept"] = changes
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
        Param(
            "span", int, 240,
            "frames each side whose brightness the trend is fitted over, within the shot (longer: less residual flicker; "
            "frames are measured small, not held)", min=8, max=2000,
        ),
        Param("grid", int, 4, "cells along the long side for uneven flicker (1 = one gain for the whole frame)", min=1, max=16),
    ),
    factory=lambda params, ctx: Deflicker(params, ctx),
    span=lambda params: params["span"],
)
