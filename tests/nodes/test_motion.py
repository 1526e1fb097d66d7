"""Shared motion: flow accuracy on a real photo, the per-pair cache, inversion, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from reelfix import motion
from reelfix.frames.frame import Frame
from tests.nodes import clips


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    motion.clear_cache()


def _pair(shift: tuple[float, float] = (1.3, -0.6), size: tuple[int, int] = (96, 128)) -> tuple[Frame, Frame]:
    a, b = clips.pan(2, *size, velocity=shift)
    return Frame(a, ("R", "G", "B"), "srgb_tx", 1), Frame(b, ("R", "G", "B"), "srgb_tx", 2)


def test_flow_finds_a_subpixel_pan_on_a_real_photo() -> None:
    a, b = _pair((1.3, -0.6))
    f = motion.flow(a, b)
    assert f.shape == (96, 128, 2) and f.dtype == np.float32
    inner = f[12:-12, 12:-12].reshape(-1, 2)
    # b shows a's content displaced by -velocity
    assert np.median(np.abs(inner - np.float32([-1.3, 0.6])), axis=0).max() < 0.2


def test_warp_aligns_the_neighbour() -> None:
    a, b = _pair()
    aligned = motion.warp(b.pixels, motion.flow(a, b))
    before = np.abs(b.pixels - a.pixels)[12:-12, 12:-12].mean()
    after = np.abs(aligned - a.pixels)[12:-12, 12:-12].mean()
    assert after < 0.3 * before


def test_each_pair_is_estimated_once_and_the_reverse_is_its_inverse() -> None:
    a, b = _pair()
    ab = motion.flow(a, b)
    ba = motion.flow(b, a)
    again = motion.flow(a, b)
    assert motion.stats["estimated"] == 1 and motion.stats["reused"] == 2
    assert np.array_equal(ab, again)
    inner = ba[12:-12, 12:-12].reshape(-1, 2)
    assert np.median(np.abs(inner - np.float32([1.3, -0.6])), axis=0).max() < 0.2


def test_flow_depends_only_on_content_so_reruns_are_identical() -> None:
    a, b = _pair()
    first = motion.flow(b, a).copy()
    motion.clear_cache()
    a2 = Frame(a.pixels.copy(), a.channels, a.colorspace, a.number)
    b2 = Frame(b.pixels.copy(), b.channels, b.colorspace, b.number)
    assert np.array_equal(first, motion.flow(b2, a2))
    # a different picture under the same frame numbers is a different pair
    c = Frame(np.ascontiguousarray(b.pixels[::-1]), b.channels, b.colorspace, b.number)
    motion.flow(a, c)
    assert motion.stats["estimated"] == 2


def test_sample_matches_warp_at_the_points() -> None:
    a, b = _pair()
    f = motion.flow(a, b)
    full = motion.warp(b.pixels, f)
    ys, xs = np.array([5, 40, 90]), np.array([3, 64, 120])
    assert np.allclose(motion.sample(b.pixels, f, ys, xs), full[ys, xs], atol=1e-5)


def test_perceptual_scale_keeps_highlights_and_sign() -> None:
    assert motion.is_scene_linear("lin_srgb") and motion.is_scene_linear("ACEScg")
    assert not motion.is_scene_linear("srgb_tx") and not motion.is_scene_linear("ACEScct")
    v = motion.perceptual(np.float32([-0.5, 0.0, 0.18, 1.0, 4.0, 16.0]), linear=True)
    assert v[0] < 0 and v[1] == 0 and np.all(np.diff(v) > 0) and v[-1] > 2.0
    assert np.array_equal(motion.perceptual(np.float32([0.3, 2.0]), linear=False), np.float32([0.3, 2.0]))


def test_grey_frames_and_extra_channels() -> None:
    a, b = _pair()
    ya = Frame(a.pixels.mean(axis=2, keepdims=True), ("Y",), "srgb_tx", 1)
    yb = Frame(b.pixels.mean(axis=2, keepdims=True), ("Y",), "srgb_tx", 2)
    assert motion.flow(ya, yb).shape == (96, 128, 2)
    many = np.concatenate([b.pixels, b.pixels], axis=2)
    assert motion.warp(many, motion.flow(a, b)).shape == (96, 128, 6)
