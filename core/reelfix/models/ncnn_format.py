"""Read ncnn models: the text `.param` graph and the `.bin` weights, into typed records.

Pure Python + numpy; nothing here imports the ncnn runtime.

`.param` layout: the magic number 7767517, a line "layer_count blob_count", then one layer
per line: type, name, input count, output count, input blob names, output blob names and
`key=value` parameters. A key at or below -23300 marks an array parameter (`-23300-k=n,v1,..`
stores array `k`). A value with '.', 'e' or 'E' in it is a float, otherwise an int.

`.bin` layout: the weights of each layer, in param order. A "tagged" blob (convolution and
inner-product weights) starts with a 4-byte little-endian tag: 0 for fp32 data, 0x01306B47
for fp16 data (padded to 4 bytes), 0x0002C056 for fp32 data with extra scaling, or (any
other non-zero tag) a 256-entry fp32 table followed by one uint8 index per value (padded).
"Raw" blobs (biases, PReLU slopes, MemoryData, BatchNorm statistics) are untagged fp32.

Besides reading, this module holds the ncnn-level graph helpers the ONNX converter uses:
`consumers`, `fold_scalar_ops` (exact folding of scalar ops into convolutions) and
`input_channels`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Union

import numpy as np

from ..errors import ModelError

PARAM_MAGIC = 7767517
ARRAY_KEY_BASE = -23300
TAG_FP32 = 0x00000000
TAG_FP16 = 0x01306B47
TAG_INT8 = 0x000D4B38
TAG_FP32_SCALED = 0x0002C056

ParamValue = Union[int, float, list]

#: Layer types whose records carry no weights in the `.bin` file.
WEIGHTLESS_TYPES = frozenset(
    {
        "Input", "BinaryOp", "Swish", "Sigmoid", "Split", "Concat", "PixelShuffle", "ReLU",
        "Eltwise", "Interp", "TanH", "Clip", "Dropout", "Noop", "Mish", "HardSigmoid",
        "HardSwish", "ELU", "UnaryOp", "Crop", "Pooling", "Padding", "Reshape", "Permute",
        "Flatten", "Softmax", "Slice",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Layer:
    """One line of a `.param` file, plus the weights the `.bin` file holds for it."""

    type: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: dict[int, ParamValue] = field(default_factory=dict)
    weights: dict[str, np.ndarray] = field(default_factory=dict)

    def get_int(self, key: int, default: int) -> int:
        """An int parameter (a float written where an int is expected is truncated)."""
        value = self.params.get(key, default)
        return int(value[0] if isinstance(value, list) else value)

    def get_float(self, key: int, default: float) -> float:
        """A float parameter (ints are accepted and converted)."""
        value = self.params.get(key, default)
        return float(value[0] if isinstance(value, list) else value)

    def get_floats(self, key: int) -> list[float]:
        """An array parameter as floats ([] when absent); a scalar becomes a one-item list."""
        value = self.params.get(key, [])
        return [float(v) for v in value] if isinstance(value, list) else [float(value)]


@dataclass(frozen=True)
class ConvSpec:
    """Resolved parameters of a Convolution/ConvolutionDepthWise/Deconvolution* layer."""

    num_output: int
    kernel: tuple[int, int]  # (h, w)
    dilation: tuple[int, int]  # (h, w)
    stride: tuple[int, int]  # (h, w)
    pads: tuple[int, int, int, int]  # (top, left, bottom, right); -233/-234 mean SAME_UPPER/LOWER
    pad_value: float
    bias_term: bool
    weight_data_size: int
    group: int
    activation_type: int
    activation_params: tuple[float, ...]
    output_pad: tuple[int, int]  # (bottom, right), deconvolution only
    output_size: tuple[int, int]  # (h, w), deconvolution only; 0 = not set
    int8_scale_term: int
    dynamic_weight: bool

    @property
    def in_per_group(self) -> int:
        """Input channels each output channel sees (weights are [out, in/group, kh, kw])."""
        return self.weight_data_size // (self.num_output * self.kernel[0] * self.kernel[1])


def conv_spec(layer: Layer) -> ConvSpec:
    """Resolve a convolution-like layer's parameters, applying ncnn's defaults."""
    kw = layer.get_int(1, 0)
    dw = layer.get_int(2, 1)
    sw = layer.get_int(3, 1)
    pad_left = layer.get_int(4, 0)
    pad_top = layer.get_int(14, pad_left)
    out_pad_right = layer.get_int(18, 0) if layer.type.startswith("Deconvolution") else 0
    out_w = layer.get_int(20, 0) if layer.type.startswith("Deconvolution") else 0
    return ConvSpec(
        num_output=layer.get_int(0, 0),
        kernel=(layer.get_int(11, kw), kw),
        dilation=(layer.get_int(12, dw), dw),
        stride=(layer.get_int(13, sw), sw),
        pads=(pad_top, pad_left, layer.get_int(16, pad_top), layer.get_int(15, pad_left)),
        pad_value=layer.get_float(18, 0.0) if not layer.type.startswith("Deconvolution") else 0.0,
        bias_term=bool(layer.get_int(5, 0)),
        weight_data_size=layer.get_int(6, 0),
        group=layer.get_int(7, 1) if layer.type.endswith("DepthWise") else 1,
        activation_type=layer.get_int(9, 0),
        activation_params=tuple(layer.get_floats(10)),
        output_pad=(layer.get_int(19, out_pad_right), out_pad_right),
        output_size=(layer.get_int(21, out_w), out_w),
        int8_scale_term=layer.get_int(8, 0) if not layer.type.startswith("Deconvolution") else 0,
        dynamic_weight=bool(layer.get_int(19, 0)) if not layer.type.startswith("Deconvolution") else False,
    )


@dataclass(frozen=True)
class NcnnNet:
    """A parsed ncnn model: layers in file order (weights attached) and where they came from."""

    layers: list[Layer]
    blob_count: int
    param_path: Path
    bin_path: Path | None = None


def _parse_value(text: str) -> int | float:
    return float(text) if any(c in text for c in ".eE") else int(text)


def _parse_params(tokens: list[str], where: str) -> dict[int, ParamValue]:
    params: dict[int, ParamValue] = {}
    for token in tokens:
        key_text, sep, value_text = token.partition("=")
        try:
            if not sep:
                raise ValueError("missing '='")
            key = int(key_text)
            if key <= ARRAY_KEY_BASE:
                count_text, *items = value_text.split(",")
                if int(count_text) != len(items):
                    raise ValueError(f"array says {count_text} items but has {len(items)}")
                params[ARRAY_KEY_BASE - key] = [_parse_value(item) for item in items]
            else:
                params[key] = _parse_value(value_text)
        except ValueError as exc:
            raise ModelError(f"{where}: bad parameter '{token}' ({exc})", hint="the .param file is corrupt") from None
    return params


def parse_param(param_path: Path | str) -> tuple[list[Layer], int]:
    """Parse a text `.param` file into weightless `Layer` records and the declared blob count."""
    path = Path(param_path)
    try:
        lines = [line.split() for line in path.read_text(encoding="utf-8").splitlines()]
    except FileNotFoundError:
        raise ModelError(f"ncnn param file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot read ncnn param file {path}: {exc}", hint="binary .param.bin files are not supported") from None
    numbered = [(number, tokens) for number, tokens in enumerate(lines, 1) if tokens]
    if not numbered or numbered[0][1] != [str(PARAM_MAGIC)]:
        raise ModelError(f"{path} is not an ncnn text .param file (magic {PARAM_MAGIC} missing on the first line)")
    try:
        layer_count, blob_count = (int(t) for t in numbered[1][1])
    except (IndexError, ValueError):
        raise ModelError(f"{path}:2: expected 'layer_count blob_count'", hint="the .param file is corrupt") from None
    layers: list[Layer] = []
    for number, tokens in numbered[2:]:
        where = f"{path}:{number}"
        try:
            n_in, n_out = int(tokens[2]), int(tokens[3])
            if n_in < 0 or n_out < 0 or len(tokens) < 4 + n_in + n_out:
                raise ValueError
        except (IndexError, ValueError):
            raise ModelError(f"{where}: malformed layer line", hint="the .param file is corrupt") from None
        blobs = tokens[4 : 4 + n_in + n_out]
        params = _parse_params(tokens[4 + n_in + n_out :], where)
        layers.append(Layer(tokens[0], tokens[1], tuple(blobs[:n_in]), tuple(blobs[n_in:]), params))
    if len(layers) != layer_count:
        raise ModelError(f"{path}: header says {layer_count} layers but the file has {len(layers)}", hint="the .param file is truncated or corrupt")
    return layers, blob_count


class _BinReader:
    """Sequential reader over a `.bin` file; every short read names the file and the layer."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.path, self.pos = data, path, 0
        self.layer: Layer | None = None

    def _take(self, nbytes: int) -> bytes:
        if nbytes < 0:
            who = f"layer '{self.layer.name}' ({self.layer.type})" if self.layer else "a layer"
            raise ModelError(f"{self.path}: {who} asks for a negative weight size", hint="the .param file is corrupt")
        if self.pos + nbytes > len(self.data):
            who = f"layer '{self.layer.name}' ({self.layer.type})" if self.layer else "a layer"
            raise ModelError(
                f"{self.path} is truncated: {who} needs {nbytes} bytes at offset {self.pos} "
                f"but the file has {len(self.data)} bytes",
                hint="re-download the model; the .bin must be the one written with its .param",
            )
        chunk = self.data[self.pos : self.pos + nbytes]
        self.pos += nbytes
        return chunk

    def raw(self, count: int) -> np.ndarray:
        """`count` untagged little-endian fp32 values."""
        return np.frombuffer(self._take(4 * count), dtype="<f4").astype(np.float32)

    def tagged(self, count: int) -> np.ndarray:
        """`count` values behind a storage tag (fp32, fp16 or 8-bit table), as fp32."""
        tag = int.from_bytes(self._take(4), "little")
        if tag == TAG_FP16:
            data = np.frombuffer(self._take((2 * count + 3) // 4 * 4), dtype="<f2")[:count]
            return data.astype(np.float32)
        if tag == TAG_INT8:
            raise ModelError(
                f"{self.path}: layer '{self.layer.name if self.layer else '?'}' holds int8-quantised weights",
                hint="convert the fp32 or fp16 release of this model instead",
            )
        if tag in (TAG_FP32, TAG_FP32_SCALED):
            return self.raw(count)
        table = self.raw(256)
        index = np.frombuffer(self._take((count + 3) // 4 * 4), dtype=np.uint8)[:count]
        return table[index]


def _conv_weights(layer: Layer, rd: _BinReader) -> dict[str, np.ndarray]:
    spec = conv_spec(layer)
    if spec.int8_scale_term:
        raise ModelError(f"{rd.path}: layer '{layer.name}' ({layer.type}) is int8-quantised", hint="convert an fp32/fp16 model")
    if spec.dynamic_weight:
        return {}
    weights = {"weight": rd.tagged(spec.weight_data_size)}
    if spec.bias_term:
        weights["bias"] = rd.raw(spec.num_output)
    return weights


def _inner_product_weights(layer: Layer, rd: _BinReader) -> dict[str, np.ndarray]:
    if layer.get_int(8, 0):
        raise ModelError(f"{rd.path}: layer '{layer.name}' (InnerProduct) is int8-quantised", hint="convert an fp32/fp16 model")
    weights = {"weight": rd.tagged(layer.get_int(2, 0))}
    if layer.get_int(1, 0):
        weights["bias"] = rd.raw(layer.get_int(0, 0))
    return weights


def memory_data_shape(layer: Layer) -> tuple[int, ...]:
    """A MemoryData blob's shape in ncnn order (outermost first: c, d, h, w)."""
    w, h, d, c = layer.get_int(0, 0), layer.get_int(1, 0), layer.get_int(11, 0), layer.get_int(2, 0)
    if d:
        return (c, d, h, w)
    if c:
        return (c, h, w)
    if h:
        return (h, w)
    return (w,)


def _memory_data_weights(layer: Layer, rd: _BinReader) -> dict[str, np.ndarray]:
    shape = memory_data_shape(layer)
    count = int(np.prod(shape))
    data = rd.raw(count) if layer.get_int(21, 1) else rd.tagged(count)
    return {"data": data.reshape(shape)}


def _batchnorm_weights(layer: Layer, rd: _BinReader) -> dict[str, np.ndarray]:
    n = layer.get_int(0, 0)
    return {key: rd.raw(n) for key in ("slope", "mean", "var", "bias")}


def _scale_weights(layer: Layer, rd: _BinReader) -> dict[str, np.ndarray]:
    n = layer.get_int(0, 0)
    if n == -233:  # scale comes from a second input blob
        return {"bias": rd.raw(layer.get_int(2, 0))} if layer.get_int(1, 0) else {}
    weights = {"scale": rd.raw(n)}
    if layer.get_int(1, 0):
        weights["bias"] = rd.raw(n)
    return weights


_WEIGHT_READERS: dict[str, Callable[[Layer, _BinReader], dict[str, np.ndarray]]] = {
    "Convolution": _conv_weights,
    "ConvolutionDepthWise": _conv_weights,
    "Deconvolution": _conv_weights,
    "DeconvolutionDepthWise": _conv_weights,
    "InnerProduct": _inner_product_weights,
    "PReLU": lambda layer, rd: {"slope": rd.raw(layer.get_int(0, 0))},
    "MemoryData": _memory_data_weights,
    "BatchNorm": _batchnorm_weights,
    "Scale": _scale_weights,
}

#: Every layer type this module can read (weights included).
KNOWN_TYPES = frozenset(WEIGHTLESS_TYPES | _WEIGHT_READERS.keys())


def unsupported_layer_error(layer: Layer, path: Path, detail: str = "") -> ModelError:
    """The ModelError for a layer (or a layer setting) we cannot handle, naming type, layer and file."""
    return ModelError(
        f"{path}: layer '{layer.name}' of type '{layer.type}' is not supported by reelfix's ncnn converter"
        + (f" ({detail})" if detail else ""),
        hint="convert this model to ONNX with another tool (e.g. from its PyTorch weights) and adopt the .onnx",
    )


def load_net(param_path: Path | str, bin_path: Path | str) -> NcnnNet:
    """Parse a `.param`/`.bin` pair; every error is a ModelError naming the file at fault."""
    param_path, bin_path = Path(param_path), Path(bin_path)
    layers, blob_count = parse_param(param_path)
    for layer in layers:
        if layer.type not in KNOWN_TYPES:
            raise unsupported_layer_error(layer, param_path)
    try:
        reader = _BinReader(bin_path.read_bytes(), bin_path)
    except FileNotFoundError:
        raise ModelError(f"ncnn weight file not found: {bin_path}") from None
    except OSError as exc:
        raise ModelError(f"cannot read ncnn weight file {bin_path}: {exc}") from None
    loaded: list[Layer] = []
    for layer in layers:
        reader.layer = layer
        read = _WEIGHT_READERS.get(layer.type)
        loaded.append(Layer(layer.type, layer.name, layer.inputs, layer.outputs, layer.params, read(layer, reader) if read else {}))
    if reader.pos != len(reader.data):
        raise ModelError(
            f"{bin_path} has {len(reader.data) - reader.pos} bytes left over after the last layer of {param_path.name}",
            hint="the .bin does not belong to this .param; use the pair released together",
        )
    return NcnnNet(loaded, blob_count, param_path, bin_path)


CONV_TYPES = ("Convolution", "ConvolutionDepthWise", "Deconvolution", "DeconvolutionDepthWise")
#: Channel-preserving layer types, walked through to find a net's input channel count.
PASS_THROUGH = frozenset({"BinaryOp", "Split", "Noop", "Dropout", "Sigmoid", "Swish", "ReLU", "TanH", "Clip", "Interp"})


def consumers(layers: list[Layer]) -> dict[str, list[int]]:
    """For each blob, the indices of the layers that read it."""
    found: dict[str, list[int]] = {}
    for i, layer in enumerate(layers):
        for blob in layer.inputs:
            found.setdefault(blob, []).append(i)
    return found


def _fold_once(layers: list[Layer]) -> bool:
    """Fold one scalar Mul/Div before a convolution, or Mul/Div/Add/Sub after one; True if folded."""
    users = consumers(layers)
    for i, op in enumerate(layers):
        if op.type != "BinaryOp" or not op.get_int(1, 0) or len(users.get(op.outputs[0], [])) != 1:
            continue
        kind, s = op.get_int(0, 0), op.get_float(2, 0.0)
        if kind not in (0, 1, 2, 3) or (kind == 3 and s == 0.0):
            continue
        factor = np.float32(s if kind == 2 else 1.0 / s if kind == 3 else 1.0)
        j = users[op.outputs[0]][0]
        nxt = layers[j]
        # conv(x * s) == conv'(x) with weights * s, because zero padding is unchanged by scaling
        if kind in (2, 3) and nxt.type in CONV_TYPES and conv_spec(nxt).pad_value == 0.0 and "weight" in nxt.weights:
            weights = {**nxt.weights, "weight": nxt.weights["weight"] * factor}
            layers[j] = dataclasses.replace(nxt, inputs=op.inputs, weights=weights)
            del layers[i]
            return True
        producers = [k for k, layer in enumerate(layers) if op.inputs[0] in layer.outputs]
        if len(producers) != 1 or len(users.get(op.inputs[0], [])) != 1:
            continue
        conv = layers[producers[0]]
        if conv.type not in CONV_TYPES or "weight" not in conv.weights or conv_spec(conv).activation_type != 0:
            continue
        bias = conv.weights.get("bias", np.zeros(conv_spec(conv).num_output, np.float32))
        if kind in (2, 3):
            weights = {"weight": conv.weights["weight"] * factor, "bias": bias * factor}
        else:
            weights = {"weight": conv.weights["weight"], "bias": bias + np.float32(s if kind == 0 else -s)}
        layers[producers[0]] = dataclasses.replace(conv, outputs=op.outputs, weights=weights, params={**conv.params, 5: 1})
        del layers[i]
        return True
    return False


def fold_scalar_ops(layers: list[Layer]) -> list[Layer]:
    """A copy of `layers` with scalar BinaryOps folded into adjacent convolutions where exact.

    `x * s` (or `/ s`) feeding only a convolution scales that convolution's weights; a
    convolution without fused activation feeding only `+ s`, `- s`, `* s` or `/ s` absorbs
    it into its weights and bias. Each fold removes one elementwise pass over the image.
    """
    folded = list(layers)
    while _fold_once(folded):
        pass
    return folded


def input_channels(layers: list[Layer], input_layer: Layer) -> int | None:
    """The input's channel count: from the Input layer, else from the first convolution reached."""
    if input_layer.get_int(2, 0) > 0:
        return input_layer.get_int(2, 0)
    users, todo, seen = consumers(layers), list(input_layer.outputs), set()
    while todo:
        blob = todo.pop(0)
        for j in users.get(blob, []):
            layer = layers[j]
            if layer.type in CONV_TYPES and layer.inputs[0] == blob and not conv_spec(layer).dynamic_weight:
                spec = conv_spec(layer)
                return spec.in_per_group * spec.group
            if layer.type in PASS_THROUGH and j not in seen:
                seen.add(j)
                todo.extend(layer.outputs)
    return None
