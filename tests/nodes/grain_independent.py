"""Grain and noise made apart from `reelfix.grain.synth` (which `degrain` and `denoise` measure and
the learned denoiser was trained on), for benchmarks and tests.

- `poisson_gaussian`: a sensor's noise, made in linear light: photon shot noise (Poisson, a
  `peak` photons at full white, so dark areas are noisier relative to their level and the
  noise on the display scale peaks in the shadows) plus Gaussian read noise, independent
  per pixel and per channel (white: no grain size, no colour correlation).
- `clumped`: film-like grain with another spectrum and clumping: a Boolean model of grains
  (discs of random radius 0.6-2.2 px dropped at random, Poisson-distributed places, each
  darkening the emulsion where it lands), one field shared by the channels plus a weaker
  field per channel, its amplitude following v (1 - v) of the display value (strongest in
  the mid-tones, as dye clouds are); skewed and clumped, not Gaussian.

Both take and give display-encoded (sRGB) pictures, 0..1, and are seeded.
"""

from __future__ import annotations

import cv2
import numpy as np

from tests.nodes import clips
from tests.nodes.clips import linear_to_srgb, srgb_to_linear
from tests.nodes.grain_clips import PROFILE, GrainClip


def poisson_gaussian(picture: np.ndarray, rng: np.random.Generator, peak: float = 120.0, read_sd: float = 0.004) -> np.ndarray:
    """`picture` (sRGB 0..1) with shot noise of `peak` photons at white plus read noise, in light."""
    lin = srgb_to_linear(np.clip(picture, 0.0, 1.0)).astype(np.float64)
    shot = rng.poisson(lin * peak) / peak
    noisy = shot + rng.normal(0.0, read_sd, lin.shape)
    return np.clip(linear_to_srgb(noisy), 0.0, 1.0).astype(np.float32)


def _grain_field(shape: tuple[int, int], rng: np.random.Generator, density: float) -> np.ndarray:
    """Coverage of randomly dropped discs (radius 0.6-2.2 px), zero mean, unit std."""
    h, w = shape
    field = np.zeros((h, w), np.float32)
    for radius in (0.6, 1.0, 1.5, 2.2):  # a few sizes, each its own Poisson layer
        count = rng.poisson(density * h * w / (np.pi * radius**2 * 4))
        ys, xs = rng.integers(0, h, count), rng.integers(0, w, count)
        layer = np.zeros((h, w), np.float32)
        np.add.at(layer, (ys, xs), 1.0)
        k = int(np.ceil(radius)) * 2 + 1
        yy, xx = np.mgrid[-(k // 2) : k // 2 + 1, -(k // 2) : k // 2 + 1]
        disc = np.clip(radius + 0.5 - np.hypot(yy, xx), 0.0, 1.0).astype(np.float32)
        field += cv2.filter2D(layer, -1, disc, borderType=cv2.BORDER_REFLECT)
    coverage = 1.0 - np.exp(-field)  # overlapping grains do not add past full cover (clumps saturate)
    return ((coverage - coverage.mean()) / (coverage.std() + 1e-9)).astype(np.float32)


def clumped(picture: np.ndarray, rng: np.random.Generator, strength: float = 0.05, colour_share: float = 0.8, density: float = 0.35) -> np.ndarray:
    """`picture` (sRGB 0..1) with clumped grain: std `strength` at mid-grey on the display scale."""
    h, w = picture.shape[:2]
    shared = _grain_field((h, w), rng, density)
    out = np.empty_like(picture, dtype=np.float32)
    v = np.clip(picture, 0.0, 1.0)
    amp = strength * 2.0 * np.sqrt(v * (1.0 - v) + 0.01)  # 0.05 at v = 0.5
    for c in range(picture.shape[2]):
        own = _grain_field((h, w), rng, density)
        g = np.sqrt(colour_share) * shared + np.sqrt(1 - colour_share) * own
        out[:, :, c] = v[:, :, c] - amp[:, :, c] * g  # a grain darkens where it lands
    return np.clip(out, 0.0, 1.0)


def noisy_clip(frames: int, height: int, width: int, name: str, kind: str, seed: int = 0, source: list[np.ndarray] | None = None) -> GrainClip:
    """A slow pan across a photo (or `source` frames, sRGB) with `kind` 'poisson' or 'clumped'
    noise, a new draw every frame; the clip's `profile` is the project's default and describes
    nothing here (the noise was not made from one)."""
    clean = [c.copy() for c in (source if source is not None else clips.pan(frames, height, width, name, velocity=(0.7, 0.3)))]
    grainy, grain = [], []
    for t, c in enumerate(clean):
        rng = np.random.default_rng([seed, t, 7])
        g = poisson_gaussian(c, rng) if kind == "poisson" else clumped(c, rng)
        grainy.append(g)
        grain.append((g - c).astype(np.float32))
    return GrainClip(clean, grainy, grain, PROFILE, "srgb_tx")
