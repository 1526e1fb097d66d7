"""Convert an ncnn model (`.param` + `.bin`) into one self-contained ONNX file.

The graph uses opset 17, takes `input` (NCHW float32) and gives `output`, with dynamic
batch, height and width. It is written for ONNX Runtime's CPU optimiser: convolutions are
plain `Conv` nodes (ORT fuses bias and activations itself, and `x * sigmoid(x)` into one
op), scalar multiplies/adds next to a convolution are folded into its weights and bias
when that is exact, and the remaining scalar or per-channel add/sub/mul/div become
BatchNormalization, which ORT's blocked (NCHWc) layout pass can keep without reorders.

ncnn blobs carry no batch axis: a blob of ncnn shape (c, h, w) becomes an ONNX tensor
(N, c, h, w). Constants (MemoryData) keep their ncnn shape until used, and are aligned to
the other operand with ncnn's broadcasting rule (a lower-rank operand lines up with the
outer axes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..errors import ModelError
from .ncnn_format import CONV_TYPES, Layer, NcnnNet, conv_spec, fold_scalar_ops, input_channels, load_net, unsupported_layer_error

OPSET = 17
IR_VERSION = 8  # the IR version that goes with opset 17, so older runtimes load it too
# ncnn BinaryOp op_type -> (ONNX op, operands swapped?, numpy function)
_BINARY_OPS: dict[int, tuple[str, bool, Callable[[np.ndarray, np.ndarray], np.ndarray]]] = {
    0: ("Add", False, np.add), 1: ("Sub", False, np.subtract), 2: ("Mul", False, np.multiply),
    3: ("Div", False, np.divide), 4: ("Max", False, np.maximum), 5: ("Min", False, np.minimum),
    6: ("Pow", False, np.power), 7: ("Sub", True, np.subtract), 8: ("Div", True, np.divide),
    9: ("Pow", True, np.power),
}  # fmt: skip


@dataclass
class _Value:
    """An ncnn blob during conversion: an ONNX value name, or a constant not yet emitted."""

    name: str | None
    const: np.ndarray | None
    rank: int  # ncnn dims (3 for c,h,w); the ONNX tensor has one more (batch)


class _Builder:
    """Accumulates ONNX nodes and initializers with unique, readable names."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.values: dict[str, _Value] = {}
        self._used: set[str] = {"input", "output"}
        self._consts: dict[tuple, str] = {}

    def unique(self, hint: str) -> str:
        name, n = hint, 1
        while name in self._used:
            n += 1
            name = f"{hint}_{n}"
        self._used.add(name)
        return name

    def const(self, value: np.ndarray | np.generic, hint: str) -> str:
        """An initializer; small constants with equal contents are shared."""
        array = np.asarray(value)
        key = (array.dtype.str, array.shape, array.tobytes()) if array.size <= 16 else None
        if key is not None and key in self._consts:
            return self._consts[key]
        name = self.unique(hint)
        self.inits.append(numpy_helper.from_array(array, name))
        if key is not None:
            self._consts[key] = name
        return name

    def add(self, op: str, inputs: list[str], hint: str, **attrs: Any) -> str:
        out = self.unique(hint)
        self.nodes.append(helper.make_node(op, inputs, [out], name=self.unique(f"{hint}/{op}"), **attrs))
        return out

    def get(self, layer: Layer, blob: str) -> _Value:
        try:
            return self.values[blob]
        except KeyError:
            raise ModelError(f"{self.path}: layer '{layer.name}' reads blob '{blob}' before any layer writes it") from None

    def tensor(self, layer: Layer, blob: str) -> str:
        """The ONNX name of a blob, emitting a constant as an initializer with a batch axis."""
        value = self.get(layer, blob)
        if value.name is None:
            value.name = self.const(np.asarray(value.const, np.float32)[None], blob)
        return value.name

    def name_after_blobs(self, layer: Layer, start: int) -> None:
        """Rename the values a layer's nodes (from index `start`) produced for its output blobs
        to the blob names, so the ONNX graph reads like the .param file."""
        new_nodes = self.nodes[start:]
        for blob in layer.outputs:
            value = self.values.get(blob)
            if value is None or value.name is None or not any(value.name in n.output for n in new_nodes):
                continue
            old, value.name = value.name, self.unique(blob)
            for node in new_nodes:
                node.input[:] = [value.name if i == old else i for i in node.input]
                node.output[:] = [value.name if o == old else o for o in node.output]

    def put(self, blob: str, name: str, rank: int = 3) -> None:
        self.values[blob] = _Value(name, None, rank)


