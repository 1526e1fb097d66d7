"""Measuring film grain: standard deviation per luminance band, size, spectrum, colour correlation.

`degrain` measures the plate's grain with these functions and hands the result (a
`GrainProfile`) to `regrain`; tests and benchmarks use them to check that grain put back
matches the plate's. Everything is on the perceptual scale (`reelfix.motion.perceptual`)
and robust: standard deviations are root mean squares with values past 4 times the median
absolute deviation's estimate clipped, so the few pixels where a residual holds picture
rather than grain (an occlusion, a flow error) barely count, while grain that is not
Gaussian (skewed, clumped: its median absolute deviation is no measure of its std) keeps its
true std; the spectrum is the median of many patches' periodograms, so texture that leaks
into a few patches does not shape it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .synth import BANDS, BAND_CENTRES, SPECTRUM_BINS, SPECTRUM_STEP, GrainProfile, correlation_at_lag1, luma, radial_frequency

MAD_TO_STD = 1.4826
CLIP_AT = 4.0  # grain_std: values past this many robust standard deviations are clipped
PATCH = 64  # radial_spectrum: periodogram patch size
MAX_PATCHES = 1024
TRIM = 0.8  # radial_spectrum: each frequency's power is the mean of the lowest 80% of the patches' (texture is in the rest)
MIN_SAMPLES = 64  # a band with fewer pixels borrows its value from the nearest measured bands
MAX_SAMPLES = 200_000
_SIZES = np.concatenate([[0.0], np.linspace(0.3, 4.0, 75)])
_RHO = np.array([correlation_at_lag1(float(s)) for s in _SIZES])


def band_of(lum: np.ndarray) -> np.ndarray:
    """Luminance band (0..BANDS-1) of each luma value; values outside 0..1 go to the end bands."""
    return np.clip((np.asarray(lum) * BANDS).astype(np.int64), 0, BANDS - 1)


def _sample(values: np.ndarray) -> np.ndarray:
    """The values, flat float32, as an even subsample of at most MAX_SAMPLES."""
    v = np.asarray(values, dtype=np.float32).ravel()
    return v[:: -(-v.size // MAX_SAMPLES)] if v.size > MAX_SAMPLES else v


def robust_std(values: np.ndarray) -> float:
    """Standard deviation of zero-mean, Gaussian-like values from their median absolute value
    (from an even subsample of at most MAX_SAMPLES values: the median of more adds nothing)."""
    v = _sample(values)
    return float(MAD_TO_STD * np.median(np.abs(v))) if v.size else 0.0


def grain_std(values: np.ndarray) -> float:
    """Standard deviation of zero-mean values as a root mean square, with values past CLIP_AT
    robust standard deviations (from the median absolute value) clipped: the std of grain of
    any shape, few outliers barely counting (for Gaussian values it loses 0.01%)."""
    v = _sample(values)
    if not v.size:
        return 0.0
    lim = np.float32(CLIP_AT * MAD_TO_STD * np.median(np.abs(v)))
    c = np.clip(v, -lim, lim).astype(np.float64)
    return float(np.sqrt(np.mean(c * c)))


def std_per_band(values: np.ndarray, lum: np.ndarray, min_samples: int = MIN_SAMPLES, estimator: Any = grain_std) -> np.ndarray | None:
    """Standard deviation (`grain_std`, or `estimator`: `robust_std` where picture that leaks
    into the values must count least) of zero-mean `values` (HxW or HxWxC, channels pooled) in
    each luminance band of `lum` (HxW). Bands with too few pixels are interpolated from the
    measured ones (flat beyond them); None when no band has enough pixels."""
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
            out[b] = estimator(v[sel])
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
    keep = s > 0  # a channel without grain (a clean or clipped plate) has nothing to correlate
    if np.count_nonzero(keep) < 2:
        return 1.0
    x, s = x[:, keep], s[keep]
    x = np.clip(x, -4 * s, 4 * s)
    c = np.atleast_2d(np.corrcoef(x, rowvar=False))
    off = c[~np.eye(len(c), dtype=bool)]
    return float(np.clip(np.nanmean(off), 0.0, 1.0)) if np.any(np.isfinite(off)) else 1.0


def radial_spectrum(field: np.ndarray, valid: np.ndarray | None = None, detail: np.ndarray | None = None) -> tuple[float, ...] | None:
    """The grain's power spectrum by radial frequency (at SPECTRUM_BINS radii SPECTRUM_STEP
    cycles per pixel apart, the mean over all frequencies 1: the shape of unit-variance
    grain), assuming isotropic grain: per channel and per PATCH x PATCH patch (half
    overlapping, Hann-windowed, only patches 95% inside `valid`), the mean of the lowest TRIM
    of the patches' power at each frequency (for the periodogram's exponential spread, a fixed
    share of the mean at every frequency, so the shape is kept); with `detail` (HxW, the picture's local detail), from the half
    of those patches where the picture is flattest, as a residual holds some of the picture
    where it has edges. None when there are fewer than 8 patches."""
    f = field if field.ndim == 3 else field[:, :, None]
    h, w, c = f.shape
    if h < PATCH or w < PATCH:
        return None
    step = PATCH // 2
    view = np.lib.stride_tricks.sliding_window_view(f, (PATCH, PATCH), axis=(0, 1))[::step, ::step]  # ny, nx, c, P, P
    cells = view.reshape(-1, PATCH, PATCH)
    ok = np.ones(view.shape[0] * view.shape[1], bool)
    if valid is not None:
        ok &= np.lib.stride_tricks.sliding_window_view(valid, (PATCH, PATCH))[::step, ::step].mean(axis=(2, 3)).ravel() >= 0.95
    if detail is not None and int(ok.sum()) >= 16:
        busy = np.lib.stride_tricks.sliding_window_view(detail, (PATCH, PATCH))[::step, ::step].mean(axis=(2, 3)).ravel()
        ok &= busy <= np.median(busy[ok])
    cells = cells[np.repeat(ok, c)]
    if len(cells) < 8:
        return None
    cells = cells[:: -(-len(cells) // MAX_PATCHES)].astype(np.float64)
    win = np.outer(np.hanning(PATCH), np.hanning(PATCH))
    periodograms = np.sort(np.abs(np.fft.fft2((cells - float(np.mean(cells))) * win)) ** 2, axis=0)
    power = periodograms[: max(1, int(round(TRIM * len(cells))))].mean(axis=0)
    r = radial_frequency(PATCH, PATCH)
    which = np.minimum(np.rint(r / SPECTRUM_STEP).astype(np.int64), SPECTRUM_BINS - 1)
    keep = r > 0  # the mean is not grain
    counts = np.bincount(which[keep], None, SPECTRUM_BINS)
    have = counts > 0
    mean_r = np.bincount(which[keep], r[keep], SPECTRUM_BINS)[have] / counts[have]
    mean_p = np.bincount(which[keep], power[keep], SPECTRUM_BINS)[have] / counts[have]
    spec = np.interp(np.arange(SPECTRUM_BINS) * SPECTRUM_STEP, mean_r, mean_p)
    spec[0] = mean_p[0]  # the mean is not grain: the lowest radius measured stands for it
    norm = float(np.sum(mean_p * counts[have]) / np.sum(counts[have]))
    return tuple(round(float(v), 4) for v in spec / max(norm, 1e-30))


def band_std_by_frequency(field: np.ndarray, edges: tuple[float, ...] = (0.0, 0.125, 0.25, 0.375, 1.0)) -> np.ndarray:
    """Std of a grain field (HxW or HxWxC, channels pooled) in radial frequency bands (cycles
    per pixel, `edges`): how tests and benchmarks compare two grains' spectra."""
    f = field if field.ndim == 3 else field[:, :, None]
    h, w, c = f.shape
    r = radial_frequency(h, w)
    out = np.zeros(len(edges) - 1)
    for k in range(c):
        p = np.abs(np.fft.fft2(f[:, :, k].astype(np.float64) - float(f[:, :, k].mean()))) ** 2 / float(h * w) ** 2
        out += [float(p[(r >= lo) & (r < hi)].sum()) for lo, hi in zip(edges[:-1], edges[1:])]
    return np.sqrt(out / c)


def measure(
    grain: np.ndarray, signal: np.ndarray, sigma: np.ndarray | None = None, valid: np.ndarray | None = None, detail: np.ndarray | None = None
) -> GrainProfile:
    """The profile of a grain field (HxWxC, zero-mean, perceptual scale) over the clean
    picture `signal` (HxWxC or its HxW luma): per-band std (or `sigma`, when the caller
    measured it better), size from the adjacent-pixel correlation, radial spectrum (from
    patches inside `valid`, the flatter half by `detail`), colour correlation."""
    lum = signal if signal.ndim == 2 else luma(signal)
    if sigma is None:
        sigma = std_per_band(grain, lum)
    if sigma is None:
        sigma = np.full(BANDS, grain_std(grain))
    size = size_from_correlation(lag1_correlation(grain))
    return GrainProfile(
        sigma=tuple(float(s) for s in sigma),
        size=round(size, 3),
        colour=round(colour_correlation(grain), 3),
        spectrum=radial_spectrum(grain, valid, detail),
    )
