"""`regrain`: film grain put back after restoration.

Grain is part of the film; archives take it out to repair or upscale and then put it
back. Two sources:

- `plate`: the grain `degrain` removed from this very frame earlier in the job
  (`Frame.layers`), so it is the plate's own grain, new in every frame and moving with
  the picture (stabilize moves it too). Resized to the current picture when `upscale` ran
  in between (grain scales with the image), its standard deviation kept per channel; where
  a repair changed the brightness, scaled by the plate's grain-versus-luminance curve.
- `synthetic`: new grain (`reelfix.grain.synth`) matched to the profile `degrain` measured
  in the same job (std per luminance band, size, colour correlation), or to the `strength`,
  `size` and `colour` parameters when there is none. Its size follows the picture's scale;
  its random field is seeded from the frame number and `seed`, so a farm chunk gives
  exactly the frames of a whole run.

Either way only zero-mean grain is added on the perceptual scale: the structure (the
restored picture) is unchanged, values above 1 keep their encoding, alpha is untouched.
"""

from __future__ import annotations

import json
from typing import Any

import cv2
import numpy as np

from .. import motion
from ..frames.frame import Frame, picture_indices
from ..grain import stats
from ..grain.synth import GrainProfile, film_profile, from_perceptual, luma, radial_values, shape_spectrum, unit_field
from .degrain import LAYER, LAYER_LUMA, META, is_mono, smooth_luma
from .spec import NodeContext, NodeSpec, Param, Window

NAME = "regrain"
LUMA_SCALE_LIMITS = (0.25, 4.0)  # how far a repair's change of brightness may rescale plate grain
SPECTRUM_GAIN_LIMITS = (0.5, 2.0)  # how far plate grain's amplitude at a frequency may be reshaped
SPECTRUM_PAD = 16  # px of reflection around the layer while it is reshaped (FFTs wrap around)


def frame_seed(seed: int, number: int) -> np.random.Generator:
    """The random generator of one frame: from the `seed` parameter and the frame number only."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(number) & 0xFFFFFFFF, 0x7E6A])


def resize_grain(layer: np.ndarray, height: int, width: int) -> np.ndarray:
    """A grain layer (HxWxC) resized to the picture (bicubic), each channel's std kept: the
    grain covers the same area of the film, so it grows with the picture, at the same strength."""
    if layer.shape[:2] == (height, width):
        return layer
    out = np.asarray(cv2.resize(layer, (width, height), interpolation=cv2.INTER_CUBIC), np.float32).reshape(height, width, -1)
    for c in range(out.shape[2]):
        before, after = stats.robust_std(layer[:, :, c]), stats.robust_std(out[:, :, c])
        if after > 0:
            out[:, :, c] *= np.float32(before / after)
    return out


def to_measured_spectrum(layer: np.ndarray, spectrum: tuple[float, ...] | None) -> np.ndarray:
    """The removed grain's spectrum shaped to the plate's measured one: a denoiser leaves the
    grain's coarsest part in the picture (it looks like picture) and takes its finest, so
    what it removed has too little low-frequency and too much high-frequency power. Gains
    per radial frequency within SPECTRUM_GAIN_LIMITS; the layer's mean is kept."""
    have = stats.radial_spectrum(layer) if spectrum is not None else None
    if have is None:
        return layer
    lo, hi = SPECTRUM_GAIN_LIMITS
    gain = np.clip(np.sqrt(np.asarray(spectrum) / np.maximum(np.asarray(have), 1e-6)), lo, hi)
    pad = SPECTRUM_PAD
    padded = cv2.copyMakeBorder(np.ascontiguousarray(layer, np.float32), pad, pad, pad, pad, cv2.BORDER_REFLECT_101).reshape(
        layer.shape[0] + 2 * pad, layer.shape[1] + 2 * pad, layer.shape[2]
    )
    grid = radial_values(padded.shape[0], padded.shape[1], gain)
    grid[0, 0] = 1.0
    return shape_spectrum(padded, grid)[pad:-pad, pad:-pad]


def to_measured_strength(layer: np.ndarray, lum: np.ndarray, profile: GrainProfile) -> np.ndarray:
    """The removed grain scaled per luminance band to the plate's measured grain: a
    denoiser leaves a little grain in the picture, so what it removed is slightly weaker
    than the plate's grain (by 5-15%); the measurement from the neighbours is not."""
    have = stats.std_per_band(layer, lum)
    if have is None:
        return layer
    ratio = np.clip(np.asarray(profile.sigma) / np.maximum(have, 1e-6), 0.5, 2.0)
    return layer * np.interp(lum, stats.BAND_CENTRES, ratio).astype(np.float32)[:, :, None]