def _activation(b: _Builder, x: str, kind: int, params: tuple[float, ...], hint: str, layer: Layer) -> str:
    """Append ncnn's fused activation `kind` (0 none, 1 relu ... 6 hardswish) after `x`."""
    p = list(params) + [0.0, 0.0]
    if kind == 0:
        return x
    if kind == 1 or (kind == 2 and p[0] == 0.0):
        return b.add("Relu", [x], hint)
    if kind == 2:
        return b.add("LeakyRelu", [x], hint, alpha=p[0])
    if kind == 3:
        return b.add("Clip", [x, b.const(np.float32(p[0]), "clip_min"), b.const(np.float32(p[1]), "clip_max")], hint)
    if kind == 4:
        return b.add("Sigmoid", [x], hint)
    if kind == 5:  # mish(x) = x * tanh(softplus(x)); opset 17 has no Mish op
        return b.add("Mul", [x, b.add("Tanh", [b.add("Softplus", [x], hint)], hint)], hint)
    if kind == 6:
        if abs(p[0] - 1 / 6) < 1e-6 and p[1] == 0.5:
            return b.add("HardSwish", [x], hint)
        return b.add("Mul", [x, b.add("HardSigmoid", [x], hint, alpha=p[0], beta=p[1])], hint)
    raise ModelError(f"{b.path}: layer '{layer.name}' ({layer.type}) has unknown fused activation type {kind}")


def _conv(b: _Builder, layer: Layer) -> None:
    spec = conv_spec(layer)
    if spec.dynamic_weight:
        raise unsupported_layer_error(layer, b.path, "dynamic weights")
    x = b.tensor(layer, layer.inputs[0])
    kh, kw = spec.kernel
    weight = layer.weights["weight"]
    if min(spec.num_output, kh, kw, spec.group, weight.size) <= 0 or weight.size % (spec.num_output * kh * kw) or spec.num_output % spec.group:
        raise ModelError(
            f"{b.path}: layer '{layer.name}' ({layer.type}): weight_data_size {weight.size} does not fit "
            f"num_output {spec.num_output}, kernel {kh}x{kw}, group {spec.group}", hint="the .param file is corrupt",
        )
    attrs: dict[str, object] = {"kernel_shape": [kh, kw], "strides": list(spec.stride), "dilations": list(spec.dilation), "group": spec.group}
    top, left, bottom, right = spec.pads
    deconv = layer.type.startswith("Deconvolution")
    if deconv:
        if min(spec.pads) < 0 or any(spec.output_size):
            raise unsupported_layer_error(layer, b.path, "SAME padding or a fixed output size")
        g, out_g, in_g = spec.group, spec.num_output // spec.group, spec.in_per_group
        weight = weight.reshape(g, out_g, in_g, kh, kw).transpose(0, 2, 1, 3, 4).reshape(g * in_g, out_g, kh, kw)
        attrs["pads"] = [top, left, bottom, right]
        if any(spec.output_pad):
            attrs["output_padding"] = list(spec.output_pad)
    else:
        weight = weight.reshape(spec.num_output, spec.in_per_group, kh, kw)
        if left in (-233, -234) and spec.pad_value == 0.0:
            attrs["auto_pad"] = "SAME_UPPER" if left == -233 else "SAME_LOWER"
        elif min(spec.pads) < 0:
            raise unsupported_layer_error(layer, b.path, f"padding {spec.pads}")
        elif spec.pad_value != 0.0 and max(spec.pads) > 0:
            pads = b.const(np.array([0, 0, top, left, 0, 0, bottom, right], np.int64), "pads")
            x = b.add("Pad", [x, pads, b.const(np.float32(spec.pad_value), "pad_value")], layer.name + "_pad")
        else:
            attrs["pads"] = [top, left, bottom, right]
    inputs = [x, b.const(weight.astype(np.float32), layer.name + ".weight")]
    if spec.bias_term:
        inputs.append(b.const(layer.weights["bias"].astype(np.float32), layer.name + ".bias"))
    y = b.add("ConvTranspose" if deconv else "Conv", inputs, layer.name, **attrs)
    b.put(layer.outputs[0], _activation(b, y, spec.activation_type, spec.activation_params, layer.name, layer))


def _align(const: np.ndarray, rank: int) -> np.ndarray:
    """ncnn broadcasting: a lower-rank operand lines up with the outer axes of the other."""
    if const.size == 1:
        return const.reshape(())
    return const.reshape(const.shape + (1,) * (rank - const.ndim)) if const.ndim < rank else const


