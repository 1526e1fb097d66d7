"""The review report without a browser: what a run writes, what a manifest gives, the pictures'
display transform, the frame observer's contract with the pipeline."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from reelfix import colour
from reelfix.frames.frame import Frame
from reelfix.frames.image_io import read_image
from reelfix.jobs.load import job_from_data
from reelfix.pipeline import run_job
from reelfix.report import plan_previews
from reelfix.report.build import residual_weave
from reelfix.report.display import DisplayView, default_view
from tests.report.conftest import FRAMES, MISSING, Reviewed, pan_plate, reelfix


def dustbust_job(folder: Path, frames: range) -> dict:
    """A job (as data) running dustbust over a pan plate of `frames` written into `folder`."""
    (folder / "plates").mkdir()
    pan_plate(folder / "plates", frames=frames, skip=())
    return {
        "input": {"path": str(folder / "plates/pan.####.exr"), "colorspace": "lin_srgb"},
        "output": {"path": str(folder / "out/pan.####.exr")},
        "pipeline": [{"node": "dustbust"}],
        "device": "cpu",
    }


def test_run_with_report_writes_one_offline_folder(reviewed: Reviewed) -> None:
    r = reviewed.result
    assert r.returncode == 1, r.stderr  # the missing frame failed; the others were written
    assert f"input frame {MISSING} is missing" in r.stdout + r.stderr
    page = (reviewed.report / "index.html").read_text()
    assert "report: " in r.stderr and str(reviewed.report / "index.html") in r.stderr.replace("\n", "")
    assert not re.search(r"(src|href)=\"(https?:)?//", page), "the page must not load anything from the network"
    assets = sorted(p.name for p in (reviewed.report / "assets").iterdir())
    written = [n for n in FRAMES if n != MISSING]
    assert assets == sorted(f"{n}_{k}" for n in written for k in ("after.jpg", "before.jpg", "matte.png", "thumb.jpg"))
    before = cv2.imread(str(reviewed.report / "assets" / f"{written[0]}_before.jpg"))
    after = cv2.imread(str(reviewed.report / "assets" / f"{written[0]}_after.jpg"))
    assert before.shape == after.shape == (48, 64, 3)  # the after (x2) is shown at the before's size for the wipe
    plate = read_image(str(reviewed.root / "plates" / f"pan.{written[0]}.exr")).pixels
    expected = DisplayView("lin_srgb").rgb8(plate)  # the plate through the OCIO view (ACES 2.0 SDR for scene-linear)
    coarse = lambda img: cv2.resize(img.astype(np.float32), (8, 6), interpolation=cv2.INTER_AREA)  # noqa: E731 - JPEG's chroma loss averaged out
    assert np.abs(coarse(before[:, :, ::-1]) - coarse(expected)).mean() < 2
    matte = cv2.imread(str(reviewed.report / "assets" / f"{written[0]}_matte.png"), cv2.IMREAD_UNCHANGED)
    assert matte.shape == (48, 64, 4) and matte[:, :, 3].max() > 0  # dust specks repaired, shown
    data = json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page).group(1))
    assert [p["frame"] for p in data["shots"][0]["previews"]] == written
    assert "sha256" in page and "tiny-x2" in page and "dustbust" in page


def test_report_from_manifest_reads_only_the_chosen_frames(reviewed: Reviewed) -> None:
    out = reviewed.root / "review2"
    r = reelfix("report", str(reviewed.manifest), "-o", str(out), "--per-shot", "3", env=reviewed.env)
    assert r.returncode == 0, r.stdout + r.stderr
    page = (out / "index.html").read_text()
    shown = sorted({int(m) for m in re.findall(r"assets/(\d+)_before\.jpg", page)})
    assert shown == [1001, 1005, 1010]  # three evenly spaced of the written frames (1006 failed)
    assert "curves from 3 of 10 frames" in page
    assert f'data-manifest="frames.{MISSING}.error"' in page


def test_report_command_errors_are_messages(tmp_path: Path) -> None:
    r = reelfix("report", str(tmp_path / "nope.reelfix.json"), "-o", str(tmp_path / "r"), env={})
    assert r.returncode == 2 and "does not exist" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "x.json").write_text(json.dumps({"a": 1}))
    r = reelfix("report", str(tmp_path / "x.json"), "-o", str(tmp_path / "r"), env={})
    assert r.returncode == 2 and "not a reelfix run manifest" in r.stderr


def test_previews_are_planned_per_shot() -> None:
    chosen = plan_previews(range(1, 2001), cuts=[1001], per_shot=60)
    assert len(chosen) == 120 and {1, 1000, 1001, 2000} <= chosen
    assert plan_previews(range(5), per_shot=60) == set(range(5))


def test_residual_weave_keeps_camera_moves_and_finds_jitter() -> None:
    pan = residual_weave([(i, [3.0, -1.0] if i else None) for i in range(40)])
    assert max(v for _, v in pan) < 1e-6
    rng = np.random.default_rng(0)
    jitter = rng.normal(0, 1.0, (40, 2))
    shaky = residual_weave([(i, list(jitter[i] - jitter[i - 1] + [3.0, 0]) if i else None) for i in range(40)])
    assert 0.5 < float(np.sqrt(np.mean(np.square([v for _, v in shaky])))) < 2.0


def test_log_and_linear_plates_look_the_same() -> None:
    """The same picture as scene-linear and as ACEScct log shows the same through the OCIO view."""
    rng = np.random.default_rng(1)
    lin = (rng.random((16, 16, 3)) * 0.8).astype(np.float32)
    shown_lin = DisplayView("ACEScg").rgb8(lin)
    shown_log = DisplayView("ACEScct").rgb8(colour.convert(lin, "ACEScg", "ACEScct"))
    assert np.abs(shown_lin.astype(int) - shown_log.astype(int)).max() <= 1
    assert default_view("ACEScct") == default_view("lin_srgb") != default_view("srgb_tx") == "Un-tone-mapped"
    mid = DisplayView("lin_srgb", view="Un-tone-mapped").rgb8(np.full((1, 1, 3), 0.18, np.float32))
    assert abs(int(mid[0, 0, 0]) - 118) <= 1  # 18% grey is sRGB 118


def test_observer_sees_every_written_frame_and_never_costs_one(tmp_path: Path) -> None:
    data = dustbust_job(tmp_path, range(1, 6))
    seen: list[tuple[int, int, int, bool]] = []

    def observe(n: int, before: Frame, after: Frame) -> None:
        seen.append((n, before.number, after.number, "dustbust" in after.mattes))

    summary = run_job(job_from_data(data, "test"), observer=observe)
    assert seen == [(n, n, n, True) for n in range(1, 6)] and summary.count("done") == 5

    def broken(n: int, before: Frame, after: Frame) -> None:
        raise ValueError("boom")

    summary = run_job(job_from_data(data, "test"), resume=False, observer=broken)
    assert summary.count("done") == 5 and summary.count("failed") == 0
    assert any("frame observer stopped at frame 1: ValueError: boom" in w for w in summary.warnings)


@pytest.mark.parametrize("space", ["lin_srgb", "srgb_tx"])
def test_display_view_keeps_nan_and_inf_out(space: str) -> None:
    pix = np.array([[[np.nan, np.inf, -np.inf]]], np.float32)
    shown = DisplayView(space).rgb8(pix)
    assert shown.dtype == np.uint8 and shown.shape == (1, 1, 3)


def test_a_resumed_run_reads_back_the_previews_it_skipped(reviewed: Reviewed) -> None:
    r = reelfix("run", "job.yaml", "--report", "review3", "--progress", "plain", env=reviewed.env, cwd=reviewed.root)
    assert r.returncode == 1, r.stdout + r.stderr  # the missing frame still fails; the rest are skipped as finished
    page = (reviewed.root / "review3" / "index.html").read_text()
    shown = sorted({int(m) for m in re.findall(r"assets/(\d+)_before\.jpg", page)})
    assert shown == [n for n in FRAMES if n != MISSING]
    assert 'data-manifest="summary.skipped">9<' in page
    assert "no frame was processed in this run" in page


def test_shots_split_at_the_jobs_cuts_and_at_cuts_in_the_pictures(tmp_path: Path) -> None:
    from reelfix.report import ReportCollector

    rng = np.random.default_rng(2)
    a, b = (cv2.GaussianBlur(rng.random((72, 128, 3)).astype(np.float32), (0, 0), 4) for _ in range(2))  # smooth, like pictures
    collector = ReportCollector(tmp_path, range(1, 13), cuts=[4], per_shot=1)
    for n in range(1, 13):
        frame = Frame(np.roll(a if n < 7 else b, n, axis=1), ("R", "G", "B"), "lin_srgb", n)
        collector.observe(n, frame, frame)
    data = collector.data()
    assert data["shot_starts"] == [4, 7]
    assert sorted(data["previews"]) == [1, 4, 7]  # one per shot the job names, and the first of a found shot
    assert "motion_before" not in data["frames"][7] and abs(data["frames"][3]["motion_before"][0] - 1.0) < 0.05


def test_a_reused_folder_keeps_only_this_pages_pictures(tmp_path: Path) -> None:
    from reelfix.report import ReportCollector

    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "99_before.jpg").write_bytes(b"old")
    (tmp_path / "assets" / "notes.txt").write_text("someone else's")
    collector = ReportCollector(tmp_path, [1])
    frame = Frame(np.full((8, 8, 3), 0.18, np.float32), ("R", "G", "B"), "lin_srgb", 1)
    collector.observe(1, frame, frame)
    assert sorted(p.name for p in (tmp_path / "assets").iterdir()) == ["1_after.jpg", "1_before.jpg", "1_thumb.jpg", "notes.txt"]


def test_a_collector_failing_on_its_thread_is_dropped_and_the_frames_finish(tmp_path: Path) -> None:
    from reelfix.report import ReportCollector

    class Failing(ReportCollector):
        def observe(self, number: int, before: Frame, after: Frame) -> None:
            if number == 2:
                raise ValueError("cannot measure")
            super().observe(number, before, after)

    data = dustbust_job(tmp_path, range(1, 7))
    collector = Failing(tmp_path / "review", range(1, 7))
    summary = run_job(job_from_data(data, "test"), observer=collector)
    assert summary.count("done") == 6
    assert any("frame observer stopped" in w and "cannot measure" in w for w in summary.warnings)
    collector.flush()
    assert 1 in collector.frames and 2 not in collector.frames
