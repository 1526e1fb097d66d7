"""Tiled inference with feathered blending, in pure numpy.

A frame too big for the model's working memory is cut into tiles. Each tile has a *core*
(the pixels it is responsible for; the cores cover the frame exactly once) and an *input*
region (the core grown by `overlap` pixels of context each side, clamped to the frame).
All tiles of a frame get the same input size, so ONNX Runtime sees one shape (fewer
allocations, one TensorRT engine); at the frame edges the input window slides inward
instead of shrinking, which only adds context.

`multiple_of` (the card's) is honoured on the frame's own grid, not just in the input's
size: a net that downsamples by that factor (pooling, strided convs, pixel unshuffle)
computes a different result when its input starts off that grid, so a tile starting
anywhere else would disagree with a whole-frame run (seams). Every input therefore starts
at a multiple of `multiple_of` and is a multiple of it long: the window is widened by
`multiple_of - 1` pixels so that the aligned start before a core still leaves `overlap`
pixels of context after it. A frame whose size is not a multiple is run as if reflected at
its end (bottom/right) up to the next multiple, the padding a whole-frame run gets: an
input window reaching the end reads into that reflection, and its output there is dropped.

The model's outputs are blended across each boundary between cores with raised-cosine
weights over a band of `blend` input pixels each side of the boundary (weights sum to 1),
so tiles that disagree slightly leave no seam. A tile's output is used only within `blend`
pixels of its core, where it had at least `overlap - blend` pixels of context, so the
result equals a whole-frame run when `overlap - blend >= receptive field`. Pass the card's
`receptive_field` and the feather radius becomes `overlap - receptive_field`: exact whenever
`overlap >= receptive_field`, and any extra overlap is spent on feathering, which hides
seams where the card's receptive field understates the net's (hard cuts when equal).
Without it the radius is `overlap // 2`.

Memory: the output buffer plus one tile's input and output; the model never sees the whole
frame unless it fits one tile.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, cast

import cv2
import numpy as np

from . import buffers
from .errors import ModelError, UserError
from .parallel import over_rows

TileFn = Callable[[np.ndarray], np.ndarray]
TileSize = int | tuple[int, int]  # core size in input pixels: square, or (rows, columns) (`tile_budget.tile_shape_for_budget`)


def sides(tile: TileSize) -> tuple[int, int]:
    """(core height, core width) of a tile size."""
    return (tile, tile) if isinstance(tile, int) else (int(tile[0]), int(tile[1]))


@dataclass(frozen=True)
class Region:
    """A half-open rectangle [y0, y1) x [x0, x1) in input-frame pixels."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def width(self) -> int:
        return self.x1 - self.x0


@dataclass(frozen=True)
class Tile:
    """One tile: grid position, the core it is responsible for, and the input it reads."""

    row: int
    col: int
    core: Region
    input: Region


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def padded_window(core: int, overlap: int, multiple_of: int = 1) -> int:
    """Input size that holds a core of `core` pixels with `overlap` context each side from
    a start on the `multiple_of` grid: up to `multiple_of - 1` pixels are needed before the
    context to reach the grid, and the size is a multiple itself."""
    return round_up(core + 2 * overlap + multiple_of - 1, multiple_of)


