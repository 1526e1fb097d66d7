"""Pieces every farm format shares: frame lists, the farm job file, the executable, path mapping."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reelfix.errors import JobError, UserError
from reelfix.farm.openjd import farm_job_name_for
from reelfix.farm.prepare import _climbs_out, contiguous_runs, find_executable, home_folder_warning, prepare, range_expression, write_farm_job
from reelfix.frames.sequence import parse_frame_range
from reelfix.jobs.load import load_job
from tests.farm.helpers import FRAMES, TemporalJob


def test_frame_lists_and_openjd_chunk_strings() -> None:
    assert contiguous_runs([5, 1, 2, 3, 8, 9, 3]) == [(1, 3), (5, 5), (8, 9)]
    assert range_expression([1001, 1002, 1003, 1005, 1008, 1009]) == "1001-1003,1005,1008-1009"
    # the chunk strings OpenJD hands a task, CONTIGUOUS and NONCONTIGUOUS, read by `reelfix run --frames`
    assert parse_frame_range("15-15") == [15]
    assert parse_frame_range("1001-1010") == list(range(1001, 1011))
    assert parse_frame_range("1-3,5,7-11:2") == [1, 2, 3, 5, 7, 9, 11]


def test_names_and_output_folder_rule() -> None:
    assert farm_job_name_for(Path("farm/job.template.yaml")) == "job.farm-job.yaml"
    assert farm_job_name_for(Path("bundle/template.json")) == "template.farm-job.yaml"
    assert _climbs_out("renders/../../x/A.####.exr") == "renders"
    assert _climbs_out("/shows/a/renders/../A.####.exr") == "renders"
    assert _climbs_out("C:\\shows\\renders\\..\\A.####.exr") == "renders"
    assert _climbs_out("../../renders/A.####.exr") is None
    assert _climbs_out("/shows/a/renders/A.####.exr") is None


def test_farm_job_file_has_absolute_paths_and_loads_back(temporal_job: TemporalJob, tmp_path: Path) -> None:
    farm = prepare(temporal_job.job_file)
    assert farm.frames == FRAMES and farm.missing == [] and farm.name == "reelfix A001_x2"
    dest = write_farm_job(farm, tmp_path / "elsewhere" / "job.yaml")
    data = yaml.safe_load(dest.read_text())
    assert data["input"]["path"] == temporal_job.plate and Path(data["output"]["path"]).is_absolute()
    assert load_job(dest) == load_job(temporal_job.job_file)
    with pytest.raises(UserError, match="job file itself"):
        write_farm_job(farm, temporal_job.job_file)


def test_executable_defaults_to_reelfix_on_the_workers_path() -> None:
    assert find_executable() == "reelfix" and find_executable("  ") == "reelfix"
    assert find_executable("/opt/reelfix/bin/reelfix") == "/opt/reelfix/bin/reelfix"
    assert home_folder_warning("reelfix") is None and home_folder_warning("/opt/reelfix/bin/reelfix") is None
    for under_home in (str(Path.home() / "venv" / "bin" / "reelfix"), "/home/ann/.venv/bin/reelfix",
                       "/Users/ann/reelfix/.venv/bin/reelfix", r"C:\Users\ann\venv\Scripts\reelfix.exe"):
        warning = home_folder_warning(under_home)
        assert warning is not None and "home folder" in warning and "--executable" in warning, under_home


def test_node_files_are_made_absolute_from_the_job_folder_and_checked(temporal_job: TemporalJob, model_dir: Path, tmp_path: Path) -> None:
    pipeline = [{"node": "tmean", "params": {"radius": 1}}, {"node": "upscale", "params": {"scale": 2, "model": "../models/tiny-x2.onnx"}}]
    job_file = temporal_job.write_variant("model.yaml", "renders/A.####.exr", pipeline=pipeline)
    assert load_job(job_file).pipeline[1].params["model"] == str(model_dir / "tiny-x2.onnx")  # from the job's folder, as run does
    farm = prepare(job_file)
    assert farm.job.pipeline[1].params["model"] == str(model_dir / "tiny-x2.onnx")
    dest = write_farm_job(farm, tmp_path / "farm" / "job.yaml")
    assert yaml.safe_load(dest.read_text())["pipeline"][1]["params"]["model"] == str(model_dir / "tiny-x2.onnx")

    pipeline[1]["params"]["model"] = "../models/nothing.onnx"
    with pytest.raises(JobError, match=r"pipeline\[1\] \(upscale\) model: .*nothing.onnx not found"):
        prepare(temporal_job.write_variant("missing.yaml", "renders/A.####.exr", pipeline=pipeline))
    (model_dir / "bare.onnx").write_bytes((model_dir / "tiny-x2.onnx").read_bytes())
    pipeline[1]["params"]["model"] = "../models/bare.onnx"
    with pytest.raises(JobError, match="bare.card.json not found") as err:
        prepare(temporal_job.write_variant("nocard.yaml", "renders/A.####.exr", pipeline=pipeline))
    assert "card" in (err.value.hint or "")


def test_long_paths_stay_on_one_line_of_the_farm_job(tmp_path: Path) -> None:
    """Deadline 10 maps the farm job's text (CheckPathMappingInFile): a folded path would not map."""
    from reelfix.farm.prepare import FarmJob
    from reelfix.jobs.load import job_from_data

    deep = "/shows/" + "/".join(f"folder with spaces {i}" for i in range(12))
    job = job_from_data({"input": {"path": deep + "/A.####.exr"}, "output": {"path": deep + "/out/A.####.exr"},
                         "pipeline": [{"node": "upscale", "params": {"model": deep + "/m.onnx"}}]}, "t")
    dest = write_farm_job(FarmJob(tmp_path / "job.yaml", job, [1]), tmp_path / "farm.yaml")
    text = dest.read_text()
    for path in (deep + "/A.####.exr", deep + "/out/A.####.exr", deep + "/m.onnx"):
        assert path in text, path
