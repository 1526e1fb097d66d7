"""Guarantees: a full disk (a file-size limit, `ulimit -f`) gives a clear error, exit 1, no
partial frame, and a rerun completes once there is room; two processes on the same job never
corrupt a frame or the manifest, and give the frames one process gives."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from reelfix.frames.image_io import temp_files_in
from tests.reliability.faulty import Child
from tests.reliability.helpers import FRAMES, ROOT, cli, make_job, outputs


def _small_files(limit: int):  # type: ignore[no-untyped-def]
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit then fail with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_full_disk_clear_error_no_partial_frames_then_rerun(tmp_path: Path, reference: dict[int, np.ndarray]) -> None:
    job = make_job(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "reelfix", "run", str(job)], capture_output=True, text=True, env=env,
                       preexec_fn=_small_files(2048), timeout=300)
    text = r.stdout + r.stderr
    assert r.returncode == 1, text
    assert "Traceback" not in text
    assert "cannot write" in text and "A.1001.exr" in text and "File too large" in text
    assert "free some disk space" in text or "free space" in text
    assert outputs(tmp_path) == {}
    assert temp_files_in(tmp_path / "out") == [] and not list((tmp_path / "out").glob("*.tmp"))

    code, text = cli("run", job)
    assert code == 0, text
    done = outputs(tmp_path)
    assert sorted(done) == list(FRAMES) and all(np.array_equal(done[n], reference[n]) for n in FRAMES)


def test_two_processes_on_one_job_interleaved(tmp_path: Path, reference: dict[int, np.ndarray]) -> None:
    """A stops with frame 1002 written to its temp file; B runs the whole job; then A renames its
    1002 over B's and goes on. Every frame is whole and identical, the manifest lists all."""
    job = make_job(tmp_path)
    a = Child(["run", str(job)], "write:1002", tmp_path, name="a")
    a.wait_ready()
    code, text = cli("run", job)
    assert code == 0, text
    finished = a.go_on()
    assert finished.returncode == 0, finished.stderr
    done = outputs(tmp_path)
    assert sorted(done) == list(FRAMES) and all(np.array_equal(done[n], reference[n]) for n in FRAMES)
    manifest = json.loads((tmp_path / "out" / "A.reelfix.json").read_text())
    assert sorted(manifest["frames"]) == [str(n) for n in FRAMES] and len(manifest["runs"]) == 2
    assert temp_files_in(tmp_path / "out") == []


def test_two_processes_started_together(tmp_path: Path, reference: dict[int, np.ndarray]) -> None:
    job = make_job(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", "reelfix", "run", str(job)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    done = outputs(tmp_path)
    assert sorted(done) == list(FRAMES) and all(np.array_equal(done[n], reference[n]) for n in FRAMES)
    manifest = json.loads((tmp_path / "out" / "A.reelfix.json").read_text())
    assert sorted(manifest["frames"]) == [str(n) for n in FRAMES] and len(manifest["runs"]) == 2
