"""`dustbust` a band of rows at a time, within the job's memory budget, with the same result.

A whole-frame run held some thirty frame-sized planes at once (the luma and colour planes of
the centre and of each aligned neighbour, the full-resolution flows and their filled-in
copies, the spike test's local maxima and minima): about 6 GB beside an 8K frame. Here the
dense planes exist one band at a time, and only what is small stays whole: the low-resolution
flows (widened, for the rows asked for, by OpenCV's own horizontal pass: `motion.Upsampled`), the speck masks (one
byte a pixel), the quarter-resolution fields of the filled-in flow. Everything the decisions
read elsewhere (a speck's box, a ring of points) is made again from the frames for just
those pixels, by the same operations, so the values are those of whole planes bit for bit:

- noise levels: the centre-minus-neighbour differences on the 3-pixel grid, sampled there;
- spike test: per band, with one row of context each side for the 3x3 maximum and minimum;
- the quarter-resolution flow fields (flow anomaly, fill-in) are OpenCV's 4x4 area means,
  summed band by band on bands that start on a multiple of 4 (frames whose sides are not
  multiples of 4 take the whole-frame field, made once and dropped);
- the second pass (flow filled in around candidates) re-runs only bands that hold filled pixels.

Band height: the job's `max_memory` less what is held anyway (the window's frames, the
output frame and matte, whole-frame masks, the process), at least a quarter of the budget
(`tile_budget.OVER_BUDGET_SHARE`, as the upscaler's tiles), over the bytes a band row costs.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from .. import buffers, motion
from ..frames.frame import Frame, picture_indices
from ..tile_budget import OVER_BUDGET_SHARE
from . import dustbust as db

PROCESS_BYTES = 400 * 1024**2  # the process itself (Python, OpenCV, OpenImageIO), as the upscaler reserves
CENTRE_BYTES_PER_PIXEL = 96  # a band pixel's working memory: the centre's planes, the spike test's temporaries ...
NEIGHBOUR_BYTES_PER_PIXEL = 96  # ... and per neighbour: its flow, maps, aligned luma and colour, source rows
MASK_BYTES_PER_PIXEL = 16  # whole-frame masks and connected-component labels
HALO = 1  # rows of context each side of a band (the spike test's 3x3 maximum and minimum)
QUANTUM = 4  # bands start on multiples of this (the quarter-resolution fields' 4x4 means)
MIN_BAND = 16


def free_bytes(height: int, width: int, max_memory: int, held: int = 0, channels: int = 3) -> int:
    """The budget left after `held` bytes (the frames the window holds), the output frame and
    matte, whole-frame masks and the process, but at least a quarter of the budget."""
    reserved = held + PROCESS_BYTES + height * width * (4 * channels + 4 + MASK_BYTES_PER_PIXEL)
    return max(max_memory - reserved, max_memory // OVER_BUDGET_SHARE)


def band_height(height: int, width: int, neighbours: int, max_memory: int, held: int = 0, channels: int = 3) -> int:
    """Rows per band: the `free_bytes` over a band row's cost; a multiple of QUANTUM, at least MIN_BAND."""
    free = free_bytes(height, width, max_memory, held, channels)
    rows = free // (width * band_bytes_per_pixel(neighbours)) - 2 * HALO
    rows = max(MIN_BAND, rows // QUANTUM * QUANTUM)
    return min(rows, -(-height // QUANTUM) * QUANTUM)


def band_bytes_per_pixel(neighbours: int) -> int:
    return CENTRE_BYTES_PER_PIXEL + NEIGHBOUR_BYTES_PER_PIXEL * neighbours


def plan(height: int, rows: int) -> list[tuple[int, int]]:
    """Bands [y0, y1) of `rows` rows (the last one shorter) covering the frame once."""
    return [(y, min(y + rows, height)) for y in range(0, height, rows)]


def _split(ys: np.ndarray, bands: list[tuple[int, int]]) -> list[slice]:
    """Points (rows `ys`, ascending) cut at the bands' edges."""
    cuts = np.searchsorted(ys, [b[0] for b in bands[1:]])
    edges = [0, *[int(c) for c in cuts], len(ys)]
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def sample_banded(source: motion.Crop, shape: tuple[int, int], ys: np.ndarray, xs: np.ndarray, off: np.ndarray, bands: list[tuple[int, int]]) -> np.ndarray:
    """`motion.sample_rows` of points (rows `ys` ascending) a band at a time: only the rows near
    each band's points are read (and cast to float32, from a frame held as half)."""
    parts = [motion.sample_rows(source, shape, ys[s], xs[s], off[s]) for s in _split(ys, bands)]
    return np.concatenate(parts) if parts else motion.sample_rows(source, shape, ys, xs, off)


def _picture(frame: Frame, pic: np.ndarray) -> motion.Crop:
    """A part of the frame's picture channels (at most 4), a view where they are all it holds."""
    whole = frame.pixels.shape[2] == len(pic) <= 4 and list(pic) == list(range(len(pic)))  # as dustbust's `picture` was
    return lambda a, b, c, d: frame.pixels[a:b, c:d] if whole else np.ascontiguousarray(frame.pixels[a:b, c:d, pic[:4]])


class Neighbour:
    """A neighbour frame, its flow from the centre, and the flow filled in around candidates."""

    def __init__(self, centre: Frame, frame: Frame, pic: np.ndarray) -> None:
        self.frame = frame
        self.own = motion.flow_field(centre, frame)
        self.fill: motion.Upsampled | None = None
        self.grown: np.ndarray | None = None
        self.picture = _picture(frame, pic)

    def luma(self, a: int, b: int, c: int = 0, d: int | None = None) -> np.ndarray:
        return motion.luma_rows(self.frame, a, b, c, d)

    def whole(self, a: int, b: int, c: int, d: int) -> np.ndarray:
        """A part of the frame, every channel (the repair's values)."""
        return self.frame.pixels[a:b, c:d]

    def flow_box(self, y0: int, y1: int, x0: int, x1: int, filled: bool) -> np.ndarray:
        f = self.own.rows(y0, y1, x0, x1)
        if filled and self.fill is not None and self.grown is not None:
            g = self.grown[y0:y1, x0:x1]
            if g.any():
                f[g] = self.fill.rows(y0, y1, x0, x1)[g]
        return f

    def flow_at(self, ys: np.ndarray, xs: np.ndarray, filled: bool) -> np.ndarray:
        f = self.own.at(ys, xs)
        if filled and self.fill is not None and self.grown is not None:
            g = self.grown[ys, xs]
            if g.any():
                f[g] = self.fill.at(ys[g], xs[g])
        return f


class Pass:
    """The planes one detection pass reads (`dustbust.View`), with the neighbours' own flows
    or (`filled`) the flows filled in around candidates, made for the pixels asked for."""

    def __init__(self, centre: Frame, nbs: list[Neighbour], filled: bool, bands: list[tuple[int, int]]) -> None:
        self.centre, self.nbs, self.filled, self.bands = centre, nbs, filled, bands
        self.height, self.width, self.count = centre.height, centre.width, len(nbs)

    def q_box(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        return motion.luma_rows(self.centre, y0, y1, x0, x1)

    def q_at(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        return motion.luma_at(self.centre, ys, xs)

    def neighbour_box(self, i: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        return self.nbs[i].luma(y0, y1, x0, x1)

    def flow_at(self, i: int, y: int, x: int) -> np.ndarray:
        return self.nbs[i].flow_at(np.array([y]), np.array([x]), self.filled)[0]

    def aligned_box(self, i: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        nb = self.nbs[i]
        return motion.warp_rows(nb.luma, (self.height, self.width), y0, nb.flow_box(y0, y1, x0, x1, self.filled), x0=x0)

    def aligned_at(self, i: int, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        nb = self.nbs[i]
        return sample_banded(nb.luma, (self.height, self.width), ys, xs, nb.flow_at(ys, xs, self.filled), self.bands)[:, 0]

    def planes(self, y0: int, y1: int, pic: np.ndarray, lin: bool) -> list[tuple[np.ndarray, list[np.ndarray]]]:
        """Rows y0..y1-1 of the spike test's planes: (centre, aligned neighbours) for the luma
        and, with three or more picture channels, each of them on the perceptual scale."""
        shape = (self.height, self.width)
        flows = [nb.flow_box(y0, y1, 0, self.width, self.filled) for nb in self.nbs]
        out = [(self.q_box(y0, y1, 0, self.width), [motion.warp_rows(nb.luma, shape, y0, f) for nb, f in zip(self.nbs, flows)])]
        if len(pic) >= 3:
            centre = cv2.split(np.ascontiguousarray(motion.perceptual(_picture(self.centre, pic)(y0, y1, 0, self.width), lin)))
            warped = [cv2.split(motion.perceptual(motion.warp_rows(nb.picture, shape, y0, f), lin)) for nb, f in zip(self.nbs, flows)]
            out += [(c, [w[j] for w in warped]) for j, c in enumerate(centre)]
        return out


def noise_levels(view: Pass, pic: np.ndarray, lin: bool) -> list[float]:
    """`dustbust.noise_sigma` of each plane (luma first, then the colour planes) against the
    nearest aligned neighbour: the differences on the 3-pixel grid, sampled there."""
    diffs: list[list[np.ndarray]] = []
    nb, shape = view.nbs[0], (view.height, view.width)
    xs_row = np.arange(0, view.width, 3)
    for y0, y1 in view.bands:
        rows = np.arange(-(-y0 // 3) * 3, y1, 3)
        if not len(rows):
            continue
        ys, xs = np.repeat(rows, len(xs_row)), np.tile(xs_row, len(rows))
        off = nb.flow_at(ys, xs, False)
        d = [view.q_at(ys, xs) - motion.sample_rows(nb.luma, shape, ys, xs, off)[:, 0]]
        if len(pic) >= 3:
            c = motion.perceptual(view.centre.pixels[ys, xs][:, pic[:4]], lin)
            a = motion.perceptual(motion.sample_rows(nb.picture, shape, ys, xs, off), lin)
            d += [c[:, j] - a[:, j] for j in range(c.shape[1])]
        diffs.append(d)
    return [db.sigma_of(np.concatenate([d[k] for d in diffs])) for k in range(len(diffs[0]))]



Planes = list[tuple[np.ndarray, list[np.ndarray]]]


def _scores(view: Pass, st: db.Settings, sigmas: list[float], pic: np.ndarray, lin: bool, skip: Callable[[int, int], bool] | None = None,
            fields: list[list[np.ndarray]] | None = None, store: dict[int, Planes] | None = None) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(score > GROW, score > 1) over the frame, the spike score made band by band (bands
    where `skip(y0, y1)` holds are left out and listed); with `fields`, each neighbour's flow
    summed into 4x4 area means band by band (`_area4`); `store`: band -> its planes, kept
    from the first pass (a filled-in pass then resamples only the pixels whose flow changed)."""
    h, w = view.height, view.width
    weak, strong = np.zeros((h, w), bool), np.zeros((h, w), bool)
    skipped = []
    for k, (y0, y1) in enumerate(view.bands):
        if skip is not None and skip(y0, y1):
            skipped.append(k)
            continue
        a, b = max(y0 - HALO, 0), min(y1 + HALO, h)
        if store is not None and k in store:
            planes = _patched(view, store.pop(k), a, b, pic, lin)
        else:
            planes = view.planes(a, b, pic, lin)
            if store is not None and not view.filled:
                store[k] = planes
        score = db.spike_score(planes, st, sigmas)[y0 - a : y1 - a]
        weak[y0:y1] = score > db.GROW
        strong[y0:y1] = score > 1.0
        if fields is not None:
            for field, nb in zip(fields, view.nbs):
                field.append(_area4(nb.own.rows(y0, y1)))
        del planes, score
    buffers.trim()  # the bands' planes, freed onto the C heap, go back before the whole-frame work
    return weak, strong, skipped


def _patched(view: Pass, planes: Planes, a: int, b: int, pic: np.ndarray, lin: bool) -> Planes:
    """The first pass's planes of rows a..b-1 with the neighbours' values resampled by the
    filled-in flow where it differs from the own (in place; as a whole warp by it would give)."""
    shape = (view.height, view.width)
    for i, nb in enumerate(view.nbs):
        ff = nb.flow_box(a, b, 0, view.width, True)
        ys, xs = np.nonzero((ff != nb.own.rows(a, b)).any(axis=2))
        if not len(ys):
            continue
        off = ff[ys, xs]
        planes[0][1][i][ys, xs] = motion.sample_rows(nb.luma, shape, ys + a, xs, off)[:, 0]
        if len(planes) > 1:
            v = motion.perceptual(motion.sample_rows(nb.picture, shape, ys + a, xs, off), lin)
            for j in range(1, len(planes)):
                planes[j][1][i][ys, xs] = v[:, j - 1]
    return planes


def _area4(img: np.ndarray) -> np.ndarray:
    """OpenCV's area resize to a quarter (`dustbust`'s flow fields): 4x4 means on the 4x4 grid."""
    h, w = img.shape[:2]
    return cv2.resize(img, (max(w // 4, 1), max(h // 4, 1)), interpolation=cv2.INTER_AREA)


def _banded_area(height: int, width: int) -> bool:
    """Whether 4x4 area means of bands (starting on multiples of 4) join into the frame's."""
    return height % QUANTUM == 0 and width % QUANTUM == 0 and height >= QUANTUM and width >= QUANTUM


def _fill(nb: Neighbour, small: np.ndarray, candidates: np.ndarray, size: int, bands: list[tuple[int, int]]) -> None:
    """The flow filled in from the surroundings over the candidates and where the flow departs
    from its surroundings (as `fill_flow(flow, candidates | flow_anomaly(flow, size), size)`
    did on whole planes): `nb.grown` (where it applies) and `nb.fill` (its values there)."""
    h, w = candidates.shape
    f = 4
    dev = np.hypot(*np.moveaxis(small - cv2.GaussianBlur(small, (0, 0), max(size / f, 1.0)), 2, 0))
    hole = cv2.resize((dev > 0.75).astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    hole |= candidates
    if not hole.any():
        return
    grown = cv2.dilate(hole.astype(np.uint8), np.ones((17, 17), np.uint8)).astype(bool)
    del hole
    if _banded_area(h, w):
        nums, dens = [], []
        for y0, y1 in bands:
            weight = (~grown[y0:y1]).astype(np.float32)
            nums.append(_area4(nb.own.rows(y0, y1) * weight[:, :, None]))
            dens.append(_area4(weight))
        num, den = np.concatenate(nums), np.concatenate(dens)
    else:  # the whole-frame field, made once
        weight = (~grown).astype(np.float32)
        num, den = _area4(nb.own.rows(0, h) * weight[:, :, None]), _area4(weight)
        del weight
    sigma = max(size / f, 1.0)
    num = cv2.GaussianBlur(num, (0, 0), sigma)
    den = cv2.GaussianBlur(den, (0, 0), sigma)[:, :, None]
    nb.fill, nb.grown = motion.Upsampled(num / np.maximum(den, 1e-3), h, w), grown


def find_specks(
    centre: Frame, frames: list[Frame], steps: list[int], st: db.Settings, max_memory: int, held: int
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
    """The repair mask (HxW bool, dilated) of the centre given its neighbours (nearest first,
    `steps` frames away), found band by band within `max_memory` (`held`: bytes of frames the
    window holds anyway); and `repair`'s (ys, xs, values) where it is not empty. Nothing
    else of the work outlives the call (the caller then makes the output frame)."""
    h, w = centre.height, centre.width
    pic = np.asarray(picture_indices(centre.channels))
    lin = motion.is_scene_linear(centre.colorspace)
    rows = band_height(h, w, len(frames), max_memory, held, centre.pixels.shape[2])
    bands = plan(h, rows)
    # the first pass's planes are kept for the second where they fit beside a band's working memory
    planes_bytes = 4 * (1 + len(frames)) * (4 if len(pic) >= 3 else 1) * (h + 2 * HALO * len(bands)) * w
    fits = planes_bytes + (rows + 2 * HALO) * w * band_bytes_per_pixel(len(frames)) <= free_bytes(h, w, max_memory, held, centre.pixels.shape[2])
    store: dict[int, Planes] | None = {} if fits else None
    nbs = [Neighbour(centre, f, pic) for f in frames]
    own = Pass(centre, nbs, False, bands)
    sigmas = noise_levels(own, pic, lin)
    banded = _banded_area(h, w)
    fields: list[list[np.ndarray]] = [[] for _ in nbs]
    weak, strong, _ = _scores(own, st, sigmas, pic, lin, fields=fields if banded else None, store=store)
    specks, candidates, moving = db.detect(weak, strong, own, st, sigmas[0], steps)
    # inside a large speck the flow may follow the dirt: look again with the flow of the
    # surroundings, filled in over every candidate and where the flow departs from them
    for nb, field in zip(nbs, fields):
        _fill(nb, np.concatenate(field) if banded else _area4(nb.own.rows(0, h)), candidates, st.max_size, bands)
    del fields, candidates
    if any(nb.grown is not None for nb in nbs):
        filled = Pass(centre, nbs, True, bands)

        def untouched(y0: int, y1: int) -> bool:  # the filled-in flow equals the own flow around this band
            a, b = max(y0 - HALO, 0), min(y1 + HALO, h)
            return not any(nb.grown is not None and nb.grown[a:b].any() for nb in nbs)

        weak2, strong2, skipped = _scores(filled, st, sigmas, pic, lin, skip=untouched, store=store)
        for band in skipped:
            y0, y1 = bands[band]
            weak2[y0:y1], strong2[y0:y1] = weak[y0:y1], strong[y0:y1]
        del weak, strong
        again, _, moving_f = db.detect(weak2, strong2, filled, st, sigmas[0], steps)
        del weak2, strong2
    else:  # nothing filled in: the second pass would see the same planes
        again, moving_f = specks, moving
    del store
    # a speck found displaced in both neighbours with either flow is a real object
    moving = cv2.dilate((moving | moving_f).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    specks = (specks | again) & ~db._touching(specks | again, moving)
    if db.DILATE and specks.any():
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * db.DILATE + 1, 2 * db.DILATE + 1))
        specks = cv2.dilate(specks.astype(np.uint8), k).astype(bool)
    repaired = repair(specks, nbs, bands) if specks.any() else None
    buffers.trim()  # what the passes freed onto the C heap goes back before the caller makes the output frame
    return specks, repaired


def repair(mask: np.ndarray, nbs: list[Neighbour], bands: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Values for the masked pixels (all channels): per speck, the per-channel median of the
    aligned neighbours, aligned either by their own flow or by the flow filled in from the
    speck's surroundings, whichever makes the neighbours agree better inside the speck.
    Sampled band by band (`sample_banded`): no whole float32 copy of a frame held as half."""
    ys, xs = np.nonzero(mask)
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    lab = labels[ys, xs]
    del labels
    count = np.maximum(np.bincount(lab, minlength=n), 1)
    results = []
    for filled in (False, True):
        c = np.stack([sample_banded(nb.whole, mask.shape, ys, xs, nb.flow_at(ys, xs, filled), bands) for nb in nbs])
        spread = (c.max(axis=0) - c.min(axis=0)).max(axis=1)
        results.append((np.median(c, axis=0), np.bincount(lab, spread, minlength=n) / count))
    use_own = results[0][1] < results[1][1]
    values = np.where(use_own[lab][:, None], results[0][0], results[1][0])
    return ys, xs, values.astype(np.float32)
