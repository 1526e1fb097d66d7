"""Adopt a user's ONNX model: probe what it does, copy it into the user's model folder, write its card.

The model is run on a small input and on an odd-sized one to find its scale and channel
count; models whose output is not an image (rank 4, same channels, the same integer scale
on both axes and both sizes) are refused. Dynamic height/width is required, except for a
square fixed size, which becomes the card's `multiple_of` (the runtime then feeds tiles of
exactly that size).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from .card import ModelCard, sha256_of, write_card
from .catalog import user_model_dir
from .ncnn_verify import bytes_per_pixel, card_overlap, openvino_bytes_per_pixel, ort_session, receptive_field

DEFAULT_LICENCE = "unspecified (adopted by the user)"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_PROBE_SIZES = ((32, 32), (23, 37))  # a small input and an odd-sized, non-square one


@dataclass
class AdoptReport:
    card: ModelCard
    onnx_path: Path
    checks: list[str]


def _dim(d: Any) -> int | None:
    return d if isinstance(d, int) and d > 0 else None


def _probe(session: Any, path: Path, channels: int, size: tuple[int, int], dtype: Any) -> tuple[int, int]:
    """(output channels, scale) of one run; refuses non-image outputs."""
    inp = session.get_inputs()[0]
    x = np.random.default_rng(0).random((1, channels, *size), dtype=np.float32).astype(dtype)
    try:
        outputs = session.run(None, {inp.name: x})
    except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types
        raise ModelError(f"{path}: the model fails on a 1x{channels}x{size[0]}x{size[1]} input: {exc}") from None
    y = np.asarray(outputs[0])
    if y.ndim != 4 or y.shape[0] != 1:
        raise ModelError(
            f"{path}: output '{session.get_outputs()[0].name}' has shape {tuple(y.shape)} for a 1x{channels}x{size[0]}x{size[1]} "
            "input; reelfix needs an image output (1 x C x H*scale x W*scale)",
            hint="only image-to-image models can be adopted",
        )
    c, h, w = y.shape[1:]
    if h % size[0] or w % size[1] or h // size[0] != w // size[1] or h < size[0]:
        raise ModelError(
            f"{path}: output {h}x{w} for a {size[0]}x{size[1]} input is not the same integer scale on both axes",
            hint="only image-to-image models with an integer scale (1, 2, 3, 4, ...) can be adopted",
        )
    if c != channels:
        raise ModelError(f"{path}: the output has {c} channels but the input {channels}; reelfix needs the same count in and out")
    if not np.isfinite(y.astype(np.float32)).all():
        raise ModelError(f"{path}: the output on a random input holds NaN or infinity")
    return c, h // size[0]


def install_target(name: str, dest: Path | None = None, force: bool = False) -> Path:
    """Where NAME.onnx goes (the user's model folder by default); refuses a bad name, or an
    installed model of that name without `force`. Checked before any slow work."""
    if not _NAME.match(name):
        raise ModelError(f"invalid model name {name!r}", hint="use letters, digits, '.', '-' and '_' (e.g. my-model-x2)")
    target = (dest or user_model_dir()) / f"{name}.onnx"
    if target.exists() and not force:
        raise ModelError(f"a model named '{name}' is already installed ({target})", hint="choose another --name or pass --force")
    return target


DEFAULT_BYTES_PER_PIXEL = 2048  # the estimate when the working memory cannot be measured (fixed-size models)


def _working_memory(source: Path, channels: int, multiple_of: int) -> tuple[int, int | None, str]:
    """(card bytes_per_pixel, bytes_per_pixel_openvino, what was done): measured like the built-in
    models (peak RSS growth of a fresh session on a 512x512 input, +15%; on OpenVINO too where it is
    installed), so tiles are as large as the memory budget allows on the runtime that runs them."""
    if multiple_of != 1:
        return DEFAULT_BYTES_PER_PIXEL, None, f"bytes_per_pixel {DEFAULT_BYTES_PER_PIXEL}: the default estimate (fixed-size model, not measured)"
    try:
        measured, bpp = bytes_per_pixel(source, channels=channels)
    except ModelError as exc:
        return DEFAULT_BYTES_PER_PIXEL, None, f"bytes_per_pixel {DEFAULT_BYTES_PER_PIXEL}: the default estimate ({exc})"
    ov = openvino_bytes_per_pixel(source, channels=channels)
    on_ov = f" (OpenVINO: {ov})" if ov else ""
    return bpp, ov, f"bytes_per_pixel {bpp}{on_ov}: measured {measured:.0f} bytes per input pixel on 512x512, +15%"


def adopt_onnx(
    source: Path,
    name: str,
    *,
    colorspace: str = "srgb_tx",
    licence: str = DEFAULT_LICENCE,
    task: str = "upscale",
    dest: Path | None = None,
    force: bool = False,
    card_fields: Mapping[str, Any] | None = None,
) -> AdoptReport:
    """Probe `source`, copy it to the user's model folder as NAME.onnx and write NAME.card.json.

    `card_fields` replace the card's defaults (a converter passes what it knows better: the
    architecture, source, measured bytes_per_pixel, notes)."""
    source = Path(source).expanduser()
    install_target(name, dest, force)
    if not source.is_file():
        raise ModelError(f"model file not found: {source}")
    if source.suffix.lower() != ".onnx":
        raise ModelError(f"{source} is not an .onnx file", hint="convert .pth models first; `models convert` adopts ONNX files")
    try:
        session = ort_session(source)
    except Exception as exc:  # noqa: BLE001
        raise ModelError(f"{source} cannot be loaded by ONNX Runtime: {str(exc).splitlines()[0]}", hint="is it a valid ONNX model?") from None
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1:
        raise ModelError(f"{source}: the model has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); reelfix feeds one image")
    if len(outputs) != 1:
        raise ModelError(f"{source}: the model has {len(outputs)} outputs ({', '.join(o.name for o in outputs)}); reelfix needs one image output")
    inp = inputs[0]
    if inp.type not in ("tensor(float)", "tensor(float16)"):
        raise ModelError(f"{source}: input '{inp.name}' is {inp.type}; reelfix feeds float32 or float16 images")
    if len(inp.shape) != 4:
        raise ModelError(f"{source}: input '{inp.name}' has rank {len(inp.shape)} ({inp.shape}); reelfix needs N x C x H x W")
    if len(outputs[0].shape or []) not in (0, 4):
        raise ModelError(f"{source}: output '{outputs[0].name}' has rank {len(outputs[0].shape)} ({outputs[0].shape}); it is not an image")
    dtype = np.float16 if inp.type == "tensor(float16)" else np.float32
    channels = _dim(inp.shape[1]) or 3
    hw = [_dim(d) for d in inp.shape[2:]]
    checks: list[str] = []
    if hw[0] or hw[1]:
        if not (hw[0] and hw[1] and hw[0] == hw[1]):
            raise ModelError(
                f"{source}: input '{inp.name}' has a fixed size {inp.shape[2]}x{inp.shape[3]}; reelfix needs dynamic H and W "
                "(or a square fixed size)",
                hint="re-export the model with dynamic height/width axes",
            )
        sizes: tuple[tuple[int, int], ...] = ((hw[0], hw[0]),)
        multiple_of = hw[0]
        checks.append(f"fixed input size {multiple_of}x{multiple_of}: tiles will be exactly that size (multiple_of={multiple_of})")
    else:
        sizes, multiple_of = _PROBE_SIZES, 1
        checks.append("dynamic height and width")
    scales = set()
    for size in sizes:
        c, s = _probe(session, source, channels, size, dtype)
        scales.add(s)
        checks.append(f"{size[0]}x{size[1]} input -> {c} x {size[0] * s}x{size[1] * s}")
    if len(scales) != 1:
        raise ModelError(f"{source}: the scale differs between input sizes ({sorted(scales)}); it is not a fixed-scale image model")
    scale = scales.pop()
    target = install_target(name, dest, force)
    dest = target.parent
    if multiple_of == 1:
        radius, inside = receptive_field(source, scale, channels, size=64)
        overlap = card_overlap(radius) if inside else 64
        checks.append(f"receptive field: {radius} px{'' if inside else ' (reaches the probe edge: conservative 64)'} -> card {overlap}")
    else:
        overlap = 0  # fixed-size tiles: no measurement possible beyond the tile
    bpp, bpp_ov, bpp_note = _working_memory(source, channels, multiple_of)
    checks.append(bpp_note)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    card = ModelCard(
        name=name, file=target.name, task=task, scale=scale, channels=channels,  # type: ignore[arg-type]
        input_name=inp.name, output_name=outputs[0].name, colorspace=colorspace, multiple_of=multiple_of,
        receptive_field=overlap, bytes_per_pixel=bpp, bytes_per_pixel_openvino=bpp_ov, licence=licence, source=f"adopted from {source.resolve()}", sha256=sha256_of(target),
        notes=f"Adopted with `reelfix models convert`: scale and channels probed by running the model; {bpp_note}; "
        "input range assumed 0..1.",
    )  # fmt: skip
    if card_fields:
        card = ModelCard.model_validate({**card.model_dump(), **card_fields})
    write_card(card, dest)
    return AdoptReport(card, target, checks)
