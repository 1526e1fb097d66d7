"""PyAV movies: ProRes round trips with the BT.709 matrix proven, other codecs read, damage, atomic writes."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import numpy as np
import pytest

from reelfix.errors import FrameReadError, FrameWriteError, UserError
from reelfix.frames.frame import Frame
from reelfix.frames.image_io import temp_files_in
from reelfix.frames.movie_io import MovieReader, MovieWriter

W, H = 64, 36
NTSC = Fraction(24000, 1001)


def interior_error(got: np.ndarray, want: np.ndarray) -> float:
    """Largest error on the gradient rows below the colour patches (no sharp chroma edges there)."""
    return float(np.abs(got[12:, 2:-2, :3] - want[12:, 2:-2, :3]).max())


def write_prores(path: Path, picture: Callable[..., np.ndarray], *, alpha: bool, frames: int = 5,
                 timecode: str | None = "01:00:00:12") -> list[np.ndarray]:
    pictures = [picture(H, W, alpha=alpha, shade=(i + 1) / frames) for i in range(frames)]
    names = ("R", "G", "B", "A") if alpha else ("R", "G", "B")
    with MovieWriter(path, fps=NTSC, width=W, height=H, alpha=alpha, timecode=timecode,
                     metadata={"reelfix_version": "0.1.0"}) as writer:
        for i, pix in enumerate(pictures):
            writer.write(Frame(pix, names, "", i))
    return pictures


@pytest.mark.parametrize("alpha", [False, True])
def test_prores_round_trip(tmp_path: Path, picture: Callable[..., np.ndarray], patches: dict, alpha: bool) -> None:
    path = tmp_path / "out.mov"
    pictures = write_prores(path, picture, alpha=alpha)
    assert os.listdir(tmp_path) == ["out.mov"]
    with MovieReader(path) as reader:
        assert (reader.width, reader.height, reader.frame_count) == (W, H, 5)
        assert reader.fps == NTSC and reader.codec_name == "prores" and reader.has_alpha == alpha
        assert reader.timecode == "01:00:00:12" and reader.numbers == [0, 1, 2, 3, 4]
        for n in (0, 1, 2, 4, 3, 0, 4):  # forward, backward and repeated access
            frame = reader.read(n)
            assert frame.number == n and frame.channels == (("R", "G", "B", "A") if alpha else ("R", "G", "B"))
            assert interior_error(frame.pixels, pictures[n]) < 0.01
            assert frame.metadata["smpte:TimeCode"] == f"01:00:00:{12 + n:02d}"
            assert frame.metadata["FramesPerSecond"] == NTSC
            assert frame.metadata["reelfix:movie_colorspace"] == "bt709"
            assert frame.metadata["reelfix:movie_color_range"] == "tv"
            if alpha:
                np.testing.assert_allclose(frame.pixels[..., 3], pictures[n][..., 3], atol=2e-3)
        last = reader.read(4).pixels
        for rows, cols, colour in patches.values():  # pure primaries come back pure: the matrix is BT.709
            np.testing.assert_allclose(last[rows, cols, :3], np.broadcast_to(colour, last[rows, cols, :3].shape), atol=0.01)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        cc = stream.codec_context
        assert (cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range) == (1, 1, 1, 1)
        assert cc.profile == ("4444" if alpha else "HQ")
        assert cc.pix_fmt.startswith("yuva444p") if alpha else cc.pix_fmt == "yuv422p10le"
        assert stream.average_rate == NTSC
        assert container.metadata.get("reelfix_version") == "0.1.0"
        first = next(container.decode(stream))
        kwargs = {"format": "rgb48le", "src_color_range": "MPEG", "dst_color_range": "JPEG"}
        ffmpeg_709 = first.to_ndarray(src_colorspace="ITU709", **kwargs) / 65535.0
        ffmpeg_601 = first.to_ndarray(src_colorspace="ITU601", **kwargs) / 65535.0
    red = patches["red"][:2]
    ours = MovieReader(path).read(0).pixels
    assert np.abs(ours[red][..., :3] - ffmpeg_709[red]).max() < 0.01  # agrees with FFmpeg's BT.709 decode
    assert np.abs(ffmpeg_601[red] - np.array([1.0, 0.0, 0.0])).max() > 0.05  # a BT.601 decode is visibly off
    assert np.abs(ours[red][..., :3] - np.array([1.0, 0.0, 0.0])).max() < 0.01


def test_writer_is_atomic_and_abort_cleans_up(tmp_path: Path, picture: Callable[..., np.ndarray]) -> None:
    path = tmp_path / "movie.mov"
    writer = MovieWriter(path, fps=24, width=W, height=H, alpha=False)
    writer.write(Frame(picture(H, W), ("R", "G", "B"), "", 0))
    assert not path.exists() and len(temp_files_in(tmp_path)) == 1
    writer.abort()
    assert os.listdir(tmp_path) == []
    with pytest.raises(RuntimeError), MovieWriter(path, fps=24, width=W, height=H, alpha=False) as failing:
        failing.write(Frame(picture(H, W), ("R", "G", "B"), "", 0))
        raise RuntimeError("job failed")
    assert os.listdir(tmp_path) == []


def test_writer_errors(tmp_path: Path, picture: Callable[..., np.ndarray]) -> None:
    for name in ("out.mp4", "out.mxf"):
        with pytest.raises(UserError, match=r"only ProRes \.mov"):
            MovieWriter(tmp_path / name, fps=24, width=W, height=H, alpha=False)
    with pytest.raises(UserError, match="no alpha"):
        MovieWriter(tmp_path / "a.mov", fps=24, width=W, height=H, alpha=True, codec="prores_hq")
    with pytest.raises(UserError, match="even width"):
        MovieWriter(tmp_path / "odd.mov", fps=24, width=33, height=17, alpha=False)
    with pytest.raises(UserError, match="HH:MM:SS:FF"):
        MovieWriter(tmp_path / "tc.mov", fps=24, width=W, height=H, alpha=False, timecode="noon")
    writer = MovieWriter(tmp_path / "size.mov", fps=24, width=W, height=H, alpha=False)
    with pytest.raises(FrameWriteError, match="32x16 but the movie is 64x36"):
        writer.write(Frame(picture(16, 32), ("R", "G", "B"), "", 0))
    writer.abort()
    empty = MovieWriter(tmp_path / "empty.mov", fps=24, width=W, height=H, alpha=False)
    with pytest.raises(FrameWriteError, match="no frames"):
        empty.close()
    assert os.listdir(tmp_path) == []


def test_prores_4444_odd_size(tmp_path: Path) -> None:
    pix = np.random.default_rng(0).random((17, 33, 4), dtype=np.float32) * 0.2 + 0.4
    with MovieWriter(tmp_path / "odd.mov", fps=25, width=33, height=17, alpha=True) as writer:
        writer.write(Frame(pix, ("R", "G", "B", "A"), "", 0))
    back = MovieReader(tmp_path / "odd.mov").read(0).pixels
    assert back.shape == (17, 33, 4) and np.abs(back - pix).max() < 0.02


@pytest.mark.parametrize(
    ("name", "codec", "pix_fmt", "options", "tolerance", "matrix"),
    [
        ("h264.mp4", "libx264", "yuv420p", {"crf": "4", "preset": "ultrafast"}, 0.03, "bt709"),
        ("ffv1.mkv", "ffv1", "yuv444p10le", None, 0.01, "bt709"),  # swscale encodes a code or two off
        ("ffv1.avi", "ffv1", "yuv422p", None, 0.02, "bt601"),  # AVI keeps no colour tags: SD -> BT.601
        ("ffv1_rgb.mkv", "ffv1", "gbrp10le", None, 0.002, "bt709"),
        ("dnxhr_hq.mxf", "dnxhd", "yuv422p", {"profile": "dnxhr_hq"}, 0.03, "bt709"),
        ("dnxhr_444.mov", "dnxhd", "yuv444p10le", {"profile": "dnxhr_444"}, 0.02, "bt709"),
    ],
)
def test_reads_other_codecs(make_movie: Callable[..., Path], picture: Callable[..., np.ndarray], patches: dict,
                            name: str, codec: str, pix_fmt: str, options: dict | None, tolerance: float,
                            matrix: str) -> None:
    width, height = (256, 144) if codec == "dnxhd" else (W, H)
    path = make_movie(name, codec, pix_fmt, frames=4, width=width, height=height, rate=NTSC, options=options,
                      matrix={"bt709": "ITU709", "bt601": "ITU601"}[matrix])
    with MovieReader(path) as reader:
        assert reader.frame_count == 4 and reader.fps == NTSC and not reader.has_alpha
        for n in (0, 1, 3, 2):
            frame = reader.read(n)
            assert frame.metadata["reelfix:movie_colorspace"] == matrix
            assert interior_error(frame.pixels, picture(height, width, shade=(n + 1) / 4)) < tolerance, n
        last = reader.read(3).pixels
    for rows, cols, colour in patches.values():
        np.testing.assert_allclose(last[rows, cols], np.broadcast_to(colour, last[rows, cols].shape), atol=tolerance)


def test_untagged_sd_video_is_bt601(make_movie: Callable[..., Path], patches: dict) -> None:
    path = make_movie("sd.mkv", "ffv1", "yuv444p", frames=2, matrix="ITU601", tag=None)
    frame = MovieReader(path).read(1)
    assert frame.metadata["reelfix:movie_colorspace"] == "bt601"
    rows, cols, colour = patches["red"]
    np.testing.assert_allclose(frame.pixels[rows, cols], np.broadcast_to(colour, frame.pixels[rows, cols].shape), atol=0.01)


def test_tagged_bt601_is_honoured(make_movie: Callable[..., Path], patches: dict) -> None:
    path = make_movie("tagged601.mkv", "ffv1", "yuv444p10le", frames=2, width=64, height=720, matrix="ITU601", tag=6)
    frame = MovieReader(path).read(1)
    assert frame.metadata["reelfix:movie_colorspace"] == "bt601"
    rows, cols, colour = patches["green"]
    np.testing.assert_allclose(frame.pixels[rows, cols], np.broadcast_to(colour, frame.pixels[rows, cols].shape), atol=0.01)


def test_damaged_movies(tmp_path: Path, picture: Callable[..., np.ndarray]) -> None:
    whole = tmp_path / "whole.mov"
    write_prores(whole, picture, alpha=False, frames=8)
    cut = tmp_path / "cut.mov"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    junk = tmp_path / "junk.mov"
    junk.write_bytes(b"not a movie" * 100)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    for path in (cut, junk, empty, tmp_path / "missing.mxf"):
        with pytest.raises(FrameReadError) as info:
            MovieReader(path)
        assert info.value.path == str(path) and str(path) in str(info.value)
    with MovieReader(whole) as reader, pytest.raises(FrameReadError, match="outside the movie's frames 0-7"):
        reader.read(8)


def test_truncated_movie_with_header_first(make_movie: Callable[..., Path], tmp_path: Path) -> None:
    whole = make_movie("whole.mkv", "ffv1", "yuv444p10le", frames=12, width=128, height=72)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with MovieReader(cut) as reader:  # the header still claims every frame
        assert reader.frame_count == 12
        reader.read(1)
        with pytest.raises(FrameReadError, match="truncated|ends before") as info:
            reader.read(11)
        assert info.value.path == str(cut)
        assert reader.read(2).number == 2  # still usable after the failure
