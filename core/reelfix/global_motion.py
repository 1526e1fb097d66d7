"""Global (whole-frame) motion and robust trends over a temporal window.

Shared by `deflicker` (alignment) and `stabilize`; everything here is a deterministic function of its
inputs, so a node built on it gives the same frame in a farm chunk as in one local run.

- `luma` / `block_mean` / `log_luma`: the picture channels' luminance, averaged to a working
  scale, in a log domain that makes a brightness gain an additive offset.
- `phase_correlation(a, b)`: the translation between two pictures (windowed FFT, Gaussian
  band-limit, sub-pixel peak); `estimate_rigid(a, b)` refines it with Gauss-Newton
  (inverse-compositional Lucas-Kanade) to translation plus optional rotation about the
  frame centre, with a brightness offset and robust weights so flicker and small moving
  objects do not bias it.
- `trend_at_zero(times, values, sigma)`: the intended level of series at t=0 from models
  fitted to the whole window (constant, ramp, parabola, step, kink), averaged with BIC
  weights: ramps, fades and steps are followed, random frame-to-frame jitter is removed.

Convention: a 3x3 matrix `M` maps a point of picture `a` to where the same content is in
picture `b` (x, y pixel coordinates, pixel centres at integers).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import cv2
import numpy as np

from .frames.frame import Frame, picture_indices
from .trend import jitter_sigma

LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)
LOG_FLOOR = 0.05  # added to luminance before the log, as a fraction of the picture's mean


def luma(frame: Frame) -> np.ndarray:
    """Linear luminance (H, W) float32 of the picture channels (R,G,B weighted; Y as is)."""
    idx = picture_indices(frame.channels)
    pix = frame.pixels
    if len(idx) == 3:
        w = LUMA_WEIGHTS
        return pix[:, :, idx[0]] * np.float32(w[0]) + pix[:, :, idx[1]] * np.float32(w[1]) + pix[:, :, idx[2]] * np.float32(w[2])
    return np.ascontiguousarray(pix[:, :, idx].mean(axis=2), dtype=np.float32)


def factor_for(height: int, width: int, long_side: int) -> int:
    """The block size that brings the long side down to about `long_side` (at least 1)."""
    return max(1, max(height, width) // long_side)


def block_mean(img: np.ndarray, factor: int) -> np.ndarray:
    """Mean over factor x factor blocks (the right/bottom remainder is dropped); (H, W) or (H, W, C)."""
    if factor <= 1:
        return np.ascontiguousarray(img, dtype=np.float32)
    h, w = img.shape[0] // factor, img.shape[1] // factor
    blocks = img[: h * factor, : w * factor].reshape(h, factor, w, factor, *img.shape[2:])
    return blocks.mean(axis=(1, 3), dtype=np.float32)


def log_luma(y: np.ndarray, floor: float = LOG_FLOOR) -> np.ndarray:
    """log2 luminance plus a floor relative to the picture's mean (so a gain is an exact
    offset, and grain in the shadows is not magnified)."""
    eps = np.float32(floor * max(float(np.mean(y, dtype=np.float64)), 1e-6))
    return np.log2(np.maximum(y, 0.0) + eps).astype(np.float32)


def to_full(m_small: np.ndarray, factor: int) -> np.ndarray:
    """A transform measured on block-mean pictures expressed in full-resolution pixels."""
    s = np.array([[factor, 0, (factor - 1) / 2], [0, factor, (factor - 1) / 2], [0, 0, 1]], dtype=np.float64)
    return s @ m_small @ np.linalg.inv(s)


def rigid(tx: float, ty: float, angle: float, centre: tuple[float, float]) -> np.ndarray:
    """3x3 matrix: rotate by `angle` (radians) about `centre` (x, y), then translate."""
    c, s = np.cos(angle), np.sin(angle)
    cx, cy = centre
    return np.array([[c, -s, cx - c * cx + s * cy + tx], [s, c, cy - s * cx - c * cy + ty], [0, 0, 1]], dtype=np.float64)


def rigid_params(m: np.ndarray, centre: tuple[float, float]) -> tuple[float, float, float]:
    """(tx, ty, angle) of `m` written as a rotation about `centre` followed by a translation."""
    angle = float(np.arctan2(m[1, 0], m[0, 0]))
    base = rigid(0.0, 0.0, angle, centre)
    return float(m[0, 2] - base[0, 2]), float(m[1, 2] - base[1, 2]), angle


def rigid_part(m: np.ndarray, centre: tuple[float, float]) -> np.ndarray:
    """The rigid motion of affine `m` (a similarity, say) at `centre`: the same displacement of
    the centre and the same angle, without the zoom."""
    c = np.array([centre[0], centre[1], 1.0])
    d = m @ c - c
    return rigid(float(d[0]), float(d[1]), float(np.arctan2(m[1, 0], m[0, 0])), centre)


@lru_cache(maxsize=8)
def _window(h: int, w: int) -> np.ndarray:
    return np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)


@lru_cache(maxsize=8)
def _band(h: int, w: int) -> np.ndarray:
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    return np.exp(-(fy**2 + fx**2) / (2 * 0.12**2)).astype(np.float32)


def phase_correlation(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """(dx, dy, peak): content at x in `a` is at x + (dx, dy) in `b`; `peak` in (0, 1] says how
    clearly (about 1/sqrt(pixels) for unrelated pictures)."""
    h, w = a.shape
    win = _window(h, w)
    fa = np.fft.rfft2((a - a.mean()) * win)
    fb = np.fft.rfft2((b - b.mean()) * win)
    cross = fb * np.conj(fa)
    cross /= np.abs(cross) + 1e-12
    surface = np.fft.irfft2(cross * _band(h, w), s=(h, w))
    iy, ix = np.unravel_index(int(np.argmax(surface)), surface.shape)
    peak = float(surface[iy, ix]) / float(_band(h, w).sum() * 2 / (h * w))

    def sub(m1: float, c: float, p1: float) -> float:
        lo, mid, hi = (np.log(max(v, 1e-12)) for v in (m1, c, p1))
        den = lo - 2 * mid + hi
        return float(np.clip(0.5 * (lo - hi) / den, -0.5, 0.5)) if den < 0 else 0.0

    c = surface[iy, ix]
    dy = iy + sub(surface[(iy - 1) % h, ix], c, surface[(iy + 1) % h, ix])
    dx = ix + sub(surface[iy, (ix - 1) % w], c, surface[iy, (ix + 1) % w])
    dy = dy - h if dy > h / 2 else dy
    dx = dx - w if dx > w / 2 else dx
    return float(dx), float(dy), min(peak, 1.0)


def warp_plane(img: np.ndarray, m: np.ndarray, interpolation: int = cv2.INTER_LINEAR, border: int = cv2.BORDER_REFLECT_101) -> np.ndarray:
    """out(x) = img(m @ x): `img` sampled where `m` sends each output pixel."""
    return cv2.warpAffine(
        img, np.ascontiguousarray(m[:2], dtype=np.float64), (img.shape[1], img.shape[0]),
        flags=interpolation | cv2.WARP_INVERSE_MAP, borderMode=border,
    )


def estimate_rigid(a: np.ndarray, b: np.ndarray, rotation: bool, iterations: int = 6, zoom: bool = False) -> tuple[np.ndarray, float]:
    """(M, peak): the rigid motion from log-luma picture `a` to `b` (same shape) and the phase
    correlation peak of the coarse estimate. Translation from phase correlation on a
    coarse copy, then Gauss-Newton refinement of (tx, ty[, angle][, zoom], brightness offset)
    with Huber weights on the residual. With `zoom` a zoom about the frame centre is fitted
    too (M is then a similarity): a zoom that a rigid model cannot describe otherwise pulls
    the translation and the angle, the more the further apart the pictures are."""
    h, w = a.shape
    if min(h, w) < 8:
        return np.eye(3), 0.0
    f = factor_for(h, w, 256)
    dx, dy, peak = phase_correlation(block_mean(a, f), block_mean(b, f))
    centre = ((w - 1) / 2, (h - 1) / 2)
    m = to_full(rigid(dx, dy, 0.0, ((w // f - 1) / 2, (h // f - 1) / 2)), f)
    gy, gx = np.gradient(a)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cols = [gx, gy]
    if rotation:
        cols.append(-gx * (ys - np.float32(centre[1])) + gy * (xs - np.float32(centre[0])))
    if zoom:
        cols.append(gx * (xs - np.float32(centre[0])) + gy * (ys - np.float32(centre[1])))
    cols.append(np.ones_like(a))
    sd = np.stack(cols, axis=2)
    beta = 0.0
    for _ in range(iterations):
        corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], dtype=np.float64).T
        margin = int(np.ceil(np.abs((m @ corners - corners)[:2]).max())) + 3
        if 2 * margin + 16 > min(h, w):
            break
        inner = (slice(margin, h - margin), slice(margin, w - margin))
        e = (warp_plane(b, m, cv2.INTER_CUBIC)[inner] - a[inner]).ravel() - np.float32(beta)
        s = sd[inner].reshape(-1, len(cols))
        scale = 1.4826 * float(np.median(np.abs(e[:: max(1, e.size // 20000)]))) + 1e-6
        wts = np.minimum(np.float32(1.0), np.float32(1.5 * scale) / (np.abs(e) + np.float32(1e-12)))
        hess = (s * wts[:, None]).T @ s
        delta = np.linalg.lstsq(hess.astype(np.float64), (s.T @ (wts * e)).astype(np.float64), rcond=None)[0]
        beta += float(delta[-1])
        step = rigid(float(delta[0]), float(delta[1]), float(delta[2]) if rotation else 0.0, centre)
        if zoom:  # the zoom about the centre, applied before the translation
            k = 1.0 + float(delta[3 if rotation else 2])
            step = step @ np.array([[k, 0.0, centre[0] * (1 - k)], [0.0, k, centre[1] * (1 - k)], [0.0, 0.0, 1.0]])
        m = m @ np.linalg.inv(step)
        if abs(delta[0]) < 1e-3 and abs(delta[1]) < 1e-3:
            break
    return m, peak


# ---------------------------------------------------------------- robust trend


def _basis(t: np.ndarray, steps: bool = True) -> list[tuple[np.ndarray, float, bool]]:
    """Candidate models of an intended change over the window, as (basis (n, p), penalty
    multiplier, fitted to 2**values): constant, line, parabola; with `steps`, a step (a light
    switched on) between any two frames with at least two frames either side; a kink either side of
    any frame, straight or curved (a fade, a ramp or a pan starting or ending). For log2
    brightness the line and the kinks are also fitted in linear light (a fade is linear in
    light, so steep at its end in stops)."""
    one = np.ones_like(t)
    models = [(one[:, None], 0.0, False), (np.stack([one, t], 1), 0.0, False), (np.stack([one, t, t * t], 1), 0.0, False)]
    models.append((np.stack([one, t], 1), 0.0, True))
    midpoints = (t[1:-2] + t[2:-1]) / 2 if steps else ()
    for k in midpoints:
        if (t < k).sum() >= 2 and (t > k).sum() >= 2:
            models.append((np.stack([one, t, (t > k).astype(np.float64)], 1), 1.0, False))
    for k in t[1:-1]:
        after, before = np.maximum(t - k, 0), np.maximum(k - t, 0)
        for side, ok in ((after, (t > k).sum() >= 2), (before, (t < k).sum() >= 2)):
            if ok:
                for linear in (False, True):
                    models.append((np.stack([one, side], 1), 1.0, linear))
                    models.append((np.stack([one, side, side * side], 1), 1.0, linear))
    return models


@lru_cache(maxsize=128)
def _models(
    times: tuple[float, ...], log_levels: bool, knot_penalty: float, degree_penalty: float, steps: bool = True
) -> tuple[tuple[np.ndarray, np.ndarray, float, bool], ...]:
    """For each candidate model: (weights giving its least-squares value at t=0, orthonormal
    basis of its column space (the basis itself for models fitted in linear light), BIC
    penalty, fitted in linear light)."""
    t = np.asarray(times, dtype=np.float64)
    n = t.size
    out = []
    for x, extra, linear in _basis(t, steps):
        p = x.shape[1]
        if (p >= n and p > 1) or (linear and not log_levels):
            continue
        q, r = np.linalg.qr(x)
        if np.min(np.abs(np.diag(r))) < 1e-9 * max(1.0, float(np.abs(r).max())):
            continue
        x0 = x[np.argmin(np.abs(t))]
        penalty = (degree_penalty * p + knot_penalty * extra) * np.log(max(n, 2))
        out.append((q @ np.linalg.solve(r.T, x0), x if linear else q, penalty, linear))
    return tuple(out)


def noise_sigma(times: Sequence[float], values: np.ndarray, floor: float) -> np.ndarray:
    """Robust per-series noise level: MAD of second differences (steps and smooth trends barely count)."""
    return jitter_sigma(values, floor)


def trend_at_zero(
    times: Sequence[float],
    values: np.ndarray,
    sigma: np.ndarray,
    log_levels: bool = False,
    knot_penalty: float = 2.0,
    degree_penalty: float = 3.0,
    steps: bool = True,
) -> np.ndarray:
    """The intended level of each column of `values` (n, k) at time 0.

    Every candidate model of an intended change (constant, line, parabola, a step, a kink:
    `_basis`) is fitted to the whole window by least squares, and the models' values at 0
    are averaged per series with weights exp(-BIC/2), BIC = residual / sigma^2 + penalty;
    the penalty is (`degree_penalty` x parameters + `knot_penalty` for a searched step or
    kink) x log n: stronger than plain BIC (1 per parameter), since with random jitter of
    the size of the changes a simpler trend is usually the better guess.
    Flat stretches and ramps use every frame (random jitter averages out); a light switched
    on, a fade or a pan starting is followed instead of smoothed away. With `log_levels`
    (values are log2 brightness) some models are fitted in linear light (2**values). Without
    `steps` no model jumps between two frames (a camera's path cannot: there a jump is a jolt)."""
    v = np.asarray(values, dtype=np.float64)
    sig2 = np.maximum(np.asarray(sigma, dtype=np.float64), 1e-12) ** 2
    lin = np.exp2(v) if log_levels else v
    rel = 1.0 / np.maximum(lin, 1e-6) ** 2  # linear-light fits weighted for multiplicative noise
    zero = int(np.argmin(np.abs(np.asarray(times, dtype=np.float64))))
    fits, scores = [], []
    for weights, q, penalty, linear in _models(tuple(float(t) for t in times), log_levels, knot_penalty, degree_penalty, steps):
        if linear:
            a = np.einsum("nk,np,nq->kpq", rel, q, q)
            b = np.einsum("nk,np,nk->kp", rel, q, lin)
            beta = np.linalg.solve(a, b[:, :, None])[:, :, 0]
            curve = np.log2(np.maximum(q @ beta.T, 1e-6))
            fitted, value = curve, curve[zero]
        else:
            fitted = q @ (q.T @ v)
            value = weights @ v
        scores.append(((v - fitted) ** 2).sum(axis=0) / sig2 + penalty)
        fits.append(value)
    if not fits:
        return np.zeros(v.shape[1])
    sc, ft = np.array(scores), np.array(fits)
    w = np.exp(-0.5 * (sc - sc.min(axis=0)))
    return (w * ft).sum(axis=0) / w.sum(axis=0)
