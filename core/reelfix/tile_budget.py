"""Tile sizes from a memory budget: how large the model's input may be, and how to cut a frame.

A model's working memory grows with its input's area (the card's `bytes_per_pixel`, measured
per runtime). `tile_size_for_budget` gives the largest square core that fits; the user's
`--tile` is square too. `tile_shape_for_budget` is what the upscale node plans with: of every
grid of rows x columns whose shared input window fits, the one that makes the model read the
fewest pixels (cores plus their overlap, as `tiling.plan_tiles` lays them out). A square cut
of a frame that is only a little too large wastes overlap: a 1920x1080 frame with room for an
877-pixel square window was cut 2 x 3 into 704x604 windows (1.23x the frame's pixels to the
model), where three full-height columns of 704x1080 fit the same memory (1.10x).
"""

from __future__ import annotations

import math

from .tiling import input_window, padded_window, round_up, split_axis

MIN_TILE = 64  # smallest tile core the budget functions propose (input pixels)
OVER_BUDGET_SHARE = 4  # tiles get at least budget / 4 of working memory (see tile_size_for_budget)


def model_memory(max_memory: int, *, channels: int, scale: int, frame_hw: tuple[int, int], reserved: int = 0) -> int:
    """Bytes left to the model's working memory: the budget less the frame's float32 input and
    output buffers and `reserved`, but never under a quarter of the budget (`OVER_BUDGET_SHARE`)."""
    h, w = frame_hw
    frame_bytes = 4 * channels * h * w * (1 + scale * scale)
    return max(max_memory - frame_bytes - reserved, max_memory // OVER_BUDGET_SHARE)


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
    `bytes_per_pixel * padded_window(tile, overlap, multiple_of)^2` (the input size
    `plan_tiles` gives it: tile + 2*overlap, widened to start and end on the
    `multiple_of` grid), plus the frame's float32 input and output buffers and `reserved`
    bytes (what else the caller holds: the process itself, working copies of the frame),
    fits in `max_memory` bytes.

    The result is a multiple of `multiple_of`, at least `max(MIN_TILE, 2*overlap)` (rounded
    up to `multiple_of`) and at most what the frame needs (its longer side, rounded up):
    when the whole frame fits, one tile. When the frame's own buffers (and `reserved`) leave
    less than a quarter of the budget, the budget cannot be kept anyway, and the tiles get
    that quarter (`OVER_BUDGET_SHARE`) instead of shrinking to the minimum: an 8K input at the
    default 2 GB had fallen to 64-pixel tiles, most of each one overlap (docs/bench/scaling.md).
    The result is never below the minimum; callers may warn.
    """
    h, w = frame_hw
    m = max(1, multiple_of)
    needed = round_up(max(h, w), m)
    minimum = min(needed, round_up(max(MIN_TILE, 2 * overlap), m))
    free = model_memory(max_memory, channels=channels, scale=scale, frame_hw=frame_hw, reserved=reserved)
    if free >= bytes_per_pixel * round_up(h, m) * round_up(w, m):
        return needed
    if free <= 0:
        return minimum
    side = math.isqrt(free // max(1, bytes_per_pixel))
    t = (side - 2 * overlap - (m - 1)) // m * m
    while t > minimum and bytes_per_pixel * padded_window(t, overlap, m) ** 2 > free:
        t -= m  # the input padded_window gives a core of t (see plan_tiles)
    return max(minimum, min(t, needed))


def _axis(length: int, count: int, overlap: int, m: int) -> tuple[int, int, int]:
    """(core size to ask `plan_tiles` for, the tiles it then makes, their shared input window)
    for about `count` cores along an axis of `length`."""
    core = -(-length // count)
    cores = split_axis(length, core)
    return core, len(cores), input_window(length, cores, overlap, m)


def tile_shape_for_budget(
    max_memory: int,
    bytes_per_pixel: int,
    *,
    overlap: int,
    scale: int,
    channels: int,
    frame_hw: tuple[int, int],
    multiple_of: int = 1,
    reserved: int = 0,
) -> tuple[int, int]:
    """(core height, core width) for `tiling.plan_tiles`: of the grids whose shared input window
    fits the memory `tile_size_for_budget` allows (same budget, same rule), the one whose tiles
    give the model the fewest pixels in all (fewer tiles on a tie). The whole frame when it
    fits; cores never under `max(MIN_TILE, 2*overlap)` unless the frame is; where no grid fits,
    the square minimum (as `tile_size_for_budget`)."""
    h, w = frame_hw
    m = max(1, multiple_of)
    free = model_memory(max_memory, channels=channels, scale=scale, frame_hw=frame_hw, reserved=reserved)
    if free >= bytes_per_pixel * round_up(h, m) * round_up(w, m):
        return round_up(h, m), round_up(w, m)
    minimum = round_up(max(MIN_TILE, 2 * overlap), m)
    best: tuple[int, int, int, int] | None = None  # (pixels, tiles, core height, core width)
    for rows in range(1, max(1, h // minimum) + 1):
        core_h, n_rows, win_h = _axis(h, rows, overlap, m)
        widest = free // max(1, bytes_per_pixel * win_h)  # the widest window that still fits
        if widest < min(round_up(w, m), padded_window(minimum, overlap, m)):
            continue
        most = max(1, w // minimum)  # more columns would make cores under the minimum
        cols = min(most, max(1, math.ceil(w / max(1, widest - 2 * overlap - (m - 1)))))
        core_w, n_cols, win_w = _axis(w, cols, overlap, m)
        while win_w > widest and cols < most:  # the fewest columns whose window fits
            cols += 1
            core_w, n_cols, win_w = _axis(w, cols, overlap, m)
        for extra in range(3):  # the grid's rounding can make a column or two more read fewer pixels
            if win_w <= widest and (n_cols == 1 or core_w >= minimum):
                candidate = (n_rows * n_cols * win_h * win_w, n_rows * n_cols, core_h, core_w)
                best = candidate if best is None or candidate[:2] < best[:2] else best
            core_w, n_cols, win_w = _axis(w, cols + extra + 1, overlap, m)
    t = tile_size_for_budget(
        max_memory, bytes_per_pixel, overlap=overlap, scale=scale, channels=channels,
        frame_hw=frame_hw, multiple_of=multiple_of, reserved=reserved,
    )  # fmt: skip
    rows_sq, cols_sq = (_axis(n, -(-n // t), overlap, m) for n in (h, w))  # the square plan, a candidate too
    square = (rows_sq[1] * cols_sq[1] * rows_sq[2] * cols_sq[2], rows_sq[1] * cols_sq[1], t, t)
    return (t, t) if best is None or square[:2] <= best[:2] else (best[2], best[3])
