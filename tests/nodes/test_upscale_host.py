"""Upscale's host work takes shortcuts that must not change a bit: OCIO converts straight into
the model's planar layout and back out of it (colour.convert_to_planes / convert_planes), where
the general path interleaves, transposes and converts in place. Real ORT sessions on a tiny
generated model, whole-frame and tiled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reelfix import colour
from reelfix.frames.half import exact_half
from reelfix.frames.frame import Frame
from reelfix.nodes.spec import NodeContext, Window
from reelfix.nodes.upscale import SPEC
from tests.conftest import gradient


def _runner(mode: str, tile: int = 0):  # type: ignore[no-untyped-def]
    return SPEC.factory(SPEC.validate({"scale": 2, "model": "tiny-x2", "highlights": mode, "tile": tile}, "test"), NodeContext(device="cpu"))


@pytest.mark.parametrize("tile", [0, 24])
@pytest.mark.parametrize("mode", ["auto", "clip"])
def test_planar_route_equals_the_interleaved_one_bit_for_bit(model_dir: Path, mode: str, tile: int) -> None:
    plate = np.clip(gradient(40, 56, hdr=False), 0.0, 1.0)  # scene-linear, in the model's range once encoded
    runner = _runner(mode, tile)
    space = runner.entry.card.colorspace
    got = runner.process(Window(1, {1: Frame(plate, ("R", "G", "B"), "lin_srgb", 1)})).pixels
    x = np.clip(colour.convert(plate, "lin_srgb", space), 0.0, 1.0)
    want = colour.convert(runner._run(x), space, "lin_srgb", in_place=True, fast=True)  # the general path's steps
    assert got.flags.c_contiguous and got.shape == (80, 112, 3)
    if tile == 0:
        assert got.tobytes() == want.tobytes()
    else:  # tiles feathered before the pixel shuffle (tests/nodes/test_upscale_shuffle.py): float rounding where they meet
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)


def test_clip_mode_clips_highlights_on_the_planar_route(model_dir: Path) -> None:
    plate = gradient(40, 56, hdr=True)
    runner = _runner("clip")
    space = runner.entry.card.colorspace
    got = runner.process(Window(1, {1: Frame(plate, ("R", "G", "B"), "lin_srgb", 1)})).pixels
    x = np.clip(colour.convert(plate, "lin_srgb", space), 0.0, 1.0)
    assert got.tobytes() == colour.convert(runner._run(x), space, "lin_srgb", fast=True).tobytes()


@pytest.mark.parametrize("fast", [False, True])
@pytest.mark.parametrize(("src", "dst"), [("lin_srgb", "srgb_tx"), ("srgb_tx", "lin_srgb"), ("ACEScg", "ACEScct"), ("lin_srgb", "lin_srgb")])
def test_planar_conversions_equal_convert_bit_for_bit(src: str, dst: str, fast: bool) -> None:
    rng = np.random.default_rng(7)
    rgb = np.concatenate([rng.uniform(-0.2, 1.3, (700, 800, 3)), rng.uniform(-50, 5000, (50, 800, 3))]).astype(np.float32)
    rgb[0, :2] = [[0.0, -0.0, 1e-40], [-1e-40, 65504.0, -1.0]]  # zeros, denormals
    want = colour.convert(rgb, src, dst, fast=fast)  # 750x800: split over threads like a frame
    planes = np.ascontiguousarray(rgb.transpose(2, 0, 1))
    assert colour.convert_planes(planes, src, dst, fast=fast).tobytes() == want.tobytes()
    if not fast:
        got = colour.convert_to_planes(rgb, src, dst)
        assert got.shape == (3, 750, 800) and np.ascontiguousarray(got.transpose(1, 2, 0)).tobytes() == want.tobytes()


@pytest.mark.parametrize(("src", "dst", "table"), [("lin_srgb", "srgb_tx", True), ("srgb_tx", "lin_srgb", True), ("ACEScg", "ACEScct", True), ("ACEScg", "srgb_tx", False)])
def test_half_float_plates_take_ocios_table_with_the_same_bits(src: str, dst: str, table: bool) -> None:
    """Values read from a half EXR go through OCIO's 65536-entry table where it has one: every
    finite half value converts to the exact route's bits; a frame that is not all halves (one
    value off, a 10-bit code, Inf) is converted exactly, band by band."""
    every = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    every = every[np.isfinite(every)].astype(np.float32)
    rgb = np.resize(every, 3 * 600 * 700).reshape(600, 700, 3)  # every finite half, in each channel, a frame's size
    rgb[:, :, 1] = np.roll(rgb[:, :, 1], 12345)
    assert (colour._half_processor(colour.config_source(), colour.canonical_name(src), colour.canonical_name(dst)) is not None) == table
    assert exact_half(rgb) is not None and exact_half(rgb[:, :, ::-1] * np.float32(1.0001)) is None
    want = colour.convert(rgb, src, dst)
    got = colour.convert_to_planes(rgb, src, dst)
    assert np.ascontiguousarray(got.transpose(1, 2, 0)).tobytes() == want.tobytes()
    for bad in (np.float32(0.1), np.float32(np.inf), np.float32(512 / 1023)):  # not a half / not finite / a 10-bit code
        off = rgb.copy()
        off[590, 3, 2] = bad
        got = colour.convert_to_planes(off, src, dst)
        assert np.ascontiguousarray(got.transpose(1, 2, 0)).tobytes() == colour.convert(off, src, dst).tobytes()


def test_the_half_table_is_used_only_where_ocio_reduces_the_conversion_to_one() -> None:
    canon = colour.canonical_name
    src = colour.config_source()
    assert colour._half_processor(src, canon("lin_srgb"), canon("srgb_tx")) is not None  # one curve per channel
    assert colour._half_processor(src, canon("ACEScg"), canon("srgb_tx")) is None  # a matrix: no table
    assert colour._half_processor(src, canon("lin_srgb"), canon("ACEScct")) is None
    assert colour._half_processor(src, canon("lin_srgb"), canon("lin_srgb")) is None  # nothing to do
