"""Farm test helpers: the temporal job, the real openjd CLI, reelfix processes, frame comparison."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from reelfix.frames.image_io import read_image

ROOT = Path(__file__).resolve().parents[2]
FRAMES = list(range(1001, 1011))  # 10 frames: OpenJD balances chunks of 4 as 4, 3, 3 (filled: 4, 4, 2)
PIPELINE = [{"node": "tmean", "params": {"radius": 1}}, {"node": "upscale", "params": {"scale": 2, "model": "tiny-x2"}}]


@dataclass
class TemporalJob:
    folder: Path  # the job's folder (its name has a space)
    job_file: Path
    plate: str  # input pattern
    output: str  # output pattern (absolute)
    env: dict[str, str]  # environment for reelfix / openjd processes

    def frame_path(self, pattern: str, n: int) -> Path:
        return Path(pattern.replace("####", f"{n:04d}"))

    def write_variant(self, name: str, output: str, **changes: Any) -> Path:
        """Another job file beside this one: same input and pipeline, another output."""
        data = yaml.safe_load(self.job_file.read_text())
        data["output"]["path"] = output
        data.update(changes)
        path = self.folder / name
        path.write_text(yaml.safe_dump(data))
        return path


def openjd_command() -> list[str]:
    """The real openjd CLI: the script beside this Python, else `python -m openjd`."""
    pytest.importorskip("openjd.cli", reason="openjd-cli is not installed (pip install 'reelfix[farm]')")
    script = Path(sys.executable).with_name("openjd.exe" if os.name == "nt" else "openjd")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "openjd"]


def run(cmd: list[str], env: dict[str, str], cwd: Path | None = None, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)


def reelfix(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "reelfix", *args], env, cwd)


def pixels(pattern: str, n: int) -> np.ndarray:
    return read_image(pattern.replace("####", f"{n:04d}")).pixels


def assert_same_frames(a: str, b: str, numbers: list[int]) -> None:
    different = [n for n in numbers if not np.array_equal(pixels(a, n), pixels(b, n))]
    assert different == [], f"frames differ from the local run: {different}"


MODEL_PIPELINE = [{"node": "tmean", "params": {"radius": 1}}, {"node": "upscale", "params": {"scale": 2, "model": "../models/tiny-x2.onnx"}}]


def job_with_every_path(job: TemporalJob) -> tuple[Path, dict[str, str], str]:
    """A job naming a model by a relative path and writing mattes, the environment without the
    model catalog (the model is found only by its path), and the pattern of the same job
    rendered locally in one run (from another folder: relative paths are the job file's)."""
    job_file = job.write_variant("every-path.yaml", "renders/A001_x2.####.exr", pipeline=MODEL_PIPELINE)
    data = yaml.safe_load(job_file.read_text())
    data["output"]["mattes"] = "renders/mattes/A001_m.####.exr"
    job_file.write_text(yaml.safe_dump(data))
    env = {k: v for k, v in job.env.items() if k != "REELFIX_MODEL_PATH"}
    reference = job.write_variant("reference.yaml", "reference/A001_x2.####.exr", pipeline=MODEL_PIPELINE)
    done = reelfix("run", str(reference), env=env, cwd=job.folder.parent.parent)
    assert done.returncode == 0, done.stderr
    return job_file, env, str(job.folder / "reference" / "A001_x2.####.exr")


def move_to_site_b(tmp_path: Path) -> Path:
    """Copy the test's whole tree to another root (what the worker sees) and take the plates
    and models away from the first one; returns the new root."""
    site_b = tmp_path.parent / (tmp_path.name + " site B")
    shutil.copytree(tmp_path, site_b)
    for gone in ("plates", "models"):
        shutil.rmtree(tmp_path / gone)
    return site_b
