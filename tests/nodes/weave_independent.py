"""Gate weave made apart from `stabilize`'s own clips (flicker_clips.weave_clip: a new random
shift every frame, independent of the last, and a constant-speed pan over the astronaut).

Film's weave is not drawn afresh each frame. The film rides the gate's edge guide, so the
lateral weave wanders: each frame's offset follows the last one's (an AR(1) process; `WEAVES`:
a correlation of 0.3 between neighbouring frames where a pin registers each frame, 0.85 for a
slow wander); the vertical bounce follows the perforations, with a part that comes back every
4 frames (a 4-perf pull-down) over its own wander; the rotation is a small wander too. Intended camera moves are not straight
lines either: a pan that eases in and out (smoothstep), and a slow push-in (a zoom about the
centre, which a rigid model of motion does not describe). The pictures: scikit-image's
`coffee` (CC0; the node's clips use the astronaut), resampled with Lanczos, and real footage
(opencv-doc's vtest.avi: a static camera, people walking, whose own motion must not move the
frame) shaken by the same weave. Grain: signal-dependent (Poisson-like) noise, new each frame.
The intended frames are kept as the truth and the weave as drawn, so a stabiliser's residual
is known exactly (flicker_clips.residual_motion) and can be checked from the pixels too."""

from __future__ import annotations

import numpy as np

from reelfix.global_motion import rigid
from tests.nodes import flicker_clips as fc

CAMERAS = ("static", "eased pan", "push-in")
# frame-to-frame correlation of the lateral, vertical and rotational wander, per kind of weave
WEAVES = {"registration jitter": (0.3, 0.3, 0.5), "slow wander": (0.85, 0.6, 0.9)}
PERF_PERIOD = 4  # frames: the perforation pull-down's repeat
EASED_TRAVEL = (0.6, 0.2)  # px per frame on average, x and y, of the eased pan


def wander(n: int, rho: float, rms: float, rng: np.random.Generator) -> np.ndarray:
    """A stationary AR(1) series of `n` values: each is `rho` x the last plus fresh noise, RMS `rms`."""
    out = np.empty(n)
    out[0] = rng.normal(0.0, rms)
    fresh = rms * np.sqrt(1.0 - rho**2)
    for t in range(1, n):
        out[t] = rho * out[t - 1] + rng.normal(0.0, fresh)
    return out


def film_weave(n: int, seed: int, kind: str = "slow wander", lateral: float = 1.2, bounce: float = 0.5, perf: float = 0.3, angle_deg: float = 0.02) -> np.ndarray:
    """(n, 3): tx, ty (px) and the angle (radians) of each frame's weave, as flicker_clips.WeaveClip holds it."""
    rho_x, rho_y, rho_a = WEAVES[kind]
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0.0, 2 * np.pi)
    t = np.arange(n)
    weave = np.zeros((n, 3))
    weave[:, 0] = wander(n, rho_x, lateral, rng)
    weave[:, 1] = wander(n, rho_y, bounce, rng) + perf * np.sqrt(2.0) * np.sin(2 * np.pi * t / PERF_PERIOD + phase)
    weave[:, 2] = np.radians(wander(n, rho_a, angle_deg, rng))
    return weave


def cameras(kind: str, n: int, height: int, width: int, travel: tuple[float, float]) -> list[np.ndarray]:
    """3x3 maps from output to source pixels: held still, an eased pan (covering `travel` px per
    frame on average, slow at both ends), or a push-in (0.1% closer each frame, about the centre)."""
    start = np.array([24.0, 24.0])
    centre = ((width - 1) / 2, (height - 1) / 2)
    out = []
    for t in range(n):
        s = t / max(1, n - 1)
        ease = s * s * (3 - 2 * s)  # smoothstep: 0 -> 1, no speed at either end
        cam = rigid(start[0], start[1], 0.0, (0.0, 0.0))
        if kind == "eased pan":
            cam = rigid(start[0] + travel[0] * (n - 1) * ease, start[1] + travel[1] * (n - 1) * ease, 0.0, (0.0, 0.0))
        elif kind == "push-in":
            k = 1.0 / (1.0 + 0.001 * t)  # the source region shrinks: the picture grows
            zoom = np.array([[k, 0, centre[0] * (1 - k)], [0, k, centre[1] * (1 - k)], [0, 0, 1.0]])
            cam = cam @ zoom
        elif kind != "static":
            raise ValueError(f"unknown camera {kind!r}; choose from {', '.join(CAMERAS)}")
        out.append(cam)
    return out


def _grain(frames: list[np.ndarray], rng: np.random.Generator, gain: float = 4e-4, floor: float = 0.003) -> list[np.ndarray]:
    """Signal-dependent noise (variance gain x value + floor^2, in linear light), new each frame."""
    return [(f + np.sqrt(gain * np.maximum(f, 0.0) + floor**2) * rng.standard_normal(f.shape[:2]).astype(np.float32)[:, :, None]).astype(np.float32)
            for f in frames]  # fmt: skip


def photo_clip(kind: str, frames: int, height: int, width: int, seed: int = 0, weave_kind: str = "slow wander", name: str = "coffee") -> fc.WeaveClip:
    """A real photo under camera `kind` (`CAMERAS`), shaken by `film_weave` of `weave_kind`, with grain."""
    weave = film_weave(frames, seed, weave_kind)
    travel = EASED_TRAVEL if kind == "eased pan" else (0.0, 0.0)
    src = fc.enlarged(name, height, width, frames, travel)
    cams = cameras(kind, frames, height, width, travel)
    centre = ((width - 1) / 2, (height - 1) / 2)
    truth = fc.render(src, cams, height, width)
    damaged = fc.render(src, [cam @ np.linalg.inv(rigid(*w, centre)) for cam, w in zip(cams, weave)], height, width)
    return fc.WeaveClip(truth, _grain(damaged, np.random.default_rng(seed + 1000)), weave, travel)


def footage_clip(frames: int, width: int = 256, seed: int = 0, weave_kind: str = "slow wander") -> fc.WeaveClip | None:
    """vtest.avi (static camera, people walking) shaken by `film_weave`, with grain; None if absent."""
    truth = fc.footage_linear(frames, width)
    if truth is None:
        return None
    h, w = truth[0].shape[:2]
    weave = film_weave(frames, seed, weave_kind)
    centre = ((w - 1) / 2, (h - 1) / 2)
    damaged = [fc.render(f, [np.linalg.inv(rigid(*wv, centre))], h, w)[0] for f, wv in zip(truth, weave)]
    return fc.WeaveClip(truth, _grain(damaged, np.random.default_rng(seed + 1000)), weave, (0.0, 0.0))