def _binary(b: _Builder, layer: Layer) -> None:
    op_type = layer.get_int(0, 0)
    if op_type not in _BINARY_OPS:
        raise unsupported_layer_error(layer, b.path, f"op_type {op_type}")
    op, swapped, func = _BINARY_OPS[op_type]
    operands = [b.get(layer, blob) for blob in layer.inputs[:2]]
    if layer.get_int(1, 0):  # with_scalar
        operands = [operands[0], _Value(None, np.array(layer.get_float(2, 0.0), np.float32), 0)]
    if swapped:
        operands.reverse()
    rank = max(v.rank for v in operands)
    if all(v.const is not None for v in operands):
        result = func(*(_align(np.asarray(v.const), rank) for v in operands)).astype(np.float32)
        b.values[layer.outputs[0]] = _Value(None, result, result.ndim)
        return
    names = []
    for v in operands:
        if v.name is None:  # a constant not yet emitted
            c = _align(np.asarray(v.const), rank).astype(np.float32)
            names.append(b.const(c if c.ndim == 0 else c[None], layer.name + ".const"))
        elif v.rank < rank:  # dynamic lower-rank operand: add trailing axes
            axes = b.const(np.arange(v.rank + 1, rank + 1, dtype=np.int64), "axes")
            names.append(b.add("Unsqueeze", [v.name, axes], layer.name + "_unsqueeze"))
        else:
            names.append(v.name)
    b.put(layer.outputs[0], b.add(op, names, layer.name), rank)


def _unary(b: _Builder, layer: Layer) -> None:
    x, kind = b.tensor(layer, layer.inputs[0]), layer.type
    if kind == "Sigmoid":
        y = b.add("Sigmoid", [x], layer.name)
    elif kind == "Swish":
        y = b.add("Mul", [x, b.add("Sigmoid", [x], layer.name)], layer.name)
    elif kind == "TanH":
        y = b.add("Tanh", [x], layer.name)
    elif kind == "ReLU":
        y = _activation(b, x, 2, (layer.get_float(0, 0.0),), layer.name, layer)
    elif kind == "Clip":
        y = _activation(b, x, 3, (layer.get_float(0, -3.4e38), layer.get_float(1, 3.4e38)), layer.name, layer)
    elif kind == "Mish":
        y = _activation(b, x, 5, (), layer.name, layer)
    elif kind == "HardSwish":
        y = _activation(b, x, 6, (layer.get_float(0, 0.2), layer.get_float(1, 0.5)), layer.name, layer)
    elif kind == "HardSigmoid":
        y = b.add("HardSigmoid", [x], layer.name, alpha=layer.get_float(0, 0.2), beta=layer.get_float(1, 0.5))
    elif kind == "ELU":
        y = b.add("Elu", [x], layer.name, alpha=layer.get_float(0, 0.1))
    elif kind == "PReLU":
        slope = layer.weights["slope"]
        slope = slope.reshape(-1, 1, 1) if slope.size > 1 else slope.reshape(1)
        y = b.add("PRelu", [x, b.const(slope.astype(np.float32), layer.name + ".slope")], layer.name)
    elif kind == "BatchNorm":
        w = layer.weights
        a = w["slope"] / np.sqrt(w["var"] + layer.get_float(1, 0.0))
        mul = b.add("Mul", [x, b.const(a.reshape(-1, 1, 1).astype(np.float32), layer.name + ".a")], layer.name)
        y = b.add("Add", [mul, b.const((w["bias"] - w["mean"] * a).reshape(-1, 1, 1).astype(np.float32), layer.name + ".b")], layer.name)
    elif kind == "Scale":
        if "scale" not in layer.weights:
            raise unsupported_layer_error(layer, b.path, "scale from a second input")
        y = b.add("Mul", [x, b.const(layer.weights["scale"].reshape(-1, 1, 1), layer.name + ".scale")], layer.name)
        if "bias" in layer.weights:
            y = b.add("Add", [y, b.const(layer.weights["bias"].reshape(-1, 1, 1), layer.name + ".bias")], layer.name)
    else:  # Dropout
        scale = layer.get_float(0, 1.0)
        y = x if scale == 1.0 else b.add("Mul", [x, b.const(np.float32(scale), "scale")], layer.name)
    b.put(layer.outputs[0], y, b.get(layer, layer.inputs[0]).rank)


def _alias(b: _Builder, layer: Layer) -> None:
    """Split and Noop: every output is the input blob."""
    for out in layer.outputs:
        b.values[out] = b.get(layer, layer.inputs[0])


