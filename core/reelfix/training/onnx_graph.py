"""An ONNX model as a trainable torch module: the built-in SPAN weights, fine-tuned as they are.

The built-in upscalers were converted from the official ncnn weights into plain ONNX
(convolutions with their re-parametrised 3x3 kernels, sigmoid attention, a normalising
BatchNormalization, DepthToSpace). Executing that graph node by node in torch reproduces
it to float rounding, with every Conv weight and bias an `nn.Parameter` to fine-tune; the
other constants (input normalisation, the attention's -0.5 shift) stay fixed. Exported
again, it gives the same graph with new weights. Only the few operators such graphs use
are known; any other raises ValueError naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _conv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, a: dict[str, Any]) -> torch.Tensor:
    pads = list(a.get("pads", [0, 0, 0, 0]))
    if pads[:2] != pads[2:]:
        raise ValueError(f"Conv with asymmetric pads {pads} is not supported")
    return F.conv2d(
        x, w, b, stride=tuple(a.get("strides", [1, 1])), padding=tuple(pads[:2]),
        dilation=tuple(a.get("dilations", [1, 1])), groups=int(a.get("group", 1)),
    )  # fmt: skip


def _batchnorm(x: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, a: dict[str, Any]) -> torch.Tensor:
    shape = (1, -1, 1, 1)
    k = scale / torch.sqrt(var + float(a.get("epsilon", 1e-5)))
    return (x - mean.reshape(shape)) * k.reshape(shape) + bias.reshape(shape)


def _depth_to_space(x: torch.Tensor, a: dict[str, Any]) -> torch.Tensor:
    mode = a.get("mode", b"DCR")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode != "CRD":
        raise ValueError(f"DepthToSpace mode {mode} is not supported (only CRD, which is pixel shuffle)")
    return F.pixel_shuffle(x, int(a["blocksize"]))


class OnnxGraph(nn.Module):
    """A single-input, single-output ONNX graph run by torch; Conv weights are parameters."""

    def __init__(self, model: onnx.ModelProto) -> None:
        super().__init__()
        graph = model.graph
        inits = {t.name: numpy_helper.to_array(t).copy() for t in graph.initializer}
        real_inputs = [i.name for i in graph.input if i.name not in inits]
        if len(real_inputs) != 1 or len(graph.output) != 1:
            raise ValueError(f"need one input and one output, got inputs {real_inputs} and {len(graph.output)} outputs")
        self.input_name, self.output_name = real_inputs[0], graph.output[0].name
        trainable = {n for node in graph.node if node.op_type == "Conv" for n in node.input[1:]}
        self.params = nn.ParameterDict()
        self.names: dict[str, str] = {}  # ONNX tensor name -> key in params / buffers
        for i, (name, value) in enumerate(inits.items()):
            key = f"t{i}"
            self.names[name] = key
            if name in trainable:
                self.params[key] = nn.Parameter(torch.from_numpy(value))
            else:
                self.register_buffer(key, torch.from_numpy(value))
        self.nodes = [(n.op_type, list(n.input), list(n.output), _attrs(n)) for n in graph.node]
        for op, *_ in self.nodes:
            if op not in _OPS:
                raise ValueError(f"ONNX operator {op} is not supported by reelfix.training.onnx_graph")

    @classmethod
    def load(cls, path: Path) -> "OnnxGraph":
        return cls(onnx.load(str(path)))

    def _tensor(self, name: str, env: dict[str, torch.Tensor]) -> torch.Tensor:
        if name in env:
            return env[name]
        key = self.names[name]
        return self.params[key] if key in self.params else getattr(self, key)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        env = {self.input_name: x}
        for op, inputs, outputs, attrs in self.nodes:
            args = [self._tensor(n, env) if n else None for n in inputs]
            env[outputs[0]] = _OPS[op](args, attrs)
        return env[self.output_name]


_OPS = {
    "Conv": lambda t, a: _conv(t[0], t[1], t[2] if len(t) > 2 else None, a),
    "BatchNormalization": lambda t, a: _batchnorm(t[0], t[1], t[2], t[3], t[4], a),
    "Sigmoid": lambda t, a: torch.sigmoid(t[0]),
    "Relu": lambda t, a: torch.relu(t[0]),
    "LeakyRelu": lambda t, a: F.leaky_relu(t[0], float(a.get("alpha", 0.01))),
    "Mul": lambda t, a: t[0] * t[1],
    "Add": lambda t, a: t[0] + t[1],
    "Sub": lambda t, a: t[0] - t[1],
    "Concat": lambda t, a: torch.cat(t, dim=int(a["axis"])),
    "DepthToSpace": lambda t, a: _depth_to_space(t[0], a),
}
