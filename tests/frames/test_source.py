"""open_source: sequences, single images and movies behind one interface, and its error messages."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from reelfix.errors import FrameReadError, UserError
from reelfix.frames.frame import Frame
from reelfix.frames.image_io import write_image
from reelfix.frames.movie_io import MovieWriter
from reelfix.frames.source import FrameSource, MovieSource, SequenceSource, is_movie, open_source


def write_plates(folder: Path, numbers: list[int], pattern: str = "A001.{:04d}.exr") -> None:
    for n in numbers:
        pix = np.full((4, 6, 3), n / 2000.0, np.float32)
        write_image(folder / pattern.format(n), Frame(pix, ("R", "G", "B"), "", n))


def test_is_movie() -> None:
    assert is_movie("a/b.MOV") and is_movie("x.mxf") and is_movie("x.mkv") and is_movie("x.mp4")
    assert not is_movie("x.exr") and not is_movie("shot.####.dpx")


@pytest.mark.parametrize("placeholder", ["####", "%04d"])
def test_sequence_source(tmp_path: Path, placeholder: str) -> None:
    write_plates(tmp_path, [1001, 1002, 1004])
    source = open_source(str(tmp_path / f"A001.{placeholder}.exr"), "acescg")
    assert isinstance(source, SequenceSource) and isinstance(source, FrameSource)
    assert source.numbers == [1001, 1002, 1004] and source.fps is None
    assert source.display.endswith(f"A001.{placeholder}.exr")
    frame = source.read(1004)
    assert frame.number == 1004 and frame.colorspace == "acescg"
    np.testing.assert_allclose(frame.pixels, 1004 / 2000.0, atol=1e-3)
    with pytest.raises(FrameReadError, match="A001.1003.exr"):
        source.read(1003)
    source.close()


def test_no_frames_match(tmp_path: Path) -> None:
    write_plates(tmp_path, [1, 2], pattern="A001.{:d}.exr")
    with pytest.raises(UserError) as info:
        open_source(str(tmp_path / "A001.####.exr"), None)
    message = str(info.value)
    assert "A001.####.exr" in message and str(tmp_path) in message and "A001.1.exr" in message
    assert "####" in (info.value.hint or "") and "%d" in (info.value.hint or "")
    with pytest.raises(UserError, match="folder .* does not exist"):
        open_source(str(tmp_path / "nope" / "A001.####.exr"), None)


def test_single_image_source(tmp_path: Path) -> None:
    write_plates(tmp_path, [1001])
    source = open_source(str(tmp_path / "A001.1001.exr"), None)
    assert source.numbers == [1001]
    assert source.read(1001).number == 1001
    with pytest.raises(UserError, match="does not exist") as info:
        open_source(str(tmp_path / "A001.1002.exr"), None)
    assert "####" in (info.value.hint or "")


def test_movie_source(tmp_path: Path) -> None:
    path = tmp_path / "clip.mov"
    with MovieWriter(path, fps=Fraction(25), width=16, height=8, alpha=False, timecode="10:00:00:00") as writer:
        for n in range(3):
            writer.write(Frame(np.full((8, 16, 3), 0.25 * n, np.float32), ("R", "G", "B"), "", n))
    source = open_source(str(path), "rec709_display")
    assert isinstance(source, MovieSource) and isinstance(source, FrameSource)
    assert source.numbers == [0, 1, 2] and source.fps == 25 and source.display == str(path)
    frame = source.read(2)
    assert frame.number == 2 and frame.colorspace == "rec709_display"
    assert frame.metadata["smpte:TimeCode"] == "10:00:00:02"
    np.testing.assert_allclose(frame.pixels, 0.5, atol=0.01)
    source.close()
    with pytest.raises(UserError, match="does not exist"):
        open_source(str(tmp_path / "missing.mov"), None)


def test_sequence_source_with_unpadded_pattern(tmp_path: Path) -> None:
    write_plates(tmp_path, [5, 6], pattern="p_{:d}.exr")
    source = SequenceSource(str(tmp_path / "p_%d.exr"))
    assert source.numbers == [5, 6] and source.read(6).colorspace == ""
