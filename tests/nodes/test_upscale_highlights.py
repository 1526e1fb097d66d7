"""Upscale's handling of values outside the model's range (nodes/highlights.py): the default
(`auto`) is `clip` bit for bit on in-range frames, changes only the neighbourhood of
out-of-range values, keeps highlights and negatives, and keeps (beats) the old roll-off
default's gain on plates with real highlights. Real ORT sessions: tiny generated models and
the built-in span-x2."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from reelfix import colour
from reelfix.frames.frame import Frame
from reelfix.models.card import write_card
from reelfix.nodes import highlights as hl
from reelfix.nodes.spec import NodeContext, Window
from reelfix.nodes.upscale import SPEC
from reelfix.resize import resize
from tests.onnx_models import make_card, make_rf_model


def upscale(pix: np.ndarray, mode: str | None, model: str = "", space: str = "lin_srgb") -> np.ndarray:
    params = {"scale": 2, "model": model} | ({"highlights": mode} if mode else {})
    runner = SPEC.factory(SPEC.validate(params, "test"), NodeContext(device="cpu"))
    return runner.process(Window(1, {1: Frame(pix, ("R", "G", "B"), space, 1)})).pixels


def overcast_plate(height: int = 48, width: int = 64) -> np.ndarray:
    """A bright in-range scene-linear plate from a real photo: about 15% of the pixels above 0.9, none above 1."""
    from skimage import data

    srgb = data.chelsea()[60 : 60 + height * 3 : 3, 100 : 100 + width * 3 : 3].astype(np.float32) / 255
    lin = colour.convert(np.ascontiguousarray(srgb), "srgb_tx", "lin_srgb")
    lin = np.clip(lin * (0.9 / np.quantile(lin, 0.85)), 0.0, 1.0)  # exposed up: the top 15% above 0.9
    return np.ascontiguousarray(lin, dtype=np.float32)


def test_default_is_auto() -> None:
    assert SPEC.validate({"scale": 2}, "test")["highlights"] == "auto"


def test_in_range_frame_default_is_clip_bit_for_bit_with_the_builtin_model() -> None:
    plate = overcast_plate()
    assert plate.max() <= 1.0 and plate.min() >= 0.0 and (plate.max(axis=2) > 0.9).mean() > 0.12
    default, clipped = upscale(plate, None), upscale(plate, "clip")
    assert default.tobytes() == clipped.tobytes()  # bit for bit, -0.0 included
    rolled = upscale(plate, "rolloff")
    assert np.abs(rolled - clipped).max() > 1e-3  # the old default changed in-range values


def test_in_range_frame_default_is_clip_bit_for_bit_with_a_tiny_model(model_dir: Path) -> None:
    rng = np.random.default_rng(3)
    plate = rng.uniform(0.0, 1.0, (40, 56, 3)).astype(np.float32)
    assert upscale(plate, "auto", "tiny-x2").tobytes() == upscale(plate, "clip", "tiny-x2").tobytes()


def reach(feather: float = hl.FEATHER) -> int:
    """Input pixels (along rows and columns: a square) past an out-of-range value that `auto`
    may change: the disc, the Gaussian's separable kernel (OpenCV: radius 4 sigma), bilinear
    upsampling of the weight, the bicubic residual."""
    return hl.RADIUS + int(round(4 * feather)) + 1 + 2


def near_output(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Output pixels (x2) within a square of `pixels` input pixels of the mask."""
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)) > 0
    return np.repeat(np.repeat(grown, 2, axis=0), 2, axis=1)


def test_out_of_range_handling_is_confined_to_the_neighbourhood() -> None:
    plate = overcast_plate(72, 96) * 0.7
    plate[20:30, 30:42] = 6.0  # a practical light
    plate[50, 10] = -0.05  # a negative
    out_auto, out_clip = upscale(plate, "auto"), upscale(plate, "clip")
    outside = ((plate > 1) | (plate < 0)).any(axis=2)
    far, near = ~near_output(outside, reach()), near_output(outside, 2)
    assert far.mean() > 0.4
    assert out_auto[far].tobytes() == out_clip[far].tobytes()  # identical away from them
    assert np.abs(out_auto[near] - out_clip[near]).max() > 0.5  # changed near them
    assert np.allclose(out_auto[46:54, 68:76], 6.0, rtol=0.02)  # the light survives (clip gives 1)
    assert out_auto[100:102, 20:22].min() < -0.01  # the negative survives
    assert np.isfinite(out_auto).all()


def test_highlight_weight_is_full_on_highlights_zero_far_away_and_none_in_range() -> None:
    src = np.full((40, 40, 3), 0.5, np.float32)
    assert hl.highlight_weight(src, 1.0) is None
    src[20, 20, 1] = 1.0 + 2 * hl.THRESHOLD
    src[5, 5, 0] = 1.0 + hl.THRESHOLD / 4  # a small excursion: a quarter of the weight
    w = hl.highlight_weight(src, 1.0)
    assert w is not None and w.dtype == np.float32
    assert w[20, 20] == 1.0 and w[20, 20 + hl.RADIUS] == 1.0
    assert w[5, 5] == pytest.approx(0.25, abs=1e-6)
    assert w[20, 20 + reach()] == 0.0 and w[38, 38] == 0.0


