"""Values outside an upscaling model's input range: scene-linear highlights above 1 and negatives.

A display-referred model (trained on 0..1 pixels) sees values it was trained on only inside
its range. The upscale node's `highlights` parameter picks how the rest is handled:

- `auto` (default): the model runs on the clipped picture, exactly as `clip` does, so a frame
  with every value in range gives `clip`'s result bit for bit. What clipping removed (both
  sides) is added back resized (as `split`), which touches only pixels within the resize
  filter's reach of an out-of-range value. Around highlights a clipped plateau has lost its
  shape and its hard edge makes the model ring, so within a dilated, feathered neighbourhood
  of the values above the range (`RADIUS` + `FEATHER` input pixels; full weight from
  `THRESHOLD` above it, less for smaller excursions) the model's result for that
  neighbourhood darkened in linear light until the highlights fit (whole 2-stop steps, at
  most 8 stops), brightened back and held within each pixel's 3x3 source range, is blended
  in. Negatives keep the split result. Cost: a second model run over the box holding that
  neighbourhood (none for in-range frames; about twice `clip` when highlights are everywhere).
  Measured (`benchmarks.upscale_plates`, `benchmarks.colour_quality`): on plates with real
  highlights and on log plates this beats both `clip` and a whole-picture roll-off; a
  roll-off in the neighbourhood instead kept less of the model's gain on log and HDR plates.
- `rolloff` (the default before `auto`): the whole picture through `range_map.RangeMap` (a
  reversible map of all reals into the range; it also changes in-range values above its
  knee, which costs 0.9-3.9 dB on bright plates without highlights) and back, with the result
  held near the source where the inverse map is steep (`bound_outside_band`).
- `split`: the model gets the clipped picture, the clipped-off part comes back resized.
- `clip`: clipped (highlights lost).
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from ..resize import resize

MODES = ("auto", "rolloff", "split", "clip")
THRESHOLD = 0.05  # model-space excess above the range at which the darkened neighbourhood takes over fully
RADIUS = 6  # input pixels the neighbourhood extends past those values (covers the model's ringing)
FEATHER = 2.0  # Gaussian sigma (input pixels) of the neighbourhood's soft edge
BLOCK = 128  # input pixels per side of the blocks the clipped residual is resized in
REACH = 4  # input pixels of context per block: beyond the Catmull-Rom filter's 2
STOP_STEP = 2  # the darkening near highlights, in whole steps of this many stops
MAX_STOPS = 8  # at most this much darker (x256); what is still above the range comes back as the clipped residual

RunFn = Callable[[np.ndarray], np.ndarray]  # HxWx3 model-range picture -> (H*s)x(W*s)x3 model output


def local_range(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel minimum and maximum over each 3x3 neighbourhood (edges repeated)."""
    pad = np.pad(img, ((1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = img.shape[:2]
    shifts = [pad[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)]
    return np.minimum.reduce(shifts), np.maximum.reduce(shifts)


def bound_outside_band(
    result: np.ndarray, source: np.ndarray, scale: int, valid: tuple[float, float], *, first_row: int = 0
) -> np.ndarray:
    """Tame the inverse range map where it is steep.

    Past the model's valid range the inverse map is steep, so a small model error there (in
    a highlight, a deep negative) would come back magnified, even to infinity. Output pixels
    that come back outside the valid range are held to the min/max of the 3x3 input
    neighbourhood they come from; and where the source itself is outside the valid range
    (scene-linear highlights > 1, negatives) the model has nothing to add, so the output
    there is the source resized (bicubic). Everything else is exactly the model's.

    `result` may be a strip of output rows starting at output row `first_row`; `source` is
    the whole input picture (in the model's colour space, before the range map).
    """
    # source rows under this strip, with 4 rows of context (3x3 bounds, bicubic filter: same result as whole-frame)
    s0 = max(first_row // scale - 4, 0)
    s1 = min((first_row + result.shape[0] - 1) // scale + 5, source.shape[0])
    crop = source[s0:s1]
    flat = result.reshape(-1)
    idx = np.flatnonzero((flat > np.float32(valid[1])) | (flat < np.float32(valid[0])))
    if idx.size:
        lo, hi = local_range(crop)
        out_w, channels = result.shape[1], result.shape[2]
        row, rest = np.divmod(idx, out_w * channels)
        col, ch = np.divmod(rest, channels)
        src_idx = (((row + first_row) // scale - s0) * source.shape[1] + (col // scale)) * channels + ch
        flat[idx] = np.clip(flat[idx], lo.reshape(-1)[src_idx], hi.reshape(-1)[src_idx])
    if (crop > valid[1]).any() or (crop < valid[0]).any():
        plain = resize(crop, crop.shape[0] * scale, crop.shape[1] * scale, "catmull-rom")
        plain = plain[first_row - s0 * scale : first_row - s0 * scale + result.shape[0]]
        outside = (plain > valid[1]) | (plain < valid[0])
        result[outside] = plain[outside]
    return result


def add_clipped_residual(y: np.ndarray, source: np.ndarray, clipped: np.ndarray) -> None:
    """`split`: what clipping removed (source - clipped), resized (Catmull-Rom), added to the
    model's output in place. Only blocks of `BLOCK` input pixels within the filter's reach of
    a non-zero residual are resized (each with `REACH` pixels of context, so each equals the
    whole-frame resize to float rounding): a few highlights or negatives cost a few blocks, not a frame-sized
    resize (OpenImageIO's takes seconds for a 2K frame on a busy machine)."""
    residual = source - clipped
    touched = residual.any(axis=2)
    h, w = touched.shape
    s = y.shape[0] // h
    for r0 in range(0, h, BLOCK):
        for c0 in range(0, w, BLOCK):
            r1, c1 = min(r0 + BLOCK, h), min(c0 + BLOCK, w)
            a0, a1, b0, b1 = max(r0 - REACH, 0), min(r1 + REACH, h), max(c0 - REACH, 0), min(c1 + REACH, w)
            if not touched[a0:a1, b0:b1].any():
                continue
            up = resize(np.ascontiguousarray(residual[a0:a1, b0:b1]), (a1 - a0) * s, (b1 - b0) * s, "catmull-rom")
            y[r0 * s : r1 * s, c0 * s : c1 * s] += up[(r0 - a0) * s : (r1 - a0) * s, (c0 - b0) * s : (c1 - b0) * s]


def highlight_weight(source: np.ndarray, hi: float) -> np.ndarray | None:
    """Per input pixel, how much of the darkened result `auto` takes (0..1, float32), or None
    when no value lies above `hi`. Full weight where a channel exceeds `hi` by `THRESHOLD`,
    proportionally less for smaller excursions, spread `RADIUS` pixels (a disc's maximum) and
    feathered (Gaussian, never below the undilated weight). Computed on the box around the
    excursions only (the same weights to float rounding: the box reaches past the disc and the
    Gaussian's kernel)."""
    excess = source.max(axis=2) - np.float32(hi)
    above = excess > 0
    rows, cols = np.flatnonzero(above.any(axis=1)), np.flatnonzero(above.any(axis=0))
    if not rows.size:
        return None
    reach = RADIUS + int(np.ceil(4 * FEATHER)) + 1
    r0, r1 = max(int(rows[0]) - reach, 0), min(int(rows[-1]) + reach + 1, excess.shape[0])
    c0, c1 = max(int(cols[0]) - reach, 0), min(int(cols[-1]) + reach + 1, excess.shape[1])
    w = np.clip(excess[r0:r1, c0:c1] * np.float32(1.0 / THRESHOLD), 0.0, 1.0).astype(np.float32)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * RADIUS + 1, 2 * RADIUS + 1))
    grown = cv2.dilate(w, disc)
    weight = np.zeros(excess.shape, np.float32)
    weight[r0:r1, c0:c1] = np.maximum(cv2.GaussianBlur(grown, (0, 0), FEATHER), grown)
    return weight


def weighted_box(weight: np.ndarray, margin: int, multiple_of: int = 1) -> tuple[slice, slice] | None:
    """The rows and columns (input pixels) holding every non-zero weight, grown by `margin`
    (the model's context) and started on the `multiple_of` grid; None when all weights are 0."""
    rows, cols = np.flatnonzero(weight.any(axis=1)), np.flatnonzero(weight.any(axis=0))
    if not rows.size:
        return None
    m = max(int(multiple_of), 1)
    r0, c0 = (max(int(rows[0]) - margin, 0) // m) * m, (max(int(cols[0]) - margin, 0) // m) * m
    return slice(r0, min(int(rows[-1]) + margin + 1, weight.shape[0])), slice(c0, min(int(cols[-1]) + margin + 1, weight.shape[1]))


def _repeat(img: np.ndarray, scale: int) -> np.ndarray:
    return np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)


def exposure_for(peak: float) -> float:
    """The darkening `auto` applies near highlights: the peak (linear light) rounded up to whole
    `STOP_STEP` stops, at most `MAX_STOPS`; whole steps keep it the same from frame to frame of a shot."""
    if not np.isfinite(peak) or peak <= 1.0:
        return 1.0
    stops = min(np.ceil(np.log2(peak) / STOP_STEP) * STOP_STEP, MAX_STOPS)
    return float(2.0**stops)


def blend_darkened_near_highlights(
    y: np.ndarray,
    source: np.ndarray,
    run: RunFn,
    to_linear: Callable[[np.ndarray], np.ndarray],
    from_linear: Callable[[np.ndarray], np.ndarray],
    valid: tuple[float, float],
    scale: int,
    margin: int,
    multiple_of: int = 1,
) -> None:
    """`auto`'s local step, in place on the model output `y` (model space): within the
    feathered neighbourhood of the highlights (`highlight_weight`), blend in the model's
    result for that neighbourhood darkened in linear light until its highlights fit the
    range (`exposure_for`), brightened back by the same factor and held within the min/max of
    each output pixel's 3x3 source neighbourhood (what brightening does to the model's ringing
    at a highlight's edge would otherwise cost more than clipping). The model runs a second time
    only on the box holding the neighbourhood (plus `margin` pixels of context); everywhere
    else `y` is untouched. `to_linear`/`from_linear` convert model-space pixels to a linear
    space and back (a gain in any linear space is the same gain in every other)."""
    weight = highlight_weight(source, valid[1])
    box = None if weight is None else weighted_box(weight, margin, multiple_of)
    if weight is None or box is None:
        return
    lin = to_linear(np.ascontiguousarray(source[box]))
    gain = exposure_for(float(lin.max()))
    dark = from_linear(lin * np.float32(1.0 / gain))
    clipped = np.clip(dark, *valid)
    alt = run(clipped)
    add_clipped_residual(alt, dark, clipped)
    alt = to_linear(alt)
    alt *= np.float32(gain)
    alt = from_linear(alt)
    lo, hi = local_range(np.ascontiguousarray(source[box]))  # brightened back, the model's ringing at the
    np.clip(alt, _repeat(lo, scale), _repeat(hi, scale), out=alt)  # highlights' edges is x gain: held to the source's 3x3 range
    w = weight[box]
    w_out = cv2.resize(w, (w.shape[1] * scale, w.shape[0] * scale), interpolation=cv2.INTER_LINEAR)[:, :, None]
    out = y[box[0].start * scale : box[0].stop * scale, box[1].start * scale : box[1].stop * scale]
    out += (alt - out) * w_out
