"""Guarantee: kill -9 at any point (reading, in the nodes, writing a frame, replacing the
manifest), then the same command again: every frame complete and identical to an uninterrupted
run, no partial file under an output name, and the killed run's temp files swept once stale."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from reelfix.frames.image_io import read_header, temp_files_in
from tests.reliability.faulty import Child
from tests.reliability.helpers import FRAMES, cli, make_job, outputs


@pytest.mark.parametrize("fault", ["read:1003", "node:1003", "write:1003", "manifest"])
def test_kill_9_then_rerun_gives_the_uninterrupted_frames(tmp_path: Path, reference: dict[int, np.ndarray], fault: str) -> None:
    job = make_job(tmp_path)
    child = Child(["run", str(job)], fault, tmp_path)
    child.wait_ready()
    child.kill9()

    # what the killed run left: only complete frames under output names, identical to the reference
    left = outputs(tmp_path)
    assert all(np.array_equal(left[n], reference[n]) for n in left)
    if fault != "manifest":
        assert 1003 not in left and len(left) <= 2
    else:
        assert len(left) == 5 and not (tmp_path / "out" / "A.reelfix.json").exists()
    temps = temp_files_in(tmp_path / "out")  # hidden temp names, never an output name
    assert len(temps) == 1 if fault == "write:1003" else len(temps) <= 1  # (the writer thread may be mid-frame at a kill)
    assert all(os.path.basename(t).startswith(".") for t in temps)

    code, text = cli("run", job)
    assert code == 0, text
    assert f"{len(left)} skipped" in text
    done = outputs(tmp_path)
    assert sorted(done) == list(FRAMES)
    assert all(np.array_equal(done[n], reference[n]) for n in FRAMES)
    manifest = json.loads((tmp_path / "out" / "A.reelfix.json").read_text())
    assert sorted(manifest["frames"]) == [str(n) for n in FRAMES]
    assert {read_header(str(tmp_path / "out" / f"A.{n}.exr"))["reelfix:job_hash"] for n in FRAMES} == {manifest["job_hash"]}

    # the killed writer's temp file: kept while it could still be a live writer's, swept once stale
    for t in temps:
        old = time.time() - 3600
        os.utime(t, (old, old))
    code, text = cli("run", job)
    assert code == 0 and "5 skipped" in text
    assert temp_files_in(tmp_path / "out") == []
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]
