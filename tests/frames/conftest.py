"""Fixtures for the frame I/O tests: test pictures and movies made with PyAV in tmp_path."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import numpy as np
import pytest

RED, GREEN, BLUE = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)


def make_picture(height: int, width: int, alpha: bool = False, shade: float = 1.0) -> np.ndarray:
    """A horizontal RGB gradient with pure red / green / blue patches in the top-left 8 rows."""
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :].repeat(height, 0)
    rgb = np.stack([x, np.full_like(x, 0.5), 1.0 - x], axis=-1) * shade
    for i, colour in enumerate((RED, GREEN, BLUE)):
        rgb[:8, 8 + 12 * i : 16 + 12 * i] = colour
    if alpha:
        a = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None].repeat(width, 1)
        rgb = np.concatenate([rgb, a], axis=-1)
    return np.ascontiguousarray(rgb, dtype=np.float32)


PATCHES = {"red": (slice(1, 5), slice(10, 14), RED), "green": (slice(1, 5), slice(22, 26), GREEN),
           "blue": (slice(1, 5), slice(34, 38), BLUE)}


@pytest.fixture
def picture() -> Callable[..., np.ndarray]:
    return make_picture


@pytest.fixture
def patches() -> dict[str, tuple[slice, slice, tuple[float, float, float]]]:
    """Where the pure colour patches of `make_picture` are (inner pixels, away from chroma edges)."""
    return PATCHES


@pytest.fixture
def make_movie(tmp_path: Path) -> Callable[..., Path]:
    """Encode `make_picture` frames with any PyAV codec, converting RGB->YUV with an explicit matrix."""

    def _make(name: str, codec: str, pix_fmt: str, *, frames: int = 4, width: int = 64, height: int = 36,
              rate: Fraction = Fraction(24), options: dict[str, str] | None = None, matrix: str = "ITU709",
              tag: int | None = 1) -> Path:
        path = tmp_path / name
        with av.open(str(path), "w") as container:
            stream = container.add_stream(codec, rate=rate, options=options or {})
            stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
            if tag is not None:
                cc = stream.codec_context
                cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = tag, tag, tag, 1
            for i in range(frames):
                rgb = np.rint(make_picture(height, width, shade=(i + 1) / frames) * 65535).astype(np.uint16)
                vf = av.VideoFrame.from_ndarray(rgb, format="rgb48le")
                vf = vf.reformat(format=pix_fmt, dst_colorspace=matrix, dst_color_range="MPEG")
                vf.pts = i
                for packet in stream.encode(vf):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
        return path

    return _make
