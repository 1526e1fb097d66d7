"""The trainers run a few steps on tiny data (seconds): the same code `make train-denoiser`
and `make train-upscaler` run for an hour. Checks: reproducible from the seed, exported
models load in ONNX Runtime through the catalog with valid cards, the torch SPAN matches
the built-in ONNX model, the photo split is disjoint."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")

from reelfix.models.card import load_card  # noqa: E402
from reelfix.training import denoiser, photos, upscaler  # noqa: E402
from reelfix.training.degrade import bicubic_down, film_scan, grain_batch  # noqa: E402


@pytest.fixture(scope="module")
def tiny_photos() -> list[photos.Photo]:
    return [photos.load("skimage/astronaut", 160), photos.load("skimage/rocket", 160)]


def test_split_is_recorded_and_disjoint() -> None:
    train, held = set(photos.training_keys()), set(photos.held_out_keys())
    assert train and held and not train & held
    assert held == set(photos.HELD_OUT) and len(train) + len(held) == len(photos.all_keys())


def test_missing_photo_package_says_what_to_install() -> None:
    from reelfix.errors import UserError

    with pytest.raises(UserError, match="apt-get install lomiri-wallpapers-16.04 mate-backgrounds"):
        photos.load("mate/NoSuchPicture.jpg")


def test_grain_batch_matches_the_runtime_contract(tiny_photos) -> None:
    b = grain_batch(tiny_photos, 4, 32, np.random.default_rng(0))
    assert b.noisy.shape == b.clean.shape == (4, 3, 32, 32) and b.sigma.shape == (4, 1, 32, 32)
    assert b.noisy.min() >= 0 and b.noisy.max() <= 1  # clipped, as the runtime feeds the model
    assert 0.002 < float(b.sigma.mean()) < 0.09


def test_denoiser_trains_reproducibly_and_exports_a_loadable_model(tiny_photos, tmp_path) -> None:
    cfg = denoiser.DenoiserConfig(steps=3, batch=2, patch=32, features=8, inner=8)
    a = denoiser.train(tiny_photos, cfg, log=lambda s: None)
    b = denoiser.train(tiny_photos, cfg, log=lambda s: None)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    card = load_card(denoiser.export(a, tmp_path, cfg, 0.1))
    assert card.task == "denoise" and card.noise_input == "sigma" and card.multiple_of == 4 and card.receptive_field > 0
    sess = ort.InferenceSession(str(tmp_path / card.file), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 3, 20, 28), dtype=np.float32)
    full = sess.run(None, {"input": x, "sigma": np.full((1, 1, 20, 28), 0.03, np.float32)})[0]
    one = sess.run(None, {"input": x, "sigma": np.full((1, 1, 1, 1), 0.03, np.float32)})[0]
    np.testing.assert_allclose(full, one, atol=1e-6)  # one level broadcast over the picture
    with torch.no_grad():
        ref = a(torch.from_numpy(x), torch.full((1, 1, 20, 28), 0.03)).numpy()
    np.testing.assert_allclose(full, ref, atol=1e-5)


@pytest.mark.parametrize("scale", [2, 4])
def test_torch_span_reproduces_the_builtin_onnx(scale) -> None:
    upscaler.load_stock(scale, check=True)  # raises above 1e-4


def test_upscaler_fine_tunes_and_exports(tiny_photos, tmp_path) -> None:
    cfg = upscaler.UpscalerConfig(scale=2, steps=2, batch=1, lr_patch=16)
    net = upscaler.train(tiny_photos, cfg, log=lambda s: None)
    card = load_card(upscaler.export(net, tmp_path, cfg, 0.1))
    assert card.name == "span-film-x2" and card.scale == 2 and card.task == "upscale" and card.architecture == "SPAN"
    sess = ort.InferenceSession(str(tmp_path / card.file), providers=["CPUExecutionProvider"])
    x = np.ascontiguousarray(tiny_photos[0].pixels[40:58, 50:72].transpose(2, 0, 1)[None], dtype=np.float32) / 255
    y = sess.run(None, {"input": x})[0]
    assert y.shape == (1, 3, 36, 44)
    with torch.no_grad():
        np.testing.assert_allclose(y, net(torch.from_numpy(x)).numpy(), atol=1e-4)


def test_film_scan_and_bicubic_degradations() -> None:
    hr = np.random.default_rng(0).random((64, 48, 3), dtype=np.float32)
    lr = film_scan(hr, 4, np.random.default_rng(1))
    assert lr.shape == (16, 12, 3) and lr.dtype == np.float32 and 0 <= lr.min() and lr.max() <= 1
    assert bicubic_down(hr, 2).shape == (32, 24, 3)
    flat = np.full((64, 64, 3), 0.5, np.float32)  # area sampling keeps a flat field's level
    assert abs(float(film_scan(flat, 2, np.random.default_rng(2)).mean()) - 0.5) < 0.01


def test_denoiser_second_stage_continues_from_given_weights(tiny_photos, tmp_path) -> None:
    from reelfix.training.loop import load_weights, save_weights

    cfg = denoiser.DenoiserConfig(steps=2, batch=2, patch=32, features=8, inner=8)
    first = denoiser.train(tiny_photos, cfg, log=lambda s: None)
    path = save_weights(first, tmp_path / "stage1.safetensors")
    start = load_weights(denoiser.GrainNet(8, 8), path)
    second = denoiser.train(tiny_photos, denoiser.DenoiserConfig(steps=2, batch=2, patch=32, features=8, inner=8, lr=3e-4, seed=6), net=start)
    assert second is start
    moved = [float((a - b).abs().max()) for a, b in zip(first.state_dict().values(), second.state_dict().values())]
    assert 0 < max(moved) < 0.05  # trained further, from the first stage (not from scratch)
