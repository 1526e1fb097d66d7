"""Deadline 10 files: parsed and checked, and their tasks run the way the CommandLine plugin runs them."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from reelfix.errors import UserError
from reelfix.farm.deadline import parse_info, quote_argument, write_deadline
from reelfix.frames.sequence import parse_frame_range
from tests.farm.helpers import FRAMES, TemporalJob, assert_same_frames, reelfix, run


def deadline_tasks(job_info: dict[str, str]) -> list[tuple[int, int]]:
    """(start, end) of each task as Deadline forms them: ChunkSize frames at a time, filled,
    in frame-list order."""
    frames, size = parse_frame_range(job_info["Frames"]), int(job_info["ChunkSize"])
    return [(frames[i], frames[min(i + size, len(frames)) - 1]) for i in range(0, len(frames), size)]


def plugin_command(plugin_info: dict[str, str], start: int, end: int) -> list[str]:
    """What the CommandLine plugin runs (ShellExecute=False): Executable + the Arguments string
    with <STARTFRAME>/<ENDFRAME> replaced, split like a command line (double quotes group)."""
    args = plugin_info["Arguments"].replace("<STARTFRAME>", str(start)).replace("<ENDFRAME>", str(end))
    return [plugin_info["Executable"], *shlex.split(args)]


def test_files_parse_and_their_tasks_render_like_one_local_run(temporal_job: TemporalJob) -> None:
    out = temporal_job.folder / "deadline files"
    r = reelfix("farm", "deadline", str(temporal_job.job_file), "--chunk", "6", "-o", str(out), "--pool", "restore",
                "--priority", "60", "--plugin", "commandline", "--env", "REELFIX_THREADS=2", env=temporal_job.env)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["job_info.job", "plugin_info.job", "reelfix-job.yaml", "submit.bat", "submit.sh"]

    job_info = parse_info((out / "job_info.job").read_text())
    assert job_info["Plugin"] == "CommandLine" and job_info["Name"] == "reelfix A001_x2"
    assert job_info["Frames"] == "1001-1010" and job_info["ChunkSize"] == "6"
    assert job_info["Pool"] == "restore" and job_info["Priority"] == "60"
    assert job_info["EnvironmentKeyValue0"] == "REELFIX_THREADS=2"
    assert job_info["OutputDirectory0"] == str(Path(temporal_job.output).parent)
    assert job_info["OutputFilename0"] == "A001_x2.####.exr"

    plugin_info = parse_info((out / "plugin_info.job").read_text())
    farm_job = out.resolve() / "reelfix-job.yaml"
    assert plugin_info["Executable"] == "reelfix"  # on the workers' PATH
    assert plugin_info["Arguments"] == f'run "{farm_job}" --frames <STARTFRAME>-<ENDFRAME> --progress plain'
    assert plugin_info["ShellExecute"] == "False"

    tasks = deadline_tasks(job_info)
    assert tasks == [(1001, 1006), (1007, 1010)]  # filled, not balanced
    for start, end in tasks:
        cmd = plugin_command(plugin_info, start, end)
        assert cmd[1:3] == ["run", str(farm_job)]  # the path with spaces stays one argument
        done = run(cmd, temporal_job.env)
        assert done.returncode == 0, done.stderr
        assert f"frame {end} done" in done.stderr  # --progress plain: one line per frame in the log
    local = str(temporal_job.folder / "local" / "A001_x2.####.exr")
    assert reelfix("run", str(temporal_job.write_variant("local.yaml", local)), env=temporal_job.env).returncode == 0
    assert_same_frames(temporal_job.output, local, FRAMES)


def test_gaps_make_one_job_per_run_and_the_submit_scripts_call_deadlinecommand(temporal_job: TemporalJob, tmp_path: Path) -> None:
    Path(temporal_job.plate.replace("####", "1005")).unlink()
    files = write_deadline(temporal_job.job_file, tmp_path / "dl", chunk=3, name="A001 restore")
    infos = {p.name: parse_info(p.read_text()) for p in files.job_infos}
    assert {name: (i["Frames"], i["ChunkSize"], i["BatchName"]) for name, i in infos.items()} == {
        "job_info.1001-1004.job": ("1001-1004", "3", "A001 restore"),
        "job_info.1006-1010.job": ("1006-1010", "3", "A001 restore"),
    }
    assert infos["job_info.1006-1010.job"]["Name"] == "A001 restore (1006-1010)"
    for info in infos.values():  # no task straddles the gap
        assert all(1005 not in range(a, b + 1) for a, b in deadline_tasks(info))

    log = tmp_path / "calls.txt"
    fake = tmp_path / "bin" / "deadlinecommand"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$PWD|$*" >> "{log}"\necho "Result=Success"\necho "JobID=abc123"\n')
    fake.chmod(0o755)
    done = subprocess.run(["sh", str(files.folder / "submit.sh")], env={**os.environ, "DEADLINECOMMAND": str(fake)},
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert log.read_text().splitlines() == [
        f"{files.folder}|job_info.1001-1004.job plugin_info.job",
        f"{files.folder}|job_info.1006-1010.job plugin_info.job",
    ]
    bat = (files.folder / "submit.bat").read_bytes().decode()
    assert bat.count("\r\n") == len(bat.splitlines()) and '"%DEADLINECOMMAND%" "job_info.1006-1010.job" "plugin_info.job"' in bat

    log.unlink()
    r = reelfix("farm", "deadline", str(temporal_job.job_file), "-o", str(tmp_path / "dl2"), "--submit",
                "--deadlinecommand", str(fake), env=temporal_job.env)
    assert r.returncode == 0, r.stderr
    assert "JobID=abc123" in r.stdout
    assert "input frames 1005 do not exist" in r.stderr  # a gap between the frames found is named too

    refusing = tmp_path / "bin" / "refusing"  # exits 0 but submits nothing
    refusing.write_text('#!/bin/sh\necho "Result=Failure"\necho "Error: plugin Reelfix not found"\n')
    refusing.chmod(0o755)
    r = reelfix("farm", "deadline", str(temporal_job.job_file), "-o", str(tmp_path / "dl3"), "--submit",
                "--deadlinecommand", str(refusing), env=temporal_job.env)
    assert r.returncode == 2 and "no JobID" in r.stderr and "plugin Reelfix not found" in r.stderr
    calls = [line.split("|")[1].split() for line in log.read_text().splitlines()]
    assert [Path(c[0]).name for c in calls] == ["job_info.1001-1004.job", "job_info.1006-1010.job"]
    assert all(Path(c[1]) == (tmp_path / "dl2" / "plugin_info.job").resolve() for c in calls)


def test_arguments_quoting_and_refusals() -> None:
    assert quote_argument("/a b/job.yaml", "job file") == '"/a b/job.yaml"'
    assert quote_argument("/ab/job.yaml", "job file") == "/ab/job.yaml"
    assert quote_argument(r"C:\Shows\A B\job.yaml", "job file") == '"C:\\Shows\\A B\\job.yaml"'
    with pytest.raises(UserError, match="double quote"):
        quote_argument('/a"b/job.yaml', "job file")


def test_a_job_folder_with_a_quote_is_refused(temporal_job: TemporalJob, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="double quote"):
        write_deadline(temporal_job.job_file, tmp_path / 'say "hi"')


def test_an_input_missing_frames_all_over_is_one_job_of_single_frames(tmp_path: Path) -> None:
    from reelfix.farm.deadline import MAX_JOBS, job_infos
    from reelfix.farm.prepare import FarmJob
    from reelfix.jobs.load import job_from_data

    job = job_from_data({"input": {"path": "/p/A.####.exr"}, "output": {"path": "/o/A.####.exr"}, "pipeline": [{"node": "upscale"}]}, "t")
    farm = FarmJob(tmp_path / "job.yaml", job, list(range(1, 4 * MAX_JOBS, 2)))
    ((name, info),) = job_infos(farm, chunk=10).items()
    assert name == "job_info.job" and info["ChunkSize"] == "1" and "BatchName" not in info
    assert parse_frame_range(info["Frames"]) == farm.frames


def test_gpu_jobs_are_warned_without_a_group_and_home_executables_too(temporal_job: TemporalJob, tmp_path: Path) -> None:
    gpu = temporal_job.write_variant("gpu.yaml", temporal_job.output, device="cuda")
    r = reelfix("farm", "deadline", str(gpu), "-o", str(tmp_path / "g"), "--executable", "/home/ann/venv/bin/reelfix", env=temporal_job.env)
    assert r.returncode == 0, r.stderr
    assert "--group" in r.stderr and "home folder" in r.stderr
    assert parse_info((tmp_path / "g" / "plugin_info.job").read_text())["Executable"] == "/home/ann/venv/bin/reelfix"
    r = reelfix("farm", "deadline", str(gpu), "-o", str(tmp_path / "g2"), "--group", "gpu", env=temporal_job.env)
    assert r.returncode == 0 and "--group" not in r.stderr
    assert parse_info((tmp_path / "g2" / "job_info.job").read_text())["Group"] == "gpu"
    with pytest.raises(UserError, match="--plugin nuke"):
        write_deadline(gpu, tmp_path / "g3", plugin="nuke")
