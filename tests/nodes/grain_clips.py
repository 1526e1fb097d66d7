"""Grainy test clips with the clean truth and the grain itself kept.

The picture is real (slow pans across scikit-image's CC0 photos, or opencv-doc's
vtest.avi footage), optionally with a small real object crossing fast; grain from
`reelfix.grain.synth` (a film-like profile: strongest in the mid-tones, spatially
correlated, partly shared between channels) is added on the perceptual scale, a new
field every frame. Display-referred clips (`srgb_tx`) are perceptual already;
scene-linear ones (`lin_srgb`, highlights pushed above 1) are the same perceptual
picture decoded to light.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from reelfix.grain.synth import GrainProfile, add_grain, film_profile, from_perceptual, luma
from reelfix.motion import perceptual
from tests.nodes import clips

PROFILE = film_profile(0.05, size=0.8, colour=0.6)
MONO_PROFILE = film_profile(0.05, size=0.8, colour=1.0)


@dataclass
class GrainClip:
    clean: list[np.ndarray]  # in `colorspace`
    grainy: list[np.ndarray]  # in `colorspace`
    grain: list[np.ndarray]  # perceptual grainy minus perceptual clean
    profile: GrainProfile
    colorspace: str = "srgb_tx"
    protect: list[np.ndarray] = field(default_factory=list)  # HxW bool: the fast real object

    def __len__(self) -> int:
        return len(self.clean)

    @property
    def linear(self) -> bool:
        return self.colorspace == "lin_srgb"

    def perceptual(self, pictures: list[np.ndarray]) -> list[np.ndarray]:
        return [perceptual(p, self.linear) for p in pictures]


def highlights(x: np.ndarray, gain: float = 4.0) -> np.ndarray:
    """Scene-linear light from sRGB code values, bright areas pushed above 1."""
    y = clips.srgb_to_linear(x)
    return np.where(y > 0.6, 0.6 + (y - 0.6) * gain, y).astype(np.float32)


def grain_clip(
    frames: int = 7,
    height: int = 96,
    width: int = 128,
    name: str = "astronaut",
    profile: GrainProfile = PROFILE,
    obj: bool = False,
    linear: bool = False,
    mono: bool = False,
    seed: int = 0,
    source: list[np.ndarray] | None = None,
    velocity: tuple[float, float] = (0.7, 0.3),
    highlight_gain: float = 4.0,
) -> GrainClip:
    """Grain over a real picture; `mono` makes a black-and-white plate stored as R=G=B."""
    clean = [c.copy() for c in (source if source is not None else clips.pan(frames, height, width, name, velocity=velocity))]
    protect = clips.add_object(clean, speed=(min(17.0, clean[0].shape[1] / 6), 3.0)) if obj else []
    if mono:
        clean = [np.repeat(luma(c)[:, :, None], 3, axis=2) for c in clean]
    if linear:
        clean = [highlights(c, highlight_gain) for c in clean]
    cs = "lin_srgb" if linear else "srgb_tx"
    grainy, grain = [], []
    for t, c in enumerate(clean):
        p = perceptual(c, linear)
        g = add_grain(p, profile, np.random.default_rng([seed, t])) - p
        grain.append(g.astype(np.float32))
        grainy.append(from_perceptual(p + g, linear) if linear else (p + g).astype(np.float32))
    return GrainClip(clean, grainy, grain, profile, cs, protect)


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB on the perceptual scale (peak 1), optionally inside an HxW mask."""
    d = (np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2
    mse = float(d[mask].mean()) if mask is not None else float(d.mean())
    return float(10 * np.log10(1.0 / max(mse, 1e-12)))


def gain_db(clip: GrainClip, outs: list[np.ndarray], frames: list[int] | None = None, masks: list[np.ndarray] | None = None) -> float:
    """Mean PSNR gain (dB) of `outs` over the grainy input against the clean truth, on the
    perceptual scale (clipped to 0..1: what a viewer sees), optionally inside masks."""
    gains = []
    for i in frames if frames is not None else range(len(clip)):
        c, g, o = (np.clip(perceptual(x, clip.linear), 0, 1) for x in (clip.clean[i], clip.grainy[i], outs[i]))
        m = masks[i] if masks is not None else None
        gains.append(psnr(o, c, m) - psnr(g, c, m))
    return float(np.mean(gains))
