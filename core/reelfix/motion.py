"""Shared motion: dense optical flow between two frames, warping, and a per-pair cache.

Every temporal node (dustbust, scratch, degrain) aligns neighbours to the centre frame
through this module, so a pair's flow is estimated once and shared:

- Flow is estimated with OpenCV's DIS optical flow on a perceptual luma (the picture
  channels' luma, encoded from scene-linear to a display-like curve where the colour space
  is scene-linear), downscaled so its long side is at most `FLOW_MAX_SIDE`.
- For each unordered pair only one direction is estimated (earlier frame -> later frame);
  the other is its numerical inverse. So a window of radius r costs r new flows per frame.
- The cache is keyed by a digest of the exact luma used, never by frame number alone, so a
  result depends only on the two frames' content: a farm chunk and a whole local run give
  identical frames, and two nodes fed the same frames share the work.

Conventions: `flow(a, b)[y, x] = (dx, dy)` such that `b(x + dx, y + dy)` shows what
`a(x, y)` shows, and `warp(b_pixels, flow(a, b))` is b aligned to a.
"""

from __future__ import annotations

import hashlib
import threading
import time
import weakref
from collections import OrderedDict
from functools import lru_cache
from typing import Callable

import cv2
import numpy as np

from .frames.frame import Frame, picture_indices

FLOW_MAX_SIDE = 1024  # long side of the luma the flow is estimated on
CACHE_PAIRS = 16  # canonical (low-resolution) flows kept
INVERSE_ITERATIONS = 4
MAP_WIDTH = 4096  # points per row of the maps `sample_at` hands to cv2.remap
CHUNK = 1 << 20  # values per step of `perceptual` (bounds its temporaries)
AT_ROWS = 64  # field rows resized in width at a time for `Upsampled.at` (points spread over a frame)
LUMA_MEMO_BYTES = 64 * 1024**2  # a frame's full-resolution luma is kept beside it only up to this size
_LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)

_lock = threading.RLock()
_flows: OrderedDict[tuple[bytes, bytes, tuple[int, int]], np.ndarray] = OrderedDict()
_luma_memo: dict[int, tuple[weakref.ref[np.ndarray], np.ndarray | None, np.ndarray, bytes]] = {}
stats = {"estimated": 0, "reused": 0, "seconds": 0.0}


@lru_cache(maxsize=64)
def is_scene_linear(colorspace: str) -> bool:
    """Whether a colour space holds scene-linear light (from the OCIO config's encoding;
    by name when the config does not know it)."""
    if not colorspace:
        return False
    try:
        from . import colour

        cs = colour.get_config().getColorSpace(colour.canonical_name(colorspace))
        encoding = str(cs.getEncoding()) if cs is not None else ""
        if encoding:
            return encoding == "scene-linear"
    except Exception:  # noqa: BLE001 - an unknown name falls back to its spelling
        pass
    name = colorspace.lower()
    return any(k in name for k in ("lin", "acescg", "aces2065", "scene"))


def perceptual(values: np.ndarray, linear: bool, in_place: bool = False) -> np.ndarray:
    """Values on a display-like scale where equal steps look about equal: scene-linear light
    goes through an sRGB-like curve (continued as a power above 1, sign kept); display and
    log encodings are already perceptual and pass as they are. `in_place`: over `values` (a
    contiguous float32 array the caller made for this), not beside them."""
    v = np.asarray(values, dtype=np.float32)
    if not linear:
        return v
    flat = np.ascontiguousarray(v).reshape(-1)
    res = flat if in_place and v is values and v.flags.c_contiguous else np.empty(flat.shape, np.float32)
    # in runs of CHUNK values: the same values (element by element) without a whole frame's
    # worth of temporaries per step (an 8K plate's took gigabytes)
    for i in range(0, flat.size, CHUNK):
        x = flat[i : i + CHUNK]
        a = np.abs(x)
        out = np.where(a <= 0.0031308, a * 12.92, 1.055 * np.power(np.maximum(a, 1e-12), 1 / 2.4) - 0.055)
        res[i : i + CHUNK] = np.sign(x) * out
    return res.reshape(v.shape)


