"""The ncnn-to-ONNX converter: converted nets must compute what the ncnn runtime computes."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import pytest

from reelfix.errors import ModelError
from reelfix.models.card import load_card, sha256_of
from reelfix.models.catalog import BUILTIN_DIR
from reelfix.models.ncnn_convert import convert_ncnn
from reelfix.models.ncnn_format import load_net
from tests.models.ncnn_fixtures import NcnnWriter, run_ncnn, run_ort

ncnn = pytest.importorskip("ncnn")
ort = pytest.importorskip("onnxruntime")


def span_like(w: NcnnWriter) -> None:
    """SPAN's pattern: mean subtraction, scalar scale, attention blocks, concat, pixel shuffle."""
    w.input()
    w.layer("MemoryData", "mean", [], ["mean"], {0: 1, 1: 1, 2: 3}, [("raw", [0.45, 0.43, 0.40])])
    w.layer("BinaryOp", "sub", ["data", "mean"], ["x0"], {0: 1})
    w.layer("BinaryOp", "scale", ["x0"], ["x1"], {0: 2, 1: 1, 2: 2.0})
    w.conv("conv1", "x1", "f", 3, 8, storage="fp16")
    w.layer("Split", "split0", ["f"], ["f0", "f1", "f2"])
    w.conv("c1", "f0", "c1", 8, 8, storage="fp16")
    w.layer("Swish", "act1", ["c1"], ["s1"])
    w.conv("c2", "s1", "c2", 8, 8)
    w.layer("Swish", "act2", ["c2"], ["s2"])
    w.conv("c3", "s2", "c3", 8, 8, storage="fp16")
    w.layer("Split", "split1", ["c3"], ["c3a", "c3b"])
    w.layer("Sigmoid", "sig", ["c3b"], ["sg"])
    w.layer("BinaryOp", "half", ["sg"], ["sgm"], {0: 1, 1: 1, 2: 0.5})
    w.layer("BinaryOp", "res", ["c3a", "f1"], ["ad"], {0: 0})
    w.layer("BinaryOp", "gate", ["ad", "sgm"], ["blk"], {0: 2})
    w.layer("Concat", "cat", ["f2", "blk"], ["cat"], {0: 0})
    w.conv("conv_cat", "cat", "cc", 16, 8, k=1)
    w.layer("BinaryOp", "post_mul", ["cc"], ["cc1"], {0: 2, 1: 1, 2: 0.5})
    w.layer("BinaryOp", "post_add", ["cc1"], ["cc2"], {0: 0, 1: 1, 2: 0.25})
    w.conv("up", "cc2", "up", 8, 12)
    w.layer("PixelShuffle", "shuffle", ["up"], ["out"], {0: 2})


def activations(w: NcnnWriter) -> None:
    """Every fused activation type, the standalone activation layers, PReLU and Eltwise."""
    w.input()
    w.conv("a1", "data", "a", 3, 8, extra={9: 1})
    w.conv("a2", "a", "b", 8, 8, extra={9: 2, 10: [0.1]})
    w.conv("a3", "b", "c", 8, 8, extra={9: 3, 10: [-0.5, 0.7]}, storage="table")
    w.conv("a4", "c", "d", 8, 8, extra={9: 4})
    w.conv("a5", "d", "e", 8, 8, extra={9: 5}, storage="fp16")
    w.conv("a6", "e", "f", 8, 8, extra={9: 6, 10: [0.2, 0.5]})
    w.conv("a7", "f", "g", 8, 8, k=1, extra={9: 6, 10: [1 / 6, 0.5]})
    w.layer("ReLU", "leaky", ["g"], ["h"], {0: 0.1})
    w.layer("ReLU", "relu", ["h"], ["i"])
    w.layer("PReLU", "prelu8", ["i"], ["j"], {0: 8}, [("raw", np.linspace(-0.3, 0.3, 8))])
    w.layer("PReLU", "prelu1", ["j"], ["k"], {0: 1}, [("raw", [0.2])])
    w.layer("Split", "split", ["k"], ["k0", "k1", "k2", "k3", "k4"])
    w.layer("Sigmoid", "sig", ["k0"], ["s"])
    w.layer("TanH", "tanh", ["k1"], ["t"])
    w.layer("Clip", "clip", ["k2"], ["cl"], {0: -0.2, 1: 0.3})
    w.layer("Mish", "mish", ["k3"], ["mi"])
    w.layer("HardSwish", "hswish", ["k4"], ["hs"])
    w.layer("Eltwise", "prod", ["s", "t"], ["e1"], {0: 0})
    w.layer("Eltwise", "sum", ["e1", "cl", "mi"], ["e2"], {0: 1, 1: [0.5, -2.0, 1.0]})
    w.layer("Eltwise", "max", ["e2", "hs"], ["e3"], {0: 2})
    w.layer("HardSigmoid", "hsig", ["e3"], ["e4"], {0: 0.25, 1: 0.4})
    w.conv("last", "e4", "out", 8, 3)


