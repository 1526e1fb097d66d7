"""Repair of the pixels `scratch` found (core/reelfix/nodes/scratch.py finds them).

Row by row across the scratch: interpolation between both sides along the picture's own
slant (`across`), then the scratch taken off as a veil (`unblend`: along one column a
scratch changes the picture by a gain and an offset that vary slowly, so the picture is a
linear function of what is observed, fitted over many rows and the detail crossing the
scratch kept); replaced by the median of the motion-compensated neighbours where those show
clean picture there (the camera moved, the scratch did not) and agree with that estimate
within the scratch's own contrast.
"""

from __future__ import annotations

import cv2
import numpy as np

from .. import motion
from ..frames.frame import Frame, picture_indices

UNBLEND_ROWS = 48  # rows each side over which a scratch's veil is taken as constant
UNBLEND_RIDGE = 0.01  # pull towards a plain offset, relative to the squared level
MIN_GAIN = 0.3  # below this the veil is taken as opaque
LUMA = (0.2126, 0.7152, 0.0722)  # Rec. 709, as the flow and detection luma
MAX_SLANT = 6  # rows an edge may slant across a scratch
MATCH_ROWS = 3  # rows each side matched to find the slant
SLANT_COST = 0.004  # perceptual units per row of slant: straight across unless the picture says otherwise
ZONE = 1  # px around this frame's scratch where a neighbour's sample is taken as scratched too


def _box_rows(a: np.ndarray, half: int) -> np.ndarray:
    """Sums over +- `half` rows (reflected at the top and bottom), column by column."""
    flat = np.ascontiguousarray(a.reshape(a.shape[0], -1), dtype=np.float32)
    out = cv2.boxFilter(flat, -1, (1, 2 * half + 1), normalize=False, borderType=cv2.BORDER_REFLECT)
    return out.reshape(a.shape)


def unblend(pix: np.ndarray, ys: np.ndarray, xs: np.ndarray, spatial: np.ndarray) -> np.ndarray:
    """The picture under the scratch, for the pixels (ys, xs), all channels. A scratch is a
    veil that changes slowly along its length: observed = gain x picture + offset, with
    gain and offset about constant over `UNBLEND_ROWS` rows of one column. So the picture
    is a linear function of what is observed there; that function is fitted per column and
    channel by least squares of the interpolation from both sides (`spatial`) on the
    observed values over those rows (this way round, the interpolation's own errors only
    add noise, not bias), pulled towards slope 1 (a plain offset) where the rows are too
    flat to tell. The detail that crosses the scratch is kept; where the veil is nearly
    opaque (slope above 1 / `MIN_GAIN`) the interpolation is used."""
    cols, col_of = np.unique(xs, return_inverse=True)
    h = pix.shape[0]
    obs = pix[:, cols, :].astype(np.float32)
    base = obs.copy()
    base[ys, col_of] = spatial
    m = np.zeros((h, len(cols), 1), np.float32)
    m[ys, col_of] = 1.0
    n = np.maximum(_box_rows(m, UNBLEND_ROWS), 1.0)
    mo, mb = _box_rows(m * obs, UNBLEND_ROWS) / n, _box_rows(m * base, UNBLEND_ROWS) / n
    # one slope for all channels: a veil dims every channel alike
    cov = (_box_rows(m * obs * base, UNBLEND_ROWS) / n - mo * mb).sum(axis=2, keepdims=True)
    var = (_box_rows(m * obs * obs, UNBLEND_ROWS) / n - mo * mo).sum(axis=2, keepdims=True)
    ridge = np.float32(UNBLEND_RIDGE) * (np.maximum(np.abs(mb), 0.05) ** 2).sum(axis=2, keepdims=True)
    slope = (np.maximum(cov, 0.0) + ridge) / (np.maximum(var, 0.0) + ridge)
    k, o = slope[ys, col_of], obs[ys, col_of]  # k: (N, 1)
    est = mb[ys, col_of] + k * (o - mo[ys, col_of])
    return np.where(k <= 1.0 / MIN_GAIN, est, spatial).astype(np.float32)


