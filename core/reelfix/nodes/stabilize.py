"""`stabilize`: removes gate weave while keeping intended camera moves.

Frame-to-frame global motion (translation, optionally rotation about the frame centre) is
estimated between consecutive frames of the window, and between frames `LONG_STEP` apart, on
a log-luma copy (phase correlation, then Gauss-Newton refinement; flicker does not bias it);
the positions relative to the centre frame that agree best with all those pairs
(`pair_positions`: least squares, so the pair errors do not add up along a chain) are the
trajectory. The trajectory is smoothed robustly over the window
(adaptive local-linear/constant fits, `global_motion.trend_at_zero`): pans and tilts are
followed, random weave is averaged out. The centre frame is moved by (smoothed - actual),
with a cubic filter; alpha, extra channels and upstream mattes move with the picture.

Uncovered borders are never black: `reflect` mirrors the picture at the edge; `neighbours`
takes the pixels from the nearest frames of the window that cover them (aligned by the
same trajectory), reflecting where none does. The filled pixels are the `stabilize`
matte; the shift, angle, fill and the crop that would remove every filled pixel are in
the frame's `reelfix:stabilize` metadata.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from collections import OrderedDict
from typing import Any

import cv2
import numpy as np

from .. import global_motion as gm
from ..pair_positions import positions
from ..frames.frame import Frame
from .spec import NodeContext, NodeSpec, Param, Window

WORK_SIDE = 640  # long side of the picture motion is estimated on
MIN_PEAK = 0.06  # phase-correlation peak below which a frame pair is not trusted
SIGMA_FLOOR = 0.02  # px: weave below this is not worth resampling for
KNOT_PENALTY = 5.0  # camera paths rarely kink within a window: weave must not look like one
LONG_STEP = 8  # frames: each frame is also measured against the one this far back (ties the path across the window)


def _warp(pix: np.ndarray, inverse: np.ndarray, interpolation: int, border: int) -> np.ndarray:
    """`pix` (H, W, C) resampled so that out(y) = pix(inverse @ y), at most 4 channels per call."""
    if pix.ndim == 2:
        return gm.warp_plane(pix, inverse, interpolation, border)
    parts = [gm.warp_plane(np.ascontiguousarray(pix[:, :, i : i + 4]), inverse, interpolation, border) for i in range(0, pix.shape[2], 4)]
    parts = [p[:, :, None] if p.ndim == 2 else p for p in parts]
    return np.concatenate(parts, axis=2) if len(parts) > 1 else parts[0]


def _outside(inverse: np.ndarray, h: int, w: int, band: int) -> np.ndarray:
    """How far (px, 0..1) outside the source frame each output pixel's source lies."""
    matte = np.zeros((h, w), dtype=np.float32)
    band = min(band, h // 2, w // 2)
    if band <= 0:
        return matte
    regions = [(slice(0, band), slice(0, w)), (slice(h - band, h), slice(0, w)),
               (slice(band, h - band), slice(0, band)), (slice(band, h - band), slice(w - band, w))]
    for rows, cols in regions:
        ys, xs = np.mgrid[rows, cols].astype(np.float64)
        sx = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
        sy = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
        out = np.maximum.reduce([-sx, sx - (w - 1), -sy, sy - (h - 1), np.zeros_like(sx)])
        matte[rows, cols] = np.minimum(out, 1.0)
    return matte


def _crop(correction: np.ndarray, h: int, w: int) -> list[int]:
    """Pixels to crop (left, top, right, bottom) so that no filled pixel remains."""
    c = correction @ np.array([[0, w - 1, 0, w - 1], [0, 0, h - 1, h - 1], [1, 1, 1, 1]], dtype=np.float64)
    left = max(c[0, 0], c[0, 2])
    right = min(c[0, 1], c[0, 3])
    top = max(c[1, 0], c[1, 1])
    bottom = min(c[1, 2], c[1, 3])
    return [int(np.ceil(max(0.0, v) - 1e-6)) for v in (left, top, (w - 1) - right, (h - 1) - bottom)]


def _move_layers(frame: Frame, inverse: np.ndarray) -> dict[str, np.ndarray]:
    """Auxiliary layers (e.g. degrain's grain) moved with the picture; a layer at another
    resolution (made before an upscale) gets the same move in its own pixels."""
    out = {}
    for name, layer in frame.layers.items():
        sy, sx = layer.shape[0] / frame.height, layer.shape[1] / frame.width
        s = np.array([[sx, 0.0, 0.5 * (sx - 1)], [0.0, sy, 0.5 * (sy - 1)], [0.0, 0.0, 1.0]])  # pixel centres
        moved = _warp(layer, s @ inverse @ np.linalg.inv(s), cv2.INTER_CUBIC, cv2.BORDER_REFLECT_101)
        out[name] = moved.reshape(layer.shape).astype(np.float32, copy=False)
    return out


class Stabilizer:
    """The per-job stabilize runner; per-frame luma and per-pair motion are computed once."""

    def __init__(self, params: dict[str, Any], ctx: NodeContext) -> None:
        self.params = params
        self.rotation: bool = params["rotation"]
        self.fill: str = params["fill"]
        self.max_shift: float = params["max_shift"]
        self._luma: dict[int, tuple[weakref.ref[np.ndarray], np.ndarray, bytes]] = {}
        self._pairs: OrderedDict[tuple[bytes, bytes], np.ndarray | None] = OrderedDict()

    def provenance(self) -> dict[str, Any]:
        return {"node": SPEC.name, "params": dict(self.params)}

    # ---------------------------------------------------------------- motion

    def _work(self, frame: Frame) -> tuple[np.ndarray, bytes, int]:
        key = id(frame.pixels)
        f = gm.factor_for(frame.height, frame.width, WORK_SIDE)
        hit = self._luma.get(key)
        if hit is not None and hit[0]() is frame.pixels:
            return hit[1], hit[2], f
        img = gm.log_luma(gm.block_mean(gm.luma(frame), f))
        digest = hashlib.blake2b(img.tobytes(), digest_size=16).digest()
        self._luma = {k: v for k, v in self._luma.items() if v[0]() is not None}
        self._luma[key] = (weakref.ref(frame.pixels), img, digest)
        return img, digest, f

    def _pair(self, a: Frame, b: Frame) -> np.ndarray | None:
        """Full-resolution rigid motion from frame a to frame b, or None if not trusted."""
        if a.pixels.shape[:2] != b.pixels.shape[:2]:
            return None
        la, da, f = self._work(a)
        lb, db, _ = self._work(b)
        key = (da + db, bytes([self.rotation]))
        if key in self._pairs:
            self._pairs.move_to_end(key)
            return self._pairs[key]
        m, peak = gm.estimate_rigid(la, lb, self.rotation, zoom=True)  # a zoom measured, so it pulls nothing
        centre = np.array([(la.shape[1] - 1) / 2, (la.shape[0] - 1) / 2, 1.0])
        m = gm.rigid_part(m, (centre[0], centre[1]))  # the path is rigid: the zoom is a camera move, kept
        moved = float(np.hypot(*(m @ centre - centre)[:2])) if np.all(np.isfinite(m)) else np.inf
        ok = peak >= MIN_PEAK and moved < 0.25 * min(la.shape)
        result = gm.to_full(m, f) if ok else None
        self._pairs[key] = result
        if len(self._pairs) > 2 * (2 * self.params["radius"] + 1) + 16:  # the window's neighbour and long-step pairs
            self._pairs.popitem(last=False)
        return result

    def trajectory(self, window: Window) -> dict[int, np.ndarray]:
        """For each frame s of the run around the centre joined by trusted neighbour pairs: the
        transform from the centre frame's pixels to frame s's pixels (identity for the centre),
        fitted to those pairs and to the trusted pairs `LONG_STEP` apart within the run."""
        t = window.number
        numbers = sorted(window.frames)
        i = numbers.index(t)
        pairs: dict[tuple[int, int], np.ndarray] = {}
        lo = hi = i
        while hi + 1 < len(numbers) and (m := self._pair(window.frames[numbers[hi]], window.frames[numbers[hi + 1]])) is not None:
            pairs[numbers[hi], numbers[hi + 1]] = m
            hi += 1
        while lo > 0 and (m := self._pair(window.frames[numbers[lo - 1]], window.frames[numbers[lo]])) is not None:
            pairs[numbers[lo - 1], numbers[lo]] = m
            lo -= 1
        run = numbers[lo : hi + 1]
        if len(run) < 2:
            return {t: np.eye(3)}
        members = set(run)
        for a in run:
            if a + LONG_STEP in members and (m := self._pair(window.frames[a], window.frames[a + LONG_STEP])) is not None:
                pairs[a, a + LONG_STEP] = m
        frame = window.centre
        return positions(run, pairs, t, ((frame.width - 1) / 2, (frame.height - 1) / 2))

    def correction(self, window: Window) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """(C, trajectory): C moves the centre frame's content onto the smoothed path."""
        frame = window.centre
        h, w = frame.height, frame.width
        centre = ((w - 1) / 2, (h - 1) / 2)
        traj = self.trajectory(window)
        if len(traj) < 2:
            return np.eye(3), traj
        radius = 0.5 * float(np.hypot(w, h))
        times = sorted(traj)
        vals = np.array([gm.rigid_params(traj[s], centre) for s in times])
        vals[:, 2] *= radius  # the angle as the displacement at the corners, in px
        sigma = gm.noise_sigma(times, vals, SIGMA_FLOOR)
        # no steps: a camera's path does not jump from one frame to the next; a jump there is a jolt of the
        # film (weave: two or three large offsets the same way were followed as a move, docs/bench/stabilize.md)
        tx, ty, arc = gm.trend_at_zero([s - window.number for s in times], vals, sigma, knot_penalty=KNOT_PENALTY, steps=False)
        shift = float(np.hypot(tx, ty))
        if shift > self.max_shift:
            tx, ty = tx * self.max_shift / shift, ty * self.max_shift / shift
        arc = float(np.clip(arc, -self.max_shift, self.max_shift)) if self.rotation else 0.0
        return gm.rigid(tx, ty, arc / radius, centre), traj

    # ---------------------------------------------------------------- pictures

    def process(self, window: Window) -> Frame:
        frame = window.centre
        h, w = frame.height, frame.width
        corr, traj = self.correction(window)
        tx, ty, angle = gm.rigid_params(corr, ((w - 1) / 2, (h - 1) / 2))
        moved = abs(tx) > 1e-4 or abs(ty) > 1e-4 or abs(angle) * max(h, w) > 1e-4
        inverse = np.linalg.inv(corr)
        if moved:
            pix = _warp(frame.pixels, inverse, cv2.INTER_CUBIC, cv2.BORDER_REFLECT_101)
            a = frame.alpha_index
            if a is not None:  # alpha keeps its range (cubic overshoot would leave it)
                lo, hi = float(frame.pixels[:, :, a].min()), float(frame.pixels[:, :, a].max())
                pix[:, :, a] = np.clip(pix[:, :, a], lo, hi)
            corners = inverse @ np.array([[0, w - 1, 0, w - 1], [0, 0, h - 1, h - 1], [1, 1, 1, 1]], dtype=np.float64)
            band = int(np.ceil(np.abs(corners[:2] - np.array([[0, w - 1, 0, w - 1], [0, 0, h - 1, h - 1]])).max())) + 2
            matte = _outside(inverse, h, w, band)
        else:
            pix = frame.pixels.copy()
            matte = np.zeros((h, w), dtype=np.float32)
        neighbour_px = 0
        if moved and self.fill == "neighbours" and matte.any():
            neighbour_px = self._fill_from_neighbours(window, traj, inverse, pix, matte)
        mattes = {
            name: np.clip(_warp(m, inverse, cv2.INTER_LINEAR, cv2.BORDER_REFLECT_101), 0.0, 1.0) if moved else m.copy()
            for name, m in frame.mattes.items()
        }
        mattes["stabilize"] = matte
        out = frame.with_pixels(pix, mattes=mattes, layers=_move_layers(frame, inverse) if moved else dict(frame.layers))
        filled = int(np.count_nonzero(matte))
        out.metadata["reelfix:stabilize"] = json.dumps(
            {
                "shift": [round(tx, 4), round(ty, 4)],
                "angle": round(float(np.degrees(angle)), 5),
                "crop": _crop(corr, h, w),
                "fill": self.fill,
                "filled_px": filled,
                "from_neighbours_px": neighbour_px,
                "frames": len(traj),
            },
            separators=(",", ":"),
        )
        return out

    def _fill_from_neighbours(self, window: Window, traj: dict[int, np.ndarray], inverse: np.ndarray, pix: np.ndarray, matte: np.ndarray) -> int:
        """Replace filled pixels (blended by the matte) with the nearest neighbour covering them."""
        h, w = matte.shape
        ys, xs = np.nonzero(matte)
        need = np.ones(ys.size, dtype=bool)
        done = 0
        for s in sorted((s for s in traj if s != window.number), key=lambda s: (abs(s - window.number), s)):
            m = traj[s] @ inverse  # output pixel -> position in frame s
            px, py = xs[need].astype(np.float64), ys[need].astype(np.float64)
            sx = m[0, 0] * px + m[0, 1] * py + m[0, 2]
            sy = m[1, 0] * px + m[1, 1] * py + m[1, 2]
            inside = (sx >= 0) & (sx <= w - 1) & (sy >= 0) & (sy <= h - 1)
            if not inside.any():
                continue
            maps = (sx[inside].astype(np.float32)[None, :], sy[inside].astype(np.float32)[None, :])
            src = window.frames[s].pixels
            vals = np.concatenate(
                [np.atleast_3d(cv2.remap(np.ascontiguousarray(src[:, :, i : i + 4]), *maps, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE))
                 for i in range(0, src.shape[2], 4)],
                axis=2,
            )[0]
            sel = np.flatnonzero(need)[inside]
            yy, xx = ys[sel], xs[sel]
            a = matte[yy, xx][:, None]
            pix[yy, xx] = (1 - a) * pix[yy, xx] + a * vals
            need[sel] = False
            done += int(sel.size)
            if not need.any():
                break
        return done


SPEC = NodeSpec(
    name="stabilize",
    label="Stabilize",
    help="Removes gate weave (random frame shifts, optionally rotation), keeping intended camera moves; borders filled without black edges.",
    params=(
        Param("radius", int, 24, "frames each side the camera path is smoothed over (more: steadier, more memory)", min=1, max=48),
        Param("rotation", bool, True, "also remove rotational weave (about the frame centre)"),
        Param(
            "fill",
            str,
            "reflect",
            "uncovered borders: 'reflect' mirrors the picture at the edge; 'neighbours' takes them from the nearest aligned frames",
            choices=("reflect", "neighbours"),
        ),
        Param("max_shift", float, 16.0, "largest correction in pixels (bigger ones are clamped: a real camera move)", min=0.0),
    ),
    keeps_brightness=True,
    factory=lambda params, ctx: Stabilizer(params, ctx),
    radius=lambda params: params["radius"],
)
