"""Temporal windows through the pipeline, with a plugin node: ends of range, chunks == whole run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reelfix.frames.image_io import read_image
from reelfix.jobs.load import job_from_data
from reelfix.nodes import _all
from reelfix.pipeline import run_job


@pytest.fixture
def plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REELFIX_PLUGINS", "tests.plugins.temporal_mean")
    _all.cache_clear()


def job(plate: str, out: str, frames: str | None = None):
    return job_from_data(
        {
            "input": {"path": plate, "frames": frames, "colorspace": "lin_srgb"},
            "output": {"path": out, "bit_depth": "float"},
            "pipeline": [{"node": "tmean", "params": {"radius": 1}}, {"node": "tmean", "params": {"radius": 2}}],
        },
        "test",
    )


def test_chunks_give_frames_identical_to_one_run(tmp_path: Path, plugin: None, make_plate) -> None:
    plate = make_plate(frames=range(1, 13))
    whole = tmp_path / "whole" / "A.####.exr"
    run_job(job(plate, str(whole)))
    chunked = tmp_path / "chunked" / "A.####.exr"
    for chunk in ("1-4", "5-8", "9-12"):
        summary = run_job(job(plate, str(chunked)), frames=chunk)
        assert summary.count("done") == 4
    for n in range(1, 13):
        a = read_image(str(whole).replace("####", f"{n:04d}")).pixels
        b = read_image(str(chunked).replace("####", f"{n:04d}")).pixels
        assert np.array_equal(a, b), n


def test_windows_shrink_at_range_ends_and_stay_inside_the_input_range(tmp_path: Path, plugin: None, make_plate) -> None:
    plate = make_plate(frames=range(1, 9))
    out = tmp_path / "o" / "A.####.exr"
    run_job(job(plate, str(out), frames="2-7"), frames="2-3")
    first = read_image(str(out).replace("####", "0002"))
    # the last node (radius 2) at frame 2 sees frames 2..4 only: 1 is outside the job's input range
    assert first.metadata.get("test:window") == "2,3,4"
    assert not Path(str(out).replace("####", "0001")).exists()


def test_unknown_plugin_module_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from reelfix.errors import UserError
    from reelfix.nodes import all_nodes

    monkeypatch.setenv("REELFIX_PLUGINS", "no_such_module_xyz")
    _all.cache_clear()
    with pytest.raises(UserError, match="no_such_module_xyz"):
        all_nodes()
    _all.cache_clear()


def test_windows_stop_at_listed_and_detected_cuts(tmp_path: Path, plugin: None) -> None:
    from reelfix.frames.frame import Frame
    from reelfix.frames.image_io import write_image
    from skimage import data

    shots = {1: data.astronaut()[:400], 4: data.coffee()[:, :512]}  # frames 1-3 one shot, 4-6 another
    for n in range(1, 7):
        src = shots[1 if n < 4 else 4][::8, ::8].astype(np.float32) / 255.0
        pix = np.ascontiguousarray(src * (1.0 + 0.01 * n), dtype=np.float32)
        write_image(str(tmp_path / "p" / f"s.{n:04d}.exr"), Frame(pix, ("R", "G", "B"), "lin_srgb", n), bit_depth="float")
    plate, out = str(tmp_path / "p" / "s.####.exr"), tmp_path / "o" / "s.####.exr"
    single = lambda cuts, detect: job_from_data(  # noqa: E731
        {
            "input": {"path": plate, "colorspace": "lin_srgb", "cuts": cuts, "detect_cuts": detect},
            "output": {"path": str(out)},
            "pipeline": [{"node": "tmean", "params": {"radius": 2}}],
        },
        "test",
    )
    window = lambda n: read_image(str(out).replace("####", f"{n:04d}")).metadata["test:window"]  # noqa: E731
    run_job(single([], True), resume=False)
    assert (window(3), window(4)) == ("1,2,3", "4,5,6")  # detected from the pictures
    run_job(single([], False), resume=False)
    assert (window(3), window(4)) == ("1,2,3,4,5", "2,3,4,5,6")  # nothing stops the window
    run_job(single([3], False), resume=False)
    assert (window(2), window(3)) == ("1,2", "3,4,5")  # listed in the job


def test_mattes_and_node_reports_are_written(tmp_path: Path, plugin: None, make_plate) -> None:
    import json

    plate = make_plate(frames=range(1, 5))
    data = {
        "input": {"path": plate, "colorspace": "lin_srgb"},
        "output": {"path": str(tmp_path / "o" / "A.####.exr"), "mattes": str(tmp_path / "o" / "mattes" / "A_matte.####.exr")},
        "pipeline": [{"node": "tmean", "params": {"radius": 1}}],
    }
    run_job(job_from_data(data, "test"))
    matte = read_image(str(tmp_path / "o" / "mattes" / "A_matte.0002.exr"))
    assert matte.channels == ("tmean",) and matte.pixels.shape[:2] == (24, 32)
    assert set(np.unique(matte.pixels)) <= {0.0, 1.0} and matte.pixels.max() == 1.0
    manifest = json.loads((tmp_path / "o" / "A.reelfix.json").read_text())
    assert manifest["frames"]["1"]["reelfix:tmean"] == "window of 2"
    assert manifest["frames"]["2"]["reelfix:tmean"] == "window of 3"