def _rows_at(img: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """img sampled at fractional `rows` (clamped, linear between rows) and integer `cols`."""
    h = img.shape[0]
    r = np.clip(rows, 0, h - 1)
    r0 = np.floor(r).astype(int)
    r1 = np.minimum(r0 + 1, h - 1)
    f = (r - r0).astype(np.float32)
    if img.ndim == 3:
        f = f[..., None]
    return img[r0, cols] * (1 - f) + img[r1, cols] * f


def across(pix: np.ndarray, q: np.ndarray, ys: np.ndarray, xl: np.ndarray, xr: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Interpolation across the scratch along the picture's own direction: for each pixel,
    the vertical offset d (rows, over the whole gap) that best matches the column left of
    the gap with the column right of it (`MATCH_ROWS` rows each side, perceptual luma, a
    small cost for slant), then linear interpolation along that slanted line. An edge that
    crosses the scratch at an angle is continued instead of smeared."""
    offsets = np.arange(-MAX_SLANT, MAX_SLANT + 1)
    k = np.arange(-MATCH_ROWS, MATCH_ROWS + 1)
    yy = ys[:, None, None] + k[None, None, :]
    half = offsets[None, :, None] / 2.0
    left = _rows_at(q, yy - half, xl[:, None, None])
    right = _rows_at(q, yy + half, xr[:, None, None])
    cost = np.abs(left - right).mean(axis=2) + SLANT_COST * np.abs(offsets)[None, :]
    d = offsets[np.argmin(cost, axis=1)].astype(np.float32)
    lv = _rows_at(pix, ys - d * t, xl)
    rv = _rows_at(pix, ys + d * (1 - t), xr)
    return (lv * (1 - t[:, None]) + rv * t[:, None]).astype(np.float32)


def repair(
    centre: Frame, mask: np.ndarray, neighbours: list[Frame], flows: list[np.ndarray], lines: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ys, xs, values over all channels) for the pixels of `mask`: the median of the
    neighbours that show clean picture there once aligned (away from their own lines and
    from where this frame's scratch is, and within the scratch's contrast of the spatial
    estimate), else the spatial estimate: `across` the row along the picture's slant, with
    the veil taken off (`unblend`)."""
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
    q = motion.perceptual_luma(centre)
    spatial = unblend(pix, ys, xs, across(pix, q, ys, xl_c, xr_c, t))
    if not neighbours:
        return ys, xs, spatial
    lin = motion.is_scene_linear(centre.colorspace)
    pic = picture_indices(centre.channels)
    weights = np.asarray(LUMA if len(pic) >= 3 else (1.0,), np.float32)
    q_sp = motion.perceptual(spatial[:, pic[: len(weights)]] @ weights, lin)
    contrast = np.abs(q[ys, xs] - q_sp)
    # where the scratch itself will be in a neighbour: about where it is here (it drifts slowly)
    zone = cv2.dilate(mask.astype(np.uint8), np.ones((1, 2 * ZONE + 1), np.uint8)).astype(bool)
    cands, ok = [], []
    for nb, fl, line in zip(neighbours, flows, lines):
        off = fl[ys, xs]
        nx = np.clip(np.rint(xs + off[:, 0]).astype(int), 0, w - 1)
        ny = np.clip(np.rint(ys + off[:, 1]).astype(int), 0, h - 1)
        nq = motion.sample_at(motion.perceptual_luma(nb), ys, xs, off)[:, 0]
        cands.append(motion.sample_at(nb.pixels, ys, xs, off))
        ok.append(~line[ny, nx] & ~zone[ny, nx] & (np.abs(nq - q_sp) < np.maximum(contrast, 0.02)))
    good = np.stack(ok)
    values = spatial.copy()
    use = good.any(axis=0)
    if use.any():
        c = np.where(good[:, use, None], np.stack(cands)[:, use], np.nan)
        values[use] = np.nanmedian(c, axis=0)
    return ys, xs, values.astype(np.float32)
