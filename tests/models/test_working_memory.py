"""Tile sizes from the working memory of the runtime that runs the model (the card's
`bytes_per_pixel` for ONNX Runtime, `bytes_per_pixel_openvino` for OpenVINO)."""

from __future__ import annotations

import importlib.util

import pytest

from reelfix.models.catalog import find_model, verify
from reelfix.models.ncnn_verify import bytes_per_pixel
from reelfix.nodes.upscale import tiling_for
from reelfix.runtime.cpu_runtime import OPENVINO_PROVIDER
from reelfix.tiling import plan_tiles

needs_openvino = pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="OpenVINO not installed (the cpu extra)")
BUDGET = 2 * 1024**3  # the default max_memory


def test_each_runtime_takes_its_own_figure() -> None:
    card = find_model("span-x2").card
    assert card.bytes_per_pixel_for("CPUExecutionProvider") == card.bytes_per_pixel
    assert card.bytes_per_pixel_for(OPENVINO_PROVIDER) == card.bytes_per_pixel_openvino < card.bytes_per_pixel
    assert card.model_copy(update={"bytes_per_pixel_openvino": None}).bytes_per_pixel_for(OPENVINO_PROVIDER) == card.bytes_per_pixel


def test_openvino_tiles_are_larger_within_the_same_budget() -> None:
    """A 960x540 frame x2 on SPAN: one tile on OpenVINO (no overlap computed twice), two on ONNX Runtime."""
    card = find_model("span-x2").card
    counts = {}
    for provider in ("CPUExecutionProvider", OPENVINO_PROVIDER):
        tile, overlap = tiling_for(card, 540, 960, provider, BUDGET)
        counts[provider] = len(plan_tiles(540, 960, tile, overlap, card.multiple_of))
    assert counts == {"CPUExecutionProvider": 2, OPENVINO_PROVIDER: 1}
    ort_tile = tiling_for(card, 1080, 1920, "CPUExecutionProvider", BUDGET)[0]
    assert tiling_for(card, 1080, 1920, OPENVINO_PROVIDER, BUDGET)[0] > ort_tile


@needs_openvino
@pytest.mark.parametrize("name", ["span-x2", "grain-denoise"])
def test_the_cards_openvino_figure_covers_what_openvino_takes(name: str) -> None:
    """Measured again here (a fresh process, peak RSS growth of compiling and running a 768x768
    input, a tile's size at the default budget): the card's figure (measured at 1024 for SPAN, at
    512 for the denoiser, +15%) is not below it, so tiles sized from it keep the budget."""
    entry = find_model(name)
    measured, _ = bytes_per_pixel(verify(entry), size=768, runtime="openvino")
    assert measured <= entry.card.bytes_per_pixel_openvino
