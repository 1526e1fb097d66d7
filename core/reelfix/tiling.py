"""Tiled inference with feathered blending, in pure numpy.

A frame too big for the model's working memory is cut into tiles. Each tile has a *core*
(the pixels it is responsible for; the cores cover the frame exactly once) and an *input*
region (the core grown by `overlap` pixels of context each side, clamped to the frame).
All tiles of a frame get the same input size where the frame allows, so ONNX Runtime sees
one or two shapes (fewer allocations, one TensorRT engine); at the frame edges the input
window slides inward instead of shrinking, which only adds context.

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

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np

from .errors import ModelError, UserError

MIN_TILE = 64  # smallest tile `tile_size_for_budget` proposes (input pixels)

TileFn = Callable[[np.ndarray], np.ndarray]


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


def split_axis(length: int, tile: int) -> list[tuple[int, int]]:
    """Core spans along one axis: ceil(length / tile) spans of near-equal size (differing by
    at most 1), covering [0, length) exactly once."""
    n = max(1, -(-length // max(1, tile)))
    edges = [round(i * length / n) for i in range(n + 1)]
    return [(edges[i], edges[i + 1]) for i in range(n)]


def input_window(length: int, cores: list[tuple[int, int]], overlap: int, multiple_of: int = 1) -> int:
    """Input size along one axis shared by all tiles: the largest core plus `overlap` each
    side, rounded up to `multiple_of`, but never more than the frame."""
    if len(cores) == 1:
        return length
    largest = max(b - a for a, b in cores)
    return min(length, round_up(largest + 2 * overlap, multiple_of))


def input_span(core: tuple[int, int], length: int, overlap: int, window: int) -> tuple[int, int]:
    """Input span of `window` pixels around a core: centred on [c0 - overlap, c1 + overlap]
    and slid inward at the frame edges (so it always contains that span clamped to the frame)."""
    start = min(max(0, core[0] - overlap), length - window)
    return start, start + window


def plan_axis(
    length: int, tile: int, overlap: int, multiple_of: int = 1
) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(core span, input span) pairs along one axis."""
    cores = split_axis(length, tile)
    window = input_window(length, cores, overlap, multiple_of)
    return [(c, input_span(c, length, overlap, window)) for c in cores]


def plan_tiles(height: int, width: int, tile: int, overlap: int, multiple_of: int = 1) -> list[Tile]:
    """The tiles for a height x width frame, row-major. `tile` is the core size (input
    pixels), `overlap` the context each side. Cores cover the frame exactly once; inputs
    share one size per axis, a multiple of `multiple_of` unless the frame itself is smaller
    (then `run_tiled` pads by reflection)."""
    if height < 1 or width < 1:
        raise UserError(f"cannot tile an empty {height}x{width} frame", hint="check the input frames")
    if tile < 1 or overlap < 0 or multiple_of < 1:
        raise UserError(
            f"bad tiling: tile={tile}, overlap={overlap}, multiple_of={multiple_of}",
            hint="use tile >= 1 (e.g. --tile 512), overlap >= 0",
        )
    rows = plan_axis(height, tile, overlap, multiple_of)
    cols = plan_axis(width, tile, overlap, multiple_of)
    return [
        Tile(r, c, Region(cy[0], cy[1], cx[0], cx[1]), Region(iy[0], iy[1], ix[0], ix[1]))
        for r, (cy, iy) in enumerate(rows)
        for c, (cx, ix) in enumerate(cols)
    ]


def _ramp(t: np.ndarray) -> np.ndarray:
    """Raised cosine 0 -> 1 over t in [0, 1] (C1 at both ends); ramp(t) + ramp(1 - t) = 1."""
    ramp: np.ndarray = 0.5 - 0.5 * np.cos(np.pi * np.clip(t, 0.0, 1.0))
    return ramp


