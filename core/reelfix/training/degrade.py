"""Degradations for training: film grain for the denoiser, and a scanner's view of a
photo (optical blur, sensor area sampling, grain and noise) for the film-tuned upscaler.

Everything draws from an explicit `np.random.Generator`, so a seed fixes a whole run.
Pictures are HxWx3 float32 on the perceptual (sRGB-encoded) 0..1 scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..grain.synth import GrainProfile, add_grain, film_profile, luma
from .photos import Photo

STRENGTH = (0.005, 0.08)  # grain std in the mid-tones, perceptual scale (log-uniform)
SIZE = (0.0, 1.5)  # grain size, px
MONO_SHARE = 0.25  # share of monochrome examples (luma in 3 equal channels, same grain in each)


def random_profile(rng: np.random.Generator, strength: tuple[float, float] = STRENGTH, mono: bool = False) -> GrainProfile:
    """A film-like grain profile: log-uniform strength, any size and colour correlation, and
    a random tone curve (shadows 0.2..1 of the mid-tone strength)."""
    lo, hi = np.log(strength[0]), np.log(strength[1])
    return film_profile(
        strength=float(np.exp(rng.uniform(lo, hi))),
        size=float(rng.uniform(*SIZE)),
        colour=1.0 if mono else float(rng.uniform(0.0, 1.0)),
        shadows=float(rng.uniform(0.2, 1.0)),
    )


def random_crop(photos: list[Photo], size: int, rng: np.random.Generator) -> np.ndarray:
    """A size x size crop (float32 0..1) of a photo chosen in proportion to its area, in one
    of the 8 flips/rotations."""
    areas = np.array([p.pixels.shape[0] * p.pixels.shape[1] for p in photos], dtype=np.float64)
    photo = photos[int(rng.choice(len(photos), p=areas / areas.sum()))].pixels
    y = int(rng.integers(0, photo.shape[0] - size + 1))
    x = int(rng.integers(0, photo.shape[1] - size + 1))
    crop = photo[y : y + size, x : x + size]
    k = int(rng.integers(0, 8))
    crop = np.rot90(crop, k % 4)
    if k >= 4:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(crop, dtype=np.float32) / np.float32(255.0)


@dataclass
class GrainBatch:
    """NCHW float32 arrays: grainy input clipped to 0..1 (as the runtime feeds it), the sigma
    map at the clean luma (as degrain passes it), and the clean target."""

    noisy: np.ndarray
    sigma: np.ndarray
    clean: np.ndarray


def grain_example(clean: np.ndarray, rng: np.random.Generator, mono: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(noisy clipped, sigma HxW, clean) for one HxWx3 clean picture."""
    if mono:
        clean = np.repeat(luma(clean)[:, :, None], 3, axis=2)
    profile = random_profile(rng, mono=mono)
    noisy = np.clip(add_grain(clean, profile, rng), 0.0, 1.0)
    return noisy, profile.sigma_at(luma(clean)), clean


def grain_batch(photos: list[Photo], batch: int, size: int, rng: np.random.Generator) -> GrainBatch:
    noisy, sigma, clean = [], [], []
    for _ in range(batch):
        n, s, c = grain_example(random_crop(photos, size, rng), rng, mono=bool(rng.random() < MONO_SHARE))
        noisy.append(n.transpose(2, 0, 1))
        sigma.append(s[None])
        clean.append(c.transpose(2, 0, 1))
    return GrainBatch(np.stack(noisy), np.stack(sigma), np.stack(clean))


# --- a scanner's view of a photo, for the film-tuned upscaler -----------------------------

OPTICAL_BLUR = (0.2, 0.6)  # Gaussian sigma of the lens / printer blur in low-res px (x scale = high-res px)
SCAN_GRAIN = (0.002, 0.02)  # mild grain left on the scan (mid-tone std, perceptual)
SCANNER_NOISE = (0.0, 0.004)  # white sensor noise std (perceptual)


def to_linear(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def to_srgb(v: np.ndarray) -> np.ndarray:
    v = np.maximum(v, 0.0)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055).astype(np.float32)


def area_downsample(img: np.ndarray, scale: int) -> np.ndarray:
    """Mean over scale x scale blocks: a sensor's pixels integrating the light that falls on them."""
    h, w, c = img.shape
    return img[: h - h % scale, : w - w % scale].reshape(h // scale, scale, w // scale, scale, c).mean(axis=(1, 3))


def film_scan(hr: np.ndarray, scale: int, rng: np.random.Generator) -> np.ndarray:
    """The low-res scan of a high-res HxWx3 sRGB-encoded crop: optical blur of random width
    and area sampling in linear light, then mild film grain and scanner noise, clipped to 0..1."""
    linear = to_linear(hr)
    sigma = float(rng.uniform(*OPTICAL_BLUR)) * scale
    k = int(2 * np.ceil(3 * sigma) + 1)
    linear = cv2.GaussianBlur(linear, (k, k), sigma, borderType=cv2.BORDER_REFLECT_101)
    lr = to_srgb(area_downsample(linear, scale))
    grain = film_profile(
        strength=float(np.exp(rng.uniform(np.log(SCAN_GRAIN[0]), np.log(SCAN_GRAIN[1])))),
        size=float(rng.uniform(0.0, 1.0)),
        colour=float(rng.uniform(0.3, 1.0)),
    )
    lr = add_grain(lr, grain, rng)
    lr = lr + np.float32(rng.uniform(*SCANNER_NOISE)) * rng.standard_normal(lr.shape, dtype=np.float32)
    return np.clip(lr, 0.0, 1.0).astype(np.float32)


def bicubic_down(hr: np.ndarray, scale: int) -> np.ndarray:
    """The classic SR benchmark degradation: antialiased bicubic downscale (PIL, as MATLAB's imresize)."""
    from PIL import Image

    h, w = hr.shape[0] // scale, hr.shape[1] // scale
    chans = [
        np.asarray(Image.fromarray(np.ascontiguousarray(hr[:, :, c]), mode="F").resize((w, h), Image.Resampling.BICUBIC))
        for c in range(hr.shape[2])
    ]
    return np.clip(np.stack(chans, axis=2), 0.0, 1.0).astype(np.float32)


@dataclass
class ScanBatch:
    """NCHW float32: the low-res scans and their high-res clean crops."""

    lr: np.ndarray
    hr: np.ndarray


def scan_batch(photos: list[Photo], batch: int, lr_size: int, scale: int, rng: np.random.Generator) -> ScanBatch:
    lr, hr = [], []
    for _ in range(batch):
        crop = random_crop(photos, lr_size * scale, rng)
        lr.append(film_scan(crop, scale, rng).transpose(2, 0, 1))
        hr.append(crop.transpose(2, 0, 1))
    return ScanBatch(np.stack(lr), np.stack(hr))
