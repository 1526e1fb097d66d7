"""End to end through the pipeline: real EXR files, real ONNX Runtime sessions on tiny models."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from reelfix.errors import FrameWriteError, JobError
from reelfix.frames.image_io import read_header, read_image
from reelfix.jobs.load import job_from_data
from reelfix.jobs.spec import Job
from reelfix.pipeline import run_job


def make_job(plate: str, out: str, **node_params: object) -> Job:
    data = {
        "input": {"path": plate, "colorspace": "lin_srgb"},
        "output": {"path": out, "bit_depth": "float"},
        "pipeline": [{"node": "upscale", "params": {"scale": 2, "model": "tiny-x2", **node_params}}],
        "device": "cpu",
    }
    return job_from_data(data, "test job")


def test_upscale_sequence_writes_frames_with_provenance_and_manifest(tmp_path: Path, model_dir: Path, make_plate) -> None:
    plate = make_plate()
    out = str(tmp_path / "out" / "A001_x2.####.exr")
    summary = run_job(make_job(plate, out))
    assert summary.count("done") == 5 and not summary.failed
    frame = read_image(str(tmp_path / "out" / "A001_x2.1003.exr"))
    assert frame.pixels.shape == (48, 64, 3)
    assert np.isfinite(frame.pixels).all()
    header = read_header(str(tmp_path / "out" / "A001_x2.1003.exr"))
    assert header["reelfix:version"]
    chain = json.loads(header["reelfix:pipeline"])
    assert chain == [{"node": "upscale", "params": {"scale": 2, "model": "tiny-x2", "tile": 0, "highlights": "auto"}}]
    models = json.loads(header["reelfix:models"])
    assert len(models["tiny-x2"]) == 64
    assert header["reelfix:provider"] == "CPUExecutionProvider"
    manifest = json.loads((tmp_path / "out" / "A001_x2.reelfix.json").read_text())
    assert manifest["summary"] == {"done": 5}
    assert set(manifest["frames"]) == {"1001", "1002", "1003", "1004", "1005"}


def test_rerun_resumes_and_no_resume_redoes(tmp_path: Path, model_dir: Path, make_plate) -> None:
    plate = make_plate()
    out = str(tmp_path / "out" / "A.####.exr")
    job = make_job(plate, out)
    first = run_job(job, frames="1001-1002")  # an interrupted run: two frames finished
    assert first.count("done") == 2
    mtime = os.stat(tmp_path / "out" / "A.1001.exr").st_mtime_ns
    second = run_job(job)
    assert (second.count("skipped"), second.count("done")) == (2, 3)
    assert os.stat(tmp_path / "out" / "A.1001.exr").st_mtime_ns == mtime
    third = run_job(job, resume=False)
    assert third.count("done") == 5
    changed = run_job(make_job(plate, out, highlights="split"))  # other parameters: not the same job
    assert changed.count("done") == 5


def test_truncated_frame_mid_sequence_is_named_and_the_rest_written(tmp_path: Path, model_dir: Path, make_plate) -> None:
    plate = make_plate()
    bad = tmp_path / "plates" / "A001.1003.exr"
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    out = str(tmp_path / "out" / "A.####.exr")
    summary = run_job(make_job(plate, out))
    assert summary.count("done") == 4
    [failed] = summary.failed
    assert failed.number == 1003 and "A001.1003.exr" in failed.error
    assert not (tmp_path / "out" / "A.1003.exr").exists()
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]
    manifest = json.loads((tmp_path / "out" / "A.reelfix.json").read_text())
    assert manifest["frames"]["1003"]["status"] == "failed"


def test_gap_is_reported_and_requested_missing_frame_fails(tmp_path: Path, model_dir: Path, make_plate) -> None:
    plate = make_plate(frames=[1001, 1002, 1004, 1005])
    out = str(tmp_path / "out" / "A.####.exr")
    summary = run_job(make_job(plate, out))
    assert summary.count("done") == 4
    assert any("gaps in the sequence: 1003" in w for w in summary.warnings)
    job = make_job(plate, out).model_copy(update={"input": make_job(plate, out).input.model_copy(update={"frames": "1001-1005"})})
    summary = run_job(job)
    assert [r.number for r in summary.failed] == [1003]
    assert "missing" in summary.failed[0].error


def test_nan_and_inf_are_replaced_with_a_warning(tmp_path: Path, model_dir: Path, make_plate) -> None:
    from reelfix.frames.frame import Frame
    from reelfix.frames.image_io import write_image

    pix = np.full((9, 11, 3), 0.3, np.float32)
    pix[2, 3] = np.nan
    pix[4, 5, 1] = np.inf
    write_image(str(tmp_path / "p" / "n.0001.exr"), Frame(pix, ("R", "G", "B"), "lin_srgb", 1), bit_depth="float")
    summary = run_job(make_job(str(tmp_path / "p" / "n.####.exr"), str(tmp_path / "o" / "n.####.exr")))
    assert summary.count("done") == 1
    assert any("NaN/Inf" in w for w in summary.warnings)
    assert np.isfinite(read_image(str(tmp_path / "o" / "n.0001.exr")).pixels).all()


@pytest.mark.parametrize("size", [(1, 1), (17, 33)])
def test_tiny_and_odd_frames(tmp_path: Path, model_dir: Path, make_plate, size: tuple[int, int]) -> None:
    plate = make_plate(frames=[1], height=size[0], width=size[1])
    summary = run_job(make_job(plate, str(tmp_path / "o" / "A.####.exr")))
    assert summary.count("done") == 1
    assert read_image(str(tmp_path / "o" / "A.0001.exr")).pixels.shape == (size[0] * 2, size[1] * 2, 3)


def test_alpha_is_carried_and_never_fed_to_the_model(tmp_path: Path, model_dir: Path, make_plate) -> None:
    plate = make_plate(channels=("R", "G", "B", "A"), frames=[1])
    run_job(make_job(plate, str(tmp_path / "o" / "A.####.exr")))
    out = read_image(str(tmp_path / "o" / "A.0001.exr"))
    assert out.channels == ("R", "G", "B", "A")
    src = read_image(plate.replace("####", "0001"))
    alpha = out.pixels[:, :, 3]
    assert alpha.min() >= src.pixels[:, :, 3].min() - 1e-6 and alpha.max() <= src.pixels[:, :, 3].max() + 1e-6
    assert abs(float(alpha.mean()) - float(src.pixels[:, :, 3].mean())) < 0.02


def test_tiled_equals_whole_frame_through_the_node(tmp_path: Path, model_dir: Path, make_plate) -> None:
    plate = make_plate(frames=[1], height=70, width=90)
    run_job(make_job(plate, str(tmp_path / "whole" / "A.####.exr"), tile=512))
    run_job(make_job(plate, str(tmp_path / "tiled" / "A.####.exr"), tile=24))
    whole = read_image(str(tmp_path / "whole" / "A.0001.exr")).pixels
    tiled = read_image(str(tmp_path / "tiled" / "A.0001.exr")).pixels
    assert np.max(np.abs(whole - tiled)) < 1e-3


def test_unwritable_output_folder_is_a_clear_error(tmp_path: Path, model_dir: Path, make_plate) -> None:
    plate = make_plate(frames=[1])
    blocker = tmp_path / "file_not_folder"
    blocker.write_text("x")
    with pytest.raises((FrameWriteError, JobError)) as info:
        run_job(make_job(plate, str(blocker / "out" / "A.####.exr")))
    assert "file_not_folder" in str(info.value)


def test_no_input_frames_is_a_job_error(tmp_path: Path, model_dir: Path) -> None:
    with pytest.raises(Exception) as info:
        run_job(make_job(str(tmp_path / "nothing" / "A.####.exr"), str(tmp_path / "o" / "A.####.exr")))
    assert "A.####.exr" in str(info.value)


def test_metadata_travels_from_input_to_output(tmp_path: Path, model_dir: Path) -> None:
    from fractions import Fraction

    from reelfix.frames.frame import Frame
    from reelfix.frames.image_io import write_image

    meta = {"smpte:TimeCode": "01:00:00:00", "PixelAspectRatio": 2.0, "studio:shot": "A001_C003", "FramesPerSecond": Fraction(24000, 1001)}
    write_image(str(tmp_path / "p" / "m.1001.exr"), Frame(np.full((8, 8, 3), 0.2, np.float32), ("R", "G", "B"), "lin_srgb", 1001, meta))
    run_job(make_job(str(tmp_path / "p" / "m.####.exr"), str(tmp_path / "o" / "m.####.exr")))
    header = read_header(str(tmp_path / "o" / "m.1001.exr"))
    assert header["smpte:TimeCode"] == "01:00:00:00"
    assert header["PixelAspectRatio"] == pytest.approx(2.0)
    assert header["studio:shot"] == "A001_C003"


def test_movie_in_exr_out_and_exr_in_prores_out(tmp_path: Path, model_dir: Path, make_plate) -> None:
    from fractions import Fraction

    from reelfix.frames.movie_io import MovieReader

    plate = make_plate(frames=range(1, 4), height=16, width=24)
    mov = str(tmp_path / "o" / "clip.mov")
    data = {
        "input": {"path": plate, "colorspace": "lin_srgb"},
        "output": {"path": mov},
        "pipeline": [{"node": "upscale", "params": {"scale": 2, "model": "tiny-x2"}}],
        "device": "cpu",
    }
    summary = run_job(job_from_data(data, "t"))
    assert summary.count("done") == 3
    with MovieReader(mov) as reader:
        assert (reader.frame_count, reader.width, reader.height) == (3, 48, 32)
        assert reader.fps == Fraction(24)
    back = {**data, "input": {"path": mov}, "output": {"path": str(tmp_path / "o2" / "f.####.exr")}}
    summary = run_job(job_from_data(back, "t"))
    assert summary.count("done") == 3
    assert read_image(str(tmp_path / "o2" / "f.0002.exr")).pixels.shape == (64, 96, 3)


@pytest.mark.parametrize("highlights", ["auto", "rolloff", "split"])
def test_scene_linear_highlights_and_negatives_survive_the_builtin_model(tmp_path: Path, highlights: str) -> None:
    from reelfix.frames.frame import Frame
    from reelfix.frames.image_io import write_image

    pix = np.full((40, 48, 3), 0.18, np.float32)
    pix[10:30, 12:36] = 8.0  # a practical light, far above 1
    pix[0:6, 0:6] = -0.02  # negative noise floor
    write_image(str(tmp_path / "p" / "h.0001.exr"), Frame(pix, ("R", "G", "B"), "lin_srgb", 1), bit_depth="float")
    data = {
        "input": {"path": str(tmp_path / "p" / "h.####.exr"), "colorspace": "lin_srgb"},
        "output": {"path": str(tmp_path / "o" / "h.####.exr"), "bit_depth": "float"},
        "pipeline": [{"node": "upscale", "params": {"scale": 2, "highlights": highlights}}],
        "device": "cpu",
    }
    assert run_job(job_from_data(data, "t")).count("done") == 1
    out = read_image(str(tmp_path / "o" / "h.0001.exr")).pixels
    assert np.isfinite(out).all()
    assert np.allclose(out[30:50, 34:62], 8.0, rtol=0.02)  # inside the light: kept, not clipped to 1
    assert np.allclose(out[68:80, 80:96], 0.18, rtol=0.03)  # mid grey unchanged
    assert out[0:6, 0:6].max() < 0.0  # negatives survive


@pytest.mark.parametrize("channels", [("Y",), ("Y", "A")])
def test_one_and_two_channel_images(tmp_path: Path, model_dir: Path, make_plate, channels: tuple[str, ...]) -> None:
    plate = make_plate(frames=[1], channels=channels)
    assert run_job(make_job(plate, str(tmp_path / "o" / "A.####.exr"))).count("done") == 1
    out = read_image(str(tmp_path / "o" / "A.0001.exr"))
    assert out.channels == channels and out.pixels.shape == (48, 64, len(channels))
    assert np.isfinite(out.pixels).all()


@pytest.mark.parametrize("where", ["after", "before"])
def test_an_interrupt_while_a_frame_goes_to_the_writer_reports_exactly_what_was_written(
    tmp_path: Path, model_dir: Path, make_plate, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """Ctrl-C or a host's Cancel (SIGINT: KeyboardInterrupt in the main thread) can land at any
    point, also while the second frame is being handed to the writer: just after the writer took
    it (the frame is written, so it is reported done, as a host counts kept frames from the
    reports), or just before (never written, never reported). The first frame is reported
    either way; nothing is reported that is not on disk."""
    import concurrent.futures

    plate = make_plate()
    out = tmp_path / "out"
    real_submit = concurrent.futures.ThreadPoolExecutor.submit
    handed = []

    def submit(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not self._thread_name_prefix.startswith("reelfix-write"):
            return real_submit(self, fn, *args, **kwargs)
        handed.append(fn)
        if len(handed) == 2 and where == "before":
            raise KeyboardInterrupt
        fut = real_submit(self, fn, *args, **kwargs)
        if len(handed) == 2:
            raise KeyboardInterrupt  # inside submit, after the work item was queued: the caller never sees its future
        return fut

    monkeypatch.setattr(concurrent.futures.ThreadPoolExecutor, "submit", submit)
    reported: list[tuple[int, str]] = []
    with pytest.raises(KeyboardInterrupt):
        run_job(make_job(plate, str(out / "A.####.exr")), progress=lambda r, k, n: reported.append((r.number, r.status)))
    on_disk = sorted(int(p.name.split(".")[1]) for p in out.glob("A.*.exr"))
    assert on_disk == ([1001, 1002] if where == "after" else [1001])
    assert reported == [(n, "done") for n in on_disk]


def test_each_frame_is_reported_when_its_file_is_in_place_not_after_the_next_frame(
    tmp_path: Path, model_dir: Path, make_plate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host's progress (Nuke, Resolve) and a farm's log count frames from the reports: frame
    1001's comes as soon as its write ends, while 1002 is still being computed (handshake: the
    computation of 1002 waits for 1001's report; before, 1001 was reported only once 1002 was
    computed, so this waited out its limit)."""
    import threading

    from reelfix import faults

    plate = make_plate()
    out = tmp_path / "out"
    first_reported = threading.Event()
    seen_in_time: list[bool] = []
    real_point = faults.point

    def point(name: str, number: int | str | None = None) -> None:
        if name == "node" and number == 1002:
            seen_in_time.append(first_reported.wait(timeout=60))
        real_point(name, number)

    def progress(result, k, n) -> None:  # type: ignore[no-untyped-def]
        if result.number == 1001:
            assert (out / "A.1001.exr").is_file()  # the report follows the file
            first_reported.set()

    monkeypatch.setattr(faults, "point", point)
    summary = run_job(make_job(plate, str(out / "A.####.exr")), progress=progress)
    assert seen_in_time == [True]
    assert summary.count("done") == len(summary.results) == 5
