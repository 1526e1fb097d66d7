"""Precision variants (`reelfix models variant NAME --int8|--fp16`) and their choice by provider:
real quantisation with ONNX Runtime on tiny conv nets and on the built-in SPAN x2, cards
with measured quality, the variant picked on the CPU, explicit names winning, a missing or
broken variant falling back to fp32 with the reason recorded, an EXR upscaled through it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from typer.testing import CliRunner

from reelfix.cli import app
from reelfix.frames.frame import Frame
from reelfix.frames.image_io import read_header, read_image, write_image
from reelfix.models.card import load_card
from reelfix.models.catalog import user_model_dir
from reelfix.models.variant_choice import choose_model
from reelfix.models.variants import make_variant

runner = CliRunner()
CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"
SMALL = {"measure_size": 64, "speed_hw": (32, 48)}


def op_types(path: Path) -> set[str]:
    return {n.op_type for n in onnx.load(str(path)).graph.node}


def photo_folder(folder: Path, size: int = 96) -> Path:
    """A calibration folder holding one real photo crop (PNG)."""
    from skimage import data

    crop = data.coffee()[150 : 150 + size, 250 : 250 + size].astype(np.float32) / 255.0
    write_image(str(folder / "coffee.png"), Frame(np.ascontiguousarray(crop), ("R", "G", "B"), "srgb_tx", 0))
    return folder


def test_int8_variant_card_and_choice_by_provider(model_dir: Path) -> None:
    report = make_variant("tiny-x2", "int8", **SMALL)
    card = report.card
    assert report.onnx_path == user_model_dir() / "tiny-x2-int8.onnx"
    assert (card.name, card.precision, card.variant_of, card.providers) == ("tiny-x2-int8", "int8", "tiny-x2", (CPU,))
    assert load_card(user_model_dir() / "tiny-x2-int8.card.json") == card
    assert {"QuantizeLinear", "DequantizeLinear"} <= op_types(report.onnx_path)  # really quantised
    q = card.quality
    assert q["photos"] == 6 and abs(q["psnr_delta_db"]) < 1.0 and q["psnr_vs_fp32_db"] > 30
    assert q["speed_vs_fp32"] > 0 and q["seconds"] > 0
    # the CPU picks the int8 variant; a GPU provider wants fp16, which is missing: fp32 and why
    chosen = choose_model("tiny-x2", CPU)
    assert chosen.entry.card.name == "tiny-x2-int8" and "int8 variant" in chosen.reason
    fallback = choose_model("tiny-x2", CUDA)
    assert fallback.entry.card.name == "tiny-x2" and "no fp16 variant" in fallback.reason
    # explicit names win over the provider
    assert choose_model("tiny-x2-int8", CUDA).entry.card.name == "tiny-x2-int8"
    assert choose_model("tiny-x2-fp32", CPU).entry.card.name == "tiny-x2"
    # a damaged variant is not used: fp32, with the reason
    report.onnx_path.write_bytes(report.onnx_path.read_bytes() + b"x")
    broken = choose_model("tiny-x2", CPU)
    assert broken.entry.card.name == "tiny-x2" and "failed its check" in broken.reason


def test_variant_of_other_weights_is_not_used(model_dir: Path, tmp_path: Path) -> None:
    make_variant("tiny-x2", "int8", **SMALL)
    from tests.onnx_models import make_card, make_sr_model
    from reelfix.models.card import write_card

    path = make_sr_model(model_dir / "tiny-x2.onnx", scale=2, layers=3, seed=5)  # the fp32 model was replaced
    write_card(make_card(path, name="tiny-x2", scale=2, receptive_field=8), model_dir)
    chosen = choose_model("tiny-x2", CPU)
    assert chosen.entry.card.name == "tiny-x2" and "was not made from this tiny-x2" in chosen.reason


def test_fp16_variant_card(model_dir: Path) -> None:
    card = make_variant("tiny-x2", "fp16", **SMALL).card
    assert (card.precision, card.variant_of, card.fp16_safe) == ("fp16", "tiny-x2", True)
    assert CUDA in card.providers and CPU not in card.providers
    model = onnx.load(str(user_model_dir() / card.file))
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # float32 I/O kept
    assert card.quality["psnr_vs_fp32_db"] > 45 and abs(card.quality["psnr_delta_db"]) < 0.1
    assert "speed_vs_fp32" not in card.quality and "no GPU provider" in card.notes  # no GPU here: not measured
    assert choose_model("tiny-x2", CUDA).entry.card.name == "tiny-x2-fp16"
    # a model whose card does not say fp16-safe (SPAN) keeps fp32 on a GPU unless the variant is named
    span = choose_model("span-x2", CUDA)
    assert span.entry.card.name == "span-x2" and "not fp16-safe" in span.reason


def test_upscale_runs_the_variant_end_to_end_and_records_it(model_dir: Path, tmp_path: Path, make_plate) -> None:
    plate = make_plate(frames=[1], height=24, width=32)
    # before a variant exists: fp32, with the reason in the manifest
    r = runner.invoke(app, ["upscale", plate, str(tmp_path / "a" / "A.####.exr"), "--model", "tiny-x2", "--scale", "2", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    manifest = json.loads((tmp_path / "a" / "A.reelfix.json").read_text())
    assert "no int8 variant 'tiny-x2-int8' installed" in json.dumps(manifest)
    r = runner.invoke(app, ["models", "variant", "tiny-x2", "--int8"])
    assert r.exit_code == 0, r.output
    assert "made tiny-x2-int8 (int8 variant of tiny-x2" in r.output
    r = runner.invoke(app, ["models", "list"])
    assert "int8 variant of tiny-x2 (CPU)" in r.output
    r = runner.invoke(app, ["upscale", plate, str(tmp_path / "b" / "A.####.exr"), "--model", "tiny-x2", "--scale", "2", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    header = read_header(str(tmp_path / "b" / "A.0001.exr"))
    assert list(json.loads(header["reelfix:models"])) == ["tiny-x2-int8"]
    assert header["reelfix:provider"] == CPU
    assert "int8 variant of tiny-x2 for CPUExecutionProvider" in (tmp_path / "b" / "A.reelfix.json").read_text()
    fp32 = read_image(str(tmp_path / "a" / "A.0001.exr")).pixels
    int8 = read_image(str(tmp_path / "b" / "A.0001.exr")).pixels
    assert int8.shape == fp32.shape == (48, 64, 3)
    err = np.abs(int8 - fp32)
    assert 0 < err.mean() < 0.02  # a different model (int8), close to the fp32 one
    assert int8[:6, :8].max() > 1.5  # scene-linear highlights still survive through the variant


def test_cli_errors_exit_2_naming_the_problem(model_dir: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no_such_photos"
    r = runner.invoke(app, ["models", "variant", "tiny-x2", "--int8", "--calibration", str(missing)])
    assert r.exit_code == 2 and f"calibration folder {missing} does not exist" in r.output
    empty = tmp_path / "empty"
    empty.mkdir()
    r = runner.invoke(app, ["models", "variant", "tiny-x2", "--int8", "--calibration", str(empty)])
    assert r.exit_code == 2 and f"calibration folder {empty} holds no image" in r.output
    r = runner.invoke(app, ["models", "variant", "tiny-x2"])
    assert r.exit_code == 2 and "--int8 or --fp16" in r.output
    r = runner.invoke(app, ["models", "variant", "tiny-x2", "--int8", "--keep-fp32", "nope"])
    assert r.exit_code == 2 and "'nope' is not a convolution" in r.output
    r = runner.invoke(app, ["models", "variant", "tiny-x2", "--int8", "--target-db", "200"])
    assert r.exit_code == 2 and "no convolution can be int8 within 200 dB" in r.output
    make_variant("tiny-x2", "int8", **SMALL)
    r = runner.invoke(app, ["models", "variant", "tiny-x2-int8", "--int8"])
    assert r.exit_code == 2 and "make variants from the fp32 model" in r.output
    r = runner.invoke(app, ["models", "variant", "tiny-x2", "--int8"])
    assert r.exit_code == 2 and "--force" in r.output


SPAN_SENSITIVE = ["/block_1/c1_r/eval_conv/Conv/Conv", "/block_1/c2_r/eval_conv/Conv/Conv", "/conv_cat/Conv/Conv"]


@pytest.mark.parametrize("precision", ["int8", "fp16"])
def test_builtin_span_x2_variants_on_a_small_crop(tmp_path: Path, precision: str) -> None:
    folder = photo_folder(tmp_path / "photos")
    report = make_variant(
        "span-x2", precision, calibration=folder, crop_size=32, keep_fp32=SPAN_SENSITIVE if precision == "int8" else None, **SMALL
    )
    card = report.card
    assert (card.name, card.variant_of, card.scale, card.receptive_field) == (f"span-x2-{precision}", "span-x2", 2, 24)
    q = card.quality
    assert q["psnr_fp32_db"] > 20  # SPAN really upscales the held-out photos
    assert q["psnr_delta_db"] > -1.0 and q["psnr_vs_fp32_db"] > 30
    if precision == "int8":
        assert "QLinearConv" not in op_types(report.onnx_path) and "QuantizeLinear" in op_types(report.onnx_path)
        assert "calibration folder" in card.notes and str(folder) in card.notes
        assert choose_model("span-x2", CPU).entry.card.name == "span-x2-int8"


def test_large_network_is_scanned_in_runs_within_the_fp32_budget(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A network over MAX_SCAN convolutions: runs of consecutive convolutions are scanned, and
    fp32 is kept only within FP32_BUDGET of the multiply-adds even when the target is not met."""
    from reelfix.models import variants
    from reelfix.models.card import write_card
    from tests.onnx_models import make_card, make_sr_model

    path = make_sr_model(model_dir / "deep-x2.onnx", scale=2, layers=6, seed=3)
    write_card(make_card(path, name="deep-x2", scale=2, receptive_field=12), model_dir)
    monkeypatch.setattr(variants, "MAX_SCAN", 2)  # 4 candidates: too many for a per-convolution scan
    monkeypatch.setattr(variants, "GROUPS", 2)
    monkeypatch.setattr(variants, "FP32_BUDGET", 0.7)  # the ends (~1/3 of the work) and one run of two (~1/3)
    report = make_variant("deep-x2", "int8", target_db=200, **SMALL)  # unreachable: the budget stops the scan
    convs = [n.name for n in onnx.load(str(report.onnx_path)).graph.node if n.op_type == "Conv"]
    kept = report.kept_fp32
    assert len(convs) == 6
    assert kept[:2] == [convs[0], convs[-1]] and kept[2:] in (convs[1:3], convs[3:5])  # the ends and one whole run
    assert any("coarse sensitivity scan: 2 runs of up to 2 convolutions" in c for c in report.checks)
    share = next(c for c in report.checks if c.startswith("coarse")).split("fp32 kept: ")[1].split("%")[0]
    assert 50 < float(share) <= 70
    model = onnx.load(str(report.onnx_path))
    quantised = {n.input[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    assert len(quantised) > 0 and report.card.quality["psnr_vs_fp32_db"] > 30  # the other run really is int8
