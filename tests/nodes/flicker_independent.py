"""Flicker clips made independently of `flicker_clips` (and of the shapes `reelfix.trend` fits).

What differs from the project's own clips, on purpose:
- the picture: a scikit-image photo other than the pans' (default `coffee`), moved by a slow
  drift (0.35 px per frame) plus a slight zoom (3.5% over the clip), resampled with scipy's cubic spline (not OpenCV's Lanczos);
- the plate's encoding: display values (sRGB) or film log (ADX10), and the flicker is made
  there: every frame's encoded values times a random gain plus a random offset
  (`gain_sd`, `offset_sd`), clipped at 0 as a file would; not a gain of light;
- the fade over the last frames is made in the space named: `display` (the encoded values
  scaled toward 0, as a lab or an editor's dissolve to black does), `light` (linear light
  scaled) or `stops` (equal steps of exposure), down to `fade_to` of the start.

The truth is the faded picture without flicker, in linear light. Scores (`scores`): frame-mean
luminance in linear light of the output over the truth's, as a log ratio with one constant
level taken out, RMS over frames (%); the fade frames' RMS; and the fade's depth change: the
mean of that error over the fade's second half minus its mean over the frames before the
fade (a flattened fade is positive, a deepened one negative), as a percentage of the level.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from reelfix import colour

LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float64)
PLATES = {"display": "srgb_tx", "log": "ADX10"}
FLICKER = {"display": (0.02, 0.004), "log": (0.008, 0.003)}  # (gain sd, offset sd) of the encoded values


@dataclass
class IndependentClip:
    truth: list[np.ndarray]  # linear light (lin_srgb)
    damaged: list[np.ndarray]  # encoded in `space`
    space: str
    fade: list[int] = field(default_factory=list)
    unfaded: list[float] = field(default_factory=list)  # frame-mean luminance of the picture before the fade
    fade_space: str = "none"

    def __len__(self) -> int:
        return len(self.truth)


def _photo(name: str) -> np.ndarray:
    from skimage import data

    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    v = img[:, :, :3].astype(np.float64) / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def drift(frames: int, height: int, width: int, name: str = "coffee", speed: float = 0.35, zoom: float = 0.035) -> list[np.ndarray]:
    """Linear-light frames of a slow diagonal drift with a slight zoom (`zoom` in all, spread
    over the clip) across a photo."""
    from scipy import ndimage

    src = _photo(name)
    scale = min(src.shape[0] / (height * 1.25), src.shape[1] / (width * 1.25))
    cy, cx = src.shape[0] / 2, src.shape[1] / 2
    out = []
    for t in range(frames):
        s = scale / (1.0 + zoom * t / max(frames - 1, 1))
        oy = cy - s * height / 2 + 0.4 * speed * t * s
        ox = cx - s * width / 2 + speed * t * s - 0.3 * width * s * 0.1
        planes = [ndimage.affine_transform(src[:, :, c], [s, s], offset=[oy, ox], output_shape=(height, width), order=3, mode="reflect") for c in range(3)]
        out.append(np.clip(np.stack(planes, axis=2), 0.0, None))
    return out


def fade_curve(frames: int, fade_frames: int, fade_to: float) -> np.ndarray:
    """Per frame: 0 before the fade, rising evenly to 1 at the last frame."""
    pos = np.zeros(frames)
    start = frames - fade_frames
    pos[start:] = np.arange(1, fade_frames + 1) / fade_frames
    return pos


def make_clip(
    frames: int = 24, height: int = 96, width: int = 128, plate: str = "display", fade_space: str = "display", fade_frames: int | None = None,
    fade_to: float = 0.35, gain_sd: float | None = None, offset_sd: float | None = None, seed: int = 0, name: str = "coffee",
    base: list[np.ndarray] | None = None,
) -> IndependentClip:
    """A clip as the module docstring says; `fade_space` 'none' for no fade; `fade_frames`
    defaults to the last third. The flicker defaults (`FLICKER`) give about 4-5% RMS in light
    on either plate (an ADX10 code value spans several times more light than a display one).
    `base`: other clean linear-light frames (real footage) instead of the drift."""
    gain_sd = FLICKER[plate][0] if gain_sd is None else gain_sd
    offset_sd = FLICKER[plate][1] if offset_sd is None else offset_sd
    rng = np.random.default_rng(seed)
    space = colour.canonical_name(PLATES[plate])
    disp = colour.canonical_name("srgb_tx")
    lin = colour.canonical_name("lin_srgb")
    base = drift(frames, height, width, name) if base is None else [np.asarray(b, dtype=np.float64) for b in base[:frames]]
    nf = frames // 3 if fade_frames is None else fade_frames
    pos = fade_curve(frames, nf, fade_to) if fade_space != "none" else np.zeros(frames)
    truth = []
    for t, f in enumerate(base):
        f32 = np.ascontiguousarray(f, dtype=np.float32)
        if fade_space == "light":
            f32 = f32 * np.float32(1.0 - (1.0 - fade_to) * pos[t])
        elif fade_space == "stops":
            f32 = f32 * np.float32(fade_to ** pos[t])
        elif fade_space == "display":
            d = colour.convert(np.clip(f32, 0.0, 1.0), lin, disp) * np.float32(1.0 - (1.0 - fade_to) * pos[t])
            f32 = colour.convert(np.ascontiguousarray(d), disp, lin)
        truth.append(np.ascontiguousarray(f32, dtype=np.float32))
    damaged = []
    for f in truth:
        enc = colour.convert(np.ascontiguousarray(f), lin, space)
        g, o = 1.0 + rng.normal(0.0, gain_sd), rng.normal(0.0, offset_sd)
        damaged.append(np.ascontiguousarray(np.maximum(enc * np.float32(g) + np.float32(o), 0.0), dtype=np.float32))
    fade = list(range(frames - nf, frames)) if fade_space != "none" else []
    unfaded = [float(np.mean(f.astype(np.float64) @ LUMA)) for f in base]
    return IndependentClip(truth, damaged, space, fade, unfaded, fade_space)


def linear_means(frames: list[np.ndarray], space: str) -> np.ndarray:
    """Frame-mean luminance in linear light of frames encoded in `space`."""
    lin = colour.canonical_name("lin_srgb")
    out = []
    for f in frames:
        x = f if colour.canonical_name(space) == lin else colour.convert(np.ascontiguousarray(f[:, :, :3]), space, lin)
        out.append(float(np.mean(x[:, :, :3].astype(np.float64) @ LUMA)))
    return np.array(out)


def scores(means: np.ndarray, truth_means: np.ndarray, fade: list[int]) -> dict[str, float]:
    """rms, f2f (frame to frame), and with a fade: fade_rms and depth (see the module docstring), in %."""
    e = np.log(np.asarray(means) / np.asarray(truth_means))
    e -= e.mean()
    out = {"rms": float(np.sqrt(np.mean(e**2)) * 100), "f2f": float(np.sqrt(np.mean(np.diff(e) ** 2) / 2) * 100)}
    if fade:
        steady = e[: fade[0]]
        late = e[fade[len(fade) // 2] :]
        out["fade_rms"] = float(np.sqrt(np.mean(e[fade] ** 2)) * 100)
        out["depth"] = float(np.expm1(late.mean() - steady.mean()) * 100)
    return out


FADE_POWER = {"display": 1.0 / 2.2, "light": 1.0, "stops": 0.0}  # the domain each fade is straight in (light to this power; 0: log)


def oracle(clip: IndependentClip, means: np.ndarray, searched: bool = False) -> np.ndarray:
    """The frame means (linear light) a method would give that knows the content's own
    brightness (the unfaded picture's), the fade's place and the space it was made in, and
    fits only its amounts (a constant, the fade's slope) to the flickered frame means by
    least squares there: the floor for anything that must measure the fade through the
    flicker. `searched`: the fade's first frame is not known but found (by least squares,
    over the second half of the clip), as any method must."""
    n = len(clip)
    ratio = np.asarray(means) / np.asarray(clip.unfaded)
    t = np.arange(n, dtype=np.float64)
    p = FADE_POWER.get(clip.fade_space, 0.0)
    z = ratio**p if p else np.log(ratio)
    places = ([clip.fade[0] - 1] if not searched else list(range(n // 2, n - 3))) if clip.fade else [None]
    best: tuple[float, np.ndarray] | None = None
    for k in places:
        x = np.stack([np.ones(n)] + ([np.maximum(t - k, 0.0)] if k is not None else []), axis=1)
        fit = x @ np.linalg.lstsq(x, z, rcond=None)[0]
        sse = float(((z - fit) ** 2).sum())
        if best is None or sse < best[0]:
            best = (sse, fit)
    assert best is not None
    return (np.maximum(best[1], 1e-9) ** (1.0 / p) if p else np.exp(best[1])) * np.asarray(clip.unfaded)
