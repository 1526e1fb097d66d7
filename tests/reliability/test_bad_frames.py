"""Guarantee: bad frames are named with their path and what to do, the rest of the sequence
completes, and the exit code is 1 (--fail-fast stops at the first). Truncated, zero-byte, text
behind an image extension, a missing frame (gap), a size change mid-sequence (even for a
shot-long node like stabilize), NaN/Inf pixels (repaired with a warning), a PNG behind an .exr
name (read by its content); and odd but valid frames work in every node: 1x1, 1, 2, 4 channels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reelfix.frames.frame import Frame
from reelfix.frames.image_io import read_image, write_image
from tests.reliability.helpers import cli, plate_pixels, write_job, write_plate

FRAMES = range(1001, 1011)
SPATIAL = [{"node": "upscale", "params": {"scale": 2, "model": "tiny-x2"}}]
TEMPORAL = [{"node": "dustbust", "params": {}}, {"node": "degrain", "params": {"radius": 1}}, {"node": "stabilize", "params": {"radius": 4}}]
BAD = {1002: "truncated", 1003: "zero-byte", 1004: "text behind .exr", 1006: "size change"}


def damaged_plate(folder: Path) -> None:
    write_plate(folder, frames=FRAMES)
    p = lambda n: folder / f"A001.{n}.exr"  # noqa: E731
    p(1002).write_bytes(p(1002).read_bytes()[:300])
    p(1003).write_bytes(b"")
    p(1004).write_text("this is not an image\n")
    write_image(str(folder / "x.png"), Frame(plate_pixels(24, 32, 8), ("R", "G", "B"), "srgb_tx", 0))
    (folder / "x.png").rename(p(1008))
    p(1005).unlink()
    write_image(str(p(1006)), Frame(plate_pixels(30, 40, 6), ("R", "G", "B"), "lin_srgb", 1006), bit_depth="float")
    nan = plate_pixels(24, 32, 7)
    nan[3, 4] = np.nan
    nan[5, 6] = np.inf
    write_image(str(p(1007)), Frame(nan, ("R", "G", "B"), "lin_srgb", 1007), bit_depth="float")


@pytest.mark.parametrize("pipeline", [SPATIAL, TEMPORAL], ids=["spatial", "temporal"])
def test_bad_frames_are_named_and_the_rest_completes(tmp_path: Path, model_dir: Path, pipeline: list) -> None:
    damaged_plate(tmp_path / "plates")
    job = write_job(tmp_path / "job.yaml", "plates/A001.####.exr", "out/B.####.exr", pipeline, input={"frames": "1001-1010", "detect_cuts": False})
    code, text = cli("run", job)
    assert code == 1, text
    assert "Traceback" not in text
    for n in BAD:
        assert f"A001.{n}.exr" in text, (n, text)
    assert "input frame 1005 is missing" in text
    assert "file is empty (0 bytes)" in text and "it is 40x30, the sequence's frames are 32x24" in text
    assert text.count("-> ") >= 4  # what to do, for each
    assert "fix the named inputs and rerun" in text
    written = {int(p.name.split(".")[1]) for p in (tmp_path / "out").glob("B.*.exr")}
    assert {1001, 1007, 1008, 1009, 1010} <= written
    assert not written & {1002, 1003, 1004, 1005, 1006}
    for n in written:
        assert np.isfinite(read_image(str(tmp_path / "out" / f"B.{n}.exr")).pixels).all()
    assert "frame 1007: 6 NaN/Inf values replaced" in text

    code, text = cli("run", job, "--fail-fast", "--no-resume")
    assert code == 1 and "1 frame(s) failed" in text and "frame 1008 done" not in text  # stopped at the first failure


@pytest.mark.parametrize("channels", [("Y",), ("Y", "A"), ("R", "G", "B", "A")], ids=["1ch", "2ch", "4ch"])
def test_one_two_and_four_channels(tmp_path: Path, model_dir: Path, channels: tuple[str, ...]) -> None:
    for n in range(1001, 1004):
        pix = np.clip(plate_pixels(16, 20, n, channels=len(channels)), 0, 1)
        write_image(str(tmp_path / "plates" / f"C.{n}.exr"), Frame(pix, channels, "lin_srgb", n), bit_depth="float")
    job = write_job(tmp_path / "job.yaml", "plates/C.####.exr", "out/C.####.exr", [{"node": "dustbust"}, *SPATIAL])
    code, text = cli("run", job)
    assert code == 0, text
    out = read_image(str(tmp_path / "out" / "C.1002.exr"))
    assert out.channels == channels and out.pixels.shape == (32, 40, len(channels))


@pytest.mark.parametrize("node", ["upscale", "dustbust", "scratch", "deflicker", "stabilize", "degrain", "regrain", "denoise"])
def test_one_pixel_frames(tmp_path: Path, node: str) -> None:
    for n in range(1001, 1004):
        write_image(str(tmp_path / "plates" / f"D.{n}.exr"), Frame(np.full((1, 1, 3), 0.1 * (n % 7), np.float32), ("R", "G", "B"), "lin_srgb", n))
    job = write_job(tmp_path / "job.yaml", "plates/D.####.exr", "out/D.####.exr", [{"node": node}])
    code, text = cli("run", job)
    assert code == 0, text
    side = 2 if node == "upscale" else 1
    assert read_image(str(tmp_path / "out" / "D.1003.exr")).pixels.shape == (side, side, 3)