def _concat(b: _Builder, layer: Layer) -> None:
    rank = max(b.get(layer, blob).rank for blob in layer.inputs)
    axis = layer.get_int(0, 0)
    axis = axis + rank if axis < 0 else axis
    b.put(layer.outputs[0], b.add("Concat", [b.tensor(layer, blob) for blob in layer.inputs], layer.name, axis=axis + 1), rank)


def _pixel_shuffle(b: _Builder, layer: Layer) -> None:
    mode = "CRD" if layer.get_int(1, 0) == 0 else "DCR"
    x = b.tensor(layer, layer.inputs[0])
    b.put(layer.outputs[0], b.add("DepthToSpace", [x], layer.name, blocksize=layer.get_int(0, 1), mode=mode))


def _eltwise(b: _Builder, layer: Layer) -> None:
    op_type, coeffs = layer.get_int(0, 0), layer.get_floats(1)
    xs = [b.tensor(layer, blob) for blob in layer.inputs]
    if op_type == 1 and coeffs:
        xs = [x if c == 1.0 else b.add("Mul", [x, b.const(np.float32(c), "coeff")], layer.name) for x, c in zip(xs, coeffs)]
    op = {0: "Mul", 1: "Add", 2: "Max"}.get(op_type)
    if op is None:
        raise unsupported_layer_error(layer, b.path, f"op_type {op_type}")
    y = xs[0]
    for x in xs[1:]:
        y = b.add(op, [y, x], layer.name)
    b.put(layer.outputs[0], y)


def _interp(b: _Builder, layer: Layer) -> None:
    resize_type, align = layer.get_int(0, 0), layer.get_int(6, 0)
    if len(layer.inputs) > 1 or layer.get_int(5, 0) or resize_type not in (1, 2):
        raise unsupported_layer_error(layer, b.path, f"resize_type {resize_type} or a dynamic output size; nearest and bilinear are supported")
    x = b.tensor(layer, layer.inputs[0])
    attrs: dict[str, object] = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    if resize_type == 2:
        attrs = {"mode": "linear", "coordinate_transformation_mode": "align_corners" if align else "half_pixel"}
    out_h, out_w = layer.get_int(3, 0), layer.get_int(4, 0)
    if out_h and out_w:
        starts, ends = b.const(np.array([0], np.int64), "zero"), b.const(np.array([2], np.int64), "two")
        lead = b.add("Slice", [b.add("Shape", [x], layer.name), starts, ends], layer.name)
        sizes = b.add("Concat", [lead, b.const(np.array([out_h, out_w], np.int64), layer.name + ".size")], layer.name, axis=0)
        y = b.add("Resize", [x, "", "", sizes], layer.name, **attrs)
    else:
        scales = np.array([1, 1, layer.get_float(1, 1.0), layer.get_float(2, 1.0)], np.float32)
        y = b.add("Resize", [x, "", b.const(scales, layer.name + ".scales")], layer.name, **attrs)
    b.put(layer.outputs[0], y)


_HANDLERS: dict[str, Callable[[_Builder, Layer], None]] = {
    **{t: _conv for t in CONV_TYPES},
    **{t: _unary for t in ("Sigmoid", "Swish", "TanH", "ReLU", "Clip", "Mish", "HardSwish", "HardSigmoid", "ELU",
                            "PReLU", "BatchNorm", "Scale", "Dropout")},
    "BinaryOp": _binary, "Split": _alias, "Noop": _alias, "Concat": _concat,
    "PixelShuffle": _pixel_shuffle, "Eltwise": _eltwise, "Interp": _interp,
    "MemoryData": lambda b, layer: b.values.__setitem__(layer.outputs[0], _Value(None, layer.weights["data"], layer.weights["data"].ndim)),
}  # fmt: skip


