"""tiling.py: tile plans, feathered blending, equality with whole-frame inference, budgets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from reelfix.errors import ModelError, UserError
from reelfix.tiling import (
    MIN_TILE,
    blend_radius,
    blend_weights,
    plan_tiles,
    run_tiled,
    split_axis,
    tile_size_for_budget,
)

from tests.onnx_models import make_rf_model, make_sr_model

SIZES = [(1, 1), (5, 7), (64, 64), (65, 64), (333, 517), (100, 1000)]


def _ort_fn(path: Path):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: sess.run(None, {"input": x})[0]


def _nearest(scale: int):
    return lambda x: np.repeat(np.repeat(x, scale, axis=2), scale, axis=3)


# --------------------------------------------------------------------------- plan


@pytest.mark.parametrize(("h", "w"), SIZES)
@pytest.mark.parametrize(("tile", "overlap", "mult"), [(64, 16, 1), (32, 8, 8), (1000, 16, 1), (17, 3, 4)])
def test_cores_cover_the_frame_exactly_once(h: int, w: int, tile: int, overlap: int, mult: int) -> None:
    tiles = plan_tiles(h, w, tile, overlap, mult)
    count = np.zeros((h, w), np.int32)
    for t in tiles:
        count[t.core.y0 : t.core.y1, t.core.x0 : t.core.x1] += 1
        c, i = t.core, t.input
        # the input holds the core plus `overlap` context each side (clamped to the frame)
        assert i.y0 <= max(0, c.y0 - overlap) and i.y1 >= min(h, c.y1 + overlap)
        assert i.x0 <= max(0, c.x0 - overlap) and i.x1 >= min(w, c.x1 + overlap)
        assert 0 <= i.y0 and i.y1 <= h and 0 <= i.x0 and i.x1 <= w
        assert c.height <= tile and c.width <= tile
    assert np.all(count == 1)
    # one input size per axis, a multiple of `mult` unless the frame is smaller
    heights = {t.input.height for t in tiles}
    widths = {t.input.width for t in tiles}
    assert len(heights) == 1 and len(widths) == 1
    for size, full in ((heights.pop(), h), (widths.pop(), w)):
        assert size % mult == 0 or size == full


def test_split_axis_is_balanced() -> None:
    spans = split_axis(333, 64)
    assert len(spans) == 6 and spans[0][0] == 0 and spans[-1][1] == 333
    sizes = [b - a for a, b in spans]
    assert max(sizes) - min(sizes) <= 1


def test_bad_tiling_parameters_are_user_errors() -> None:
    with pytest.raises(UserError, match="tile"):
        plan_tiles(10, 10, 0, 4)
    with pytest.raises(UserError):
        plan_tiles(0, 10, 8, 4)


# --------------------------------------------------------------------------- blending


@pytest.mark.parametrize("scale", [1, 2, 3])
@pytest.mark.parametrize("blend", [0, 3, 8])
def test_weights_sum_to_one(scale: int, blend: int) -> None:
    length, tile, overlap = 200, 48, 8
    cores = split_axis(length, tile)
    total = np.zeros(length * scale)
    for c in cores:
        span = (max(0, c[0] - overlap), min(length, c[1] + overlap))
        total[span[0] * scale : span[1] * scale] += blend_weights(c, span, length, scale, blend)
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


def test_blend_radius_defaults_and_limits() -> None:
    assert blend_radius(500, 500, 64, 16) == 8
    assert blend_radius(500, 500, 64, 16, receptive_field=3) == 13
    assert blend_radius(500, 500, 64, 16, receptive_field=16) == 0
    assert blend_radius(500, 500, 64, 16, blend=40) == 16  # never more than the overlap
    assert blend_radius(70, 70, 64, 40, blend=40) == 17  # never more than half the smallest core


@pytest.mark.parametrize(("h", "w"), SIZES)
@pytest.mark.parametrize("scale", [1, 2, 4])
def test_pointwise_fn_is_reproduced_exactly(h: int, w: int, scale: int) -> None:
    img = np.random.default_rng(0).random((3, h, w)).astype(np.float32)
    out = run_tiled(_nearest(scale), img, scale=scale, tile=24, overlap=6)
    np.testing.assert_allclose(out, np.repeat(np.repeat(img, scale, 1), scale, 2), atol=1e-6)


def test_output_channels_may_differ_from_input() -> None:
    img = np.ones((3, 40, 50), np.float32)
    out = run_tiled(lambda x: x[:, :1] * 2, img, scale=1, tile=16, overlap=4)
    assert out.shape == (1, 40, 50)
    np.testing.assert_allclose(out, 2.0, atol=1e-6)


# --------------------------------------------------------------------------- real models


def test_tiled_equals_whole_frame_with_an_ort_sr_net(tmp_path: Path) -> None:
    fn = _ort_fn(make_sr_model(tmp_path / "sr.onnx", scale=2, layers=3))  # receptive field 3
    img = np.random.default_rng(1).random((3, 333, 517)).astype(np.float32)
    whole = fn(img[None])[0]
    for kwargs in ({"receptive_field": 3}, {}, {"blend": 0}):
        out = run_tiled(fn, img, scale=2, tile=64, overlap=16, **kwargs)
        assert out.shape == (3, 666, 1034)
        assert np.max(np.abs(out - whole)) < 1e-3, kwargs


@pytest.mark.parametrize("scale", [1, 2])
def test_overlap_equal_to_receptive_field_is_exact(tmp_path: Path, scale: int) -> None:
    fn = _ort_fn(make_rf_model(tmp_path / "rf.onnx", receptive_field=8, scale=scale))
    img = np.random.default_rng(2).random((3, 150, 211)).astype(np.float32)
    whole = fn(img[None])[0]
    out = run_tiled(fn, img, scale=scale, tile=40, overlap=8, receptive_field=8)
    assert np.max(np.abs(out - whole)) < 1e-3
    # too little overlap is not exact, but feathering keeps it bounded
    short = run_tiled(fn, img, scale=scale, tile=40, overlap=4, receptive_field=8, blend=4)
    assert np.max(np.abs(short - whole)) > 1e-3


def test_multiple_of_is_honoured_and_padding_cropped(tmp_path: Path) -> None:
    inner = _ort_fn(make_sr_model(tmp_path / "sr.onnx", scale=2, layers=2))
    seen: list[tuple[int, ...]] = []

    def fn(x: np.ndarray) -> np.ndarray:
        seen.append(x.shape)
        if x.shape[2] % 8 or x.shape[3] % 8:
            raise AssertionError(f"not a multiple of 8: {x.shape}")
        return inner(x)

    img = np.random.default_rng(3).random((3, 333, 517)).astype(np.float32)
    out = run_tiled(fn, img, scale=2, tile=64, overlap=16, multiple_of=8, receptive_field=2)
    assert np.max(np.abs(out - inner(img[None])[0])) < 1e-3
    small = run_tiled(fn, img[:, :5, :7], scale=2, tile=64, overlap=16, multiple_of=8)
    assert small.shape == (3, 10, 14) and np.all(np.isfinite(small))
    assert len({s for s in seen[:-1]}) <= 2  # tiles share one input shape (two at most)


def test_tiny_images_run_as_one_tile() -> None:
    calls: list[tuple[int, ...]] = []

    def fn(x: np.ndarray) -> np.ndarray:
        calls.append(x.shape)
        return _nearest(2)(x)

    out = run_tiled(fn, np.full((3, 1, 1), 0.5, np.float32), scale=2, tile=64, overlap=16)
    assert calls == [(1, 3, 1, 1)] and out.shape == (3, 2, 2)
    out = run_tiled(fn, np.full((1, 1, 1), 0.5, np.float32), scale=2, tile=64, overlap=16, multiple_of=4)
    assert calls[-1] == (1, 1, 4, 4) and out.shape == (1, 2, 2)
    np.testing.assert_allclose(out, 0.5)


def test_model_never_sees_more_than_a_padded_tile() -> None:
    shapes: list[tuple[int, ...]] = []
    done: list[tuple[int, int]] = []

    def fn(x: np.ndarray) -> np.ndarray:
        shapes.append(x.shape)
        return x

    run_tiled(
        fn, np.zeros((3, 300, 400), np.float32), scale=1, tile=64, overlap=16, progress=lambda a, b: done.append((a, b))
    )
    assert max(s[2] for s in shapes) <= 64 + 2 * 16 and max(s[3] for s in shapes) <= 64 + 2 * 16
    assert done[-1] == (len(shapes), len(shapes)) == (len(plan_tiles(300, 400, 64, 16)),) * 2


def test_wrong_output_shape_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="scale"):
        run_tiled(lambda x: x, np.zeros((3, 20, 20), np.float32), scale=2, tile=8, overlap=2)


# --------------------------------------------------------------------------- budget


@pytest.mark.parametrize("budget_mb", [64, 256, 1024, 4096])
@pytest.mark.parametrize("mult", [1, 16])
def test_tile_size_follows_the_budget(budget_mb: int, mult: int) -> None:
    frame, bpp, ov, scale = (2160, 3840), 2048, 16, 2
    budget = budget_mb << 20
    t = tile_size_for_budget(budget, bpp, overlap=ov, scale=scale, channels=3, frame_hw=frame, multiple_of=mult)
    frame_bytes = 4 * 3 * frame[0] * frame[1] * (1 + scale * scale)
    minimum = max(MIN_TILE, 2 * ov)
    assert t % mult == 0 and t >= minimum
    if bpp * (minimum + 2 * ov) ** 2 + frame_bytes <= budget:
        assert bpp * (t + 2 * ov) ** 2 + frame_bytes <= budget  # fits
        assert bpp * (t + mult + 2 * ov) ** 2 + frame_bytes > budget  # and is the largest that does
    else:
        assert t == minimum  # nothing fits: the minimum, documented


def test_tile_size_grows_with_budget_and_stops_at_the_frame() -> None:
    kw: dict[str, Any] = {"overlap": 8, "scale": 2, "channels": 3, "frame_hw": (480, 640)}
    sizes = [tile_size_for_budget(b << 20, 4096, **kw) for b in (30, 60, 120, 240, 480, 4000)]
    assert sizes == sorted(sizes)
    assert sizes[-1] == 640  # the whole frame fits: one tile
    assert tile_size_for_budget(1 << 40, 4096, overlap=8, scale=2, channels=3, frame_hw=(20, 30)) == 30
    assert tile_size_for_budget(1 << 40, 4096, overlap=8, scale=2, channels=3, frame_hw=(20, 30), multiple_of=16) == 32
