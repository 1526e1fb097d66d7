"""A tiny, untrained GrainNet exported the way the real denoiser is (same export code, same
card conventions), written into a folder the catalog searches: fast tests of the runtime
path with a real two-input ONNX model that folds 2x2 blocks twice (like the real one)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from reelfix.models.card import ModelCard, sha256_of, write_card  # noqa: E402
from reelfix.runtime.session import clear_session_cache  # noqa: E402
from reelfix.training.export import export_onnx  # noqa: E402
from reelfix.training.grain_net import GrainNet  # noqa: E402

NAME = "tiny-denoise"


def make_tiny_denoiser(folder: Path, name: str = NAME, task: str = "denoise", seed: int = 0) -> Path:
    """Writes NAME.onnx + card into `folder`; returns the onnx path."""
    torch.manual_seed(seed)
    net = GrainNet(features=8, inner=8)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(0.5)  # untrained, He-initialised: a visible but moderate effect
    path = export_onnx(
        net, (torch.rand(1, 3, 16, 16), torch.full((1, 1, 16, 16), 0.02)), Path(folder) / f"{name}.onnx",
        ["input", "sigma"], defaults={"sigma": np.full((1, 1, 1, 1), 0.02, np.float32)},
    )  # fmt: skip
    card = ModelCard(
        name=name, file=path.name, task=task, scale=1, multiple_of=4, receptive_field=40, bytes_per_pixel=512,
        noise_input="sigma" if task == "denoise" else None, licence="Apache-2.0", source="tests", sha256=sha256_of(path),
    )  # fmt: skip
    write_card(card, Path(folder))
    return path


@pytest.fixture()
def tiny_model(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """The tiny denoiser's name, its folder on REELFIX_MODEL_PATH for the test."""
    make_tiny_denoiser(tmp_path)
    monkeypatch.setenv("REELFIX_MODEL_PATH", str(tmp_path))
    yield NAME
    clear_session_cache()
