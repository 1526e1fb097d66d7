"""ONNX export and model cards for the models trained here.

Exported with torch's TorchScript-based exporter (`dynamo=False`): it keeps the sigma
input's broadcast (a 1x1x1x1 sigma is expanded to the picture), which the dynamo exporter
folds away by assuming equal shapes. One self-contained file (no external data), opset 18,
dynamic batch, height and width.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from ..models.card import ModelCard, sha256_of
from ..models.ncnn_verify import bytes_per_pixel, card_overlap, openvino_bytes_per_pixel, receptive_field

OPSET = 18


def export_onnx(
    module: torch.nn.Module,
    examples: tuple[torch.Tensor, ...],
    path: Path,
    input_names: list[str],
    *,
    defaults: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write `module` as a single-file ONNX model with dynamic N, H, W on every input and the
    output ('output'). `defaults` gives inputs a value used when the caller does not feed them
    (an ONNX initializer of the same name: ONNX Runtime treats it as an optional input)."""
    axes = {name: {0: "batch", 2: "height", 3: "width"} for name in [*input_names, "output"]}
    buffer = io.BytesIO()
    module = module.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(  # a BytesIO works as the file
            module, examples, buffer, input_names=input_names, output_names=["output"],  # type: ignore[arg-type]
            dynamic_axes=axes, opset_version=OPSET, dynamo=False, external_data=False,
        )  # fmt: skip
    model = onnx.load_from_string(buffer.getvalue())
    for name, value in (defaults or {}).items():
        model.graph.initializer.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
    model.producer_name = "reelfix.training"
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(path))
    return path


def measured_card(onnx_path: Path, channels: int = 3, **fields: object) -> ModelCard:
    """A card for `onnx_path` with its sha256, and the receptive field and working memory
    per pixel measured the way tools/build_builtin_models.py measures them."""
    scale = int(fields.get("scale", 1))  # type: ignore[call-overload]
    radius, inside = receptive_field(onnx_path, scale, channels)
    if not inside:
        raise RuntimeError(f"{onnx_path.name}: receptive field reaches the probe's edge ({radius} px); use a bigger probe")
    _, bpp = bytes_per_pixel(onnx_path, channels=channels)
    return ModelCard.model_validate(
        {
            "file": onnx_path.name,
            "channels": channels,
            "receptive_field": card_overlap(radius),
            "bytes_per_pixel": bpp,
            "bytes_per_pixel_openvino": openvino_bytes_per_pixel(onnx_path, channels=channels),
            "sha256": sha256_of(onnx_path),
            **fields,
        }
    )
