"""A model's final pixel shuffle (ONNX DepthToSpace), done by reelfix instead of the model.

Most super-resolution networks (SPAN, Real-ESRGAN compact, ...) end in a pixel shuffle: the
network computes C*s*s channels at the input's size and the last op only moves them to their
places at the output's size. On the CPU that move is a full output-sized copy (2K -> 4K: 100 MB,
~75 ms of ONNX Runtime's time), which reelfix then reads again to convert the colours back.
With the shuffle cut off the model, the upscale node's way back (`colour.convert_shuffled_in_place`)
reads the sub-pixel planes and OCIO writes each one straight to its place in the output: the
same values bit for bit (the shuffle only moves values), one full-size pass fewer.

`cut(path, card)` writes the model without its final DepthToSpace next to reelfix's other
caches (`$REELFIX_CACHE/pre_shuffle/SHA256-NAME.onnx`, named by the card's checksum of the source, written
atomically; the same bytes every time) and says how to put the channels back (`PixelShuffle`).
Only a graph whose card output is produced directly by a DepthToSpace of block `card.scale`
qualifies; anything else (a residual added after the shuffle, a cast, ...) runs whole.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .card import ModelCard


@dataclass(frozen=True)
class PixelShuffle:
    """ONNX DepthToSpace of `block` in `mode` ('CRD', as PyTorch's pixel_shuffle exports, or
    'DCR'), for `channels` output channels."""

    block: int
    mode: str
    channels: int

    def plane(self, c: int, i: int, j: int) -> int:
        """The input channel that lands on output channel c at sub-pixel row i, column j."""
        s = self.block
        return c * s * s + i * s + j if self.mode == "CRD" else (i * s + j) * self.channels + c

    def apply(self, y: np.ndarray) -> np.ndarray:
        """The DepthToSpace of an N x C*s*s x h x w array: N x C x h*s x w*s (float32, contiguous)."""
        n, cs, h, w = y.shape
        s, c = self.block, self.channels
        v = y.reshape(n, c, s, s, h, w) if self.mode == "CRD" else y.reshape(n, s, s, c, h, w).transpose(0, 3, 1, 2, 4, 5)
        out = np.empty((n, c, h, s, w, s), np.float32)
        np.copyto(out, v.transpose(0, 1, 4, 2, 5, 3))
        return out.reshape(n, c, h * s, w * s)


@dataclass(frozen=True)
class CutModel:
    path: Path  # the model without its final DepthToSpace
    output_name: str  # the DepthToSpace's input, now the graph's output
    shuffle: PixelShuffle


def cache_dir() -> Path:
    root = os.environ.get("REELFIX_CACHE")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "reelfix") / "pre_shuffle"


def cut(path: Path, card: ModelCard) -> CutModel | None:
    """The model at `path` without its final DepthToSpace, or None where it has none (or
    the cut model cannot be stored: reelfix then runs the model whole)."""
    import onnx

    if card.scale < 2:
        return None
    try:
        model = onnx.load(str(path))
    except Exception:  # noqa: BLE001 - the session's own load reports a broken file properly
        return None
    graph = model.graph
    outputs = [o for o in graph.output if o.name == card.output_name]
    last = [n for n in graph.node if card.output_name in n.output]
    if len(outputs) != 1 or len(last) != 1 or last[0].op_type != "DepthToSpace" or last[0].domain not in ("", "ai.onnx"):
        return None
    node = last[0]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    mode = attrs.get("mode", b"DCR")
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    if attrs.get("blocksize") != card.scale or mode not in ("CRD", "DCR"):
        return None
    feed = node.input[0]
    elem = outputs[0].type.tensor_type.elem_type
    graph.node.remove(node)
    graph.output.remove(outputs[0])
    graph.output.append(onnx.helper.make_tensor_value_info(feed, elem, ["n", "c", "h", "w"]))
    try:
        data = model.SerializeToString()
    except ValueError:  # over protobuf's 2 GB: the model runs whole
        return None
    target = cache_dir() / f"{card.sha256}-{Path(path).stem}.onnx"
    try:
        if not (target.is_file() and target.read_bytes() == data):
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, target)
            finally:
                Path(tmp).unlink(missing_ok=True)
    except OSError:  # a read-only cache: the model runs whole
        return None
    return CutModel(target, feed, PixelShuffle(card.scale, mode, card.channels))
