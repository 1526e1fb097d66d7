"""`reelfix models convert MODEL.onnx --name NAME`: adopting a user's ONNX model."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

from reelfix.cli import app
from reelfix.models.card import load_card
from reelfix.models.catalog import user_model_dir
from tests.onnx_models import make_sr_model, make_static_model, write_corrupt_model

runner = CliRunner()


def make_non_image_model(path: Path) -> Path:
    """A classifier-like model: conv then global average pool, flattened to 1 x C (rank 2)."""
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32) / 27, "w")
    nodes = [
        helper.make_node("Conv", ["input", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("GlobalAveragePool", ["c"], ["p"]),
        helper.make_node("Flatten", ["p"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes, "cls",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["n", 4])], [w],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save_model(model, str(path))
    return path


def test_adopt_dynamic_model_then_upscale(tmp_path: Path, make_plate) -> None:
    src = make_sr_model(tmp_path / "other.onnx", scale=3, layers=2)
    r = runner.invoke(app, ["models", "convert", str(src), "--name", "foo", "--licence", "CC0-1.0"])
    assert r.exit_code == 0, r.output
    assert "23x37 input -> 3 x 69x111" in r.output
    card = load_card(user_model_dir() / "foo.card.json")
    assert (card.scale, card.channels, card.multiple_of, card.licence) == (3, 3, 1, "CC0-1.0")
    assert card.receptive_field >= 2 and (user_model_dir() / "foo.onnx").is_file()
    # working memory measured on each runtime that may run it (OpenVINO where installed: the cpu extra)
    assert card.bytes_per_pixel >= 64 and (card.bytes_per_pixel_openvino or 0) >= (64 if find_spec("openvino") else 0)
    plate = make_plate(frames=[1], height=20, width=24)
    r = runner.invoke(app, ["upscale", plate, str(tmp_path / "o" / "A.####.exr"), "--model", "foo", "--scale", "3", "--frames", "1"])
    assert r.exit_code == 0, r.output
    from reelfix.frames.image_io import read_image

    assert read_image(str(tmp_path / "o" / "A.0001.exr")).pixels.shape[:2] == (60, 72)
    r = runner.invoke(app, ["models", "convert", str(src), "--name", "foo"])
    assert r.exit_code == 2 and "already installed" in r.output


def test_adopt_static_square_model_sets_multiple_of(tmp_path: Path) -> None:
    src = make_static_model(tmp_path / "static.onnx", size=48, scale=2)
    r = runner.invoke(app, ["models", "convert", str(src), "--name", "fixed", "--colorspace", "lin_srgb"])
    assert r.exit_code == 0, r.output
    card = load_card(user_model_dir() / "fixed.card.json")
    assert (card.scale, card.multiple_of, card.colorspace) == (2, 48, "lin_srgb")


def test_static_model_upscales_frames_larger_and_smaller_than_its_size(tmp_path: Path, make_plate) -> None:
    """A model exported for 48x48 inputs only runs on any frame: every tile is exactly 48x48
    (placed anywhere, overlapping), a smaller frame is padded to it (pixels: tests/test_tiling.py)."""
    from reelfix.frames.image_io import read_image

    src = make_static_model(tmp_path / "static.onnx", size=48, scale=2, seed=5)
    assert runner.invoke(app, ["models", "convert", str(src), "--name", "fixed", "--colorspace", "lin_srgb"]).exit_code == 0
    for h, w in ((70, 130), (30, 41)):
        plate = make_plate(frames=[1], height=h, width=w, name=f"P{h}")
        out = tmp_path / f"o{h}" / "A.####.exr"
        r = runner.invoke(app, ["upscale", plate, str(out), "--model", "fixed", "--scale", "2", "--frames", "1"])
        assert r.exit_code == 0, r.output
        got = read_image(str(out).replace("####", "0001")).pixels
        assert got.shape[:2] == (2 * h, 2 * w) and np.isfinite(got).all()


def test_adopt_refuses_non_image_and_broken_models(tmp_path: Path) -> None:
    bad = make_non_image_model(tmp_path / "classifier.onnx")
    r = runner.invoke(app, ["models", "convert", str(bad), "--name", "cls"])
    assert r.exit_code == 2 and "classifier.onnx" in r.output and "not an image" in r.output
    assert not (user_model_dir() / "cls.card.json").exists()
    corrupt = write_corrupt_model(tmp_path / "corrupt.onnx")
    r = runner.invoke(app, ["models", "convert", str(corrupt), "--name", "c"])
    assert r.exit_code == 2 and "corrupt.onnx" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["models", "convert", str(tmp_path / "missing.onnx"), "--name", "m"])
    assert r.exit_code == 2 and "not found" in r.output
    r = runner.invoke(app, ["models", "convert", str(bad), "--name", "../evil"])
    assert r.exit_code == 2 and "invalid model name" in r.output