def split_axis(length: int, tile: int) -> list[tuple[int, int]]:
    """Core spans along one axis: ceil(length / tile) spans of near-equal size (differing by
    at most 1), covering [0, length) exactly once."""
    n = max(1, -(-length // max(1, tile)))
    edges = [round(i * length / n) for i in range(n + 1)]
    return [(edges[i], edges[i + 1]) for i in range(n)]


def input_window(length: int, cores: list[tuple[int, int]], overlap: int, multiple_of: int = 1) -> int:
    """Input size along one axis shared by all tiles: `padded_window` of the largest core,
    but never more than the frame rounded up to `multiple_of` (one core: exactly that)."""
    whole = round_up(length, multiple_of)
    if len(cores) == 1:
        return whole
    largest = max(b - a for a, b in cores)
    return min(whole, padded_window(largest, overlap, multiple_of))


def input_span(
    core: tuple[int, int], length: int, overlap: int, window: int, multiple_of: int = 1
) -> tuple[int, int]:
    """Input span of `window` pixels (a multiple of `multiple_of`, from `input_window`) for a
    core: from the last multiple of `multiple_of` at or before c0 - overlap, slid inward at
    the frame's end, so it always contains [c0 - overlap, c1 + overlap] clamped to the frame
    and starts on the grid. It reaches past `length` only when the frame is not a multiple
    of `multiple_of` (into its reflection, as far as the next multiple)."""
    start = min(max(0, core[0] - overlap) // multiple_of * multiple_of, round_up(length, multiple_of) - window)
    return start, start + window


def plan_axis(
    length: int, tile: int, overlap: int, multiple_of: int = 1, fixed: int | None = None
) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(core span, input span) pairs along one axis. `fixed`: a model exported for one input
    size; every input span is exactly that long, placed anywhere (its own grid is the
    tile's), cores of at most fixed - 2 x overlap; a shorter axis is padded to it."""
    if fixed:
        cores = split_axis(length, max(1, fixed - 2 * overlap)) if length > fixed else [(0, length)]
        starts = [min(max(0, c[0] - overlap), max(0, length - fixed)) for c in cores]
        return [(c, (a, a + fixed)) for c, a in zip(cores, starts)]
    cores = split_axis(length, tile)
    window = input_window(length, cores, overlap, multiple_of)
    return [(c, input_span(c, length, overlap, window, multiple_of)) for c in cores]


def plan_tiles(height: int, width: int, tile: TileSize, overlap: int, multiple_of: int = 1, fixed: int | None = None) -> list[Tile]:
    """The tiles for a height x width frame, row-major. `tile` is the core size (input
    pixels; a pair: rows, columns), `overlap` the context each side. Cores cover the frame exactly once; inputs
    share one size per axis and start and end on multiples of `multiple_of` (where the
    frame's size is not one, an input may end up to `multiple_of - 1` pixels past the
    frame: `run_tiled` reads the frame's reflection there)."""
    if height < 1 or width < 1:
        raise UserError(f"cannot tile an empty {height}x{width} frame", hint="check the input frames")
    tile_h, tile_w = sides(tile)
    if min(tile_h, tile_w) < 1 or overlap < 0 or multiple_of < 1:
        raise UserError(
            f"bad tiling: tile={tile}, overlap={overlap}, multiple_of={multiple_of}",
            hint="use tile >= 1 (e.g. --tile 512), overlap >= 0",
        )
    rows = plan_axis(height, tile_h, overlap, multiple_of, fixed)
    cols = plan_axis(width, tile_w, overlap, multiple_of, fixed)
    return [
        Tile(r, c, Region(cy[0], cy[1], cx[0], cx[1]), Region(iy[0], iy[1], ix[0], ix[1]))
        for r, (cy, iy) in enumerate(rows)
        for c, (cx, ix) in enumerate(cols)
    ]


def _grid(tile: TileSize, overlap: int, multiple_of: int, fixed: int | None) -> tuple[TileSize, int]:
    """(tile, multiple_of) as `run_tiled` uses them: a model of `fixed` size takes tiles of exactly it."""
    return (max(1, fixed - 2 * overlap), fixed) if fixed else (tile, multiple_of)


def run_plan(height: int, width: int, tile: TileSize, overlap: int, multiple_of: int = 1, fixed: int | None = None) -> list[Tile]:
    """The tiles `run_tiled` runs for these arguments."""
    tile, multiple_of = _grid(tile, overlap, multiple_of, fixed)
    return plan_tiles(height, width, tile, overlap, multiple_of, fixed)


def _ramp(t: np.ndarray) -> np.ndarray:
    """Raised cosine 0 -> 1 over t in [0, 1] (C1 at both ends); ramp(t) + ramp(1 - t) = 1."""
    ramp: np.ndarray = 0.5 - 0.5 * np.cos(np.pi * np.clip(t, 0.0, 1.0))
    return ramp


def blend_weights(core: tuple[int, int], span: tuple[int, int], length: int, scale: int, blend: float) -> np.ndarray:
    """Weights along one axis for a tile's output pixels over its input `span` (scaled).

    1 inside the core away from neighbours; across a boundary B shared with a neighbour the
    weight ramps over [B - blend, B + blend] (input pixels) so the two tiles' weights sum to
    1; 0 beyond, and 0 past the frame's end (where a span reads padding). No ramp at the
    frame edges. `blend` 0 gives a hard cut at B.
    """
    c0, c1 = core
    y = (np.arange(span[0] * scale, span[1] * scale, dtype=np.float64) + 0.5) / scale
    w = np.ones_like(y)
    if c0 > 0:
        w *= _ramp((y - (c0 - blend)) / (2 * blend)) if blend > 0 else (y >= c0)
    if c1 < length:
        w *= 1.0 - _ramp((y - (c1 - blend)) / (2 * blend)) if blend > 0 else (y < c1)
    if span[1] > length:
        w[y >= length] = 0.0
    return w.astype(np.float32)


def blend_radius(
    height: int, width: int, tile: TileSize, overlap: int, blend: int | None = None, receptive_field: int | None = None
) -> int:
    """The feather radius actually used: `blend` if given, else `overlap - receptive_field`
    if that is given, else `overlap // 2`; at most `overlap` and at most half the smallest
    core, so only two tiles meet in any band."""
    if blend is not None:
        r = blend
    elif receptive_field is not None:
        r = overlap - receptive_field
    else:
        r = overlap // 2
    smallest = min(b - a for L, t in zip((height, width), sides(tile)) for a, b in split_axis(L, t))
    return max(0, min(r, overlap, smallest // 2))


def _axis_source(span: tuple[int, int], length: int, multiple_of: int) -> slice | np.ndarray:
    """Where the pixels of an input span come from along one axis: a slice of the frame, or,
    for a span reaching past the frame's end, indices into the frame reflected there
    (np.pad 'reflect' of the whole axis up to the next multiple of `multiple_of`; 'edge' for
    a 1-pixel axis), so every tile reads exactly the padding a whole-frame run gets."""
    if span[1] <= length:
        return slice(*span)
    mode: Literal["reflect", "edge"] = "reflect" if length > 1 else "edge"
    index = np.pad(np.arange(length), (0, round_up(length, multiple_of) - length), mode=mode)
    return index[span[0] : span[1]]


def _read_tile(image_chw: np.ndarray, reg: Region, multiple_of: int) -> np.ndarray:
    """The 1xCxhxw float32 model input for a tile's input region (see `_axis_source`)."""
    _, height, width = image_chw.shape
    x = image_chw[:, _axis_source((reg.y0, reg.y1), height, multiple_of)]
    x = x[:, :, _axis_source((reg.x0, reg.x1), width, multiple_of)]
    return np.ascontiguousarray(x[None], dtype=np.float32)


def interleave(chw: np.ndarray) -> np.ndarray:
    """CxHxW float32 -> HxWxC, C-contiguous. OpenCV's merge is about 6x numpy's transposed copy
    (a 3x2160x3840 output: 22 ms against 133 ms here); on a GPU that copy had cost more than
    the model itself (docs/BENCHMARKS.md, GPU section). Exact: values are only moved."""
    if chw.dtype == np.float32 and 2 <= chw.shape[0] <= 512:
        planes = [np.ascontiguousarray(c) for c in chw]
        out = buffers.empty((chw.shape[1], chw.shape[2], chw.shape[0]), np.float32)

        def band(r0: int, r1: int) -> None:  # bands of rows over threads (OpenCV releases the GIL)
            cv2.merge([p[r0:r1] for p in planes], out[r0:r1])

        over_rows(out.shape[0], band)
        return out
    return np.ascontiguousarray(chw.transpose(1, 2, 0))


@dataclass(frozen=True)
class AxisBlend:
    """A tile row's (or column's) share of the output along one axis: `weights` over its
    input span (scaled, read-only), `offset` the output coordinate of weights[0], and `runs`
    (start, stop, plain) covering the part from its first to its last nonzero weight, where
    `plain` means that no other row reaches those pixels and the weight there is exactly 1."""

    weights: np.ndarray
    offset: int
    runs: tuple[tuple[int, int, bool], ...]


def _runs(mask: np.ndarray, start: int) -> tuple[tuple[int, int, bool], ...]:
    """Maximal runs of equal values of a boolean array, as (start, stop, value) shifted by `start`."""
    edges = [0, *(np.flatnonzero(mask[1:] != mask[:-1]) + 1).tolist(), mask.size]
    return tuple((start + a, start + b, bool(mask[a])) for a, b in zip(edges[:-1], edges[1:]))


@functools.lru_cache(maxsize=16)
def _axis_blends(spans: tuple[tuple[tuple[int, int], tuple[int, int]], ...], length: int, scale: int, blend: float) -> tuple[AxisBlend, ...]:
    """`AxisBlend`s of the (core, input span) pairs along one axis, computed once per plan."""
    weights = [blend_weights(core, span, length, scale, blend) for core, span in spans]
    cover = np.zeros(length * scale, np.int32)
    boxes = []
    for w, (_, span) in zip(weights, spans):
        nz = np.flatnonzero(w)
        a, b = int(nz[0]), int(nz[-1]) + 1
        cover[span[0] * scale + a : span[0] * scale + b] += 1
        boxes.append((a, b))
    blends = []
    for w, (_, span), (a, b) in zip(weights, spans, boxes):
        w.setflags(write=False)
        plain = (cover[span[0] * scale + a : span[0] * scale + b] == 1) & (w[a:b] == 1.0)
        blends.append(AxisBlend(w, span[0] * scale, _runs(plain, a)))
    return tuple(blends)


ZERO = np.float32(0.0)


def _place(out: np.ndarray, y: np.ndarray, rows: AxisBlend, cols: AxisBlend, channels_last: bool) -> None:
    """Add a tile's CxHxW output `y`, weighted, into `out` (CxHxW, or HxWxC with
    `channels_last`), which holds the sum of the tiles before it: bit for bit
    `out += y * (wy[:, None] * wx[None, :])` over the tile's nonzero weights, with the
    product skipped where the weight is exactly 1 and no other tile reaches (the sum there
    is 0 + y: written as y + 0, which also turns -0 into +0 as that sum does), and the
    transpose to channels-last done in bands of rows straight into `out` (over threads)."""
    for ya, yb, plain_y in rows.runs:
        for xa, xb, plain_x in cols.runs:
            src = y[:, ya:yb, xa:xb]
            weight = None if plain_y and plain_x else rows.weights[ya:yb, None] * cols.weights[None, xa:xb]
            r0, c0 = rows.offset + ya, cols.offset + xa
            dst = out[r0 : r0 + yb - ya, c0 : c0 + xb - xa] if channels_last else out[:, r0 : r0 + yb - ya, c0 : c0 + xb - xa]

            def band(a: int, b: int, src: np.ndarray = src, weight: np.ndarray | None = weight, dst: np.ndarray = dst) -> None:
                s = src[:, a:b] if weight is None else src[:, a:b] * weight[a:b]
                d = dst[a:b] if channels_last else dst[:, a:b]
                if weight is None and channels_last and 2 <= s.shape[0] <= 512:
                    if cv2.merge(list(s), d) is not d:  # in place into the strided view: ~4x numpy's transposed copy
                        raise RuntimeError("cv2.merge did not write into the output")  # pragma: no cover
                    np.add(d, ZERO, out=d)
                elif weight is None:
                    np.add(s.transpose(1, 2, 0) if channels_last else s, ZERO, out=d)
                else:
                    d += s.transpose(1, 2, 0) if channels_last else s

            over_rows(yb - ya, band, 128)


def run_tiled(
    fn: TileFn,
    image_chw: np.ndarray,
    *,
    scale: int,
    tile: TileSize,
    overlap: int,
    multiple_of: int = 1,
    receptive_field: int | None = None,
    blend: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    channels_last: bool = False,
    fixed: int | None = None,
) -> np.ndarray:
    """Run `fn` tile by tile over a CxHxW float32 image and blend the outputs.

    `fn` takes a 1xCxhxw float32 array and returns 1xC'x(h*scale)x(w*scale) (C' may differ
    from C; taken as float32). Every tile starts on the frame's `multiple_of` grid and is a multiple of it
    in size (see the module docstring); where the frame is not a multiple, tiles at its
    end read its reflection and that part of their output is dropped. Pass the model's
    `receptive_field` (card) to get a result equal to a whole-frame run whenever
    `overlap >= receptive_field`; `blend` overrides the feather radius (input pixels; see
    the module docstring). `progress(done, total)` is called after each tile.
    Returns C'x(H*scale)x(W*scale) float32, or (H*scale)x(W*scale)xC' C-contiguous with
    `channels_last` (assembled in place: no second full-size copy for the transpose).
    `fixed`: the model takes only fixed x fixed inputs (see `plan_axis`); `tile` is then
    fixed - 2 x overlap and the frame is padded by reflection where it is smaller.
    """
    if image_chw.ndim != 3:
        raise UserError(f"run_tiled needs a CxHxW image, got shape {image_chw.shape}")
    if scale < 1:
        raise UserError(f"bad scale {scale}", hint="scale must be a whole number >= 1")
    _, height, width = image_chw.shape
    tile, multiple_of = _grid(tile, overlap, multiple_of, fixed)
    tiles = plan_tiles(height, width, tile, overlap, multiple_of, fixed)
    r = blend_radius(height, width, tile, overlap, blend, receptive_field)
    rows = _axis_blends(tuple({t.row: ((t.core.y0, t.core.y1), (t.input.y0, t.input.y1)) for t in tiles}.values()), height, scale, r)
    cols = _axis_blends(tuple({t.col: ((t.core.x0, t.core.x1), (t.input.x0, t.input.x1)) for t in tiles}.values()), width, scale, r)
    out: np.ndarray | None = None
    for n, t in enumerate(tiles, 1):
        reg = t.input
        x = _read_tile(image_chw, reg, multiple_of)
        y = np.asarray(fn(x), np.float32)
        want_hw = (x.shape[2] * scale, x.shape[3] * scale)
        if len(tiles) == 1 and y.ndim == 4 and y.shape[0] == 1 and tuple(y.shape[2:]) == (height * scale, width * scale):
            # the whole frame in one tile: nothing to blend
            return interleave(y[0]) if channels_last else cast(np.ndarray, y[0])
        if y.ndim != 4 or y.shape[0] != 1 or tuple(y.shape[2:]) != want_hw:
            raise ModelError(
                f"tile input {tuple(x.shape)} gave output {tuple(y.shape)}, expected (1, C, {want_hw[0]}, {want_hw[1]}) "
                f"for scale {scale}",
                hint="check the model card's scale and multiple_of",
            )
        if out is None:
            shape = (height * scale, width * scale, y.shape[1]) if channels_last else (y.shape[1], height * scale, width * scale)
            out = buffers.zeros(shape, np.float32)
        elif y.shape[1] != out.shape[-1 if channels_last else 0]:
            raise ModelError(f"tiles gave different output channel counts ({y.shape[1]} now)")
        _place(out, y[0], rows[t.row], cols[t.col], channels_last)
        if progress is not None:
            progress(n, len(tiles))
    return cast(np.ndarray, out)  # plan_tiles always returns at least one tile
