"""Farm test helpers: the temporal job, the real openjd CLI, reelfix processes, frame comparison."""

from __future__ import annotations

import os
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
