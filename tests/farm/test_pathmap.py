"""OpenJD path mapping applied by reelfix itself (pathmapping-1.0): the rules, every path of a
job, and a worker without the openjd packages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reelfix.errors import UserError
from reelfix.farm.pathmap import load_rules, map_job, map_path, parse_rules
from reelfix.jobs.load import job_from_data
from tests.farm.helpers import TemporalJob, assert_same_frames

RULES = {"version": "pathmapping-1.0", "path_mapping_rules": [
    {"source_path_format": "WINDOWS", "source_path": "Z:\\shows", "destination_path": "/mnt/shows"},
    {"source_path_format": "POSIX", "source_path": "/studio", "destination_path": "/mnt/studio"},
    {"source_path_format": "POSIX", "source_path": "/studio/plates", "destination_path": "/fast/plates"},
]}
PATHS = [
    "z:\\Shows\\A\\renders\\A.####.exr", "Z:/shows/A/x.onnx", "Z:\\showsX\\a", "Y:\\shows\\a",
    "/studio/plates/A.####.exr", "/studio/out/A.####.exr", "/studiox/A.####.exr", "/studio", "/studio/out/",
    "/elsewhere/a.exr", "relative/a.exr",
]


def test_rules_follow_the_specification() -> None:
    rules = parse_rules(RULES, "t")
    assert [r.source for r in rules][0] == "/studio/plates"  # longest source first
    assert map_path("z:\\Shows\\A\\renders\\A.####.exr", rules) == "/mnt/shows/A/renders/A.####.exr"  # case-insensitive
    assert map_path("Z:/shows/A/x.onnx", rules) == "/mnt/shows/A/x.onnx"  # either separator
    assert map_path("/studio/plates/A.####.exr", rules) == "/fast/plates/A.####.exr"
    assert map_path("/studio/out/A.####.exr", rules) == "/mnt/studio/out/A.####.exr"
    assert map_path("/studiox/A.####.exr", rules) == "/studiox/A.####.exr"  # whole components only
    assert map_path("/studio/out/", rules) == "/mnt/studio/out/"  # a trailing separator is kept
    assert map_path("/elsewhere/a.exr", rules) == "/elsewhere/a.exr"
    assert parse_rules({}, "t") == [] and parse_rules([], "t") == []
    for bad, message in (
        ({"version": "pathmapping-2.0"}, "pathmapping-1.0"),
        ({"version": "pathmapping-1.0", "path_mapping_rules": [{"source_path": "/a"}]}, r"path_mapping_rules\[0\]"),
        ({"version": "pathmapping-1.0", "path_mapping_rules": [
            {"source_path_format": "URI", "source_path": "s3://b", "destination_path": "/x"}]}, "POSIX or WINDOWS"),
    ):
        with pytest.raises(UserError, match=message):
            parse_rules(bad, "t")


def test_same_results_as_openjd_sessions() -> None:
    sessions = pytest.importorskip("openjd.sessions", reason="openjd-sessions is not installed")
    theirs = sorted((sessions.PathMappingRule.from_dict(r) for r in RULES["path_mapping_rules"]),
                    key=lambda r: -len(r.source_path.parts))
    ours = parse_rules(RULES, "t")
    for path in PATHS:
        expected = next((out for changed, out in (r.apply(path=path) for r in theirs) if changed), path)
        assert map_path(path, ours) == expected, path


def test_every_path_of_a_job_is_mapped(tmp_path: Path) -> None:
    job = job_from_data({
        "input": {"path": "/studio/plates/A.####.exr"},
        "output": {"path": "/studio/out/A.####.exr", "mattes": "/studio/out/mattes/A.####.exr"},
        "pipeline": [{"node": "upscale", "params": {"scale": 2, "model": "/studio/models/my-x2.onnx"}},
                     {"node": "denoise", "params": {"model": "grain-denoise"}}],
    }, "t")
    moved = map_job(job, parse_rules(RULES, "t"))
    assert moved.input.path == "/fast/plates/A.####.exr"
    assert moved.output.path == "/mnt/studio/out/A.####.exr"
    assert moved.output.mattes == "/mnt/studio/out/mattes/A.####.exr"
    assert moved.pipeline[0].params["model"] == "/mnt/studio/models/my-x2.onnx"
    assert moved.pipeline[1].params["model"] == "grain-denoise"  # a catalog name, not a path


# Python with the openjd packages made unimportable, as on a worker installed without the farm extra
NO_OPENJD = (
    "import sys; sys.modules['openjd'] = None\n"
    "try:\n    import openjd.sessions\nexcept ImportError:\n    pass\nelse:\n    raise SystemExit('openjd still importable')\n"
    "sys.argv = ['reelfix'] + sys.argv[1:]\n"
    "from reelfix.cli import main\nmain()\n"
)


def test_a_worker_without_openjd_runs_tasks_with_and_without_rules(temporal_job: TemporalJob, tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("{}")  # what a session writes when there are no rules
    run = [sys.executable, "-c", NO_OPENJD, "run", str(temporal_job.job_file), "--progress", "openjd"]
    done = subprocess.run([*run, "--frames", "1001-1003", "--path-mapping-rules", str(empty)],
                          env=temporal_job.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "openjd_progress: 100.0" in done.stdout

    site_b = tmp_path.parent / (tmp_path.name + " B")
    (site_b / "renders").mkdir(parents=True)
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"version": "pathmapping-1.0", "path_mapping_rules": [
        {"source_path_format": "POSIX", "source_path": str(Path(temporal_job.output).parent), "destination_path": str(site_b / "renders")}]}))
    done = subprocess.run([*run, "--frames", "1004-1010", "--path-mapping-rules", str(rules)],
                          env=temporal_job.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    moved = str(site_b / "renders" / Path(temporal_job.output).name)
    assert sorted(p.name for p in (site_b / "renders").glob("*.exr")) == [f"A001_x2.{n}.exr" for n in range(1004, 1011)]
    reference = str(tmp_path / "ref" / "A001_x2.####.exr")
    ref = subprocess.run([sys.executable, "-m", "reelfix", "run", str(temporal_job.write_variant("ref.yaml", reference))],
                         env=temporal_job.env, capture_output=True, text=True, timeout=120)
    assert ref.returncode == 0, ref.stderr
    assert_same_frames(moved, reference, list(range(1004, 1011)))
    assert_same_frames(temporal_job.output, reference, [1001, 1002, 1003])


def test_unreadable_rules_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot read path mapping rules"):
        load_rules(tmp_path / "missing.json")


def test_a_mapped_job_resumes_the_frames_written_before_mapping(temporal_job: TemporalJob, tmp_path: Path) -> None:
    """The job hash leaves out folders, of the model named by path too: a task on a worker
    whose mounts differ (or a retry in another Deadline Cloud session) skips finished frames."""
    from reelfix.farm.prepare import prepare
    from reelfix.pipeline import run_job
    from tests.farm.helpers import MODEL_PIPELINE, move_to_site_b

    farm = prepare(temporal_job.write_variant("m.yaml", "renders/A.####.exr", pipeline=MODEL_PIPELINE))
    assert run_job(farm.job, frames="1001-1003").count("done") == 3
    site_b = move_to_site_b(tmp_path)
    moved = map_job(farm.job, parse_rules({"version": "pathmapping-1.0", "path_mapping_rules": [
        {"source_path_format": "POSIX", "source_path": str(tmp_path), "destination_path": str(site_b)}]}, "t"))
    assert moved.pipeline[1].params["model"].startswith(str(site_b))
    again = run_job(moved, frames="1001-1003")
    assert again.count("skipped") == 3 and again.count("done") == 0
