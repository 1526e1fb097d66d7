"""OpenJD templates run with the real `openjd` CLI, every chunk, against a local run."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from reelfix.farm.openjd import MAX_CHUNK, STEP_NAME, write_openjd
from tests.farm.helpers import FRAMES, ROOT, TemporalJob, assert_same_frames, job_with_every_path, move_to_site_b, openjd_command, reelfix, run


def chunks_run(log: str) -> list[str]:
    return re.findall(r"Frame\(CHUNK\[INT\]\) = (\S+)", log)


def local_reference(job: TemporalJob) -> str:
    """The same job rendered in one local `reelfix run`, into another folder."""
    out = str(job.folder / "local" / "A001_x2.####.exr")
    r = reelfix("run", str(job.write_variant("local.yaml", out)), env=job.env)
    assert r.returncode == 0, r.stderr
    return out


def test_template_passes_check_and_runs_every_chunk_like_one_local_run(temporal_job: TemporalJob) -> None:
    bundle = temporal_job.folder / "farm bundle"
    template = bundle / "job.template.yaml"
    r = reelfix("farm", "openjd", str(temporal_job.job_file), "--chunk", "4", "-o", str(template), env=temporal_job.env)
    assert r.returncode == 0, r.stderr
    assert f"openjd run '{template}' --step {STEP_NAME}" in r.stdout  # quoted: the folder has a space

    data = yaml.safe_load(template.read_text())
    assert data["specificationVersion"] == "jobtemplate-2023-09" and data["extensions"] == ["TASK_CHUNKING"]
    params = {p["name"]: p for p in data["parameterDefinitions"]}
    assert params["JobFile"]["type"] == "PATH" and params["JobFile"]["default"] == "job.farm-job.yaml"
    assert params["ReelfixExecutable"]["default"] == "reelfix"  # on the workers' PATH
    assert "hostRequirements" not in data["steps"][0] and "jobEnvironments" not in data  # a CPU job, no --env
    assert params["Frames"]["default"] == "1001-1010" and params["ChunkSize"]["default"] == 4
    (step,) = data["steps"]
    (frame_param,) = step["parameterSpace"]["taskParameterDefinitions"]
    assert frame_param["type"] == "CHUNK[INT]" and frame_param["chunks"]["rangeConstraint"] == "CONTIGUOUS"
    assert step["script"]["actions"]["onRun"]["args"] == [
        "run", "{{Param.JobFile}}", "--frames", "{{Task.Param.Frame}}", "--progress", "openjd",
        "--path-mapping-rules", "{{Session.PathMappingRulesFile}}", "--manifest-per-chunk",
    ]
    farm_job = yaml.safe_load((bundle / "job.farm-job.yaml").read_text())
    assert farm_job["input"]["path"] == temporal_job.plate and farm_job["output"]["path"] == temporal_job.output

    check = run([*openjd_command(), "check", str(template)], temporal_job.env)
    assert check.returncode == 0, check.stdout + check.stderr

    done = run([*openjd_command(), "run", str(template), "--step", STEP_NAME], temporal_job.env, cwd=temporal_job.folder.parent)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    assert chunks_run(log) == ["1001-1004", "1005-1007", "1008-1010"]  # balanced, not filled
    assert "openjd_progress: 100.0" in log and "openjd_status:" in log
    assert_same_frames(temporal_job.output, local_reference(temporal_job), FRAMES)
    manifests = sorted(p.name for p in Path(temporal_job.output).parent.glob("*.json"))  # one per chunk: none overwritten
    assert manifests == ["A001_x2.reelfix.1001-1004.json", "A001_x2.reelfix.1005-1007.json", "A001_x2.reelfix.1008-1010.json"]
    assert list(json.loads((Path(temporal_job.output).parent / manifests[1]).read_text())["frames"]) == ["1005", "1006", "1007"]


def test_gaps_in_the_input_are_chunked_over_the_frames_that_exist(temporal_job: TemporalJob) -> None:
    for n in (1006, 1007):
        Path(temporal_job.plate.replace("####", str(n))).unlink()
    job_file = temporal_job.write_variant("gaps.yaml", temporal_job.output, input={
        "path": "../plates/A001.####.exr", "colorspace": "lin_srgb", "frames": "1001-1010"})
    files = write_openjd(job_file, temporal_job.folder / "gaps" / "template.yaml", chunk=5)
    assert files.farm.missing == [1006, 1007]
    params = {p["name"]: p for p in yaml.safe_load(files.template.read_text())["parameterDefinitions"]}
    assert params["Frames"]["default"] == "1001-1005,1008-1010"

    done = run([*openjd_command(), "run", str(files.template), "--step", STEP_NAME], temporal_job.env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert chunks_run(done.stdout) == ["1001-1005", "1008-1010"]
    written = sorted(p.name for p in Path(temporal_job.output).parent.glob("*.exr"))
    assert written == [f"A001_x2.{n}.exr" for n in (1001, 1002, 1003, 1004, 1005, 1008, 1009, 1010)]

    # a frame list edited by hand across the gap: the missing frames are named, the others written
    across = run([*openjd_command(), "run", str(files.template), "--step", STEP_NAME, "-p", "Frames=1005-1008"],
                 temporal_job.env)
    log = across.stdout + across.stderr
    assert across.returncode != 0
    assert "gaps in the sequence: 1006-1007" in log
    assert re.search(r"failed frame 1006 -> .*: input frame 1006 is missing", log) and re.search(r"failed frame 1007 -> .*: input frame 1007 is missing", log)


def test_a_failing_chunk_is_named_and_a_rerun_completes_with_finished_frames_skipped(temporal_job: TemporalJob, tmp_path: Path) -> None:
    files = write_openjd(temporal_job.job_file, temporal_job.folder / "bundle" / "template.yaml", chunk=4)
    bad = Path(temporal_job.plate.replace("####", "1006"))
    keep = tmp_path / "good.exr"
    shutil.copy(bad, keep)
    bad.write_bytes(bad.read_bytes()[:200])  # truncated

    failed = run([*openjd_command(), "run", str(files.template), "--step", STEP_NAME], temporal_job.env)
    log = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "frame 1006 failed" in log
    assert chunks_run(log) == ["1001-1004", "1005-1007"]  # openjd stops at the failing task
    assert not Path(temporal_job.output.replace("####", "1006")).exists()

    shutil.copy(keep, bad)
    rerun = run([*openjd_command(), "run", str(files.template), "--step", STEP_NAME], temporal_job.env)
    log = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, log
    assert chunks_run(log) == ["1001-1004", "1005-1007", "1008-1010"]
    assert "0 done, 4 skipped, 0 failed" in log  # the first chunk was finished: nothing redone
    reference = local_reference(temporal_job)
    assert_same_frames(temporal_job.output, reference, FRAMES)


def test_refusals_name_the_file_and_what_to_do(temporal_job: TemporalJob) -> None:
    out = str(temporal_job.folder / "t.yaml")
    bogus = temporal_job.write_variant("bogus.yaml", temporal_job.output, bogus=1)
    r = reelfix("farm", "openjd", str(bogus), "-o", out, env=temporal_job.env)
    assert r.returncode == 2 and "unknown key 'bogus'" in r.stderr and "bogus.yaml" in r.stderr

    climbing = temporal_job.write_variant("climb.yaml", "renders/../../elsewhere/A.####.exr")
    r = reelfix("farm", "openjd", str(climbing), "-o", out, env=temporal_job.env)
    assert r.returncode == 2 and "job files cannot write outside their output folder" in r.stderr
    assert "climb.yaml" in r.stderr and "Traceback" not in r.stderr

    from reelfix.errors import JobError, UserError

    for name, output, message in (
        ("movie.yaml", "renders/A001.mov", "is a movie"),
        ("single.yaml", "renders/A001.exr", "single file"),
        ("inplace.yaml", "../plates/A001.####.exr", "is the input"),
        ("inplace2.yaml", "../plates/A001.%04d.exr", "is the input"),
    ):
        with pytest.raises(JobError, match=message):
            write_openjd(temporal_job.write_variant(name, output), out)
    for chunk in (0, MAX_CHUNK + 1):
        with pytest.raises(UserError, match="--chunk"):
            write_openjd(temporal_job.job_file, out, chunk=chunk)
    # a relative output that starts above the job's folder is fine: it names its folder
    write_openjd(temporal_job.write_variant("up.yaml", "../renders/A.####.exr"), out)


def test_a_frame_list_too_long_for_a_parameter_goes_into_the_range(tmp_path: Path) -> None:
    from reelfix.farm.openjd import MAX_STRING, build_template, validate_template
    from reelfix.farm.prepare import FarmJob, range_expression
    from reelfix.jobs.load import job_from_data

    job = job_from_data({"input": {"path": "/p/A.####.exr"}, "output": {"path": "/o/A.####.exr"}, "pipeline": [{"node": "upscale"}]}, "t")
    farm = FarmJob(tmp_path / "job.yaml", job, list(range(1001, 3001, 2)))
    assert len(range_expression(farm.frames)) > MAX_STRING
    template = build_template(farm, job_file="job.farm-job.yaml", executable="reelfix", chunk=10)
    validate_template(template, "test")
    assert "Frames" not in {p["name"] for p in template["parameterDefinitions"]}
    assert template["steps"][0]["parameterSpace"]["taskParameterDefinitions"][0]["range"] == range_expression(farm.frames)
    path = tmp_path / "long.template.yaml"
    path.write_text(yaml.safe_dump(template))
    check = run([*openjd_command(), "check", str(path)], dict(os.environ))
    assert check.returncode == 0, check.stdout + check.stderr


def test_model_input_output_and_mattes_all_move_to_another_root(temporal_job: TemporalJob, tmp_path: Path) -> None:
    """Acceptance: every path of the job (a model named by a relative path, the input, the
    output, the mattes) moved through the session's path mapping rules, frames identical."""

    job_file, env, reference = job_with_every_path(temporal_job)
    files = write_openjd(job_file, temporal_job.folder / "bundle" / "template.yaml", chunk=5)
    site_b = move_to_site_b(tmp_path)
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"version": "pathmapping-1.0", "path_mapping_rules": [
        {"source_path_format": "POSIX", "source_path": str(tmp_path), "destination_path": str(site_b)}]}))
    template_b = site_b / files.template.relative_to(tmp_path)
    done = run([*openjd_command(), "run", str(template_b), "--step", STEP_NAME, "--path-mapping-rules", f"file://{rules}"], env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert chunks_run(done.stdout) == ["1001-1005", "1006-1010"]
    renders_b = site_b / "shot 010" / "renders"
    assert_same_frames(str(renders_b / "A001_x2.####.exr"), reference, FRAMES)
    assert sorted(p.name for p in (renders_b / "mattes").glob("*.exr")) == [f"A001_m.{n}.exr" for n in FRAMES]
    assert not (temporal_job.folder / "renders").exists()  # nothing written at the old root


def test_gpu_jobs_ask_for_a_gpu_host_and_env_becomes_a_job_environment(temporal_job: TemporalJob, tmp_path: Path) -> None:
    from reelfix.farm.openjd import build_template, validate_template
    from reelfix.farm.prepare import prepare

    farm = prepare(temporal_job.write_variant("gpu.yaml", temporal_job.output, device="cuda"))
    template = build_template(farm, job_file="j.yaml", executable="reelfix", chunk=5, env={"REELFIX_THREADS": "4"})
    validate_template(template, "test")
    assert template["steps"][0]["hostRequirements"] == {"amounts": [{"name": "amount.worker.gpu", "min": 1}]}

    out = temporal_job.folder / "env" / "template.yaml"
    r = reelfix("farm", "openjd", str(temporal_job.job_file), "-o", str(out), "--chunk", "10",
                "--env", "REELFIX_TEST_MARK=from the farm", "--executable", str(Path.home() / "venv" / "bin" / "reelfix"), env=temporal_job.env)
    assert r.returncode == 0, r.stderr
    assert "home folder" in r.stderr  # warned, still written
    data = yaml.safe_load(out.read_text())
    assert data["jobEnvironments"] == [{"name": "ReelfixEnvironment", "variables": {"REELFIX_TEST_MARK": "from the farm"}}]
    from reelfix.errors import UserError
    from reelfix.farm.prepare import parse_env

    assert parse_env(["A=b=c", "_X="]) == {"A": "b=c", "_X": ""}
    for bad in ("1BAD=x", "NOEQUALS", "A=x{{Param.Y}}"):
        with pytest.raises(UserError, match="--env"):
            parse_env([bad])


def test_the_queue_environment_puts_reelfix_on_the_path(temporal_job: TemporalJob, tmp_path: Path) -> None:
    """installers/openjd/reelfix-environment.yaml, pointed at this venv, is what lets tasks call plain `reelfix`."""
    files = write_openjd(temporal_job.job_file, temporal_job.folder / "qe" / "template.yaml", chunk=3)
    venv_bin = str(Path(sys.executable).parent)
    env = {**temporal_job.env, "PATH": os.pathsep.join(p for p in temporal_job.env["PATH"].split(os.pathsep) if p != venv_bin)}
    environment = tmp_path / "queue-environment.yaml"
    environment.write_text((ROOT / "installers" / "openjd" / "reelfix-environment.yaml").read_text().replace("/opt/reelfix/venv/bin", venv_bin))
    one_chunk = [*openjd_command(), "run", str(files.template), "--step", STEP_NAME, "-p", "Frames=1001-1003"]
    without = run(one_chunk, env)
    assert without.returncode != 0  # `reelfix` is not on this PATH
    done = run([*one_chunk, "--environment", str(environment)], env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert Path(temporal_job.output.replace("####", "1003")).is_file()
