"""Job files: the documented keys work; bad ones get messages naming the key and the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reelfix.errors import JobError
from reelfix.jobs.load import load_job
from reelfix.jobs.spec import parse_memory

GOOD = """\
input:
  path: plates/A001.####.exr
  frames: "1001-1100"
  colorspace: lin_srgb
output:
  path: out/A001.####.exr
  colorspace: lin_srgb
  compression: dwaa
pipeline:
  - node: upscale
    params: {scale: 2}
device: auto
"""


def write(tmp_path: Path, text: str, name: str = "job.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_documented_job_loads_with_defaults_and_absolute_paths(tmp_path: Path) -> None:
    job = load_job(write(tmp_path, GOOD))
    assert job.input.frames == "1001-1100"
    assert job.output.compression == "dwaa"
    assert job.pipeline[0].node == "upscale"
    assert job.input.path == str(tmp_path / "plates/A001.####.exr")
    assert job.output.path == str(tmp_path / "out/A001.####.exr")
    assert job.max_memory_bytes == 2 * 1024**3


def test_json_job_loads(tmp_path: Path) -> None:
    import yaml

    data = yaml.safe_load(GOOD)
    job = load_job(write(tmp_path, json.dumps(data), "job.json"))
    assert job.device == "auto"


@pytest.mark.parametrize(
    "mutation, expected",
    [
        (("outptu", {"path": "x.exr"}), "unknown key 'outptu' in (top level)"),
        (("input.colour", "x"), "unknown key 'colour' in input"),
        (("pipeline", [{"node": "upscale", "params": {"scael": 2}}]), "unknown parameter 'scael' for node 'upscale'"),
        (("pipeline", [{"node": "upscale", "params": {"scale": 5}}]), "'scale' must be one of [2, 3, 4]"),
        (("pipeline", [{"node": "upscale", "params": {"scale": "two"}}]), "'scale' must be a int"),
        (("pipeline", [{"node": "unblur"}]), "unknown node 'unblur'"),
        (("pipeline", []), "pipeline"),
        (("device", "gpu"), "device"),
        (("max_memory", "lots"), "cannot read memory size 'lots'"),
    ],
)
def test_bad_jobs_name_the_key_and_file(tmp_path: Path, mutation: tuple[str, object], expected: str) -> None:
    import yaml

    data = yaml.safe_load(GOOD)
    key, value = mutation
    if "." in key:
        outer, inner = key.split(".")
        data[outer][inner] = value
    else:
        data[key] = value
    path = write(tmp_path, yaml.safe_dump(data))
    with pytest.raises(JobError) as info:
        load_job(path)
    assert expected in str(info.value)
    if expected != "cannot read memory size 'lots'":
        assert str(path) in str(info.value)


def test_missing_required_key(tmp_path: Path) -> None:
    with pytest.raises(JobError, match="missing key 'output'"):
        load_job(write(tmp_path, "input: {path: a.exr}\npipeline: [{node: upscale}]\n"))


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(JobError, match="not valid YAML"):
        load_job(write(tmp_path, "input: [unclosed\n"))
    with pytest.raises(JobError, match="job file not found"):
        load_job(tmp_path / "nope.yaml")
    with pytest.raises(JobError, match="must be a mapping"):
        load_job(write(tmp_path, "- just\n- a list\n"))


@pytest.mark.parametrize("text, expected", [("2GB", 2 * 1024**3), ("512M", 512 * 1024**2), ("1.5g", int(1.5 * 1024**3)), (1000, 1000)])
def test_parse_memory(text: str | int, expected: int) -> None:
    assert parse_memory(text) == expected
