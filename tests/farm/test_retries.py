"""Retries and duplicates: two workers on one chunk, and what a retry after a repaired input gives."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path


from reelfix.jobs.load import load_job
from reelfix.pipeline import run_job
from tests.farm.helpers import TemporalJob, assert_same_frames, reelfix


def test_two_processes_rendering_the_same_chunk_write_valid_frames(temporal_job: TemporalJob) -> None:
    args = [sys.executable, "-m", "reelfix", "run", str(temporal_job.job_file), "--frames", "1003-1008", "--no-resume", "--progress", "plain"]
    workers = [subprocess.Popen(args, env=temporal_job.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [w.communicate(timeout=120) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    local = str(temporal_job.folder / "local" / "A001_x2.####.exr")
    assert reelfix("run", str(temporal_job.write_variant("local.yaml", local)), env=temporal_job.env).returncode == 0
    assert_same_frames(temporal_job.output, local, list(range(1003, 1009)))
    folder = Path(temporal_job.output).parent
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []  # no temp files left
    manifest = json.loads((folder / "A001_x2.reelfix.json").read_text())
    assert set(manifest["frames"]) == {str(n) for n in range(1003, 1009)} and len(manifest["runs"]) == 2


def test_frames_next_to_an_unreadable_input_are_redone_after_repair(temporal_job: TemporalJob, tmp_path: Path) -> None:
    job = load_job(temporal_job.job_file)
    bad = Path(temporal_job.plate.replace("####", "1006"))
    shutil.copy(bad, tmp_path / "good.exr")
    bad.write_bytes(bad.read_bytes()[:200])
    assert [r.number for r in run_job(job, frames="1005-1007").failed] == [1006]
    shutil.copy(tmp_path / "good.exr", bad)
    run_job(job, frames="1005-1007")
    clean = job.model_copy(update={"output": job.output.model_copy(update={"path": str(tmp_path / "clean" / "A.####.exr")})})
    run_job(clean, frames="1005-1007")
    assert_same_frames(temporal_job.output, clean.output.path, [1005, 1006, 1007])


def test_a_temporal_failure_names_the_unreadable_input_file(temporal_job: TemporalJob) -> None:
    bad = Path(temporal_job.plate.replace("####", "1006"))
    bad.write_bytes(bad.read_bytes()[:200])
    (failed,) = run_job(load_job(temporal_job.job_file), frames="1005-1007").failed
    assert failed.number == 1006 and "A001.1006.exr" in failed.error
