"""float32 <-> half float for EXR I/O, with OpenCV's F16C casts where they give numpy's bits.

OpenImageIO converts between half and float itself when asked for the other type, at about
5 ns a value (a 2K RGB frame: ~30 ms of CPU to read, ~80 ms to write); OpenCV's casts take a
tenth of that. Both directions keep numpy's values bit for bit (tests/frames/test_half_cast.py).
"""

from __future__ import annotations

import cv2
import numpy as np

from reelfix import buffers
from reelfix.frames.frame import Frame
from reelfix.parallel import over_rows

HALF_MAX = 65504.0  # half float's largest finite value


def from_half(data: np.ndarray) -> np.ndarray:
    """float32 copy of a float16 array (exact: every half is a float32), any shape."""
    if not data.size:
        return data.astype(np.float32)
    rows = (len(data), -1) if data.ndim > 1 else (1, -1)
    out = buffers.empty(data.shape, np.float32)
    dst = out.reshape(rows)
    got = cv2.multiply(np.ascontiguousarray(data).reshape(rows), 1.0, dst=dst, dtype=cv2.CV_32F)
    if got is not dst:  # (never seen: OpenCV fills a contiguous dst of the right size and type in place)
        dst[...] = got
    return out


def widened(frame: Frame) -> Frame:
    """The frame with float32 pixels: one held at its file's half precision (`read_image(keep_half=True)`)
    cast, exactly; any other as it is."""
    return frame.with_pixels(from_half(frame.pixels)) if frame.pixels.dtype == np.float16 else frame


def exact_half(pixels: np.ndarray) -> np.ndarray | None:
    """A float32 array (HxW or HxWxC) as float16 when every value is a finite half exactly (as read
    from a half EXR), else None: the two F16C casts, one comparison and a sum."""
    flat = pixels.reshape(len(pixels), -1) if pixels.ndim > 1 else pixels.reshape(1, -1)
    half = cv2.multiply(flat, 1.0, dtype=cv2.CV_16F)
    with np.errstate(over="ignore", invalid="ignore"):
        if not np.isfinite(flat.sum(dtype=np.float32)) or not np.array_equal(from_half(half), flat):
            return None
    return half.reshape(pixels.shape)


def within_half(rows: np.ndarray) -> bool:
    """Every value of a 2-D float32 array finite and within +-65504: a finite float32 sum (NaN and
    Inf carry through it; values within the half range cannot overflow it, so a sum that did held
    larger ones) and OpenCV's largest magnitude (one pass; it skips NaN, the sum does not): half
    the CPU of numpy's min and max."""
    with np.errstate(over="ignore", invalid="ignore"):
        finite = bool(np.isfinite(rows.sum(dtype=np.float32)))
    return finite and cv2.norm(rows, cv2.NORM_INF) <= HALF_MAX


def to_half(data: np.ndarray) -> np.ndarray:
    """float16 copy, finite values kept finite (clipped to +-65504), rows split over threads. Bands
    within +-65504 (`within_half` tells; NaN fails it) are cast by OpenCV (F16C: a 4K RGB frame
    90 -> 40 ms of CPU), numpy's bits exactly (tests/frames/test_half_cast.py: every such float32);
    the rest by numpy, then clipped, only on such bands (numpy's float16 arithmetic is emulated)."""
    out = buffers.empty(data.shape, np.float16)
    rows = (len(data), -1) if data.size else out.shape  # rows x (width * channels)
    flat_in, flat_out = data.reshape(rows), out.reshape(rows)

    def band(r0: int, r1: int) -> None:
        src, dst = flat_in[r0:r1], flat_out[r0:r1]
        if src.size and within_half(src):
            if cv2.multiply(src, 1.0, dst=dst, dtype=cv2.CV_16F) is not dst:  # it fills contiguous rows it is given
                dst[...] = src  # (never seen): numpy's cast, the same bits
            return
        with np.errstate(over="ignore"):
            out[r0:r1] = data[r0:r1]
        if (np.abs(data[r0:r1]) > HALF_MAX).any():
            np.clip(out[r0:r1], -HALF_MAX, HALF_MAX, out=out[r0:r1])

    over_rows(data.shape[0], band)
    return out
