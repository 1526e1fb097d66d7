"""A small real run with a review report: a panning, flickering plate with dust specks and one
missing frame, restored by dustbust and a tiny real ONNX upscaler through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from reelfix.frames.frame import Frame
from reelfix.frames.image_io import write_image
from reelfix.models.card import write_card
from tests.onnx_models import make_card, make_sr_model

FRAMES = range(1001, 1011)
MISSING = 1006  # never written: the run names it as failed


def reelfix(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reelfix", *args], capture_output=True, text=True, env={**os.environ, **env}, cwd=cwd, timeout=180)


def pan_plate(folder: Path, frames=FRAMES, height: int = 48, width: int = 64, skip: tuple[int, ...] = (MISSING,)) -> str:
    """A scene-linear pan across a smooth picture, +-8% flicker, two bright dust specks a frame."""
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0 : height + 40, 0 : width + 60].astype(np.float32)
    big = np.stack([0.3 + 0.2 * np.sin(x / 5) * np.cos(y / 7), 0.3 + 0.2 * np.sin((x + y) / 9), 0.25 + 0.15 * np.cos(x / 11 - y / 4)], 2)
    for i, n in enumerate(frames):
        if n in skip:
            continue
        pix = big[i : i + height, 2 * i : 2 * i + width].copy() * (1 + 0.08 * (-1) ** i)
        for _ in range(2):
            yy, xx = rng.integers(4, height - 4), rng.integers(4, width - 4)
            pix[yy - 1 : yy + 2, xx - 1 : xx + 2] = 0.9
        write_image(str(folder / f"pan.{n:04d}.exr"), Frame(np.ascontiguousarray(pix), ("R", "G", "B"), "lin_srgb", n), bit_depth="half")
    return str(folder / "pan.####.exr")


@dataclass
class Reviewed:
    root: Path
    report: Path
    manifest: Path
    result: subprocess.CompletedProcess[str]
    env: dict[str, str]

    def manifest_data(self) -> dict:
        return json.loads(self.manifest.read_text())


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> Reviewed:
    root = tmp_path_factory.mktemp("reviewed")
    models = root / "models"
    path = make_sr_model(models / "tiny-x2.onnx", scale=2, layers=3)
    write_card(make_card(path, name="tiny-x2", scale=2, receptive_field=8, bytes_per_pixel=512, fp16_safe=True), models)
    # this fixture runs before the tests' autouse pins: pin the CPU runtime here too, or where OpenVINO is
    # installed the first run would take it and a test's rerun (ONNX Runtime) would not resume it
    env = {"REELFIX_MODEL_PATH": str(models), "REELFIX_HOME": str(root / "home"), "REELFIX_CPU_RUNTIME": "onnxruntime", "REELFIX_CACHE": str(root / "cache")}
    (root / "plates").mkdir()
    pan_plate(root / "plates")
    job = {
        "input": {"path": "plates/pan.####.exr", "frames": f"{FRAMES[0]}-{FRAMES[-1]}", "colorspace": "lin_srgb"},
        "output": {"path": "out/pan_x2.####.exr", "compression": "zip", "mattes": "out/mattes/pan.####.exr"},
        "pipeline": [{"node": "dustbust"}, {"node": "upscale", "params": {"scale": 2, "model": "tiny-x2"}}],
        "device": "cpu",
    }
    (root / "job.yaml").write_text(yaml.safe_dump(job))
    result = reelfix("run", "job.yaml", "--report", "review", "--progress", "plain", env=env, cwd=root)
    return Reviewed(root, root / "review", root / "out" / "pan_x2.reelfix.json", result, env)
