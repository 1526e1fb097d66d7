"""Filtered resizing through OpenImageIO (alpha and extra channels, bicubic baselines)."""

from __future__ import annotations

import numpy as np
import OpenImageIO as oiio

from .errors import ReelfixError


def resize(pixels: np.ndarray, height: int, width: int, filter_name: str = "catmull-rom") -> np.ndarray:
    """Resize HxWxC float32 pixels to (height, width) with an OIIO reconstruction filter.

    `catmull-rom` is the classic bicubic (a = -0.5); `lanczos3` is sharper and rings more.
    """
    src_h, src_w, channels = pixels.shape
    src = oiio.ImageBuf(np.ascontiguousarray(pixels, dtype=np.float32))
    roi = oiio.ROI(0, width, 0, height, 0, 1, 0, channels)
    out = oiio.ImageBufAlgo.resize(src, filtername=filter_name, roi=roi)
    if out.has_error:
        raise ReelfixError(f"resize {src_w}x{src_h} -> {width}x{height} failed: {out.geterror()}")
    return np.asarray(out.get_pixels(oiio.FLOAT), dtype=np.float32).reshape(height, width, channels)
