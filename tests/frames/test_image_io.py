"""OpenImageIO reading/writing: every format and depth, channels, metadata, damage, atomic writes."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from reelfix.errors import FrameReadError, FrameWriteError
from reelfix.frames.frame import Frame
from reelfix.frames.image_io import read_header, read_image, temp_files_in, write_image

NAMES = {1: ("Y",), 2: ("Y", "A"), 3: ("R", "G", "B"), 4: ("R", "G", "B", "A")}
META = {
    "smpte:TimeCode": "01:02:03:04",
    "PixelAspectRatio": 2.0,
    "FramesPerSecond": Fraction(24000, 1001),
    "reelfix:version": "0.1.0",
    "studio:shot": "A001_C002",
    "studio:take": 3,
    "studio:gain": 1.5,
}


def hdr_pixels(height: int = 17, width: int = 33, channels: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pix = rng.uniform(-0.25, 4.0, (height, width, channels)).astype(np.float32)
    return pix


def ldr_pixels(height: int = 17, width: int = 33, channels: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((height, width, channels), dtype=np.float32)


def frame_of(pix: np.ndarray, metadata: dict | None = None, colorspace: str = "") -> Frame:
    return Frame(pix, NAMES[pix.shape[2]], colorspace, 1001, dict(metadata or {}))


def oiio_attributes(path: Path) -> dict:
    inp = oiio.ImageInput.open(str(path))
    try:
        return {a.name: a.value for a in inp.spec().extra_attribs}
    finally:
        inp.close()


@pytest.mark.parametrize(
    ("bit_depth", "compression", "tolerance"),
    [
        ("half", "zip", 2e-3), ("half", "piz", 2e-3), ("half", "dwaa", 0.05), ("half", "dwaa:45", 0.1),
        ("half", "dwab", 0.05), ("half", "none", 2e-3),
        ("float", "zip", 0.0), ("float", "piz", 0.0), ("float", "dwaa", 0.05),
    ],
)
def test_exr_round_trip_keeps_hdr_values(tmp_path: Path, bit_depth: str, compression: str, tolerance: float) -> None:
    y, x = np.mgrid[0:32, 0:48].astype(np.float32)
    smooth = np.stack([x / 8.0 - 0.5, y / 10.0, np.sin(x / 5) + 0.5], axis=-1).astype(np.float32)  # -0.5 .. 5.4
    path = tmp_path / f"hdr.{bit_depth}.{compression.replace(':', '_')}.exr"
    write_image(path, frame_of(smooth), bit_depth=bit_depth, compression=compression)
    back = read_image(path, number=7)
    assert back.number == 7 and back.channels == ("R", "G", "B") and back.pixels.dtype == np.float32
    assert back.pixels.min() < -0.4 and back.pixels.max() > 5.0
    np.testing.assert_allclose(back.pixels, smooth, rtol=tolerance, atol=tolerance)
    assert "compression" not in back.metadata and not any(k.startswith("openexr:") for k in back.metadata)


@pytest.mark.parametrize(
    ("ext", "bit_depth", "levels"),
    [("dpx", "10", 1023), ("dpx", "16", 65535), ("dpx", None, 1023), ("tif", "8", 255), ("tif", "16", 65535),
     ("tif", None, 65535), ("png", "8", 255), ("png", "16", 65535), ("png", None, 65535)],
)
def test_integer_formats_round_to_nearest_code(tmp_path: Path, ext: str, bit_depth: str | None, levels: int) -> None:
    pix = ldr_pixels()
    pix[0, 0] = [-0.5, 1.5, 0.5]  # clipped
    path = tmp_path / f"img.{ext}"
    write_image(path, frame_of(pix), bit_depth=bit_depth)
    back = read_image(path).pixels
    expected = np.rint(np.clip(pix, 0, 1) * levels) / levels
    np.testing.assert_allclose(back, expected, atol=1e-6)


def test_float_tiff_and_jpeg(tmp_path: Path) -> None:
    pix = hdr_pixels()
    write_image(tmp_path / "f.tif", frame_of(pix), bit_depth="32")
    np.testing.assert_array_equal(read_image(tmp_path / "f.tif").pixels, pix)
    y, x = np.mgrid[0:32, 0:48].astype(np.float32)
    smooth = np.stack([x / 47, y / 31, 1 - x / 47], axis=-1)
    write_image(tmp_path / "s.jpg", frame_of(smooth))
    np.testing.assert_allclose(read_image(tmp_path / "s.jpg").pixels, smooth, atol=0.02)
    write_image(tmp_path / "q.jpeg", frame_of(smooth), compression="jpeg:70")
    assert read_image(tmp_path / "q.jpeg").pixels.shape == (32, 48, 3)


@pytest.mark.parametrize("ext", ["exr", "png", "tif", "dpx", "jpg"])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_channel_counts(tmp_path: Path, ext: str, channels: int) -> None:
    pix = ldr_pixels(channels=channels)
    path = tmp_path / f"c{channels}.{ext}"
    if (ext == "jpg" and channels in (2, 4)) or (ext == "dpx" and channels == 2):
        with pytest.raises(FrameWriteError, match=str(path)) as info:
            write_image(path, frame_of(pix))
        assert "exr" in (info.value.hint or "")
        assert not path.exists() and temp_files_in(tmp_path) == []
        return
    write_image(path, frame_of(pix))
    back = read_image(path)
    assert back.channels == NAMES[channels]
    tolerance = {"exr": 1e-3, "jpg": 0.3}.get(ext, 1e-3)
    np.testing.assert_allclose(back.pixels, pix, atol=tolerance)
    if channels in (2, 4):  # alpha kept as stored: colour is not premultiplied or divided
        assert back.alpha_index == channels - 1
        np.testing.assert_allclose(back.pixels[..., :-1], pix[..., :-1], atol=1e-3)


def test_exr_keeps_layer_channel_names(tmp_path: Path) -> None:
    pix = hdr_pixels(channels=5)
    names = ("R", "G", "B", "A", "depth.Z")
    write_image(tmp_path / "layers.exr", Frame(pix, names, "", 1), bit_depth="float")
    back = read_image(tmp_path / "layers.exr")
    assert set(back.channels) == set(names)
    for i, name in enumerate(names):
        np.testing.assert_array_equal(back.pixels[..., back.channels.index(name)], pix[..., i])


@pytest.mark.parametrize("ext", ["exr", "png", "dpx"])
@pytest.mark.parametrize(("height", "width"), [(1, 1), (17, 33)])
def test_tiny_and_odd_sizes(tmp_path: Path, ext: str, height: int, width: int) -> None:
    pix = ldr_pixels(height, width)
    write_image(tmp_path / f"odd.{ext}", frame_of(pix))
    back = read_image(tmp_path / f"odd.{ext}")
    assert back.pixels.shape == (height, width, 3)
    np.testing.assert_allclose(back.pixels, pix, atol=1e-3)


def test_non_contiguous_pixels_are_written_correctly(tmp_path: Path) -> None:
    pix = ldr_pixels(33, 17).transpose(1, 0, 2)  # a view: write_image would silently fail on it
    assert not pix.flags.c_contiguous
    for ext in ("exr", "png"):
        write_image(tmp_path / f"t.{ext}", frame_of(pix))
        np.testing.assert_allclose(read_image(tmp_path / f"t.{ext}").pixels, pix, atol=1e-3)


def test_non_finite_values(tmp_path: Path) -> None:
    pix = np.full((2, 3, 3), 0.5, np.float32)
    pix[0, 0] = [np.nan, np.inf, -np.inf]
    write_image(tmp_path / "nf.exr", frame_of(pix), bit_depth="float")
    back = read_image(tmp_path / "nf.exr").pixels
    assert np.isnan(back[0, 0, 0]) and back[0, 0, 1] == np.inf and back[0, 0, 2] == -np.inf
    for ext in ("png", "dpx", "tif"):
        write_image(tmp_path / f"nf.{ext}", frame_of(pix))
        np.testing.assert_allclose(read_image(tmp_path / f"nf.{ext}").pixels[0, 0], [0.0, 1.0, 0.0])


def test_colorspace_argument_and_file_tag(tmp_path: Path) -> None:
    write_image(tmp_path / "cs.exr", frame_of(ldr_pixels(), colorspace="lin_rec709_scene"))
    assert read_image(tmp_path / "cs.exr").colorspace == "lin_rec709_scene"
    assert read_image(tmp_path / "cs.exr", colorspace="acescg").colorspace == "acescg"
    write_image(tmp_path / "none.exr", frame_of(ldr_pixels()))
    assert read_image(tmp_path / "none.exr").colorspace == ""


def test_metadata_survives_exr_to_exr(tmp_path: Path) -> None:
    meta = {**META, "smpte:KeyCode": (1, 2, 3, 4, 5, 6, 7), "DateTime": "2024:01:02 03:04:05"}
    write_image(tmp_path / "a.exr", frame_of(hdr_pixels(), meta))
    first = read_image(tmp_path / "a.exr")
    write_image(tmp_path / "b.exr", first, attributes={"reelfix:job_hash": "abc123"})
    second = read_header(tmp_path / "b.exr")
    for key, value in meta.items():
        assert second[key] == value, key
    assert second["reelfix:job_hash"] == "abc123"
    raw = oiio_attributes(tmp_path / "b.exr")  # native EXR attributes, readable by any EXR tool
    assert raw["studio:take"] == 3 and raw["FramesPerSecond"] == (24000, 1001)
    assert raw["smpte:TimeCode"][0] == 0x01020304


@pytest.mark.parametrize("ext", ["dpx", "tif", "png", "jpg"])
def test_metadata_survives_into_other_formats(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"m.{ext}"
    write_image(path, frame_of(ldr_pixels(), META), attributes={"reelfix:job_hash": "abc123"})
    header = read_header(path)
    assert read_image(path).metadata == header
    for key, value in META.items():
        assert header[key] == value, key
    assert header["reelfix:job_hash"] == "abc123"
    raw = oiio_attributes(path)
    assert raw.get("PixelAspectRatio") == pytest.approx(2.0)
    if ext == "dpx":  # natively in the DPX header, for other DPX tools
        assert raw["dpx:TimeCode"] == "01:02:03:04"
        assert raw["dpx:FrameRate"] == pytest.approx(24000 / 1001, abs=1e-4)
    if ext == "png":
        assert raw["studio:shot"] == "A001_C002"


def test_read_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.exr"
    with pytest.raises(FrameReadError, match="does not exist") as info:
        read_image(missing)
    assert info.value.path == str(missing) and str(missing) in str(info.value)
    empty = tmp_path / "empty.exr"
    empty.write_bytes(b"")
    with pytest.raises(FrameReadError, match=r"empty \(0 bytes\)"):
        read_image(empty)
    junk = tmp_path / "junk.exr"
    junk.write_bytes(b"this is not an image at all" * 10)
    with pytest.raises(FrameReadError, match="junk.exr"):
        read_image(junk)
    with pytest.raises(FrameReadError, match="folder"):
        read_image(tmp_path)
    with pytest.raises(FrameReadError, match="missing.exr"):
        read_header(missing)


@pytest.mark.parametrize(("ext", "compression"), [("exr", "zip"), ("exr", "piz"), ("exr", "none"),
                                                   ("png", None), ("dpx", None), ("tif", None), ("jpg", None)])
def test_truncated_files_are_detected(tmp_path: Path, ext: str, compression: str | None) -> None:
    path = tmp_path / f"whole.{ext}"
    write_image(path, frame_of(ldr_pixels(64, 64)), compression=compression)
    data = path.read_bytes()
    for fraction in (0.5, 0.9):
        cut = tmp_path / f"cut{int(fraction * 100)}.{ext}"
        cut.write_bytes(data[: int(len(data) * fraction)])
        with pytest.raises(FrameReadError) as info:
            read_image(cut)
        assert info.value.path == str(cut) and str(cut) in str(info.value) and info.value.hint


def test_atomic_write_leaves_only_the_complete_file(tmp_path: Path) -> None:
    out = tmp_path / "new" / "deeper" / "f.0001.exr"  # missing folders are created
    pix = hdr_pixels(64, 64)
    write_image(out, frame_of(pix), bit_depth="float")
    assert os.listdir(out.parent) == ["f.0001.exr"]
    write_image(out, frame_of(pix * 2), bit_depth="float")  # overwrite in place
    np.testing.assert_array_equal(read_image(out).pixels, pix * 2)
    assert os.listdir(out.parent) == ["f.0001.exr"]


def test_failed_write_removes_temp_and_keeps_old_file(tmp_path: Path) -> None:
    target = tmp_path / "frame.exr"
    target.mkdir()  # os.replace onto a folder fails after the temp file was written
    (target / "keep").write_text("x")
    with pytest.raises(FrameWriteError, match="frame.exr") as info:
        write_image(target, frame_of(ldr_pixels()))
    assert info.value.path == str(target)
    assert temp_files_in(tmp_path) == [] and sorted(os.listdir(tmp_path)) == ["frame.exr"]


def test_unwritable_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    out = blocker / "sub" / "f.exr"
    with pytest.raises(FrameWriteError, match="f.exr") as info:
        write_image(out, frame_of(ldr_pixels()))
    assert "permissions" in (info.value.hint or "") or "folder" in (info.value.hint or "")
    assert temp_files_in(tmp_path) == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(FrameWriteError, match="f.exr") as info:
            write_image(folder / "f.exr", frame_of(ldr_pixels()))
        assert "permission" in (info.value.hint or "").lower()
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("a.exr", {"compression": "lzma"}, "compression"),
        ("a.exr", {"compression": "piz:3"}, "compression"),
        ("a.exr", {"bit_depth": "8"}, "bit depth"),
        ("a.png", {"bit_depth": "10"}, "bit depth"),
        ("a.dpx", {"compression": "zip"}, "compression"),
        ("a.jpg", {"compression": "jpeg:101"}, "compression"),
        ("a.bmp", {}, "extension"),
        ("a.exr", {"attributes": {"smpte:TimeCode": "1 o'clock"}}, "timecode"),
    ],
)
def test_bad_write_options(tmp_path: Path, name: str, options: dict, message: str) -> None:
    with pytest.raises(FrameWriteError, match=message) as info:
        write_image(tmp_path / name, frame_of(ldr_pixels()), **options)
    assert info.value.hint and not (tmp_path / name).exists() and temp_files_in(tmp_path) == []


def test_temp_files_in_finds_stale_temps(tmp_path: Path) -> None:
    stale = tmp_path / ".f.0001.exr.4242.0123abcd.tmp.exr"
    stale.write_bytes(b"partial")
    (tmp_path / "f.0001.exr").write_bytes(b"x")
    assert temp_files_in(tmp_path) == [str(stale)]
    assert temp_files_in(tmp_path / "nope") == []


def test_source_description_is_read_but_never_written(tmp_path: Path) -> None:
    spec = oiio.ImageSpec(8, 4, 3, "uint16")  # a log scan as a scanner writes it
    spec.attribute("oiio:BitsPerSample", 10)
    spec.attribute("dpx:Transfer", "Printing density")
    out = oiio.ImageOutput.create(str(tmp_path / "scan.dpx"))
    assert out.open(str(tmp_path / "scan.dpx"), spec) and out.write_image(np.full((4, 8, 3), 0.5, np.float32)) and out.close()
    scan = read_image(tmp_path / "scan.dpx")
    assert scan.metadata["reelfix:pixel_type"] == "uint16" and scan.metadata["oiio:BitsPerSample"] == 10
    assert scan.metadata["dpx:Transfer"] == "Printing density"
    write_image(tmp_path / "lin.exr", scan.with_pixels(scan.pixels, colorspace="lin_rec709_scene"))
    raw = oiio_attributes(tmp_path / "lin.exr")
    assert "dpx:Transfer" not in raw and "reelfix:pixel_type" not in raw
    assert read_header(tmp_path / "lin.exr")["reelfix:pixel_type"] == "half"
    write_image(tmp_path / "lin.dpx", scan.with_pixels(scan.pixels, colorspace="lin_rec709_scene"))
    assert read_header(tmp_path / "lin.dpx")["dpx:Transfer"] == "Linear"  # from the colour space, not the input
