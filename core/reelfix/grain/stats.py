"""Measuring film grain: standard deviation per luminance band, size, colour correlation.

`degrain` measures the plate's grain with these functions and hands the result (a
`GrainProfile`) to `regrain`; tests and benchmarks use them to check that grain put back
matches the plate's. Everything is on the perceptual scale (`reelfix.motion.perceptual`)
and robust: standard deviations come from the median absolute deviation, so the few pixels
where a residual holds picture rather than grain (an occlusion, a flow error) do not count.
"""

from __future__ import annotations

import numpy as np

from .synth import BANDS, BAND_CENTRES, GrainProfile, correlation_at_lag1, luma

MAD_TO_STD = 1.4826
MIN_SAMPLES = 64  # a band with fewer pixels borrows its value from the nearest measured bands
MAX_SAMPLES = 200_000
_SIZES = np.concatenate([[0.0], np.linspace(0.3, 4.0, 75)])
_RHO = np.array([correlation_at_lag1(float(s)) for s in _SIZES])


def band_of(lum: np.ndarray) -> np.ndarray:
    """Luminance band (0..BANDS-1) of each luma value; values outside 0..1 go to the end bands."""
    return np.clip((np.asarray(lum) * BANDS).astype(np.int64), 0, BANDS - 1)


def robust_std(values: np.ndarray) -> float:
    """Standard deviation of zero-mean, Gaussian-like values from their median absolute value
    (from an even subsample of at most MAX_SAMPLES values: the median of more adds nothing)."""
    v = np.asarray(values, dtype=np.float32).ravel()
    if v.size > MAX_SAMPLES:
        v = v[:: -(-v.size // MAX_SAMPLES)]
    return float(MAD_TO_STD * np.median(np.abs(v))) if v.size else 0.0


def std_per_band(values: np.ndarray, lum: np.ndarray, min_samples: int = MIN_SAMPLES) -> np.ndarray | None:
    """Robust standard deviation of zero-mean `values` (HxW or HxWxC, channels pooled) in each
    luminance band of `lum` (HxW). Bands with too few pixels are interpolated from the measured
    ones (flat beyond them); None when no band has enough pixels."""
    v = (values if values.ndim == 3 else values[:, :, None]).reshape(-1, 1, values.shape[2] if values.ndim == 3 else 1)
    lum = np.asarray(lum).reshape(-1, 1)
    if len(lum) > 4 * MAX_SAMPLES:  # an even subsample: a median of more adds nothing
        step = -(-len(lum) // (4 * MAX_SAMPLES))
        v, lum = v[::step], lum[::step]
    bands = band_of(lum)
    out = np.full(BANDS, np.nan)
    for b in range(BANDS):
        sel = bands == b
        if int(sel.sum()) * v.shape[2] >= min_samples:
            out[b] = robust_std(v[sel])
    ok = np.isfinite(out)
    if not ok.any():
        return None
    return np.interp(BAND_CENTRES, BAND_CENTRES[ok], out[ok]).astype(np.float64)


def lag1_correlation(field: np.ndarray) -> float:
    """Mean correlation of horizontally and vertically adjacent pixels of a zero-mean grain
    field (HxW or HxWxC), each channel on its own, robust to outliers by clipping at 4 std."""
    f = field if field.ndim == 3 else field[:, :, None]
    rhos = []
    for c in range(f.shape[2]):
        x = f[:, :, c].astype(np.float64)
        s = robust_std(x)
        if s <= 0:
            continue
        x = np.clip(x, -4 * s, 4 * s)
        var = float(np.mean(x * x))
        rhos.append(float(np.mean(x[:, 1:] * x[:, :-1])) / var)
        rhos.append(float(np.mean(x[1:, :] * x[:-1, :])) / var)
    return float(np.mean(rhos)) if rhos else 0.0


def size_from_correlation(rho: float) -> float:
    """The `GrainProfile.size` whose grain has this adjacent-pixel correlation."""
    return float(np.interp(np.clip(rho, _RHO[0], _RHO[-1]), _RHO, _SIZES))


def colour_correlation(field: np.ndarray) -> float:
    """Mean correlation between the channels of a grain field (1 for one channel), clipped to 0..1."""
    if field.ndim < 3 or field.shape[2] < 2:
        return 1.0
    x = field.reshape(-1, field.shape[2])[:, :3].astype(np.float64)
    s = np.array([robust_std(x[:, c]) for c in range(x.shape[1])])
    x = np.clip(x, -4 * s, 4 * s)
    c = np.atleast_2d(np.corrcoef(x, rowvar=False))
    off = c[~np.eye(len(c), dtype=bool)]
    return float(np.clip(np.nanmean(off), 0.0, 1.0))


def measure(grain: np.ndarray, signal: np.ndarray, sigma: np.ndarray | None = None) -> GrainProfile:
    """The profile of a grain field (HxWxC, zero-mean, perceptual scale) over the clean
    picture `signal` (HxWxC or its HxW luma): per-band std (or `sigma`, when the caller
    measured it better), size from the adjacent-pixel correlation, colour correlation."""
    lum = signal if signal.ndim == 2 else luma(signal)
    if sigma is None:
        sigma = std_per_band(grain, lum)
    if sigma is None:
        sigma = np.full(BANDS, robust_std(grain))
    size = size_from_correlation(lag1_correlation(grain))
    return GrainProfile(sigma=tuple(float(s) for s in sigma), size=round(size, 3), colour=round(colour_correlation(grain), 3))