def _affine_to_batchnorm(model: onnx.ModelProto) -> None:
    """Rewrite `x+k`, `x-k`, `x*k`, `x/k` (k a scalar or per-channel constant, x NCHW with known
    channels) as BatchNormalization. Same arithmetic (scale 1 or k, mean 0, variance 1,
    epsilon 0), but ONNX Runtime's NCHWc layout pass keeps a BatchNormalization in blocked
    layout, where an elementwise op with a constant forces a reorder to NCHW and back."""
    graph = model.graph
    inferred = onnx.shape_inference.infer_shapes(model).graph
    shapes = {vi.name: vi.type.tensor_type.shape.dim for vi in [*inferred.value_info, *inferred.input]}
    inits = {t.name: t for t in graph.initializer}
    extra: dict[tuple, str] = {}

    def const(array: np.ndarray, hint: str) -> str:
        key = (hint, array.tobytes())
        if key not in extra:
            extra[key] = f"{hint}_{len(extra)}"
            graph.initializer.append(numpy_helper.from_array(array.astype(np.float32), extra[key]))
        return extra[key]

    for node in graph.node:
        if node.op_type not in ("Add", "Sub", "Mul", "Div"):
            continue
        x, k = node.input
        if x in inits and node.op_type in ("Add", "Mul"):
            x, k = k, x
        dims = shapes.get(x, [])
        if k not in inits or x in inits or len(dims) != 4 or not dims[1].HasField("dim_value"):
            continue
        c = dims[1].dim_value
        value = numpy_helper.to_array(inits[k]).astype(np.float32)
        if value.size == 1:
            value = np.full(c, value.item(), np.float32)
        elif value.shape in ((1, c, 1, 1), (c, 1, 1)):
            value = value.reshape(c)
        else:
            continue
        if node.op_type == "Div" and not np.all(value):
            continue
        ones, zeros = np.ones(c, np.float32), np.zeros(c, np.float32)
        scale, bias = {"Add": (ones, value), "Sub": (ones, -value), "Mul": (value, zeros), "Div": (1 / value, zeros)}[node.op_type]
        node.op_type = "BatchNormalization"
        node.input[:] = [x, const(scale, "bn_scale"), const(bias, "bn_bias"), const(zeros, "bn_mean"), const(ones, "bn_var")]
        node.attribute.append(helper.make_attribute("epsilon", 0.0))
    used = {name for node in graph.node for name in node.input}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def build_model(net: NcnnNet) -> onnx.ModelProto:
    """Build (and check) the ONNX model for a parsed ncnn net."""
    path = net.param_path
    layers = fold_scalar_ops(net.layers)
    inputs = [layer for layer in layers if layer.type == "Input"]
    if len(inputs) != 1 or len(inputs[0].outputs) != 1:
        raise ModelError(f"{path}: expected exactly one Input layer with one blob, found {len(inputs)}", hint="only single-input image models are supported")
    b = _Builder(path)
    b.put(inputs[0].outputs[0], "input")
    for layer in layers:
        if layer.type == "Input":
            continue
        handler = _HANDLERS.get(layer.type)
        if handler is None:
            raise unsupported_layer_error(layer, path)
        start = len(b.nodes)
        handler(b, layer)
        b.name_after_blobs(layer, start)
    consumed = {blob for layer in layers for blob in layer.inputs}
    outputs = [blob for layer in layers for blob in layer.outputs if blob not in consumed]
    if len(outputs) != 1:
        raise ModelError(f"{path}: expected one output blob, found {len(outputs)}: {', '.join(outputs) or '(none)'}", hint="only single-output image models are supported")
    final = b.tensor(layers[-1], outputs[0])
    producer = next((n for n in b.nodes if final in n.output), None)
    if producer is None or any(final in n.input for n in b.nodes):
        b.nodes.append(helper.make_node("Identity", [final], ["output"], name=b.unique("output/Identity")))
    else:
        producer.output[:] = ["output" if o == final else o for o in producer.output]
    channels = input_channels(layers, inputs[0])
    graph = helper.make_graph(
        b.nodes, path.stem, [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", channels or "channels", "height", "width"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, None)], b.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="reelfix.ncnn_convert", ir_version=IR_VERSION)
    helper.set_model_props(model, {"converted_from": f"ncnn {path.name} + {net.bin_path.name if net.bin_path else '?'}"})
    out_channels = None
    try:
        _affine_to_batchnorm(model)
        inferred = onnx.shape_inference.infer_shapes(model).graph.output[0].type.tensor_type.shape.dim
        out_channels = inferred[1].dim_value if len(inferred) == 4 and inferred[1].HasField("dim_value") else None
    except onnx.shape_inference.InferenceError as exc:
        raise ModelError(f"{path}: the converted graph does not type-check: {exc}") from None
    model.graph.output[0].CopyFrom(helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", out_channels or "out_channels", "out_height", "out_width"]))
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ModelError(f"{path}: the converted ONNX graph is invalid: {exc}", hint="please report this model to reelfix") from None
    return model


def convert_ncnn(param_path: Path | str, bin_path: Path | str, onnx_path: Path | str) -> None:
    """Convert an ncnn `.param`/`.bin` pair into a single ONNX file at `onnx_path`."""
    model = build_model(load_net(param_path, bin_path))
    onnx_path = Path(onnx_path)
    try:
        onnx_path.parent.mkdir(parents=True, exist_ok=True)
        onnx.save_model(model, str(onnx_path))
    except OSError as exc:
        raise ModelError(f"cannot write {onnx_path}: {exc}", hint="check the folder exists and is writable") from None