def _luma(frame: Frame, pix: np.ndarray | None = None) -> np.ndarray:
    """Half pixels (a frame held as read) in float32, the same values as cast first (numpy 1.x
    would keep float16 products)."""
    pix = frame.pixels if pix is None else pix
    idx = picture_indices(frame.channels)
    if len(idx) >= 3:
        dt = np.float32 if pix.dtype == np.float16 else None
        y = np.multiply(pix[:, :, idx[0]], np.float32(_LUMA_WEIGHTS[0]), dtype=dt)
        step = max(1, CHUNK // max(1, pix.shape[1]))  # rows at a time: no whole-plane temporary (8K: 133 MB)
        for r in range(0, len(y), step):
            y[r : r + step] += np.multiply(pix[r : r + step, :, idx[1]], np.float32(_LUMA_WEIGHTS[1]), dtype=dt)
            y[r : r + step] += np.multiply(pix[r : r + step, :, idx[2]], np.float32(_LUMA_WEIGHTS[2]), dtype=dt)
        return y
    return np.array(pix[:, :, idx[0] if idx else 0], dtype=np.float32)


def flow_scale(height: int, width: int) -> float:
    return min(1.0, FLOW_MAX_SIDE / max(height, width))


def _prepare(frame: Frame) -> tuple[np.ndarray | None, np.ndarray, bytes]:
    """(perceptual luma HxW, 8-bit low-resolution luma for flow, its digest), memoised per
    pixel array for as long as that array lives."""
    pix = frame.pixels
    key = id(pix)
    with _lock:
        hit = _luma_memo.get(key)
        if hit is not None and hit[0]() is pix:
            return hit[1], hit[2], hit[3]
    q = perceptual(_luma(frame), is_scene_linear(frame.colorspace), in_place=True)
    s = flow_scale(frame.height, frame.width)
    small = q if s == 1.0 else cv2.resize(q, (round(frame.width * s), round(frame.height * s)), interpolation=cv2.INTER_AREA)
    u8 = np.clip(np.rint(small * 255.0), 0, 255).astype(np.uint8)
    digest = hashlib.blake2b(u8.tobytes(), digest_size=16).digest() + np.int64(frame.number).tobytes()
    with _lock:
        for k in [k for k, v in _luma_memo.items() if v[0]() is None]:
            del _luma_memo[k]
        # a big frame's luma is not kept (every frame of a temporal window held one: 133 MB each
        # at 8K); it is made again when asked for, the same values
        _luma_memo[key] = (weakref.ref(pix), q if q.nbytes <= LUMA_MEMO_BYTES else None, u8, digest)
    return q, u8, digest


def perceptual_luma(frame: Frame) -> np.ndarray:
    """The frame's luma on a perceptual scale (see `perceptual`), HxW float32. Do not modify."""
    q = _prepare(frame)[0]
    return q if q is not None else perceptual(_luma(frame), is_scene_linear(frame.colorspace), in_place=True)


def _kept_luma(frame: Frame) -> np.ndarray | None:
    """The frame's full-resolution luma where it is kept (see LUMA_MEMO_BYTES), else None."""
    with _lock:
        hit = _luma_memo.get(id(frame.pixels))
    return hit[1] if hit is not None and hit[0]() is frame.pixels else None


def luma_rows(frame: Frame, y0: int, y1: int, x0: int = 0, x1: int | None = None) -> np.ndarray:
    """`perceptual_luma(frame)[y0:y1, x0:x1]` (do not modify), the same values: from the kept
    luma, or made from those pixels alone."""
    q = _kept_luma(frame)
    if q is not None:
        return q[y0:y1, x0:x1]
    return perceptual(_luma(frame, frame.pixels[y0:y1, x0:x1]), is_scene_linear(frame.colorspace))


def luma_at(frame: Frame, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """`perceptual_luma(frame)[ys, xs]`, the same values, made from those pixels alone."""
    q = _kept_luma(frame)
    if q is not None:
        return q[ys, xs]
    return perceptual(_luma(frame, frame.pixels[ys, xs][:, None, :]), is_scene_linear(frame.colorspace))[:, 0]


def _dis(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if max(a.shape) < 12:  # OpenCV's DIS needs a side of 12 px; a frame this small has no motion to find
        return np.zeros((*a.shape, 2), np.float32)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)  # type: ignore[attr-defined]
    dis.setGradientDescentIterations(16)
    if max(a.shape) <= FLOW_MAX_SIDE // 2:  # small frames: patches down to full resolution
        dis.setFinestScale(0)
    if min(a.shape) < 48:  # tiny frames: smaller patches
        dis.setPatchSize(4)
        dis.setPatchStride(2)
    return dis.calc(a, b, None)


def _identity(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.indices((h, w), dtype=np.float32)
    return xs, ys


def invert(flow: np.ndarray, iterations: int = INVERSE_ITERATIONS) -> np.ndarray:
    """The inverse of a flow field by fixed-point iteration: g(y) = -f(y + g(y))."""
    h, w = flow.shape[:2]
    xs, ys = _identity(h, w)
    g = -flow
    for _ in range(iterations):
        g = -cv2.remap(flow, xs + g[:, :, 0], ys + g[:, :, 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(g, dtype=np.float32)


def _canonical(a: Frame, b: Frame) -> tuple[np.ndarray, bool]:
    """The low-resolution flow of the pair in its canonical direction (earlier -> later
    frame, ties by digest), estimated once; and whether (a, b) is that direction."""
    _, ua, da = _prepare(a)
    _, ub, db = _prepare(b)
    forward = (a.number, da) <= (b.number, db)
    key = (da, db, ua.shape) if forward else (db, da, ua.shape)
    with _lock:
        hit = _flows.get(key)
        if hit is not None:
            _flows.move_to_end(key)
            stats["reused"] += 1
            return hit, forward
    t0 = time.perf_counter()
    f = _dis(ua, ub) if forward else _dis(ub, ua)
    with _lock:
        stats["estimated"] += 1
        stats["seconds"] += time.perf_counter() - t0
        _flows[key] = f
        while len(_flows) > CACHE_PAIRS:
            _flows.popitem(last=False)
    return f, forward


def flow_lowres(a: Frame, b: Frame) -> np.ndarray:
    """Flow a -> b at the estimation resolution (in low-resolution pixels)."""
    if a.pixels.shape[:2] != b.pixels.shape[:2]:
        raise ValueError(f"frames {a.number} and {b.number} differ in size")
    f, forward = _canonical(a, b)
    return f if forward else invert(f)


def flow(a: Frame, b: Frame) -> np.ndarray:
    """Dense flow (H, W, 2) from frame a to frame b at a's full resolution."""
    low = flow_lowres(a, b)
    s = flow_scale(a.height, a.width)
    if s == 1.0:
        return low
    full = cv2.resize(low, (a.width, a.height), interpolation=cv2.INTER_LINEAR)
    return np.multiply(full, 1.0 / s, dtype=np.float32)


def warp(img: np.ndarray, flow_: np.ndarray, interpolation: int = cv2.INTER_CUBIC) -> np.ndarray:
    """`img` (H, W[, C]) resampled at x + flow(x): a neighbour aligned to the flow's frame.
    Borders repeat the nearest pixel; the result is float32 and never clipped."""
    h, w = flow_.shape[:2]
    xs, ys = _identity(h, w)
    src = np.ascontiguousarray(img, dtype=np.float32)
    if src.ndim == 3 and src.shape[2] > 4:
        return np.stack([warp(src[:, :, c], flow_, interpolation) for c in range(src.shape[2])], axis=2)
    out = cv2.remap(src, xs + flow_[:, :, 0], ys + flow_[:, :, 1], interpolation, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(src.shape) if out.ndim != src.ndim else out


def sample(img: np.ndarray, flow_: np.ndarray, ys: np.ndarray, xs: np.ndarray, interpolation: int = cv2.INTER_CUBIC) -> np.ndarray:
    """`warp(img, flow)` at the pixels (ys, xs) only: (N, C) float32 (cheap for sparse repairs)."""
    return sample_at(img, ys, xs, flow_[ys, xs], interpolation)


def sample_rows(source: Crop, shape: tuple[int, int], ys: np.ndarray, xs: np.ndarray, offsets: np.ndarray, interpolation: int = cv2.INTER_CUBIC) -> np.ndarray:
    """`sample_at(img, ys, xs, offsets)` for an image of `shape` that `source(a, b, c, d)`
    gives the part [a:b, c:d] of: only the part the points reach is asked for."""
    if not len(ys):
        return sample_at(source(0, 1, 0, 1), ys, xs, offsets, interpolation)
    (top, bottom), (left, right) = _reach(ys.astype(np.float32) + offsets[:, 1], shape[0]), _reach(xs.astype(np.float32) + offsets[:, 0], shape[1])
    return sample_at(source(top, bottom, left, right), ys, xs, offsets, interpolation, origin=(top, left))


def sample_at(
    img: np.ndarray, ys: np.ndarray, xs: np.ndarray, offsets: np.ndarray, interpolation: int = cv2.INTER_CUBIC, origin: tuple[int, int] = (0, 0)
) -> np.ndarray:
    """`img` (H, W[, C]) resampled at (xs + offsets[:, 0], ys + offsets[:, 1]): (N, C) float32.
    With `origin` (y, x), `img` is the part of the image the points refer to from there on."""
    channels = 1 if img.ndim == 2 else img.shape[2]
    n = len(ys)
    if not n:
        return np.zeros((0, channels), np.float32)
    # remap's maps must be under 32767 (SHRT_MAX) rows and columns: the points go in rows of
    # MAP_WIDTH (a one-column map of more points than that fails OpenCV's assertion)
    rows = -(-n // MAP_WIDTH)
    width = min(n, MAP_WIDTH)
    mx = np.zeros(rows * width, np.float32)
    my = np.zeros(rows * width, np.float32)
    mx[:n] = xs.astype(np.float32) + offsets[:, 0]
    my[:n] = ys.astype(np.float32) + offsets[:, 1]
    if origin != (0, 0):
        mx[:n] -= np.float32(origin[1])
        my[:n] -= np.float32(origin[0])
    mx, my = mx.reshape(rows, width), my.reshape(rows, width)
    src = img if img.dtype == np.float32 and img.flags.c_contiguous else np.ascontiguousarray(img, dtype=np.float32)
    parts = [
        cv2.remap(np.ascontiguousarray(src if channels <= 4 else src[:, :, c : c + 4]), mx, my, interpolation, borderMode=cv2.BORDER_REPLICATE)
        for c in range(0, channels if channels > 4 else 1, 4)
    ]
    return np.concatenate([p.reshape(rows * width, -1)[:n] for p in parts], axis=1)


class Upsampled:
    """`cv2.resize(field, (width, height), interpolation=cv2.INTER_LINEAR)` (times `gain`),
    made a few rows (`rows`) or points (`at`) at a time, the same values bit for bit, while
    holding only the field: OpenCV's own horizontal pass of just the field rows a call needs (a
    row's pass depends on that row alone), then its vertical blend `S0 * b0 + S1 * b1` in float32
    with its coefficients (a whole 8K flow field is 265 MB; even resized in width only, dustbust's
    four held 0.19 GiB)."""

    def __init__(self, field: np.ndarray, height: int, width: int, gain: float | None = None) -> None:
        h, w = field.shape[:2]
        self.height, self.width, self.gain, self.field = height, width, gain, field
        self.same = (h, w) == (height, width)
        fy = ((np.arange(height, dtype=np.float64) + 0.5) * (1.0 / (height / h)) - 0.5).astype(np.float32)
        sy = np.floor(fy)
        self.b1 = (fy - sy).astype(np.float32)
        self.b0 = np.float32(1.0) - self.b1
        self.r0 = np.clip(sy.astype(np.int64), 0, h - 1)
        self.r1 = np.clip(sy.astype(np.int64) + 1, 0, h - 1)

    def _finish(self, v: np.ndarray) -> np.ndarray:
        return v if self.gain is None else np.multiply(v, self.gain, dtype=np.float32)

    def _blend(self, ys: np.ndarray, xs: np.ndarray | slice) -> np.ndarray:
        """The values at rows `ys` (columns `xs`: a slice for all of them, or one per row), from
        the field rows they need, resized in width (as the whole field's pass gives them)."""
        if not len(ys):
            cols = (len(range(self.width)[xs]),) if isinstance(xs, slice) else ()
            return np.zeros((0,) + cols + self.field.shape[2:], np.float32)
        need, at = np.unique(np.concatenate([self.r0[ys], self.r1[ys]]), return_inverse=True)
        wide = self.field[need]
        if wide.shape[1] != self.width:
            wide = cv2.resize(wide, (self.width, len(need)), interpolation=cv2.INTER_LINEAR).reshape((len(need), self.width) + wide.shape[2:])
        shape = (-1,) + (1,) * (wide.ndim - 1 if isinstance(xs, slice) else wide.ndim - 2)
        v = wide[at[: len(ys)], xs] * self.b0[ys].reshape(shape)
        v += wide[at[len(ys) :], xs] * self.b1[ys].reshape(shape)
        return self._finish(v)

    def rows(self, y0: int, y1: int, x0: int = 0, x1: int | None = None) -> np.ndarray:
        """Rows y0..y1-1 (columns x0..x1-1), a new array."""
        if self.same:
            return self._finish(self.field[y0:y1, x0:x1].copy())
        return self._blend(np.arange(y0, min(y1, self.height)), slice(x0, x1))

    def at(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """The values at points (ys, xs), made AT_ROWS field rows at a time."""
        if self.same:
            return self._finish(self.field[ys, xs])
        out = np.empty((len(ys),) + self.field.shape[2:], np.float32)
        order = np.argsort(ys, kind="stable")
        low = self.r0[ys[order]]
        edges = np.searchsorted(low, np.arange(0, self.field.shape[0] + AT_ROWS, AT_ROWS))
        for a, b in zip(edges[:-1], edges[1:]):
            if b > a:
                pick = order[a:b]
                out[pick] = self._blend(ys[pick], xs[pick])
        return out


def flow_field(a: Frame, b: Frame) -> Upsampled:
    """`flow(a, b)` a few rows or points at a time (see `Upsampled`), the same values."""
    low = flow_lowres(a, b)
    s = flow_scale(a.height, a.width)
    return Upsampled(low, a.height, a.width, None if s == 1.0 else 1.0 / s)


Crop = Callable[[int, int, int, int], np.ndarray]  # (y0, y1, x0, x1) -> that part of an image


def _reach(m: np.ndarray, length: int) -> tuple[int, int]:
    """The span of source pixels a resampling at coordinates `m` reads along one axis (cubic
    taps, with remap's rounding to its grid of 1/32 px)."""
    lo = min(max(int(np.floor(m.min())) - 3, 0), length - 1)
    return lo, max(min(int(np.ceil(m.max())) + 4, length), lo + 1)


def warp_rows(source: Crop, shape: tuple[int, int], y0: int, flow_rows: np.ndarray, interpolation: int = cv2.INTER_CUBIC, x0: int = 0) -> np.ndarray:
    """`warp(img, flow)[y0 : y0 + n, x0 : x0 + w]` given that part (n x w) of the flow, for an
    image of `shape` (height, width) that `source(a, b, c, d)` gives the part [a:b, c:d] of:
    only the part the displaced positions reach is asked for (remap's result at a pixel
    depends on its map value and the source around it alone, and the crop's offset is taken
    off the map exactly: an integer off a float32 that holds it, on its grid)."""
    n, w = flow_rows.shape[:2]
    mx = np.arange(x0, x0 + w, dtype=np.float32)[None, :] + flow_rows[:, :, 0]
    my = np.arange(y0, y0 + n, dtype=np.float32)[:, None] + flow_rows[:, :, 1]
    (top, bottom), (left, right) = _reach(my, shape[0]), _reach(mx, shape[1])
    my -= np.float32(top)
    mx -= np.float32(left)
    src = np.ascontiguousarray(source(top, bottom, left, right), dtype=np.float32)
    if src.ndim == 3 and src.shape[2] > 4:
        return np.stack([cv2.remap(np.ascontiguousarray(src[:, :, c]), mx, my, interpolation, borderMode=cv2.BORDER_REPLICATE) for c in range(src.shape[2])], axis=2)
    out = cv2.remap(src, mx, my, interpolation, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape((n, w) + src.shape[2:]) if out.ndim != src.ndim else out


def aligned_luma(a: Frame, b: Frame) -> tuple[np.ndarray, np.ndarray]:
    """(b's perceptual luma aligned to a, the flow a -> b used), both at a's resolution."""
    f = flow(a, b)
    return warp(perceptual_luma(b), f), f


def clear_cache() -> None:
    with _lock:
        _flows.clear()
        _luma_memo.clear()
        stats.update(estimated=0, reused=0, seconds=0.0)
