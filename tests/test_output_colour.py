"""Outputs that look right where they are viewed (output_colour.py): with no output.colorspace,
a scene-linear or log input written to PNG/JPEG/8- or 16-bit TIFF gets the sRGB display
encoding (warned, in the manifest); EXR, float TIFF and display-encoded inputs keep the
input's space. Checked on the pixel values written: real OIIO files, a real ORT session on a
generated nearest-neighbour x2 model (exactly predictable) through `run_job`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from reelfix import colour
from reelfix.frames.frame import Frame
from reelfix.frames.image_io import read_image, write_image
from reelfix.jobs.load import job_from_data
from reelfix.jobs.manifest import manifest_path
from reelfix.models.card import write_card
from reelfix.output_colour import display_format, output_colorspace
from reelfix.pipeline import run_job
from tests.onnx_models import make_card, make_nearest_model

SRGB = colour.canonical_name("srgb_tx")
LIN = colour.canonical_name("lin_srgb")


@pytest.fixture
def nearest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    folder = tmp_path / "models"
    path = make_nearest_model(folder / "near-x2.onnx", scale=2)
    write_card(make_card(path, name="near-x2", scale=2, receptive_field=1, bytes_per_pixel=64), folder)
    monkeypatch.setenv("REELFIX_MODEL_PATH", str(folder))
    return "near-x2"


def patches() -> np.ndarray:
    """Flat patches (JPEG keeps their levels) of linear values in 0..1, 32x48 RGB."""
    pix = np.empty((32, 48, 3), np.float32)
    levels = [0.002, 0.05, 0.18, 0.45, 0.8, 1.0]
    for i, v in enumerate(levels):
        pix[:, i * 8 : (i + 1) * 8] = [v, v * 0.7, v * 0.4]
    return pix


def run(tmp_path: Path, src: str, out: str, model: str, **output: object) -> tuple[np.ndarray, dict, list[str]]:
    data = {"input": {"path": src}, "output": {"path": out, **output}, "pipeline": [{"node": "upscale", "params": {"model": model}}], "device": "cpu"}
    summary = run_job(job_from_data(data, "test"))
    assert summary.count("done") == 1, summary.results
    written = read_image(out.replace("####", "0001"))
    manifest = json.loads(Path(manifest_path(out)).read_text())["runs"][-1]
    return written.pixels, manifest, summary.warnings


def up2(pix: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(pix, 2, axis=0), 2, axis=1)


def exr_plate(tmp_path: Path) -> str:
    write_image(tmp_path / "in" / "p.0001.exr", Frame(patches(), ("R", "G", "B"), LIN, 1), bit_depth="float")
    return str(tmp_path / "in" / "p.####.exr")


@pytest.mark.parametrize(
    ("ext", "bit_depth", "tolerance"),
    [(".png", None, 2e-4), (".jpg", None, 2.5 / 255), (".tif", "8", 0.6 / 255), (".tif", None, 2e-4)],
    ids=["exr-png16", "exr-jpg", "exr-tif8", "exr-tif16"],
)
def test_scene_linear_to_display_formats_is_written_srgb_encoded(tmp_path: Path, nearest: str, ext: str, bit_depth: str | None, tolerance: float) -> None:
    out = str(tmp_path / "out" / f"o.####{ext}")
    pix, manifest, warnings = run(tmp_path, exr_plate(tmp_path), out, nearest, **({"bit_depth": bit_depth} if bit_depth else {}))
    want = np.clip(colour.convert(up2(patches()), LIN, SRGB), 0, 1)
    assert np.abs(want - up2(patches())).max() > 0.25  # far from the linear values (0.18 -> 0.46)
    if ext == ".jpg":  # lossy: the level of each flat patch (away from its edges)
        pix, want = pix[4:-4].reshape(-1, 6, 16, 3)[:, :, 4:-4], want[4:-4].reshape(-1, 6, 16, 3)[:, :, 4:-4]
        pix, want = pix.mean(axis=(0, 2)), want.mean(axis=(0, 2))
    assert np.abs(pix - want).max() < tolerance
    assert manifest["colorspaces"]["output"] == SRGB and "display-referred" in manifest["colorspaces"]["output_default"]
    assert any("display-referred" in w and LIN in w for w in warnings)


def test_log_dpx_to_png_is_written_srgb_encoded(tmp_path: Path, nearest: str) -> None:
    adx = colour.convert(patches(), LIN, "ADX10")
    write_image(tmp_path / "in" / "s.0001.dpx", Frame(adx, ("R", "G", "B"), "ADX10", 1), bit_depth="10")
    src = str(tmp_path / "in" / "s.####.dpx")
    codes = read_image(tmp_path / "in" / "s.0001.dpx").pixels  # what the 10-bit file holds
    pix, manifest, warnings = run(tmp_path, src, str(tmp_path / "out" / "o.####.png"), nearest)
    assert manifest["colorspaces"] == {"input": "ADX10", "output": SRGB, "output_default": warnings[-1]}
    want = np.clip(colour.convert(up2(codes), "ADX10", SRGB), 0, 1)
    assert np.abs(pix - want).max() < 2e-4
    assert "log" in warnings[-1]


def test_display_encoded_png_to_png_is_unchanged(tmp_path: Path, nearest: str) -> None:
    srgb = np.clip(colour.convert(patches(), LIN, SRGB), 0, 1)
    write_image(tmp_path / "in" / "d.0001.png", Frame(srgb, ("R", "G", "B"), SRGB, 1), bit_depth="16")
    codes = read_image(tmp_path / "in" / "d.0001.png").pixels
    pix, manifest, warnings = run(tmp_path, str(tmp_path / "in" / "d.####.png"), str(tmp_path / "out" / "o.####.png"), nearest)
    assert manifest["colorspaces"] == {"input": SRGB, "output": SRGB} and not warnings
    assert np.array_equal(pix, up2(codes))  # the model's space: no conversion at all


def test_exr_to_exr_keeps_the_linear_values(tmp_path: Path, nearest: str) -> None:
    pix, manifest, warnings = run(tmp_path, exr_plate(tmp_path), str(tmp_path / "out" / "o.####.exr"), nearest, bit_depth="float")
    assert manifest["colorspaces"] == {"input": LIN, "output": LIN} and not warnings
    assert np.allclose(pix, up2(patches()), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(("output", "space"), [({"colorspace": "lin_srgb"}, LIN), ({"bit_depth": "32"}, LIN)], ids=["named", "float-tif"])
def test_a_named_space_or_a_float_tiff_keeps_linear(tmp_path: Path, nearest: str, output: dict, space: str) -> None:
    ext = ".png" if "colorspace" in output else ".tif"
    pix, manifest, warnings = run(tmp_path, exr_plate(tmp_path), str(tmp_path / "out" / f"o.####{ext}"), nearest, **output)
    assert manifest["colorspaces"] == {"input": LIN, "output": space} and not warnings
    assert np.abs(pix - up2(patches())).max() < 2e-4  # linear values (PNG: 16-bit codes)


def test_rules() -> None:
    assert [display_format(p, d) for p, d in (("a.png", None), ("a.JPG", "8"), ("a.tif", "16"), ("a.tif", "float"), ("a.exr", None), ("a.dpx", "10"))] == [
        "PNG", "JPEG", "TIFF", None, None, None,
    ]  # fmt: skip
    assert output_colorspace("o.####.png", "ACEScct", None).name == SRGB
    assert output_colorspace("o.####.dpx", "ACEScct", None).name == "ACEScct"
    assert output_colorspace("o.####.png", "ACEScg", "ACEScg").reason == ""
    assert output_colorspace("o.mov", LIN, None).name == colour.canonical_name("g24_rec709_tx")
    assert output_colorspace("o.####.jpg", colour.canonical_name("g24_rec709_tx"), None).name == colour.canonical_name("g24_rec709_tx")
