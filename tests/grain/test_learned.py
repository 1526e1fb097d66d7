"""reelfix.grain.learned: the runtime API degrain and the denoise node call.

Runtime behaviour on a tiny real ONNX model built here (tiles equal a whole-picture run,
values outside 0..1 survive, monochrome, sigma 0, wrong models named); the grain actually
removed is checked on the built-in model."""

from __future__ import annotations

import numpy as np
import pytest

from reelfix.errors import ModelError
from reelfix.grain import learned
from reelfix.grain.synth import add_grain, film_profile, luma
from reelfix.nodes.spec import NodeContext
from tests.grain.tiny_denoiser import NAME, make_tiny_denoiser, tiny_model  # noqa: F401


def picture(h: int = 101, w: int = 77, seed: int = 0) -> np.ndarray:
    from skimage import data

    rng = np.random.default_rng(seed)
    img = data.astronaut()[100 : 100 + h, 150 : 150 + w].astype(np.float32) / 255
    return img + rng.normal(0, 0.03, img.shape).astype(np.float32)


def test_available_names_the_model(tiny_model) -> None:
    assert learned.available(NAME)
    assert not learned.available("no-such-denoiser")


def test_tiles_give_the_whole_picture_result_at_any_offset(tiny_model) -> None:
    pic = picture(201, 170)  # big enough that tiles (core + 2 x 48 overlap) see part of it; 201: not a multiple of 4
    sigma = np.full(pic.shape[:2], 0.03, np.float32)
    whole = learned.Denoiser(NodeContext(device="cpu"), NAME).run(pic, sigma)
    assert whole.shape == pic.shape and whole.dtype == np.float32
    assert np.abs(whole - pic).mean() > 1e-3  # the model did something
    for tile in (24, 36, 52):  # cores starting off the model's 4-pixel grid
        den = learned.Denoiser(NodeContext(device="cpu"), NAME, tile=tile)
        seen: list[tuple[int, ...]] = []
        run_tile = den._run_tile
        den._run_tile = lambda x: (seen.append(x.shape), run_tile(x))[1]  # type: ignore[method-assign]
        tiled = den.run(pic, sigma)
        np.testing.assert_allclose(tiled, whole, atol=2e-5)
        # several tiles, each seeing only part of the picture, all of one shape
        assert len(seen) >= 4 and len(set(seen)) == 1
        assert seen[0][2] < pic.shape[0] and seen[0][3] < pic.shape[1], seen[0]


def test_values_outside_0_1_come_back_with_what_the_clip_removed(tiny_model) -> None:
    pic = np.clip(picture(64, 64), 0, 1)
    hot = pic.copy()
    hot[20:40, 20:40] += 4.0  # a highlight far above 1
    hot[50:60, 5:15] -= 0.5  # and some negatives
    sigma = np.full(pic.shape[:2], 0.02, np.float32)
    den = learned.Denoiser(NodeContext(device="cpu"), NAME)
    base, out = den.run(np.clip(hot, 0, 1), sigma), den.run(hot, sigma)
    np.testing.assert_allclose(out - base, hot - np.clip(hot, 0, 1), atol=1e-6)


def test_monochrome_goes_through_three_equal_channels(tiny_model) -> None:
    grey = luma(picture(48, 52))[:, :, None]
    sigma = np.full(grey.shape[:2], 0.03, np.float32)
    den = learned.Denoiser(NodeContext(device="cpu"), NAME)
    out = den.run(grey, sigma)
    assert out.shape == grey.shape
    np.testing.assert_allclose(out, den.run(np.repeat(grey, 3, axis=2), sigma).mean(axis=2, keepdims=True), atol=1e-6)


def test_zero_sigma_returns_the_picture_bit_identical(tiny_model) -> None:
    pic = picture(32, 32)
    out = learned.Denoiser(NodeContext(device="cpu"), NAME).run(pic, np.zeros(pic.shape[:2], np.float32))
    assert np.array_equal(out, pic)


def test_bad_inputs_and_models_are_named(tiny_model, tmp_path) -> None:
    den = learned.Denoiser(NodeContext(device="cpu"), NAME)
    with pytest.raises(ModelError, match="sigma map"):
        den.run(picture(32, 32), np.zeros((16, 16), np.float32))
    with pytest.raises(ModelError, match="HxWx1 or HxWx3"):
        den.run(np.zeros((8, 8, 4), np.float32), np.zeros((8, 8), np.float32))
    make_tiny_denoiser(tmp_path, name="tiny-restore", task="restore")
    with pytest.raises(ModelError, match="tiny-restore.*not a denoiser"):
        learned.Denoiser(NodeContext(device="cpu"), "tiny-restore")


@pytest.mark.skipif(not learned.available(), reason="the built-in grain-denoise model is not installed")
@pytest.mark.parametrize(("strength", "min_gain_db"), [(0.02, 1.5), (0.06, 3.5)])
def test_builtin_model_removes_film_grain(strength, min_gain_db) -> None:
    """A held-out photo (coffee: never trained on) with film grain: clearly better (the
    shipped model measured +2.0 and +4.7 dB here)."""
    from skimage import data

    clean = data.coffee()[100:228, 200:328].astype(np.float32) / 255
    profile = film_profile(strength, size=0.8, colour=0.7)
    noisy = add_grain(clean, profile, np.random.default_rng(3))
    out = learned.Denoiser(NodeContext(device="cpu")).run(noisy, profile.sigma_at(luma(clean)))

    def psnr(a: np.ndarray) -> float:
        return float(10 * np.log10(1 / np.mean((np.clip(a, 0, 1) - clean) ** 2)))

    assert psnr(out) > psnr(noisy) + min_gain_db
