"""Tiny ONNX models for tests, built with `onnx.helper` (no torch, no downloads).

Every builder writes one self-contained `.onnx` file (opset 17, IR version 8, weights
inside) and returns its path. Weights are random but seeded, so two calls with the same
arguments write byte-identical files. Use `make_card` to get a matching `ModelCard`.

    from tests.onnx_models import make_sr_model, make_card
    path = make_sr_model(tmp_path / "sr.onnx", scale=2)
    card = make_card(path, scale=2, receptive_field=3)

Builders:
- `make_sr_model`: 3x3 convs + ReLU, then DepthToSpace: a stand-in SR net (receptive field = `layers`).
- `make_rf_model`: one (2*rf+1)^2 conv: a net whose receptive field is exactly `receptive_field`.
- `make_nearest_model`: nearest-neighbour upscale (or identity at scale 1): predictable output.
- `make_static_model`: like `make_sr_model` but with fixed H and W (wrong for tiling).
- `make_bias_model`: adds a constant: predictable output, any scale 1.
- `make_noise_input_model`: `input - sigma`, with `sigma` an input that has a default (an
  initializer listed among the graph inputs, as torch's exporter writes grain-denoise's).
- `write_corrupt_model`: a file that is not ONNX.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
HIDDEN = 8  # feature channels of the hidden conv layers


def _io(
    name: str,
    channels: int | str,
    height: int | str = "height",
    width: int | str = "width",
    elem_type: int = TensorProto.FLOAT,
) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem_type, ["batch", channels, height, width])


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="reelfix-tests")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(path))
    return path


def _conv(
    rng: np.random.Generator, name: str, src: str, dst: str, cin: int, cout: int, k: int
) -> tuple[onnx.NodeProto, list[onnx.TensorProto]]:
    """A KxK 'same' conv with He-style random weights (outputs stay O(1))."""
    w = (rng.standard_normal((cout, cin, k, k)) / np.sqrt(cin * k * k)).astype(np.float32)
    b = (0.05 * rng.standard_normal(cout)).astype(np.float32)
    inits = [numpy_helper.from_array(w, f"{name}_w"), numpy_helper.from_array(b, f"{name}_b")]
    pad = k // 2
    node = helper.make_node("Conv", [src, f"{name}_w", f"{name}_b"], [dst], pads=[pad] * 4, kernel_shape=[k, k])
    return node, inits


def make_sr_model(
    path: Path,
    scale: int = 2,
    channels: int = 3,
    layers: int = 3,
    seed: int = 0,
    *,
    input_name: str = "input",
    output_name: str = "output",
    half_io: bool = False,
) -> Path:
    """A random SR-like net: `layers` 3x3 convs (ReLU between), the last one making
    channels*scale^2 maps, then DepthToSpace(scale). Input 1xCxHxW with dynamic H, W;
    output 1xCx(H*scale)x(W*scale). Receptive field: `layers` pixels each side.
    `half_io`: float16 input and output (Cast nodes around a float32 body), like an fp16 export."""
    if layers < 1 or scale < 1:
        raise ValueError("layers and scale must be >= 1")
    rng = np.random.default_rng(seed)
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    outer_in, outer_out = input_name, output_name
    if half_io:
        input_name, output_name = "x32", "y32"
        nodes.append(helper.make_node("Cast", [outer_in], [input_name], to=TensorProto.FLOAT))
    src, cin = input_name, channels
    for i in range(layers):
        last = i == layers - 1
        cout = channels * scale * scale if last else HIDDEN
        conv_out = f"conv{i}" if not (last and scale == 1) else output_name
        node, w = _conv(rng, f"c{i}", src, conv_out, cin, cout, 3)
        nodes.append(node)
        inits += w
        if not last:
            nodes.append(helper.make_node("Relu", [conv_out], [f"relu{i}"]))
            src, cin = f"relu{i}", cout
        elif scale > 1:
            nodes.append(helper.make_node("DepthToSpace", [conv_out], [output_name], blocksize=scale, mode="CRD"))
    elem = TensorProto.FLOAT16 if half_io else TensorProto.FLOAT
    if half_io:
        nodes.append(helper.make_node("Cast", [output_name], [outer_out], to=TensorProto.FLOAT16))
    graph = helper.make_graph(
        nodes,
        "sr",
        [_io(outer_in, channels, elem_type=elem)],
        [_io(outer_out, channels, "out_h", "out_w", elem_type=elem)],
        inits,
    )
    return _save(graph, path)


def make_rf_model(path: Path, receptive_field: int = 8, channels: int = 3, scale: int = 1, seed: int = 0) -> Path:
    """One dense (2*rf+1)x(2*rf+1) conv (then DepthToSpace when scale > 1): every output
    pixel depends on exactly `receptive_field` input pixels of context on each side."""
    rng = np.random.default_rng(seed)
    k = 2 * receptive_field + 1
    conv_out = "output" if scale == 1 else "conv"
    node, inits = _conv(rng, "c", "input", conv_out, channels, channels * scale * scale, k)
    nodes = [node]
    if scale > 1:
        nodes.append(helper.make_node("DepthToSpace", ["conv"], ["output"], blocksize=scale, mode="CRD"))
    graph = helper.make_graph(nodes, "rf", [_io("input", channels)], [_io("output", channels, "out_h", "out_w")], inits)
    return _save(graph, path)


def make_nearest_model(path: Path, scale: int = 2, channels: int = 3) -> Path:
    """Nearest-neighbour upscale by `scale` (Resize), or Identity at scale 1. Output is
    exactly predictable: `np.repeat(np.repeat(x, s, 2), s, 3)`."""
    inits: list[onnx.TensorProto] = []
    if scale == 1:
        nodes = [helper.make_node("Identity", ["input"], ["output"])]
    else:
        inits = [numpy_helper.from_array(np.array([1, 1, scale, scale], np.float32), "scales")]
        nodes = [
            helper.make_node(
                "Resize",
                ["input", "", "scales"],
                ["output"],
                mode="nearest",
                coordinate_transformation_mode="asymmetric",
                nearest_mode="floor",
            )
        ]
    graph = helper.make_graph(
        nodes, "nearest", [_io("input", channels)], [_io("output", channels, "out_h", "out_w")], inits
    )
    return _save(graph, path)


def make_bias_model(path: Path, bias: float = 0.25, channels: int = 3) -> Path:
    """Scale-1 model computing `x + bias`: predictable output for pipeline tests."""
    inits = [numpy_helper.from_array(np.array(bias, np.float32), "bias")]
    nodes = [helper.make_node("Add", ["input", "bias"], ["output"])]
    graph = helper.make_graph(nodes, "bias", [_io("input", channels)], [_io("output", channels)], inits)
    return _save(graph, path)


def make_noise_input_model(path: Path, default: float = 0.02, channels: int = 3) -> Path:
    """Scale-1 model computing `input - sigma` (sigma N,1,H,W, broadcast over the channels): the
    `sigma` input has a default value (`default`, shape 1,1,1,1), an initializer that is also
    a graph input, so a caller may feed it or leave it out (ONNX Runtime's overridable initializer)."""
    sigma = numpy_helper.from_array(np.full((1, 1, 1, 1), default, np.float32), "sigma")
    nodes = [helper.make_node("Sub", ["input", "sigma"], ["output"])]
    graph = helper.make_graph(nodes, "noise_input", [_io("input", channels), _io("sigma", 1)], [_io("output", channels)], [sigma])
    return _save(graph, path)


def make_static_model(path: Path, size: int = 64, scale: int = 2, channels: int = 3, seed: int = 0) -> Path:
    """Like `make_sr_model(layers=1)` but with static input HxW = size x size (and a
    static batch of 1): a model exported without dynamic axes."""
    rng = np.random.default_rng(seed)
    node, inits = _conv(rng, "c", "input", "conv", channels, channels * scale * scale, 3)
    nodes = [node, helper.make_node("DepthToSpace", ["conv"], ["output"], blocksize=scale, mode="CRD")]
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, channels, size, size])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, channels, size * scale, size * scale])
    graph = helper.make_graph(nodes, "static", [x], [y], inits)
    return _save(graph, path)


def write_corrupt_model(path: Path) -> Path:
    """A file named like a model that is not a valid ONNX protobuf."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x08\x07this is not an onnx model\xff\xfe" * 8)
    return path


def make_card(path: Path, **fields: Any) -> Any:
    """A valid `ModelCard` for the model file at `path` (sha256 filled in). Any card
    field may be overridden, e.g. `make_card(p, scale=4, channels=1)`."""
    from reelfix.models.card import ModelCard, sha256_of

    path = Path(path)
    data: dict[str, Any] = {
        "name": path.stem,
        "file": path.name,
        "licence": "CC0-1.0",
        "source": "tests/onnx_models.py (random weights)",
        "sha256": sha256_of(path),
        "receptive_field": 3,
    }
    data.update(fields)
    return ModelCard(**data)