def blend_weights(core: tuple[int, int], span: tuple[int, int], length: int, scale: int, blend: float) -> np.ndarray:
    """Weights along one axis for a tile's output pixels over its input `span` (scaled).

    1 inside the core away from neighbours; across a boundary B shared with a neighbour the
    weight ramps over [B - blend, B + blend] (input pixels) so the two tiles' weights sum to
    1; 0 beyond. No ramp at the frame edges. `blend` 0 gives a hard cut at B.
    """
    c0, c1 = core
    y = (np.arange(span[0] * scale, span[1] * scale, dtype=np.float64) + 0.5) / scale
    w = np.ones_like(y)
    if c0 > 0:
        w *= _ramp((y - (c0 - blend)) / (2 * blend)) if blend > 0 else (y >= c0)
    if c1 < length:
        w *= 1.0 - _ramp((y - (c1 - blend)) / (2 * blend)) if blend > 0 else (y < c1)
    return w.astype(np.float32)


def blend_radius(
    height: int, width: int, tile: int, overlap: int, blend: int | None = None, receptive_field: int | None = None
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
    smallest = min(b - a for L in (height, width) for a, b in split_axis(L, tile))
    return max(0, min(r, overlap, smallest // 2))


def _pad_to(x: np.ndarray, h: int, w: int) -> np.ndarray:
    """Pad a 1xCxhxw tile at the bottom/right to h x w by reflection ('edge' for 1-pixel axes)."""
    ph, pw = h - x.shape[2], w - x.shape[3]
    if ph == 0 and pw == 0:
        return x
    for axis, pad in ((2, ph), (3, pw)):
        if pad:
            widths = [(0, 0)] * 4
            widths[axis] = (0, pad)
            x = np.pad(x, widths, mode="reflect" if x.shape[axis] > 1 else "edge")
    return np.ascontiguousarray(x)


def run_tiled(
    fn: TileFn,
    image_chw: np.ndarray,
    *,
    scale: int,
    tile: int,
    overlap: int,
    multiple_of: int = 1,
    receptive_field: int | None = None,
    blend: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    channels_last: bool = False,
) -> np.ndarray:
    """Run `fn` tile by tile over a CxHxW float32 image and blend the outputs.

    `fn` takes a 1xCxhxw float32 array and returns 1xC'x(h*scale)x(w*scale) (C' may differ
    from C). Tiles are padded by reflection to `multiple_of` where the frame is smaller
    than one, and the padding is cropped from the output. Pass the model's
    `receptive_field` (card) to get a result equal to a whole-frame run whenever
    `overlap >= receptive_field`; `blend` overrides the feather radius (input pixels; see
    the module docstring). `progress(done, total)` is called after each tile.
    Returns C'x(H*scale)x(W*scale) float32, or (H*scale)x(W*scale)xC' C-contiguous with
    `channels_last` (assembled in place: no second full-size copy for the transpose).
    """
    if image_chw.ndim != 3:
        raise UserError(f"run_tiled needs a CxHxW image, got shape {image_chw.shape}")
    if scale < 1:
        raise UserError(f"bad scale {scale}", hint="scale must be a whole number >= 1")
    _, height, width = image_chw.shape
    tiles = plan_tiles(height, width, tile, overlap, multiple_of)
    r = blend_radius(height, width, tile, overlap, blend, receptive_field)
    out: np.ndarray | None = None
    wy_cache: dict[int, np.ndarray] = {}
    wx_cache: dict[int, np.ndarray] = {}
    for n, t in enumerate(tiles, 1):
        reg = t.input
        x = np.ascontiguousarray(image_chw[None, :, reg.y0 : reg.y1, reg.x0 : reg.x1], dtype=np.float32)
        x = _pad_to(x, round_up(reg.height, multiple_of), round_up(reg.width, multiple_of))
        y = fn(x)
        want_hw = (x.shape[2] * scale, x.shape[3] * scale)
        if len(tiles) == 1 and y.ndim == 4 and y.shape[0] == 1 and tuple(y.shape[2:]) == (height * scale, width * scale):
            # the whole frame in one tile: nothing to blend
            return np.ascontiguousarray(y[0].transpose(1, 2, 0)) if channels_last else cast(np.ndarray, y[0])
        if y.ndim != 4 or y.shape[0] != 1 or tuple(y.shape[2:]) != want_hw:
            raise ModelError(
                f"tile input {tuple(x.shape)} gave output {tuple(y.shape)}, expected (1, C, {want_hw[0]}, {want_hw[1]}) "
                f"for scale {scale}",
                hint="check the model card's scale and multiple_of",
            )
        if out is None:
            shape = (height * scale, width * scale, y.shape[1]) if channels_last else (y.shape[1], height * scale, width * scale)
            out = np.zeros(shape, np.float32)
        elif y.shape[1] != out.shape[-1 if channels_last else 0]:
            raise ModelError(f"tiles gave different output channel counts ({y.shape[1]} now)")
        if t.row not in wy_cache:
            wy_cache[t.row] = blend_weights((t.core.y0, t.core.y1), (reg.y0, reg.y1), height, scale, r)
        if t.col not in wx_cache:
            wx_cache[t.col] = blend_weights((t.core.x0, t.core.x1), (reg.x0, reg.x1), width, scale, r)
        wy, wx = wy_cache[t.row], wx_cache[t.col]
        ys, xs = np.flatnonzero(wy), np.flatnonzero(wx)
        a, b, c, d = ys[0], ys[-1] + 1, xs[0], xs[-1] + 1
        block = y[0, :, a:b, c:d]
        weight = wy[a:b, None] * wx[None, c:d]
        rows = slice(reg.y0 * scale + a, reg.y0 * scale + b)
        cols = slice(reg.x0 * scale + c, reg.x0 * scale + d)
        if channels_last:
            out[rows, cols, :] += (block * weight).transpose(1, 2, 0)
        else:
            out[:, rows, cols] += block * weight
        if progress is not None:
            progress(n, len(tiles))
    return cast(np.ndarray, out)  # plan_tiles always returns at least one tile


def tile_size_for_budget(
    max_memory: int,
    bytes_per_pixel: int,
    *,
    overlap: int,
    scale: int,
    channels: int,
    frame_hw: tuple[int, int],
    multiple_of: int = 1,
    reserved: int = 0,
) -> int:
    """The largest square tile (core size, input pixels) whose model working memory
    `bytes_per_pixel * (tile + 2*overlap)^2`, plus the frame's float32 input and output
    buffers and `reserved` bytes (what else the caller holds: the process itself, working
    copies of the frame), fits in `max_memory` bytes.

    The padded size is taken rounded up to `multiple_of`, as `plan_tiles` makes it.
    The result is a multiple of `multiple_of`, at least `max(MIN_TILE, 2*overlap)` (rounded
    up to `multiple_of`) and at most what the frame needs (its longer side, rounded up):
    when the whole frame fits, one tile. When even the minimum does not fit, the minimum is
    returned anyway (below it most of each tile would be overlap); callers may warn.
    """
    h, w = frame_hw
    m = max(1, multiple_of)
    needed = round_up(max(h, w), m)
    minimum = min(needed, round_up(max(MIN_TILE, 2 * overlap), m))
    frame_bytes = 4 * channels * h * w * (1 + scale * scale)
    free = max_memory - frame_bytes - reserved
    if free >= bytes_per_pixel * round_up(h, m) * round_up(w, m):
        return needed
    if free <= 0:
        return minimum
    side = math.isqrt(free // max(1, bytes_per_pixel))
    t = (side - 2 * overlap) // m * m
    while t > minimum and bytes_per_pixel * round_up(t + 2 * overlap, m) ** 2 > free:
        t -= m  # plan_tiles rounds the padded input up to multiple_of
    return max(minimum, min(t, needed))