def conv_variants(w: NcnnWriter) -> None:
    """Depthwise and grouped convolutions, strides, dilation, odd padding, deconvolutions."""
    w.input()
    w.conv("c0", "data", "a", 3, 8)
    w.conv("dw", "a", "b", 8, 8, kind="ConvolutionDepthWise", group=8, storage="fp16", extra={9: 1})
    w.conv("gdw", "b", "c", 8, 8, kind="ConvolutionDepthWise", group=2)
    w.conv("down", "c", "d", 8, 8, extra={3: 2})
    w.conv("deconv", "d", "e", 8, 8, k=4, kind="Deconvolution", extra={3: 2, 4: 1, 9: 2, 10: [0.2]})
    w.conv("dwdeconv", "e", "f", 8, 8, kind="DeconvolutionDepthWise", group=8, extra={3: 2, 4: 1, 18: 1})
    w.conv("gdeconv", "f", "f2", 8, 8, kind="DeconvolutionDepthWise", group=2, storage="fp16", bias=False)
    w.conv("asym", "f2", "g", 8, 8, extra={4: 1, 15: 0, 14: 2, 16: 1})
    w.conv("dil", "g", "h", 8, 8, extra={2: 2, 4: 2})
    w.conv("padval", "h", "i", 8, 8, extra={18: 0.5})
    w.conv("same_up", "i", "j", 8, 8, extra={4: -233, 3: 2})
    w.conv("same_lo", "j", "k", 8, 8, k=4, extra={4: -234})
    w.conv("rect", "k", "out", 8, 3, extra={11: 1, 14: 0})


def broadcast_ops(w: NcnnWriter) -> None:
    """BinaryOp with 1-D and 3-D constants, both operand orders, and every scalar op."""
    w.input()
    w.conv("c0", "data", "a", 3, 8)
    w.layer("Split", "split", ["a"], ["a0", "a1"])
    w.layer("MemoryData", "m1", [], ["m1"], {0: 8}, [("raw", np.linspace(0.5, 1.5, 8))])
    w.layer("MemoryData", "m3", [], ["m3"], {0: 1, 1: 1, 2: 8}, [("raw", np.linspace(-1, 1, 8))])
    w.layer("BinaryOp", "mul1d", ["a0", "m1"], ["b1"], {0: 2})
    w.layer("BinaryOp", "sub3d", ["m3", "b1"], ["b2"], {0: 1})
    w.layer("BinaryOp", "rsub", ["b2"], ["b3"], {0: 7, 1: 1, 2: 1.5})
    w.layer("BinaryOp", "max", ["b3"], ["b4"], {0: 4, 1: 1, 2: -0.5})
    w.layer("BinaryOp", "min", ["b4"], ["b5"], {0: 5, 1: 1, 2: 2.0})
    w.layer("Sigmoid", "sig", ["b5"], ["sg"])
    w.layer("BinaryOp", "pow", ["sg"], ["p"], {0: 6, 1: 1, 2: 2.0})
    w.layer("BinaryOp", "shift", ["p"], ["p1"], {0: 0, 1: 1, 2: 0.5})
    w.layer("BinaryOp", "rdiv", ["p1"], ["r"], {0: 8, 1: 1, 2: 1.0})
    w.layer("BinaryOp", "div", ["a1", "r"], ["d"], {0: 3})
    w.layer("BinaryOp", "divs", ["d"], ["d1"], {0: 3, 1: 1, 2: 4.0})
    w.conv("last", "d1", "out", 8, 3)