class Regrain:
    """The per-job regrain runner."""

    def __init__(self, params: dict[str, Any], ctx: NodeContext) -> None:
        self.params = params
        self.ctx = ctx
        self.amount = float(params["amount"])
        self.fallback = film_profile(float(params["strength"]), float(params["size"]), float(params["colour"]))
        self._warned = False

    def provenance(self) -> dict[str, Any]:
        return {"node": NAME, "params": dict(self.params)}

    def process(self, window: Window) -> Frame:
        frame = window.centre
        idx = picture_indices(frame.channels)
        linear = motion.is_scene_linear(frame.colorspace)
        picture = motion.perceptual(frame.pixels[:, :, idx], linear)
        measured = json.loads(frame.metadata[META]) if isinstance(frame.metadata.get(META), str) else None
        layer = frame.layers.get(LAYER)
        if self.params["source"] == "plate" and layer is not None and measured is not None:
            grain = self._plate(frame, picture, layer, GrainProfile.from_dict(measured))
        else:
            if self.params["source"] == "plate" and not self._warned:
                self._warned = True
                self.ctx.warn(f"{NAME}: frame {frame.number} carries no plate grain (no degrain earlier in the job); synthetic grain added instead")
            grain = self._synthetic(frame, picture, measured)
        pixels = frame.pixels.copy()
        pixels[:, :, idx] = from_perceptual(picture + np.float32(self.amount) * grain, linear)
        return frame.with_pixels(pixels)

    def _plate(self, frame: Frame, picture: np.ndarray, layer: np.ndarray, profile: GrainProfile) -> np.ndarray:
        h, w, c = picture.shape
        then = frame.layers.get(LAYER_LUMA)
        layer = layer.astype(np.float32)
        layer = to_measured_spectrum(layer, profile.spectrum)
        if then is not None and then.shape == layer.shape[:2]:
            layer = to_measured_strength(layer, then, profile)
        grain = resize_grain(layer, h, w)
        if grain.shape[2] != c:
            grain = np.repeat(grain.mean(axis=2, keepdims=True), c, axis=2)
        if then is not None:
            then_hw = then if then.shape == (h, w) else cv2.resize(then, (w, h), interpolation=cv2.INTER_LINEAR)
            lo, hi = LUMA_SCALE_LIMITS
            ratio = profile.sigma_at(smooth_luma(picture)) / np.maximum(profile.sigma_at(then_hw), 1e-6)
            grain = grain * np.clip(ratio, lo, hi)[:, :, None]
        return grain

    def _synthetic(self, frame: Frame, picture: np.ndarray, measured: dict[str, Any] | None) -> np.ndarray:
        profile = GrainProfile.from_dict(measured) if measured is not None else self.fallback
        scale = frame.width / float(measured["width"]) if measured and measured.get("width") else 1.0
        mono = is_mono(picture) or bool(measured and measured.get("mono"))
        colour = 1.0 if mono else profile.colour
        field = unit_field(picture.shape, profile.size * scale, colour, frame_seed(self.params["seed"], frame.number), profile.spectrum, scale)  # type: ignore[arg-type]
        return field * profile.sigma_at(luma(picture))[:, :, None]


SPEC = NodeSpec(
    name=NAME,
    label="Regrain",
    help="Puts film grain back after restoration: the plate's own grain removed by an earlier degrain, "
    "or synthetic grain matched to the plate's measured grain; only zero-mean grain is added.",
    params=(
        Param(
            "source",
            str,
            "plate",
            "'plate': the grain degrain removed from this frame, resized with the picture; "
            "'synthetic': new grain matched to degrain's measurement (or to strength/size/colour)",
            choices=("plate", "synthetic"),
        ),
        Param("amount", float, 1.0, "grain added relative to the plate's (1 = as measured)", min=0.0, max=4.0),
        Param("strength", float, 0.04, "synthetic grain std in the mid-tones (perceptual units) when no degrain measured the plate", min=0.0, max=0.5),
        Param("size", float, 0.8, "synthetic grain size in pixels when no degrain measured the plate (0 = one-pixel grain)", min=0.0, max=8.0),
        Param("colour", float, 0.7, "synthetic grain: 1 = the same grain in R, G and B, 0 = independent per channel", min=0.0, max=1.0),
        Param("seed", int, 0, "varies the synthetic grain; the field of a frame depends only on this and the frame number", min=0),
    ),
    keeps_brightness=True,
    factory=lambda params, ctx: Regrain(params, ctx),
    category="Cleanup",
)
