"""A small, explicit model of film grain, used to put grain back (`regrain`), to build test
clips and benchmarks, and to train the learned denoiser.

Grain is described on a perceptual scale (display-like code values where equal steps look
about equal; see `reelfix.motion.perceptual`), where scanned grain behaves simply:

- its strength depends on the local brightness: `sigma` gives the standard deviation at the
  centres of `BANDS` luminance bands (typically strongest in the mid-tones);
- it is spatially correlated: white noise blurred by a Gaussian of `size` pixels
  (0 = one-pixel grain), then scaled back to unit variance; or, where a plate's grain was
  measured, white noise shaped to its measured `spectrum` (power by radial frequency), which
  also holds grain a Gaussian blur cannot (clumps of grains, a flat or band-pass spectrum);
- its channels are correlated (`colour`: 1 = the same grain in R, G and B, as on
  monochrome stock; 0 = independent per channel, as dye clouds of colour stock tend to).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

BANDS = 8
BAND_CENTRES = (np.arange(BANDS, dtype=np.float32) + 0.5) / BANDS
SPECTRUM_BINS = 24  # GrainProfile.spectrum: power at this many radial frequencies ...
SPECTRUM_STEP = 1.0 / 32.0  # ... this many cycles per pixel apart, from 0 (past the corners, 0.71)
_LUMA_WEIGHTS = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


@dataclass(frozen=True)
class GrainProfile:
    """Measured or chosen grain: standard deviation per luminance band, size, colour
    correlation, and (measured grain) its power by radial frequency: SPECTRUM_BINS values of
    mean 1, or None for the Gaussian grain of `size`."""

    sigma: tuple[float, ...]
    size: float = 0.8
    colour: float = 0.7
    spectrum: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if len(self.sigma) != BANDS:
            raise ValueError(f"GrainProfile.sigma needs {BANDS} values (one per luminance band), got {len(self.sigma)}")
        if self.size < 0 or not 0.0 <= self.colour <= 1.0:
            raise ValueError(f"GrainProfile: size must be >= 0 and colour in [0, 1], got {self.size}, {self.colour}")
        if self.spectrum is not None and (len(self.spectrum) != SPECTRUM_BINS or min(self.spectrum) < 0 or max(self.spectrum) <= 0):
            raise ValueError(f"GrainProfile.spectrum needs {SPECTRUM_BINS} values >= 0, not all 0")

    def sigma_at(self, luma: np.ndarray) -> np.ndarray:
        """Grain standard deviation for each luma value (linear between band centres, flat beyond)."""
        return np.interp(luma, BAND_CENTRES, np.asarray(self.sigma, dtype=np.float32)).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sigma"] = [round(float(s), 6) for s in self.sigma]
        if self.spectrum is None:
            del d["spectrum"]
        else:
            d["spectrum"] = [round(float(s), 4) for s in self.spectrum]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GrainProfile":
        spectrum = d.get("spectrum")
        return cls(
            sigma=tuple(float(s) for s in d["sigma"]),
            size=float(d["size"]),
            colour=float(d["colour"]),
            spectrum=tuple(float(s) for s in spectrum) if spectrum else None,
        )


def film_profile(strength: float = 0.04, size: float = 0.8, colour: float = 0.7, shadows: float = 0.35) -> GrainProfile:
    """A typical scanned-negative profile: `strength` in the mid-tones, `shadows` of it at the
    ends of the range (a parabola over luma)."""
    c = BAND_CENTRES
    curve = shadows + (1.0 - shadows) * 4.0 * c * (1.0 - c)
    return GrainProfile(sigma=tuple(float(strength * v) for v in curve), size=size, colour=colour)


def luma(picture: np.ndarray) -> np.ndarray:
    """Luma of an HxWxC picture (Rec.709 weights for 3 channels, the channel itself for 1)."""
    if picture.ndim == 2:
        return picture.astype(np.float32, copy=False)
    if picture.shape[2] >= 3:
        return np.tensordot(picture[:, :, :3], _LUMA_WEIGHTS, axes=([2], [0])).astype(np.float32)
    return picture[:, :, 0].astype(np.float32, copy=False)


def blur_gain(size: float) -> float:
    """Factor by which a Gaussian blur of `size` px lowers the std of white noise (exact for
    the sampled kernel OpenCV uses)."""
    if size <= 0:
        return 1.0
    k = cv2.getGaussianKernel(_ksize(size), size).astype(np.float64)[:, 0]
    return float(np.sum(k**2))  # variance gain is (sum k^2)^2 for the separable 2-D kernel


def _ksize(size: float) -> int:
    return int(2 * np.ceil(3 * size) + 1)


def radial_frequency(height: int, width: int) -> np.ndarray:
    """Radial frequency (cycles per pixel) of each bin of a height x width FFT (float64)."""
    return np.hypot(np.fft.fftfreq(height)[:, None], np.fft.fftfreq(width)[None, :])


@lru_cache(maxsize=4)
def _radius(height: int, width: int) -> np.ndarray:
    """`radial_frequency` as float32, kept read-only (frames repeat their size)."""
    r = radial_frequency(height, width).astype(np.float32)
    r.setflags(write=False)
    return r


def radial_values(height: int, width: int, values: Any, scale: float = 1.0) -> np.ndarray:
    """Per-radius `values` (at SPECTRUM_BINS radii SPECTRUM_STEP apart, as in
    `GrainProfile.spectrum`) on each bin of an height x width FFT, linear between radii, the
    last held beyond; `scale`: they were measured on a picture that many times smaller."""
    radii = np.arange(SPECTRUM_BINS) * SPECTRUM_STEP / scale
    return np.interp(_radius(height, width), radii, np.asarray(values, np.float64))


def spectrum_gain(height: int, width: int, spectrum: tuple[float, ...], scale: float = 1.0) -> np.ndarray:
    """Amplitude gain of each bin of an height x width FFT that gives white noise the radial
    power `spectrum` (measured on a picture `scale` times smaller: its frequencies shrink by
    that much, none past the measured ones), and unit variance."""
    log_power = np.log(np.maximum(np.asarray(spectrum, np.float64), 1e-12))
    power = np.exp(radial_values(height, width, log_power, scale).astype(np.float32))  # log-linear: exact for Gaussian-like fall-off
    power[_radius(height, width) > (SPECTRUM_BINS - 1) * SPECTRUM_STEP / scale] = 0.0
    if scale > 1.0:  # grain of a larger picture holds nothing past the measured picture's Nyquist (as resized grain)
        power[(np.abs(np.fft.fftfreq(height))[:, None] * scale > 0.5) | (np.abs(np.fft.fftfreq(width))[None, :] * scale > 0.5)] = 0.0
    power[0, 0] = 0.0
    return np.sqrt(power / np.float32(max(float(power.mean(dtype=np.float64)), 1e-30)))


def shape_spectrum(field: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """Each channel of `field` (HxWxC) filtered by an FFT amplitude `gain` (HxW, periodic;
    OpenCV's float32 DFT)."""
    g = np.asarray(gain, np.float32)[:, :, None]
    out = np.empty(field.shape, np.float32)
    for c in range(field.shape[2]):
        spectrum = cv2.dft(np.ascontiguousarray(field[:, :, c], np.float32), flags=cv2.DFT_COMPLEX_OUTPUT)
        out[:, :, c] = cv2.idft(spectrum * g, flags=cv2.DFT_REAL_OUTPUT | cv2.DFT_SCALE)
    return out


def unit_field(
    shape: tuple[int, int, int], size: float, colour: float, rng: np.random.Generator, spectrum: tuple[float, ...] | None = None, scale: float = 1.0
) -> np.ndarray:
    """Zero-mean grain of unit standard deviation per channel, HxWxC float32: white noise
    blurred to `size`, or shaped to the radial power `spectrum` (measured `scale` times smaller)."""
    h, w, c = shape
    common = rng.standard_normal((h, w, 1), dtype=np.float32)
    if c > 1 and colour < 1.0:
        own = rng.standard_normal((h, w, c), dtype=np.float32)
        field = np.float32(np.sqrt(colour)) * common + np.float32(np.sqrt(1.0 - colour)) * own
    else:
        field = np.repeat(common, c, axis=2)
    if spectrum is not None:
        return shape_spectrum(field, spectrum_gain(h, w, spectrum, scale))
    if size > 0:
        k = _ksize(size)
        field = cv2.GaussianBlur(field, (k, k), size, borderType=cv2.BORDER_REFLECT_101).reshape(h, w, c)
        field /= np.float32(blur_gain(size))
    return field.astype(np.float32, copy=False)


def add_grain(picture: np.ndarray, profile: GrainProfile, rng: np.random.Generator, signal: np.ndarray | None = None) -> np.ndarray:
    """`picture` (HxWxC, perceptual code values) with grain added; the strength follows the
    luma of `signal` (the clean picture; `picture` itself when not given)."""
    pic = picture if picture.ndim == 3 else picture[:, :, None]
    ref = luma(pic if signal is None else (signal if signal.ndim == 3 else signal[:, :, None]))
    field = unit_field(pic.shape, profile.size, profile.colour, rng, profile.spectrum)  # type: ignore[arg-type]
    field *= profile.sigma_at(ref)[:, :, None]
    out = pic + field
    return out if picture.ndim == 3 else out[:, :, 0]


def from_perceptual(values: np.ndarray, linear: bool) -> np.ndarray:
    """The inverse of `reelfix.motion.perceptual`: back to scene-linear light where the
    colour space is scene-linear (sign kept, the power continued above 1); other encodings
    were never changed and pass as they are. Grain nodes work on the perceptual scale and
    return through this."""
    v = np.asarray(values, dtype=np.float32)
    if not linear:
        return v
    a = np.abs(v)
    out = np.where(a <= 0.04045, a / 12.92, np.power((a + 0.055) / 1.055, 2.4))
    return (np.sign(v) * out).astype(np.float32)


def correlation_at_lag1(size: float) -> float:
    """Correlation of horizontally adjacent pixels of `unit_field` grain of `size` (exact for
    the sampled kernel): what `reelfix.grain.stats` inverts to measure a plate's grain size."""
    if size <= 0:
        return 0.0
    k = cv2.getGaussianKernel(_ksize(size), size).astype(np.float64)[:, 0]
    return float(np.sum(k[1:] * k[:-1]) / np.sum(k**2))