def interp_scale(w: NcnnWriter) -> None:
    """Nearest and bilinear resizing by a scale factor, and DCR pixel shuffle."""
    w.input()
    w.conv("c0", "data", "a", 3, 8)
    w.layer("Split", "split", ["a"], ["a0", "a1", "a2"])
    w.layer("Interp", "nearest", ["a0"], ["n"], {0: 1, 1: 2.0, 2: 2.0})
    w.layer("Interp", "bilinear", ["a1"], ["l"], {0: 2, 1: 2.0, 2: 2.0})
    w.conv("c1", "a2", "c1", 8, 32)
    w.layer("PixelShuffle", "dcr", ["c1"], ["ps"], {0: 2, 1: 1})
    w.layer("Eltwise", "sum", ["n", "l", "ps"], ["s"], {0: 1})
    w.conv("last", "s", "out", 8, 3)


def interp_size(w: NcnnWriter) -> None:
    """Bilinear resizing (align corners) and nearest resizing to a fixed output size."""
    w.input()
    w.conv("c0", "data", "a", 3, 8)
    w.layer("Interp", "fixed", ["a"], ["b"], {0: 2, 3: 21, 4: 30, 6: 1})
    w.layer("Interp", "fixed_nearest", ["b"], ["c"], {0: 1, 3: 25, 4: 17})
    w.conv("last", "c", "out", 8, 3)


NETS: dict[str, Callable[[NcnnWriter], None]] = {
    f.__name__: f for f in (span_like, activations, conv_variants, broadcast_ops, interp_scale, interp_size)
}


def _convert(tmp_path: Path, build: Callable[[NcnnWriter], None]) -> tuple[Path, Path, Path]:
    writer = NcnnWriter(seed=len(build.__name__))
    build(writer)
    param, bin_ = writer.write(tmp_path, build.__name__)
    onnx_path = tmp_path / f"{build.__name__}.onnx"
    convert_ncnn(param, bin_, onnx_path)
    return param, bin_, onnx_path


@pytest.mark.parametrize("size", [(16, 16), (19, 23)], ids=["even", "odd"])
@pytest.mark.parametrize("name", sorted(NETS))
def test_converted_net_matches_ncnn(tmp_path: Path, name: str, size: tuple[int, int]) -> None:
    param, bin_, onnx_path = _convert(tmp_path, NETS[name])
    image = np.random.default_rng(1).random((3, *size), dtype=np.float32)
    expected = run_ncnn(param, bin_, image)
    got = run_ort(onnx_path, image)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-4


def test_graph_is_dynamic_and_scalar_ops_are_folded(tmp_path: Path) -> None:
    _, _, onnx_path = _convert(tmp_path, span_like)
    model = onnx.load(str(onnx_path))
    onnx.checker.check_model(model, full_check=True)
    (inp,), (out,) = model.graph.input, model.graph.output
    assert (inp.name, out.name) == ("input", "output")
    dims = inp.type.tensor_type.shape.dim
    assert [d.dim_param for d in dims] == ["batch", "", "height", "width"] and dims[1].dim_value == 3
    assert out.type.tensor_type.shape.dim[1].dim_value == 3
    ops = [n.op_type for n in model.graph.node]
    # the x2 before conv1 and the *0.5, +0.25 after conv_cat live in the weights now;
    # the mean and "- 0.5" became BatchNormalization (kept in ORT's blocked layout)
    assert ops.count("Mul") == 3 and "Sub" not in ops and "Add" in ops and ops.count("BatchNormalization") == 2
    assert model.opset_import[0].version == 17


