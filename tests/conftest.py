"""Shared fixtures: tiny real ONNX models registered in a model folder, and small plates on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from reelfix.frames.frame import Frame
from reelfix.frames.image_io import write_image
from reelfix.models.card import write_card
from tests.onnx_models import make_card, make_sr_model


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the user's models or caches."""
    monkeypatch.setenv("REELFIX_HOME", str(tmp_path_factory.mktemp("reelfix_home")))
    monkeypatch.setenv("REELFIX_CACHE", str(tmp_path_factory.mktemp("reelfix_cache")))
    monkeypatch.delenv("REELFIX_MODEL_PATH", raising=False)
    # ONNX Runtime's CPU provider, also where OpenVINO is installed (`make bench` installs it);
    # tests/runtime/test_cpu_runtime.py unpins it to test the choice
    monkeypatch.setenv("REELFIX_CPU_RUNTIME", "onnxruntime")


@pytest.fixture
def model_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A model folder on REELFIX_MODEL_PATH holding `tiny-x2`: a random 3-layer conv SR net (fp16-safe: convs and ReLU)."""
    folder = tmp_path / "models"
    path = make_sr_model(folder / "tiny-x2.onnx", scale=2, layers=3)
    write_card(make_card(path, name="tiny-x2", scale=2, receptive_field=8, bytes_per_pixel=512, fp16_safe=True), folder)
    monkeypatch.setenv("REELFIX_MODEL_PATH", str(folder))
    return folder


def gradient(height: int, width: int, channels: int = 3, seed: int = 0, hdr: bool = True) -> np.ndarray:
    """A smooth test picture with detail; with `hdr`, some values above 1 and slightly below 0."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([(x / max(width - 1, 1)), (y / max(height - 1, 1)), 0.5 + 0.25 * np.sin(x / 3 + y / 5)], axis=2)
    pix = np.concatenate([base] * ((channels + 2) // 3), axis=2)[:, :, :channels]
    pix = pix + 0.02 * rng.standard_normal(pix.shape).astype(np.float32)
    if hdr:
        pix[: max(1, height // 4), : max(1, width // 4)] *= 6.0
        pix[-1, -1] = -0.05
    return np.ascontiguousarray(pix, dtype=np.float32)


@pytest.fixture
def make_plate(tmp_path: Path) -> Callable[..., str]:
    """Write an EXR sequence `plates/A001.####.exr` and return its pattern."""

    def _make(frames=range(1001, 1006), height: int = 24, width: int = 32, channels: tuple[str, ...] = ("R", "G", "B"), name: str = "A001") -> str:
        for i, n in enumerate(frames):
            pix = gradient(height, width, len(channels), seed=i)
            if "A" in channels:
                pix[:, :, channels.index("A")] = np.clip(pix[:, :, channels.index("A")], 0, 1)
            write_image(str(tmp_path / "plates" / f"{name}.{n:04d}.exr"), Frame(pix, channels, "lin_srgb", n), bit_depth="float")
        return str(tmp_path / "plates" / f"{name}.####.exr")

    return _make
