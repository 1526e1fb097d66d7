"""dustbust within the memory budget: band plans for big frames, and bands that change nothing
(the same pixels and matte, bit for bit, as one band over the whole frame)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from reelfix import motion
from reelfix.frames.frame import Frame
from reelfix.nodes import dustbust_bands as bands
from reelfix.nodes.dustbust import SPEC
from reelfix.nodes.spec import NodeContext, Window
from tests.nodes import clips

GB = 1024**3
K8 = (4320, 7680)


def frame_bytes(h: int, w: int) -> int:
    return h * w * 3 * 4


@pytest.mark.parametrize("budget", [256 * 1024**2, 2 * GB])
def test_an_8k_frame_is_cut_into_bands_whose_working_memory_fits_a_share_of_the_budget(budget: int) -> None:
    h, w = K8
    rows = bands.band_height(h, w, 2, budget, held=5 * frame_bytes(h, w))  # a radius-1 window holds 5 frames
    plan = bands.plan(h, rows)
    assert rows % bands.QUANTUM == 0 and len(plan) > 4
    assert (rows + 2 * bands.HALO) * w * bands.band_bytes_per_pixel(2) <= budget // 4
    assert [a for a, _ in plan] == list(range(0, h, rows)) and plan[-1][1] == h
    # radius 2 (four neighbours) costs more per row: thinner bands
    assert bands.band_height(h, w, 4, budget, held=7 * frame_bytes(h, w)) < rows


def test_a_2k_frame_at_the_default_budget_is_one_band() -> None:
    assert bands.band_height(1080, 1920, 2, 2 * GB, held=5 * frame_bytes(1080, 1920)) >= 1080


def run(clip: clips.Clip, colorspace: str, max_memory: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    motion.clear_cache()
    runner = SPEC.factory(SPEC.validate({}, "test"), NodeContext(max_memory=max_memory))
    frames = {i: Frame(d, ("R", "G", "B"), colorspace, i) for i, d in enumerate(clip.damaged)}
    outs = [runner.process(Window(i, {n: frames[n] for n in range(i - 2, i + 3) if n in frames})) for i in frames]
    return [o.pixels for o in outs], [o.mattes["dustbust"] for o in outs]


@pytest.mark.parametrize(
    "size,colorspace",
    [((96, 128), "lin_srgb"), ((98, 130), "srgb_tx")],  # scene-linear; sides not multiples of 4 (whole-frame flow fields)
)
def test_many_thin_bands_give_the_whole_frame_result_bit_for_bit(size: tuple[int, int], colorspace: str) -> None:
    h, w = size
    clip = clips.dust_clip(3, h, w, count=10, seed=3, max_size=16)
    thin = bands.band_height(h, w, 2, 1, held=0)  # no budget at all: the thinnest bands
    assert thin == bands.MIN_BAND and len(bands.plan(h, thin)) >= 6
    whole, whole_m = run(clip, colorspace, 2 * GB)
    banded, banded_m = run(clip, colorspace, 1)
    for a, b, ma, mb in zip(whole, banded, whole_m, banded_m):
        assert np.array_equal(a.view(np.uint32), b.view(np.uint32))
        assert np.array_equal(ma, mb)
    repaired = np.stack(whole_m) > 0
    seams = [y for y in range(thin, h, thin)]
    assert repaired.sum() > 50 and repaired[:, seams].any()  # specks repaired, some across a band's edge


def test_rows_and_points_of_flows_and_warps_equal_the_whole_planes() -> None:
    rng = np.random.default_rng(5)
    h, w = 420, 1100  # flow estimated at 1024 px across, so the full-resolution field is resized
    base = cv2.GaussianBlur(rng.random((h, w, 3), dtype=np.float32), (0, 0), 4)
    a = Frame(base, ("R", "G", "B"), "lin_srgb", 1)
    b = Frame(np.roll(base, (4, -7), axis=(0, 1)).copy(), ("R", "G", "B"), "lin_srgb", 2)
    motion.clear_cache()
    flow, field = motion.flow(a, b), motion.flow_field(a, b)
    ys, xs = rng.integers(0, h, 500), rng.integers(0, w, 500)
    assert np.array_equal(field.rows(0, h), flow) and np.array_equal(field.rows(133, 277, 100, 900), flow[133:277, 100:900])
    assert np.array_equal(field.at(ys, xs), flow[ys, xs])
    luma = motion.perceptual_luma(b)
    whole = motion.warp(luma, flow)

    def crop(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        return motion.luma_rows(b, y0, y1, x0, x1)

    assert np.array_equal(motion.warp_rows(crop, (h, w), 201, flow[201:350]), whole[201:350])
    assert np.array_equal(motion.warp_rows(crop, (h, w), 10, flow[10:30, 50:90], x0=50), whole[10:30, 50:90])
    assert np.array_equal(motion.sample_rows(crop, (h, w), ys, xs, flow[ys, xs])[:, 0], whole[ys, xs])
    assert np.array_equal(motion.luma_at(b, ys, xs), luma[ys, xs])


@pytest.mark.parametrize("low", [(576, 1024), (1080, 1920), (25, 33)])  # an 8K flow, an 8K quarter field, odd sides
def test_upsampled_fields_hold_only_the_field_and_give_the_whole_resize_bit_for_bit(low: tuple[int, int]) -> None:
    rng = np.random.default_rng(9)
    field = (rng.standard_normal((*low, 2)) * 5).astype(np.float32)
    h, w = (4320, 7680) if low[0] > 100 else (98, 130)
    whole = np.multiply(cv2.resize(field, (w, h), interpolation=cv2.INTER_LINEAR), 1.5, dtype=np.float32)
    up = motion.Upsampled(field, h, w, 1.5)
    assert not any(isinstance(v, np.ndarray) and v.nbytes > field.nbytes for v in vars(up).values())
    ys, xs = rng.integers(0, h, 20000), rng.integers(0, w, 20000)
    assert np.array_equal(up.at(ys, xs).view(np.uint32), whole[ys, xs].view(np.uint32))
    assert np.array_equal(up.at(ys[:1], xs[:1]), whole[ys[:1], xs[:1]]) and up.at(ys[:0], xs[:0]).shape == (0, 2)
    for y0, y1, x0, x1 in ((0, h, 0, w), (h // 3, h // 3 + 37, 5, w - 7), (h - 5, h, 0, w)):
        assert np.array_equal(up.rows(y0, y1, x0, x1).view(np.uint32), whole[y0:y1, x0:x1].view(np.uint32))
