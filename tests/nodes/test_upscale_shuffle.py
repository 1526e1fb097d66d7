"""On the CPU the upscale node runs a model without its final pixel shuffle (DepthToSpace) and
does the shuffle itself, fused with the colour conversion back (models/shuffle_tail.py,
colour.convert_shuffled, or convert_shuffled_in_place for tiles assembled channels-last): the frames must be the whole model's, bit for bit. Real ORT sessions
on small generated models; the reference is the same model run whole."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from reelfix import colour
from reelfix.frames.frame import Frame
from reelfix.models.card import write_card
from reelfix.models.catalog import verify
from reelfix.models.shuffle_tail import PixelShuffle, cut
from reelfix.nodes.spec import NodeContext, Window
from reelfix.nodes.upscale import SPEC
from reelfix.runtime.session import get_session
from tests.conftest import gradient
from tests.onnx_models import make_card, make_sr_model


def channels_last(planes: np.ndarray) -> np.ndarray:
    """(C)xHxW planes as the upscale node assembles tiles: HxWxC, contiguous."""
    return np.ascontiguousarray(planes.transpose(1, 2, 0))


def _d2s_model(path: Path, block: int, mode: str, residual: bool = False) -> Path:
    """A 3x3 conv to 3*block^2 channels, then DepthToSpace(block, mode); `residual`: + a constant after it."""
    rng = np.random.default_rng(block)
    w = (rng.standard_normal((3 * block * block, 3, 3, 3)) / 5).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["input", "w"], ["feat"], pads=[1, 1, 1, 1]),
        helper.make_node("DepthToSpace", ["feat"], ["shuffled" if residual else "output"], blocksize=block, mode=mode),
    ]
    inits = [numpy_helper.from_array(w, "w")]
    if residual:
        nodes.append(helper.make_node("Add", ["shuffled", "c"], ["output"]))
        inits.append(numpy_helper.from_array(np.array(0.01, np.float32), "c"))
    graph = helper.make_graph(
        nodes, "d2s", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, "H", "W"])], inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize(("block", "mode"), [(2, "CRD"), (2, "DCR"), (3, "CRD"), (4, "DCR")])
def test_pixel_shuffle_is_onnx_depth_to_space(tmp_path: Path, block: int, mode: str) -> None:
    path = _d2s_model(tmp_path / "m.onnx", block, mode)
    card = make_card(path, name="m", scale=block)
    tail = cut(path, card)
    assert tail is not None and tail.shuffle == PixelShuffle(block, mode, 3)
    x = np.random.default_rng(0).random((1, 3, 9, 14), np.float32)
    whole = ort.InferenceSession(str(path)).run(None, {"input": x})[0]
    pre = ort.InferenceSession(str(tail.path)).run([tail.output_name], {"input": x})[0]
    assert pre.shape == (1, 3 * block * block, 9, 14)
    assert tail.shuffle.apply(pre).tobytes() == whole.tobytes()
    space = ("srgb_tx", "lin_srgb")
    for fast in (False, True):  # the fused conversion: the shuffled picture's, converted
        want = colour.convert_planes(whole[0], *space, fast=fast)
        assert colour.convert_shuffled(pre[0], block, tail.shuffle.plane, *space, fast=fast).tobytes() == want.tobytes()
        assert colour.convert_shuffled_in_place(channels_last(pre[0]), block, tail.shuffle.plane, *space, fast=fast).tobytes() == want.tobytes()
    for same in (colour.convert_shuffled(pre[0], block, tail.shuffle.plane, "srgb_tx", "srgb_tx"),  # no conversion: moves only
                 colour.convert_shuffled_in_place(channels_last(pre[0]), block, tail.shuffle.plane, "srgb_tx", "srgb_tx")):
        assert same.tobytes() == np.ascontiguousarray(whole[0].transpose(1, 2, 0)).tobytes()


@pytest.mark.parametrize("block, mode", [(2, "CRD"), (3, "DCR"), (4, "CRD")])
def test_fused_conversion_in_place_over_threads_equals_the_shuffled_one(monkeypatch: pytest.MonkeyPatch, block: int, mode: str) -> None:
    """Bands of rows converted over their own memory (many small bands here, over threads, odd
    sizes): the shuffled picture converted, bit for bit, in the same memory."""
    monkeypatch.setattr(colour, "IN_PLACE_BAND_BYTES", 7 * 701 * 4 * 3 * block * block)  # 7 rows a band, the last one short
    rng = np.random.default_rng(3)
    pre = rng.uniform(-0.1, 1.2, (3 * block * block, 383, 701)).astype(np.float32)  # > 2^19 pixels: over threads
    shuffle = PixelShuffle(block, mode, 3)
    want = colour.convert_planes(shuffle.apply(pre[None])[0], "srgb_tx", "ACEScg", fast=True)
    held = channels_last(pre)
    got = colour.convert_shuffled_in_place(held, block, shuffle.plane, "srgb_tx", "ACEScg", fast=True)
    assert np.shares_memory(got, held) and got.shape == (383 * block, 701 * block, 3)
    assert got.tobytes() == want.tobytes()
    assert colour.convert_shuffled(pre, block, shuffle.plane, "srgb_tx", "ACEScg", fast=True).tobytes() == want.tobytes()
    moved = colour.convert_shuffled_in_place(channels_last(pre), block, shuffle.plane, "ACEScg", "ACEScg")  # moves only
    assert moved.tobytes() == np.ascontiguousarray(shuffle.apply(pre[None])[0].transpose(1, 2, 0)).tobytes()


def test_only_a_final_depth_to_space_is_cut_and_the_cut_model_is_the_same_file_every_time(tmp_path: Path) -> None:
    assert cut(_d2s_model(tmp_path / "res.onnx", 2, "CRD", residual=True), make_card(tmp_path / "res.onnx", name="res", scale=2)) is None
    path = _d2s_model(tmp_path / "m.onnx", 2, "CRD")
    assert cut(path, make_card(path, name="m", scale=4)) is None  # the card's scale is not the shuffle's
    first = cut(path, make_card(path, name="m", scale=2))
    assert first is not None
    data = first.path.read_bytes()
    again = cut(path, make_card(path, name="m", scale=2))
    assert again is not None and again.path == first.path and again.path.read_bytes() == data
    assert str(first.path).startswith(os.environ["REELFIX_CACHE"])


def test_a_read_only_cache_runs_the_model_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _d2s_model(tmp_path / "m.onnx", 2, "CRD")
    monkeypatch.setenv("REELFIX_CACHE", str(tmp_path / "file"))
    (tmp_path / "file").write_text("not a folder")
    assert cut(path, make_card(path, name="m", scale=2)) is None


@pytest.mark.parametrize("tile", [0, 20])
@pytest.mark.parametrize(("space", "mode"), [("lin_srgb", "auto"), ("lin_srgb", "rolloff"), ("srgb_tx", "clip")])
def test_the_node_gives_the_whole_models_frames_bit_for_bit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tile: int, space: str, mode: str) -> None:
    folder = tmp_path / "models"
    path = make_sr_model(folder / "tiny-x2.onnx", scale=2, layers=3)
    write_card(make_card(path, name="tiny-x2", scale=2, receptive_field=8, bytes_per_pixel=512), folder)
    monkeypatch.setenv("REELFIX_MODEL_PATH", str(folder))
    runner = SPEC.factory(SPEC.validate({"scale": 2, "model": "tiny-x2", "highlights": mode, "tile": tile}, "t"), NodeContext(device="cpu"))
    assert runner.session.shuffle == PixelShuffle(2, "CRD", 3)
    plate = gradient(37, 53, hdr=mode != "clip")
    window = Window(1, {1: Frame(plate, ("R", "G", "B"), space, 1)})
    got = runner.process(window).pixels
    runner.session = get_session(verify(runner.entry), runner.entry.card, "cpu")  # the same model, run whole
    assert runner.session.shuffle is None
    want = runner.process(window).pixels
    if tile == 0 or mode == "rolloff":  # one tile; or the general path, which shuffles each tile as the whole model does
        assert got.tobytes() == want.tobytes()
    else:  # tiles feathered at input resolution before the shuffle, not at output resolution after it: the same
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)  # values up to float rounding where tiles meet
        assert np.mean(got == want) > 0.5  # a 37x53 plate in 20-pixel tiles is a quarter feather bands