def test_batch_of_two(tmp_path: Path) -> None:
    _, _, onnx_path = _convert(tmp_path, span_like)
    images = np.random.default_rng(2).random((2, 3, 11, 13), dtype=np.float32)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    both = session.run(None, {"input": images})[0]
    assert both.shape == (2, 3, 22, 26)
    assert np.abs(both[1] - run_ort(onnx_path, images[1])).max() < 1e-5


@pytest.mark.parametrize("name, scale", [("span-x2", 2), ("span-x4", 4)])
def test_builtin_model_upscales_a_photo(name: str, scale: int) -> None:
    skimage_data = pytest.importorskip("skimage.data")
    card = load_card(BUILTIN_DIR / f"{name}.card.json")
    onnx_path = BUILTIN_DIR / card.file
    assert card.scale == scale and card.licence == "Apache-2.0"
    assert sha256_of(onnx_path) == card.sha256
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    assert inp.name == card.input_name and isinstance(inp.shape[2], str) and isinstance(inp.shape[3], str)
    crop = skimage_data.chelsea()[90:137, 140:192].astype(np.float32).transpose(2, 0, 1) / 255.0
    out = session.run([card.output_name], {card.input_name: crop[None]})[0][0]
    assert out.shape == (3, crop.shape[1] * scale, crop.shape[2] * scale)
    nearest = crop.repeat(scale, axis=1).repeat(scale, axis=2)
    assert np.abs(out - nearest).mean() < 0.03  # an upscale of the same picture
    assert -0.2 < out.min() and out.max() < 1.2


def test_unknown_layer_type_names_layer_and_file(tmp_path: Path) -> None:
    w = NcnnWriter()
    w.input()
    w.layer("FancyOp", "fancy_layer", ["data"], ["out"], {0: 1})
    param, bin_ = w.write(tmp_path)
    with pytest.raises(ModelError) as err:
        convert_ncnn(param, bin_, tmp_path / "x.onnx")
    assert "FancyOp" in str(err.value) and "fancy_layer" in str(err.value) and str(param) in str(err.value)


def test_layer_known_but_not_convertible(tmp_path: Path) -> None:
    w = NcnnWriter()
    w.input()
    w.layer("Pooling", "pool", ["data"], ["out"], {0: 0, 1: 2, 2: 2})
    param, bin_ = w.write(tmp_path)
    with pytest.raises(ModelError, match="Pooling.*pool|pool.*Pooling"):
        convert_ncnn(param, bin_, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_inconsistent_weight_size(tmp_path: Path) -> None:
    w = NcnnWriter()
    w.input()
    w.layer("Convolution", "bad_conv", ["data"], ["out"], {0: 8, 1: 3, 6: 10}, [("fp32", np.zeros(10))])
    param, bin_ = w.write(tmp_path)
    with pytest.raises(ModelError, match="bad_conv.*does not fit"):
        convert_ncnn(param, bin_, tmp_path / "x.onnx")


def test_truncated_bin_names_the_file(tmp_path: Path) -> None:
    w = NcnnWriter()
    span_like(w)
    param, bin_ = w.write(tmp_path)
    bin_.write_bytes(bin_.read_bytes()[:-10])
    with pytest.raises(ModelError, match="truncated") as err:
        convert_ncnn(param, bin_, tmp_path / "x.onnx")
    assert str(bin_) in str(err.value)


def test_mismatched_bin_and_bad_param(tmp_path: Path) -> None:
    w = NcnnWriter()
    span_like(w)
    param, bin_ = w.write(tmp_path)
    bin_.write_bytes(bin_.read_bytes() + b"\0" * 8)
    with pytest.raises(ModelError, match="left over"):
        load_net(param, bin_)
    param.write_text("not a param file\n")
    with pytest.raises(ModelError, match="magic"):
        load_net(param, bin_)
    with pytest.raises(ModelError, match="not found"):
        load_net(tmp_path / "missing.param", bin_)