def test_second_run_on_the_highlights_box_matches_a_whole_frame_run(tmp_path: Path) -> None:
    path = make_rf_model(tmp_path / "rf.onnx", receptive_field=4, scale=2)
    card = make_card(path, name="rf", scale=2, receptive_field=4)
    write_card(card, tmp_path)
    from reelfix.runtime.session import get_session

    session = get_session(path, card, "cpu")

    def run(x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(session.run(np.ascontiguousarray(x.transpose(2, 0, 1))[None])[0].transpose(1, 2, 0))

    rng = np.random.default_rng(1)
    src = rng.uniform(0.1, 0.9, (64, 72, 3)).astype(np.float32)
    src[40:44, 50:53] = 3.0
    base = run(np.clip(src, 0, 1))
    boxed, whole = base.copy(), base.copy()

    def lin(x: np.ndarray) -> np.ndarray:
        return colour.convert(x, "srgb_tx", "lin_srgb")

    def enc(x: np.ndarray) -> np.ndarray:
        return colour.convert(x, "lin_srgb", "srgb_tx")

    hl.blend_darkened_near_highlights(boxed, src, run, lin, enc, (0.0, 1.0), 2, margin=4)
    weight = hl.highlight_weight(src, 1.0)
    assert weight is not None
    box = hl.weighted_box(weight, 4)
    assert box is not None and box[0].start > 0 and box[1].start > 0  # a real crop, not the frame
    gain = hl.exposure_for(float(lin(src).max()))
    assert gain == 16.0  # 3.0 sRGB is ~13.2 linear: 4 stops, whole 2-stop steps
    dark = enc(lin(src) / gain)
    alt = run(np.clip(dark, 0, 1))
    hl.add_clipped_residual(alt, dark, np.clip(dark, 0, 1))
    alt = enc(lin(alt) * gain)
    lo, hi = hl.local_range(src)
    alt = np.clip(alt, np.repeat(np.repeat(lo, 2, 0), 2, 1), np.repeat(np.repeat(hi, 2, 0), 2, 1))
    w_out = cv2.resize(weight, (144, 128), interpolation=cv2.INTER_LINEAR)[:, :, None]
    whole += (alt - whole) * w_out
    assert np.abs(boxed - whole).max() < 1e-4  # float rounding of the x16 gain; the crop is exact


def psnr_display(a: np.ndarray, b: np.ndarray) -> float:
    def disp(x: np.ndarray) -> np.ndarray:
        return np.clip(colour.convert(x, "lin_srgb", "srgb_tx"), 0, 1)

    return float(10 * np.log10(1.0 / np.mean((disp(a) - disp(b)) ** 2)))


def test_exposure_near_highlights_in_whole_two_stop_steps() -> None:
    assert [hl.exposure_for(p) for p in (0.5, 1.0, 1.01, 4.0, 4.5, 16.0, 1e6, float("inf"))] == [1, 1, 4, 4, 16, 16, 256, 1]


def test_auto_keeps_the_rolloff_gain_on_a_plate_with_real_highlights() -> None:
    """A photo made scene-linear with its bright half pushed up to x4 (sky, practicals), x2 down in linear light."""
    from skimage import data

    srgb = data.coffee()[100:292, 200:392].astype(np.float32) / 255
    lin = colour.convert(np.ascontiguousarray(srgb), "srgb_tx", "lin_srgb")
    truth = lin * (1.0 + 3.0 * np.clip((lin.mean(axis=2, keepdims=True) - 0.35) / 0.4, 0, 1))
    truth = np.ascontiguousarray(truth, dtype=np.float32)
    assert (truth > 1).mean() > 0.05
    low = resize(truth, 96, 96, "catmull-rom")
    score = {m: psnr_display(upscale(low, m), truth) for m in ("auto", "rolloff", "clip")}
    bicubic = psnr_display(resize(low, 192, 192, "catmull-rom"), truth)
    assert score["auto"] >= score["rolloff"] - 0.1
    assert score["auto"] > score["clip"] + 0.3
    assert score["auto"] > bicubic


def test_log_dpx_plate_default_beats_bicubic_on_the_files_values(tmp_path: Path) -> None:
    """The benchmark's log class on one photo: ADX10 in a real 10-bit DPX, highlights up to x2 (the old
    default lost 0.27 dB to bicubic in log there; clip 0.8 dB)."""
    from benchmarks import upscale_plates as bench

    cls = next(c for c in bench.CLASSES if c.key == "log")
    truth = np.ascontiguousarray(cls.scene(bench.photo("coffee"))[64:192, 96:288])  # 128x192: quick
    pix, space = bench.plate_file(cls, truth, tmp_path)
    assert space == "ADX10" and (colour.convert(pix, space, "lin_srgb") > 1).mean() > 0.05
    want = bench.display(truth)

    def score(img: np.ndarray) -> float:
        return bench.psnr(bench.display(colour.convert(img, space, "lin_srgb")), want)

    bicubic = score(resize(pix, truth.shape[0], truth.shape[1], "catmull-rom"))
    assert score(upscale(pix, None, space=space)) > bicubic + 0.3


def test_clipped_residual_is_resized_in_blocks_near_it_only() -> None:
    rng = np.random.default_rng(2)
    src = rng.uniform(0.0, 1.0, (300, 270, 3)).astype(np.float32)
    src[100:140, 200:260] = 3.0
    src[0, 0], src[-1, -1], src[127, 128, 1] = 2.0, -1.0, 5.0  # frame corners, a block corner
    clipped = np.clip(src, 0, 1)
    y = np.zeros((600, 540, 3), np.float32)
    hl.add_clipped_residual(y, src, clipped)
    whole = resize(src - clipped, 600, 540, "catmull-rom")
    assert np.abs(y - whole).max() < 1e-4  # the whole-frame resize, to float rounding
    assert np.array_equal(y != 0, whole != 0)  # and nothing added anywhere else
