"""Farm fixtures: a temporal job (tmean radius 1 + upscale tiny-x2) on a small plate, and the
environment farm processes need to see the test plugin and the tiny model."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable

import pytest
import yaml

from tests.farm.helpers import FRAMES, PIPELINE, ROOT, TemporalJob


@pytest.fixture
def farm_env(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The test plugin node and the tiny model, here and in child processes (the openjd
    session passes the caller's environment to each task)."""
    monkeypatch.setenv("REELFIX_PLUGINS", "tests.plugins.temporal_mean")
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("PYTHONPATH", path)
    # `reelfix` on PATH, as a queue environment or the worker service sets it up on a farm
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    return dict(os.environ)


@pytest.fixture
def temporal_job(tmp_path: Path, make_plate: Callable[..., str], farm_env: dict[str, str]) -> TemporalJob:
    plate = make_plate(frames=FRAMES, height=16, width=20)
    folder = tmp_path / "shot 010"
    folder.mkdir()
    job = {
        "input": {"path": "../plates/A001.####.exr", "colorspace": "lin_srgb"},
        "output": {"path": "renders/A001_x2.####.exr", "bit_depth": "float"},
        "pipeline": PIPELINE,
        "device": "cpu",
    }
    job_file = folder / "job.yaml"
    job_file.write_text(yaml.safe_dump(job))
    return TemporalJob(folder, job_file, plate, str(folder / "renders" / "A001_x2.####.exr"), farm_env)
