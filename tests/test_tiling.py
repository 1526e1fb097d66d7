"""tiling.py: tile plans, feathered blending, equality with whole-frame inference, budgets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper
from reelfix.errors import ModelError, UserError
from reelfix.tile_budget import MIN_TILE, OVER_BUDGET_SHARE, model_memory, tile_shape_for_budget, tile_size_for_budget
from reelfix.tiling import (
    blend_radius,
    blend_weights,
    padded_window,
    plan_axis,
    plan_tiles,
    round_up,
    run_tiled,
    split_axis,
)

from tests.onnx_models import _conv, _io, _save, make_rf_model, make_sr_model

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
        # inside the frame, or up to its reflection at the next multiple of `mult`
        assert 0 <= i.y0 and i.y1 <= round_up(h, mult) and 0 <= i.x0 and i.x1 <= round_up(w, mult)
        assert c.height <= tile and c.width <= tile
    assert np.all(count == 1)
    # one input size per axis, a multiple of `mult`
    heights = {t.input.height for t in tiles}
    widths = {t.input.width for t in tiles}
    assert len(heights) == 1 and len(widths) == 1
    assert heights.pop() % mult == 0 and widths.pop() % mult == 0


def test_spans_start_on_the_grid_for_any_plan() -> None:
    """Property-style, over many random (length, tile, overlap, multiple_of): cores partition
    the axis; every input span starts on a multiple, is a multiple long (all one length),
    holds its core with `overlap` context each side where the frame has it, and reaches past
    the frame only into the reflection up to the next multiple."""
    rng = np.random.default_rng(7)
    for _ in range(3000):
        length, tile, overlap = int(rng.integers(1, 400)), int(rng.integers(1, 90)), int(rng.integers(0, 40))
        m = int(rng.choice([1, 2, 3, 4, 8, 16, 64]))
        plan = plan_axis(length, tile, overlap, m)
        case = (length, tile, overlap, m)
        cores = [c for c, _ in plan]
        assert cores[0][0] == 0 and cores[-1][1] == length and all(a < b for a, b in cores), case
        assert all(prev[1] == nxt[0] for prev, nxt in zip(cores, cores[1:])), case
        windows = {s1 - s0 for _, (s0, s1) in plan}
        assert len(windows) == 1, case
        window = windows.pop()
        assert window % m == 0 and window <= round_up(length, m), case
        if len(plan) > 1:  # widened by at most m - 1, then rounded up
            assert window <= padded_window(max(b - a for a, b in cores), overlap, m), case
        for (c0, c1), (s0, s1) in plan:
            assert s0 % m == 0 and 0 <= s0 and s1 <= round_up(length, m), case
            assert s0 <= max(0, c0 - overlap) and s1 >= min(length, c1 + overlap), case


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
        for tile in (64, (333, 120), (50, 517)):  # square cores; full-height columns; full-width rows
            out = run_tiled(fn, img, scale=2, tile=tile, overlap=16, **kwargs)
            assert out.shape == (3, 666, 1034)
            assert np.max(np.abs(out - whole)) < 1e-3, (kwargs, tile)


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
    # the frame's end is read as its reflection up to the next multiple of 8, as a whole-frame run pads it
    assert np.max(np.abs(out - _whole_on_padded_frame(inner, img, 8, 2))) < 1e-5
    assert len(set(seen)) == 1  # tiles share one input shape
    small = run_tiled(fn, img[:, :5, :7], scale=2, tile=64, overlap=16, multiple_of=8)
    assert small.shape == (3, 10, 14) and seen[-1] == (1, 3, 8, 8)
    np.testing.assert_allclose(small, _whole_on_padded_frame(inner, img[:, :5, :7], 8, 2), atol=1e-6)


def _make_grid_model(path: Path, scale: int) -> Path:
    """A net whose result depends on the pixel grid modulo 4, like a U-Net: 3x3 conv, two
    2x2 average pools (stride 2), a 3x3 conv at 1/4 size, nearest resize x(4*scale).
    H, W must be multiples of 4; receptive field 8 (1 + 3 within the block + 4 for the
    quarter-size conv)."""
    rng = np.random.default_rng(5)
    c1, w1 = _conv(rng, "c1", "input", "h1", 3, 4, 3)
    c2, w2 = _conv(rng, "c2", "p2", "h2", 4, 3, 3)
    pools = [
        helper.make_node("AveragePool", [src], [dst], kernel_shape=[2, 2], strides=[2, 2])
        for src, dst in (("h1", "p1"), ("p1", "p2"))
    ]
    scales = numpy_helper.from_array(np.array([1, 1, 4 * scale, 4 * scale], np.float32), "scales")
    resize = helper.make_node(
        "Resize", ["h2", "", "scales"], ["output"], mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"
    )
    graph = helper.make_graph([c1, *pools, c2, resize], "grid", [_io("input", 3)], [_io("output", 3)], [*w1, *w2, scales])
    return _save(graph, path)


def _whole_on_padded_frame(fn: Any, img: np.ndarray, multiple_of: int, scale: int) -> np.ndarray:
    """The reference: one model run on the whole frame reflected at its bottom/right up to the next multiple."""
    _, h, w = img.shape
    padded = img
    for axis, size in ((1, h), (2, w)):
        widths = [(0, 0)] * 3
        widths[axis] = (0, round_up(size, multiple_of) - size)
        padded = np.pad(padded, widths, mode="reflect" if size > 1 else "edge")
    return fn(np.ascontiguousarray(padded[None]))[0][:, : h * scale, : w * scale]


@pytest.mark.parametrize("scale", [1, 2])
@pytest.mark.parametrize(("h", "w"), [(37, 53), (1, 1), (13, 6), (77, 130)])
def test_grid_dependent_model_tiled_equals_whole_frame(tmp_path: Path, scale: int, h: int, w: int) -> None:
    """Tiles start on the model's multiple_of grid, so a net that pools 2x2 twice gives the
    whole-frame result at any tile size, including odd frames and frames smaller than a tile."""
    inner = _ort_fn(_make_grid_model(tmp_path / "grid.onnx", scale))
    shapes: list[tuple[int, ...]] = []

    def fn(x: np.ndarray) -> np.ndarray:
        shapes.append(x.shape)
        return inner(x)

    img = np.random.default_rng(h * w).random((3, h, w)).astype(np.float32)
    whole = _whole_on_padded_frame(inner, img, 4, scale)
    for tile in (5, 9, 16, 24, 100, (9, 24), (100, 16)):  # a pair: cores of (rows, columns)
        for overlap in (8, 11):
            shapes.clear()
            out = run_tiled(fn, img, scale=scale, tile=tile, overlap=overlap, multiple_of=4, receptive_field=8)
            assert out.shape == (3, h * scale, w * scale)
            assert np.max(np.abs(out - whole)) < 1e-5, (tile, overlap)
            assert len(set(shapes)) == 1 and shapes[0][2] % 4 == 0 and shapes[0][3] % 4 == 0  # one shape
            if isinstance(tile, int) and padded_window(tile, overlap, 4) < min(h, w):  # several tiles, each seeing part of the frame
                assert len(shapes) >= 4 and shapes[0][2] < h and shapes[0][3] < w


def test_grid_dependent_model_is_off_when_shifted(tmp_path: Path) -> None:
    """The grid model above really depends on the grid: one pixel off changes its result
    far beyond float noise (the test above would catch unaligned tile starts)."""
    fn = _ort_fn(_make_grid_model(tmp_path / "grid.onnx", 1))
    img = np.random.default_rng(0).random((1, 3, 40, 40)).astype(np.float32)
    on_grid, shifted = fn(img[:, :, :, :32]), fn(img[:, :, :, 1:33])
    assert np.max(np.abs(on_grid[..., 9:23] - shifted[..., 8:22])) > 1e-2


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
    free = max(budget - frame_bytes, budget // OVER_BUDGET_SHARE)  # over budget: the tiles get a quarter of it
    if bpp * padded_window(minimum, ov, mult) ** 2 <= free:
        # honest: the inputs plan_tiles really makes (widened onto the grid) fit
        first = plan_tiles(*frame, t, ov, mult)[0].input
        assert bpp * first.height * first.width <= free
        assert bpp * padded_window(t, ov, mult) ** 2 <= free  # fits
        assert bpp * padded_window(t + mult, ov, mult) ** 2 > free  # and is the largest that does
    else:
        assert t == minimum  # nothing fits: the minimum, documented


def test_tile_size_grows_with_budget_and_stops_at_the_frame() -> None:
    kw: dict[str, Any] = {"overlap": 8, "scale": 2, "channels": 3, "frame_hw": (480, 640)}
    sizes = [tile_size_for_budget(b << 20, 4096, **kw) for b in (30, 60, 120, 240, 480, 4000)]
    assert sizes == sorted(sizes)
    assert sizes[-1] == 640  # the whole frame fits: one tile
    assert tile_size_for_budget(1 << 40, 4096, overlap=8, scale=2, channels=3, frame_hw=(20, 30)) == 30
    assert tile_size_for_budget(1 << 40, 4096, overlap=8, scale=2, channels=3, frame_hw=(20, 30), multiple_of=16) == 32


def _model_pixels(tiles: list[Any]) -> int:
    return sum(t.input.height * t.input.width for t in tiles)


@pytest.mark.parametrize("seed", range(4))
def test_tile_shape_fits_the_same_budget_and_never_reads_more(seed: int) -> None:
    """`tile_shape_for_budget` against the square `tile_size_for_budget` on random frames,
    budgets, overlaps and grids: its windows fit the same model memory, and the model reads
    no more pixels in all (overlap counted as often as it is computed)."""
    rng = np.random.default_rng(seed)
    gained = 0
    for _ in range(150):
        h, w = int(rng.integers(16, 4400)), int(rng.integers(16, 7700))
        bpp, ov, mult = int(rng.choice([1920, 3264, 20544])), int(rng.choice([8, 32, 72])), int(rng.choice([1, 4, 16]))
        kw: dict[str, Any] = {"overlap": ov, "scale": 2, "channels": 3, "frame_hw": (h, w), "multiple_of": mult, "reserved": 400 << 20}
        budget = int(rng.choice([256, 1024, 2048, 8192])) << 20
        free = model_memory(budget, channels=3, scale=2, frame_hw=(h, w), reserved=400 << 20)
        square = plan_tiles(h, w, tile_size_for_budget(budget, bpp, **kw), ov, mult)
        shaped = plan_tiles(h, w, tile_shape_for_budget(budget, bpp, **kw), ov, mult)
        if bpp * square[0].input.height * square[0].input.width <= free:  # the square fits: so does the shape
            assert bpp * shaped[0].input.height * shaped[0].input.width <= free, (h, w, bpp, ov, mult, budget)
        assert _model_pixels(shaped) <= _model_pixels(square), (h, w, bpp, ov, mult, budget)
        gained += _model_pixels(shaped) < _model_pixels(square)
    assert gained > 10  # and it often reads fewer


def test_a_2k_frame_a_little_over_budget_is_cut_in_full_height_columns() -> None:
    """1920x1080 with room for an 877-pixel square window: three 704x1080 windows (1.10x the
    frame's pixels to the model), not six 704x604 (1.23x)."""
    kw: dict[str, Any] = {"overlap": 32, "scale": 2, "channels": 3, "frame_hw": (1080, 1920)}
    budget = 877 * 877 * 1920 + 4 * 3 * 1080 * 1920 * (1 + 2 * 2)  # the frame's own float32 buffers beside it
    assert model_memory(budget, channels=3, scale=2, frame_hw=(1080, 1920)) == 877 * 877 * 1920
    square = plan_tiles(1080, 1920, tile_size_for_budget(budget, 1920, **kw), 32)
    shaped = plan_tiles(1080, 1920, tile_shape_for_budget(budget, 1920, **kw), 32)
    assert (len(square), len(shaped)) == (6, 3)
    assert {(t.input.height, t.input.width) for t in shaped} == {(1080, 704)}
    assert round(_model_pixels(square) / (1080 * 1920), 2) == 1.23 and round(_model_pixels(shaped) / (1080 * 1920), 2) == 1.10
    whole = tile_shape_for_budget(1 << 40, 1920, **kw)
    assert len(plan_tiles(1080, 1920, whole, 32)) == 1


def test_interleave_is_an_exact_channels_last_copy() -> None:
    from reelfix.tiling import interleave

    rng = np.random.default_rng(3)
    for c, h in ((1, 19), (3, 19), (4, 19), (7, 19), (3, 700)):  # 700 rows: several bands over threads
        x = rng.random((c, h, 23), dtype=np.float32)
        for view in (x, x[:, 2:11, 5:17]):
            y = interleave(view)
            assert y.shape == (view.shape[1], view.shape[2], c) and y.flags.c_contiguous
            assert np.array_equal(y, view.transpose(1, 2, 0))


def test_fixed_size_model_gets_tiles_of_exactly_its_size(tmp_path: Path) -> None:
    """A model exported for one input size (48x48): every tile is exactly that size, placed
    anywhere and overlapping; the result equals the same weights with dynamic axes on the
    whole frame, and a frame smaller than the size is padded to it (all but its padded edge)."""
    import onnxruntime as ort

    from tests.onnx_models import make_sr_model, make_static_model

    fixed = ort.InferenceSession(str(make_static_model(tmp_path / "s.onnx", size=48, scale=2, seed=5)), providers=["CPUExecutionProvider"])
    dynamic = ort.InferenceSession(str(make_sr_model(tmp_path / "d.onnx", scale=2, layers=1, seed=5)), providers=["CPUExecutionProvider"])
    shapes: set[tuple[int, ...]] = set()

    def fn(x: np.ndarray) -> np.ndarray:
        shapes.add(x.shape)
        return fixed.run(None, {"input": x})[0]

    rng = np.random.default_rng(0)
    for h, w in ((70, 130), (48, 48), (30, 41), (1, 1)):
        img = rng.random((3, h, w), dtype=np.float32)
        got = run_tiled(fn, img, scale=2, tile=999, overlap=4, receptive_field=1, fixed=48)
        want = dynamic.run(None, {"input": img[None]})[0][0]
        assert got.shape == (3, 2 * h, 2 * w)
        inner = (slice(None), slice(0, max(2 * h - 2, 1)), slice(0, max(2 * w - 2, 1))) if h < 48 else (slice(None),) * 3
        if h > 1:
            assert np.abs(got[inner] - want[inner]).max() < 1e-5
    assert shapes == {(1, 3, 48, 48)}
    assert len(plan_tiles(70, 130, 999, 4, 48, fixed=48)) == 2 * 4  # cores of at most 48 - 8 = 40


def _general_formula(fn, image: np.ndarray, *, scale: int, tile: int, overlap: int, multiple_of: int, blend: int, channels_last: bool) -> np.ndarray:
    """The assembly as run_tiled did it before it skipped the weights of 1: every tile's output
    times its weights (wy x wx) over its nonzero weights, added into zeros in tile order."""
    from reelfix.tiling import _read_tile, interleave

    _, height, width = image.shape
    tiles = plan_tiles(height, width, tile, overlap, multiple_of)
    r = blend_radius(height, width, tile, overlap, blend)
    out = None
    for t in tiles:
        y = fn(_read_tile(image, t.input, multiple_of))
        if out is None:
            out = np.zeros((height * scale, width * scale, y.shape[1]) if channels_last else (y.shape[1], height * scale, width * scale), np.float32)
        wy = blend_weights((t.core.y0, t.core.y1), (t.input.y0, t.input.y1), height, scale, r)
        wx = blend_weights((t.core.x0, t.core.x1), (t.input.x0, t.input.x1), width, scale, r)
        ys, xs = np.flatnonzero(wy), np.flatnonzero(wx)
        a, b, c, d = ys[0], ys[-1] + 1, xs[0], xs[-1] + 1
        block = y[0, :, a:b, c:d] * (wy[a:b, None] * wx[None, c:d])
        rows = slice(t.input.y0 * scale + a, t.input.y0 * scale + b)
        cols = slice(t.input.x0 * scale + c, t.input.x0 * scale + d)
        if channels_last:
            out[rows, cols, :] += interleave(block)
        else:
            out[:, rows, cols] += block
    return out


@pytest.mark.parametrize(("h", "w", "scale", "tile", "overlap", "mult", "blend", "cout"), [
    (101, 77, 2, 23, 8, 1, 3, 3),  # odd sizes, ramps over 3 input pixels
    (101, 77, 3, 23, 8, 4, 0, 4),  # hard cuts, on a grid of 4 (inputs reach into the reflection), 4 channels
    (37, 53, 2, 16, 5, 1, 2, 1),  # one output channel
    (64, 130, 1, 40, 8, 8, 4, 3),  # scale 1
])
def test_assembly_equals_the_general_formula_bit_for_bit(h: int, w: int, scale: int, tile: int, overlap: int, mult: int, blend: int, cout: int) -> None:
    """run_tiled copies a tile's output where its weight is exactly 1 and blends only the
    overlap strips: bit for bit the general formula (weights everywhere, added into zeros), on
    tiles that disagree, with -0, NaN and inf in their outputs, both layouts."""

    def fn(x: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng(int(x.sum() * 1000) % 2**32)  # each tile its own noise: tiles disagree
        y = np.repeat(np.repeat(x[:, :1], scale, axis=2), scale, axis=3)
        y = np.concatenate([y] * cout, axis=1) + rng.standard_normal((1, cout, *y.shape[2:]), dtype=np.float32)
        y[..., ::7, ::5], y[..., 3, 3], y[..., 5, 2] = -0.0, np.nan, np.inf
        return y

    image = np.random.default_rng(1).random((3, h, w), dtype=np.float32)
    assert len(plan_tiles(h, w, tile, overlap, mult)) >= 6
    for channels_last in (False, True):
        kw: dict[str, Any] = dict(scale=scale, tile=tile, overlap=overlap, multiple_of=mult, blend=blend, channels_last=channels_last)
        fast = run_tiled(fn, image, **kw)
        assert fast.tobytes() == _general_formula(fn, image, **kw).tobytes()
        assert fast.flags.c_contiguous
        assert np.signbit(fast[fast == 0]).sum() == 0  # 0 + (-0) is +0: the copy keeps that
