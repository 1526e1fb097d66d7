"""Pieces every farm format shares: frame lists, the farm job file, the executable, path mapping."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from reelfix.errors import UserError
from reelfix.farm.openjd import farm_job_name_for, load_path_mapping_rules, map_job, map_path
from reelfix.farm.prepare import _climbs_out, contiguous_runs, find_executable, prepare, range_expression, write_farm_job
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


def test_executable_defaults_to_the_one_beside_this_python() -> None:
    assert find_executable("reelfix") == "reelfix"
    assert find_executable() == str(Path(sys.executable).with_name("reelfix"))


def test_path_mapping_rules_from_an_openjd_session_file(temporal_job: TemporalJob, tmp_path: Path) -> None:
    pytest.importorskip("openjd.sessions", reason="openjd-sessions is not installed")
    empty = tmp_path / "none.json"
    empty.write_text("{}")  # what a session writes when there are no rules
    assert load_path_mapping_rules(empty) == []
    rules_file = tmp_path / "rules.json"
    rules_file.write_text(json.dumps({"version": "pathmapping-1.0", "path_mapping_rules": [
        {"source_path_format": "WINDOWS", "source_path": "Z:\\shows", "destination_path": "/mnt/shows"},
        {"source_path_format": "POSIX", "source_path": "/studio", "destination_path": "/mnt/studio"},
        {"source_path_format": "POSIX", "source_path": "/studio/plates", "destination_path": "/fast/plates"},
    ]}))
    rules = load_path_mapping_rules(rules_file)
    assert map_path("z:\\Shows\\A\\renders\\A.####.exr", rules) == "/mnt/shows/A/renders/A.####.exr"
    assert map_path("/studio/plates/A.####.exr", rules) == "/fast/plates/A.####.exr"  # longest source first
    assert map_path("/studio/out/A.####.exr", rules) == "/mnt/studio/out/A.####.exr"
    assert map_path("/studiox/A.####.exr", rules) == "/studiox/A.####.exr"  # whole components only
    job = load_job(temporal_job.job_file)
    moved = map_job(job, load_path_mapping_rules(_rules_for(tmp_path, str(temporal_job.folder.parent), "/mnt/x")))
    assert moved.input.path == "/mnt/x/plates/A001.####.exr"
    assert moved.output.path == "/mnt/x/shot 010/renders/A001_x2.####.exr"
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": "pathmapping-1.0", "path_mapping_rules": [{"source_path": "/a"}]}')
    with pytest.raises(UserError, match=r"path_mapping_rules\[0\]"):
        load_path_mapping_rules(bad)


def _rules_for(folder: Path, source: str, destination: str) -> Path:
    path = folder / "one.json"
    path.write_text(json.dumps({"version": "pathmapping-1.0", "path_mapping_rules": [
        {"source_path_format": "POSIX", "source_path": source, "destination_path": destination}]}))
    return path
