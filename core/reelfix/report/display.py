"""Pictures for the review page: frames made small and shown through an OCIO display/view
transform (so scene-linear and log plates look as they would in a viewer), encoded as JPEG/PNG."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
import PyOpenColorIO as OCIO

from .. import colour
from ..errors import ColourError
from ..frames.frame import Frame, picture_indices
from ..parallel import over_rows

DISPLAY = "sRGB - Display"
UNTONEMAPPED = "Un-tone-mapped"
SCENE_ENCODINGS = ("scene-linear", "log")


def default_view(colorspace: str, display: str = DISPLAY) -> str:
    """The display's default view (a tone map: ACES 2.0 SDR) for scene-linear and log plates;
    the un-tone-mapped view for display-referred (video) pictures, which are already graded."""
    cfg = colour.get_config()
    cs = cfg.getColorSpace(colour.canonical_name(colorspace)) if colorspace else None
    encoding = cs.getEncoding() if cs is not None else "scene-linear"
    views = list(cfg.getViews(display))
    if encoding not in SCENE_ENCODINGS and UNTONEMAPPED in views:
        return UNTONEMAPPED
    return str(cfg.getDefaultView(display))


@lru_cache(maxsize=32)
def _processor(source: str, colorspace: str, display: str, view: str) -> OCIO.CPUProcessor:
    cfg = colour.get_config()
    if display not in cfg.getDisplays() or view not in cfg.getViews(display):
        raise ColourError(
            f"OCIO display {display!r} / view {view!r} is not in the config",
            hint=f"displays: {', '.join(cfg.getDisplays())}; views of {DISPLAY!r}: {', '.join(cfg.getViews(DISPLAY))}",
        )
    transform = OCIO.DisplayViewTransform(src=colorspace, display=display, view=view)
    try:
        return cfg.getProcessor(transform).getDefaultCPUProcessor()
    except Exception as exc:  # noqa: BLE001 - OCIO raises its own Exception type
        raise ColourError(f"OCIO cannot show {colorspace!r} on {display!r} / {view!r}: {exc}") from None


def small_picture(frame: Frame, width: int, height: int | None = None) -> np.ndarray:
    """The frame's picture channels area-averaged to `width` pixels wide (aspect kept) or to
    width x height, as C-contiguous HxWx3 float32 (grey replicated); never enlarged unless a
    size is given. Resized before the channels are picked, so a big frame is never copied whole."""
    pix = frame.pixels
    h, w = pix.shape[:2]
    if height is None:
        width, height = (w, h) if w <= width else (width, max(1, round(h * width / w)))
    idx = picture_indices(frame.channels)
    if pix.shape[2] > 4:  # OpenCV resizes at most 4 channels at once
        pix = pix[:, :, idx]
        idx = list(range(len(idx)))
    if (width, height) != (w, h):
        pix = cv2.resize(np.ascontiguousarray(pix, dtype=np.float32), (width, height), interpolation=cv2.INTER_AREA)
        pix = pix.reshape(height, width, -1)
    out = pix[:, :, idx] if idx != list(range(pix.shape[2])) else pix
    if out.shape[2] == 1:
        out = np.repeat(out, 3, axis=2)
    return np.ascontiguousarray(out[:, :, :3], dtype=np.float32)


class DisplayView:
    """Scene pixels of one colour space -> 8-bit display RGB through an OCIO display/view."""

    def __init__(self, colorspace: str, display: str | None = None, view: str | None = None) -> None:
        self.colorspace = colour.canonical_name(colorspace) if colorspace else colour.canonical_name("lin_srgb")
        self.display = display or DISPLAY
        self.view = view or default_view(self.colorspace, self.display)
        self._proc = _processor(colour.config_source(), self.colorspace, self.display, self.view)

    def rgb8(self, rgb: np.ndarray) -> np.ndarray:
        """HxWx3 float32 in the plate's colour space -> HxWx3 uint8 display RGB."""
        work = np.array(np.nan_to_num(rgb, nan=0.0, posinf=65504.0, neginf=-65504.0), dtype=np.float32, order="C")
        w = work.shape[1]

        def band(r0: int, r1: int) -> None:  # the ACES 2.0 view costs ~1 us a pixel: rows over the cores
            self._proc.apply(OCIO.PackedImageDesc(work[r0:r1], w, r1 - r0, 3))

        over_rows(work.shape[0], band, rows=64)
        return (np.clip(work, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def jpeg(rgb8: np.ndarray, quality: int = 82) -> bytes:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb8, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ColourError("cannot encode a JPEG preview")
    return data.tobytes()


def matte_png(matte: np.ndarray, colour_rgb: tuple[int, int, int] = (255, 40, 200)) -> bytes:
    """A matte (HxW, 1 = changed) as a transparent PNG: the colour where pixels changed."""
    rgba = np.zeros((*matte.shape[:2], 4), np.uint8)
    rgba[:, :, :3] = colour_rgb[::-1]  # OpenCV writes BGR(A)
    rgba[:, :, 3] = (np.clip(matte, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    ok, data = cv2.imencode(".png", rgba, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise ColourError("cannot encode a matte preview")
    return data.tobytes()
