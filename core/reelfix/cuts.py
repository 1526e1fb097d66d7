"""Shot cuts: temporal nodes never take pixels across one.

A cut is decided from the two frames either side of it only (`is_cut(a, b)`), so every
farm chunk reaches the same decision as one local run. Cuts listed in the job
(`input.cuts`: the first frame of each new shot) are always honoured.
"""

from __future__ import annotations

import numpy as np

from .frames.frame import Frame, picture_indices

THUMB = (36, 64)
MIN_CORRELATION = 0.4


def thumbnail(frame: Frame) -> np.ndarray:
    """A small zero-mean log-luma picture: insensitive to exposure changes and flicker. Made
    one thumbnail row at a time, in float32 (a frame held as half is cast a band at a time):
    no whole-frame temporaries (an 8K frame's were 0.6 GB), each sum as over the whole frame."""
    idx = picture_indices(frame.channels)
    h, w = frame.height, frame.width
    th, tw = min(THUMB[0], h), min(THUMB[1], w)
    rows = np.linspace(0, h, th + 1).astype(int)
    cols = np.linspace(0, w, tw + 1).astype(int)

    def band(a: int, b: int) -> np.ndarray:
        pix = frame.pixels[a:b, :, idx]
        pix = pix.astype(np.float32) if pix.dtype == np.float16 else pix
        return np.add.reduceat(np.log2(np.maximum(pix.mean(axis=2), 0.0) + 1e-3), [0], axis=0)

    small = np.add.reduceat(np.concatenate([band(a, b) for a, b in zip(rows[:-1], rows[1:])]), cols[:-1], axis=1)
    small /= np.outer(np.diff(rows), np.diff(cols))
    return small - small.mean()


def signature(frame: Frame) -> tuple[tuple[int, int], np.ndarray]:
    """What a cut is decided from: the frame's size and its thumbnail."""
    return (frame.height, frame.width), thumbnail(frame)


def is_cut(a: Frame, b: Frame) -> bool:
    """True when b does not continue the shot of a (low correlation of their thumbnails)."""
    return signatures_cut(signature(a), signature(b))


def signatures_cut(a: tuple[tuple[int, int], np.ndarray], b: tuple[tuple[int, int], np.ndarray]) -> bool:
    """`is_cut` from two frames' signatures."""
    if a[0] != b[0]:
        return True
    ta, tb = a[1], b[1]
    denom = float(np.sqrt((ta * ta).sum() * (tb * tb).sum()))
    if denom < 1e-9:  # flat frames (black, fades to black): no evidence of a cut
        return False
    return float((ta * tb).sum()) / denom < MIN_CORRELATION
