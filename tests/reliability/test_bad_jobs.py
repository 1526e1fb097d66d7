"""Guarantee: a bad job is refused with exit 2 and a message naming the problem, never a
traceback. Named cases (unknown key, wrong type, missing input, output escaping as a pattern in
a folder name...), then hypothesis over whole job files, frame ranges and path patterns: the
CLI always ends with exit 0, 1 or 2, and exit 2 always says `error:`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability.helpers import cli, write_plate

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
VALID: dict[str, Any] = {
    "input": {"path": "plates/A001.####.exr", "frames": "1001-1002", "colorspace": "lin_srgb"},
    "output": {"path": "out/B.####.exr"},
    "pipeline": [{"node": "regrain", "params": {"source": "synthetic"}}],
    "device": "cpu",
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("jobs")
    write_plate(folder / "plates", frames=range(1001, 1003), height=8, width=8)
    return folder


def run(folder: Path, job: Any, *args: str, text: str | None = None, name: str = "job.yaml") -> tuple[int, str]:
    path = folder / name
    path.write_text(text if text is not None else (json.dumps(job) if name.endswith(".json") else yaml.safe_dump(job)))
    code, out = cli("run", path, *args)  # an escaped exception is raised here, failing the test
    assert code in (0, 1, 2), (code, out)
    assert "Traceback" not in out
    if code == 2:
        assert "error:" in out, out
    return code, out


@pytest.mark.parametrize("change,expected", [
    (lambda j: j.update(bogus=1), "unknown key 'bogus'"),
    (lambda j: j["input"].update(path=5), "input.path"),
    (lambda j: j["output"].update(compresion="zip"), "unknown key 'compresion' in output"),
    (lambda j: j.pop("input"), "missing key 'input'"),
    (lambda j: j.update(pipeline=[]), "pipeline"),
    (lambda j: j["pipeline"][0].update(node="upscael"), "upscael"),
    (lambda j: j["pipeline"][0]["params"].update(amount="lots"), "'amount' must be a float"),
    (lambda j: j["pipeline"][0]["params"].update(amount=9), "'amount' must be <= 4"),
    (lambda j: j.update(max_memory="lots"), "cannot read memory size"),
    (lambda j: j["input"].update(path="plates/A001.#####.exr"), "no frames match"),
    (lambda j: j["input"].update(path="nowhere/A001.####.exr"), "does not exist"),
    (lambda j: j["input"].update(frames="1002-1001"), "ends before it starts"),
    (lambda j: j["output"].update(path="out/B.####.xyz"), "unknown format"),
    (lambda j: j["output"].update(path="out/B.####.%04d.exr"), "placeholders"),
], ids=["unknown-key", "wrong-type", "typo-key", "missing-input", "empty-pipeline", "unknown-node", "param-type",
        "param-range", "memory", "wrong-padding", "missing-folder", "reversed-range", "format", "two-placeholders"])
def test_named_bad_jobs(tmp_path: Path, change: Any, expected: str) -> None:
    folder = tmp_path
    write_plate(folder / "plates", frames=range(1001, 1003), height=8, width=8)
    job = json.loads(json.dumps(VALID))
    change(job)
    code, out = run(folder, job)
    assert code == 2 and expected in out, out
    assert not (folder / "out").exists()


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
PATHS = ["input", "input.path", "input.frames", "input.colorspace", "input.cuts", "input.detect_cuts", "output", "output.path",
         "output.colorspace", "output.compression", "output.bit_depth", "output.mattes", "pipeline", "pipeline.0", "pipeline.0.node",
         "pipeline.0.params", "pipeline.0.params.amount", "pipeline.0.params.source", "device", "max_memory", "extra"]


def _set(job: dict[str, Any], where: str, value: Any) -> None:
    keys: list[Any] = [int(k) if k.isdigit() else k for k in where.split(".")]
    target = job
    for k in keys[:-1]:
        target = target[k]
    if value is _DELETE:
        target.pop(keys[-1], None) if isinstance(target, dict) else None
    else:
        target[keys[-1]] = value


_DELETE = object()


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(PATHS), JSONISH | st.just(_DELETE)), min_size=1, max_size=3), st.sampled_from(["job.yaml", "job.json"]))
def test_mutated_job_files_never_give_a_traceback(folder: Path, changes: list[tuple[str, Any]], name: str) -> None:
    job = json.loads(json.dumps(VALID))
    for where, value in changes:
        try:
            _set(job, where, value)
        except (KeyError, IndexError, TypeError):
            pass  # the parent was replaced by an earlier change
    run(folder, job, name=name)


@SETTINGS
@given(st.text(max_size=200))
def test_any_text_as_a_job_file(folder: Path, text: str) -> None:
    code, _ = run(folder, None, text=text)
    assert code == 2


RANGE_TEXT = st.text(alphabet="0123456789-,x: ab", max_size=16) | st.from_regex(r"-?\d{1,5}(-\d{1,5}(x-?\d)?)?", fullmatch=True)


@SETTINGS
@given(RANGE_TEXT, st.none() | RANGE_TEXT)
def test_frame_ranges(folder: Path, job_frames: str, option: str | None) -> None:
    job = json.loads(json.dumps(VALID))
    job["input"]["frames"] = job_frames
    run(folder, job, *(["--frames", option] if option is not None else []))


PATTERN = st.text(alphabet="#%@$d0123456789._-ABab/", min_size=1, max_size=24).filter(lambda p: ".." not in p and not p.startswith("/"))


@SETTINGS
@given(PATTERN, st.sampled_from([".exr", ".dpx", ".png", ".mov", ".txt", ""]), PATTERN, st.sampled_from([".exr", ".tif", ".mov", ""]))
def test_path_patterns(folder: Path, inp: str, in_ext: str, out: str, out_ext: str) -> None:
    job = json.loads(json.dumps(VALID))
    job["input"]["path"] = "plates/" + inp + in_ext
    job["output"]["path"] = "outs/" + out + out_ext
    run(folder, job)
