"""Soak (`make soak`, not part of `make test`): a 500-frame small-resolution shot through a
temporal pipeline (deflicker, dustbust, degrain) in a child process under an address-space
limit. Its resident memory, sampled at frame events (the progress JSON on stderr: a handshake,
not a timer), stays flat once the pipeline is warm; every frame is written and finite."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reelfix.frames.image_io import read_image
from tests.reliability.helpers import ROOT, write_job, write_plate

FRAMES = range(1001, 1501)
LIMIT = 4 * 1024**3  # address space of the child
GROWTH_MB = 24  # allowed RSS growth between frame 150 and frame 500


@pytest.mark.soak
def test_500_frames_temporal_pipeline_rss_flat(tmp_path: Path) -> None:
    psutil = pytest.importorskip("psutil")
    write_plate(tmp_path / "plates", frames=FRAMES, height=36, width=48)
    pipeline = [{"node": "deflicker", "params": {}}, {"node": "dustbust", "params": {}}, {"node": "degrain", "params": {}}]
    job = write_job(tmp_path / "job.yaml", "plates/A001.####.exr", "out/S.####.exr", pipeline, max_memory="512MB")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))

    proc = subprocess.Popen([sys.executable, "-m", "reelfix", "run", str(job), "--progress", "json"], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, preexec_fn=limit)
    child = psutil.Process(proc.pid)
    rss: dict[int, float] = {}
    assert proc.stderr is not None
    for line in proc.stderr:
        if not line.startswith("{"):
            continue
        event = json.loads(line)
        if event.get("event") == "frame":
            assert event["status"] == "done", event
            if event["done"] % 50 == 0:
                rss[event["done"]] = child.memory_info().rss / 2**20
    assert proc.wait(timeout=3600) == 0
    assert sorted(rss) == list(range(50, 501, 50))
    growth = rss[500] - rss[150]
    print("RSS MB by frame:", {k: round(v) for k, v in rss.items()}, f"growth 150->500: {growth:.1f} MB")
    (tmp_path.parent / "soak_rss.json").write_text(json.dumps(rss))
    assert growth < GROWTH_MB, rss
    for n in FRAMES:
        pix = read_image(str(tmp_path / "out" / f"S.{n}.exr")).pixels
        assert pix.shape == (36, 48, 3) and np.isfinite(pix).all()


@pytest.mark.soak
def test_8k_frames(tmp_path: Path) -> None:
    """Three 8K frames (7680x4320, half-float EXR) through dustbust (temporal, optical flow) in a child
    process limited to 8 GB of address space: written whole and finite."""
    from reelfix.frames.frame import Frame
    from reelfix.frames.image_io import write_image
    from tests.reliability.helpers import plate_pixels

    small = plate_pixels(270, 480, 0)
    for i, n in enumerate(range(1001, 1004)):
        pix = np.ascontiguousarray(np.kron(np.roll(small, i, axis=1), np.ones((16, 16, 1), np.float32)))
        write_image(str(tmp_path / "plates" / f"K.{n}.exr"), Frame(pix, ("R", "G", "B"), "lin_srgb", n), bit_depth="half")
    job = write_job(tmp_path / "job.yaml", "plates/K.####.exr", "out/K.####.exr", [{"node": "dustbust", "params": {}}], max_memory="2GB")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 * LIMIT, 2 * LIMIT))

    r = subprocess.run([sys.executable, "-m", "reelfix", "run", str(job)], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, preexec_fn=limit, timeout=3600)
    assert r.returncode == 0, r.stdout + r.stderr
    out = read_image(str(tmp_path / "out" / "K.1002.exr")).pixels
    assert out.shape == (4320, 7680, 3) and np.isfinite(out).all()
