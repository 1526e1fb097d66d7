"""Test clips for `deflicker` and `stabilize`, with the clean truth kept.

Real pictures: slow pans across scikit-image's CC0 photos, rendered in scene-linear light
(sRGB decoded) with a Lanczos filter from an enlarged copy, so every frame is an exact,
known camera position. Damage on top:

- flicker: a per-frame gain of 4-8% (random sign, `amount`) times an uneven field (a
  random 3x3 grid of gains, `uneven` log-sd, smoothly interpolated), plus light grain; the
  gains are centred so they average to 1 over the clip (see `centring`);
- intentional changes that must stay: a fade over the last frames (linear in light), an
  exposure ramp (linear in stops), a light switched on over part of the frame;
- gate weave: random shifts (about 1.5 px RMS) and small rotations about the frame
  centre, on a static shot or on a deliberate slow pan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from reelfix.global_motion import rigid

LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


def photo_linear(name: str = "astronaut") -> np.ndarray:
    """A scikit-image photo (CC0 / public domain) decoded from sRGB to linear light."""
    from skimage import data

    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    v = img[:, :, :3].astype(np.float32) / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def render(source: np.ndarray, cameras: list[np.ndarray], height: int, width: int) -> list[np.ndarray]:
    """Frames whose pixel y shows source(camera @ y) (3x3 matrices), Lanczos-filtered."""
    out = []
    for cam in cameras:
        f = cv2.warpAffine(source, cam[:2], (width, height), flags=cv2.INTER_LANCZOS4 | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT)
        out.append(np.ascontiguousarray(np.maximum(f, 0.0), dtype=np.float32))
    return out


def pan_cameras(frames: int, velocity: tuple[float, float], start: tuple[float, float] = (24.0, 24.0)) -> list[np.ndarray]:
    return [rigid(start[0] + velocity[0] * t, start[1] + velocity[1] * t, 0.0, (0.0, 0.0)) for t in range(frames)]


def enlarged(name: str, height: int, width: int, frames: int, velocity: tuple[float, float]) -> np.ndarray:
    src = photo_linear(name)
    need_w = width + abs(velocity[0]) * frames + 64
    need_h = height + abs(velocity[1]) * frames + 64
    scale = max(need_w / src.shape[1], need_h / src.shape[0], 1.0)
    return cv2.resize(src, (int(src.shape[1] * scale) + 1, int(src.shape[0] * scale) + 1), interpolation=cv2.INTER_CUBIC)


def pan(frames: int, height: int, width: int, name: str = "astronaut", velocity: tuple[float, float] = (0.6, 0.25)) -> list[np.ndarray]:
    """A slow pan (px per frame, x and y) across a real photo, in linear light."""
    return render(enlarged(name, height, width, frames, velocity), pan_cameras(frames, velocity), height, width)


def footage_linear(frames: int, width: int = 256) -> list[np.ndarray] | None:
    """Real footage (vtest.avi: static camera, people walking) decoded to linear light, or None if absent."""
    from tests.nodes.clips import footage

    got = footage(frames, start=0, size=(width * 3 // 4, width))
    if got is None:
        return None
    return [np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32) for v in got]


def mean_luma(img: np.ndarray) -> float:
    return float(np.mean(img[:, :, :3] @ LUMA, dtype=np.float64))


# ---------------------------------------------------------------- flicker


@dataclass
class FlickerClip:
    truth: list[np.ndarray]
    damaged: list[np.ndarray]
    gains: list[float]  # the global part of the flicker per frame
    intended: list[float] = field(default_factory=list)  # the intentional exposure change per frame
    fade: list[int] = field(default_factory=list)  # indices of the frames of the fade

    def __len__(self) -> int:
        return len(self.truth)


def smooth_field(height: int, width: int, sd: float, rng: np.random.Generator, grid: int = 3) -> np.ndarray:
    """A smooth random gain field: a grid x grid lattice of log-gains, bicubically interpolated."""
    if sd <= 0:
        return np.ones((height, width), dtype=np.float32)
    lattice = rng.normal(0.0, sd, (grid, grid)).astype(np.float32)
    lattice -= lattice.mean()
    return np.exp(cv2.resize(lattice, (width, height), interpolation=cv2.INTER_CUBIC)).astype(np.float32)


def centring(gains: list[float]) -> float:
    """The factor that makes a clip's flicker gains average to 1 (geometric mean).

    Random gains drawn independently do not average to 1 over a finite clip: a 96-frame draw
    of 4-8% flicker is on average about 0.6% brighter or darker than the truth over the
    whole clip. That part is not flicker but an exposure change of the whole shot, which
    nothing in the footage reveals (no method, and no colourist, can tell it from the
    truth's own exposure), so the clips take it out: the truth is the exposure the flickering
    frames vary around."""
    return float(np.exp(-np.mean(np.log(gains)))) if gains else 1.0


def add_flicker(
    truth: list[np.ndarray], amount: tuple[float, float] = (0.04, 0.08), uneven: float = 0.03, grain: float = 0.01, seed: int = 0,
    centred: bool = True,
) -> tuple[list[np.ndarray], list[float]]:
    """Each frame times (1 +- U[amount]) (random sign) times an uneven field; light grain.
    With `centred` the gains are scaled together to average to 1 over the clip (`centring`)."""
    rng = np.random.default_rng(seed)
    lit, grains, gains = [], [], []
    for f in truth:  # the same random draws, in the same order, centred or not
        g = 1.0 + rng.choice([-1.0, 1.0]) * rng.uniform(*amount)
        field_ = smooth_field(f.shape[0], f.shape[1], uneven, rng)
        noise = grain * rng.standard_normal(f.shape[:2]).astype(np.float32) * np.sqrt(np.maximum(f.mean(axis=2), 1e-4))
        lit.append(f * np.float32(g) * field_[:, :, None])
        grains.append(noise)
        gains.append(g)
    k = centring(gains) if centred else 1.0
    out = [np.ascontiguousarray(x * np.float32(k) + n[:, :, None], dtype=np.float32) for x, n in zip(lit, grains)]
    gains = [g * k for g in gains]
    return out, gains


def flicker_clip(
    frames: int = 48, height: int = 72, width: int = 96, change: str = "fade", seed: int = 0, amount: tuple[float, float] = (0.04, 0.08),
    uneven: float = 0.03, name: str = "astronaut", fade_frames: int = 12, centred: bool = True, base: list[np.ndarray] | None = None,
) -> FlickerClip:
    """A slow pan with flicker and one intentional change: 'fade' (the last `fade_frames`
    fade to 20%, linear in light), 'ramp' (+1 stop over the middle half), 'light' (a light
    switched on at the middle frame: the left 40% of the picture 1.6x brighter), or 'none'.
    The flicker is centred over the clip (`centring`) unless `centred` is False. `base`: other
    clean frames in linear light (real footage) instead of the pan."""
    base = pan(frames, height, width, name) if base is None else base[:frames]
    height, width = base[0].shape[:2]
    intended = np.ones(frames)
    fade: list[int] = []
    if change == "fade":
        n = max(2, min(fade_frames, frames // 2))
        fade = list(range(frames - n, frames))
        intended[frames - n :] = 1.0 - 0.8 * np.arange(1, n + 1) / n
    elif change == "ramp":
        a, b = frames // 4, 3 * frames // 4
        intended = 2.0 ** np.clip((np.arange(frames) - a) / (b - a), 0.0, 1.0)
    truth = [np.ascontiguousarray(f * np.float32(g), dtype=np.float32) for f, g in zip(base, intended)]
    if change == "light":
        x = np.arange(width, dtype=np.float32)
        lamp = 1.0 + 0.6 / (1.0 + np.exp((x - 0.4 * width) / (0.05 * width)))
        truth = [f * lamp[None, :, None] if t >= frames // 2 else f for t, f in enumerate(truth)]
    damaged, gains = add_flicker(truth, amount, uneven, seed=seed, centred=centred)
    return FlickerClip(truth, damaged, gains, list(intended), fade)


# ---------------------------------------------------------------- weave


@dataclass
class WeaveClip:
    truth: list[np.ndarray]  # the intended frames (camera path, no weave)
    damaged: list[np.ndarray]
    weave: np.ndarray  # (n, 3): tx, ty (px) and angle (radians, about the frame centre) added per frame
    velocity: tuple[float, float]

    def __len__(self) -> int:
        return len(self.truth)


def weave_clip(
    frames: int = 32, height: int = 96, width: int = 128, velocity: tuple[float, float] = (0.0, 0.0), shift_rms: float = 1.5,
    angle_sd_deg: float = 0.03, seed: int = 0, name: str = "astronaut", grain: float = 0.005,
) -> WeaveClip:
    """Gate weave: frame s shows the intended frame moved by a random rigid motion
    (2-D RMS `shift_rms` px, angle sd `angle_sd_deg` about the centre); static shot when
    `velocity` is (0, 0), else a deliberate pan."""
    rng = np.random.default_rng(seed)
    src = enlarged(name, height, width, frames, velocity)
    cams = pan_cameras(frames, velocity)
    truth = render(src, cams, height, width)
    weave = np.zeros((frames, 3))
    weave[:, :2] = rng.normal(0.0, shift_rms / np.sqrt(2.0), (frames, 2))
    weave[:, 2] = np.radians(rng.normal(0.0, angle_sd_deg, frames))
    centre = ((width - 1) / 2, (height - 1) / 2)
    moved = [cam @ np.linalg.inv(rigid(*w, centre)) for cam, w in zip(cams, weave)]
    damaged = render(src, moved, height, width)
    if grain:
        damaged = [f + grain * rng.standard_normal(f.shape[:2]).astype(np.float32)[:, :, None] for f in damaged]
    return WeaveClip(truth, damaged, weave, velocity)


def residual_motion(applied: list[np.ndarray], weave: np.ndarray, height: int, width: int) -> np.ndarray:
    """(n, 3): what is left of the weave after the stabiliser's corrections (3x3 matrices),
    as tx, ty at the frame centre and the angle: output = truth moved by correction @ weave."""
    centre = ((width - 1) / 2, (height - 1) / 2)
    from reelfix.global_motion import rigid_params

    return np.array([rigid_params(c @ rigid(*w, centre), centre) for c, w in zip(applied, weave)])
