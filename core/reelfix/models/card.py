"""A model card: the I/O contract of one ONNX model, stored as JSON beside it (`NAME.card.json`).

The card, not code branches, tells the runtime how to feed a model: its scale, channel
count, input range and colour space, size constraints, and how much context a tile needs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ModelError

CARD_SUFFIX = ".card.json"


class ModelCard(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="catalog name, e.g. 'span-x2'")
    file: str = Field(description="ONNX file name, relative to the card's folder")
    task: Literal["upscale", "denoise", "restore"] = "upscale"
    scale: int = Field(1, ge=1, le=16)
    channels: int = Field(3, description="colour channels in and out (alpha never goes to a model)")
    input_name: str = "input"
    output_name: str = "output"
    input_range: tuple[float, float] = (0.0, 1.0)
    colorspace: str = Field(
        "srgb_tx", description="colour space the model was trained in (name in the pinned OCIO config)"
    )
    multiple_of: int = Field(1, ge=1, description="input height/width must be a multiple of this")
    receptive_field: int = Field(
        16, ge=0, description="pixels of context each side needed for an exact result; tiles overlap by at least this"
    )
    bytes_per_pixel: int = Field(
        2048, ge=1, description="peak working memory per input pixel during inference (measured), for tile sizing"
    )
    bytes_per_pixel_openvino: int | None = Field(
        None,
        ge=1,
        description="the same on OpenVINO's CPU runtime (measured; it reuses buffers: SPAN takes two thirds); none: bytes_per_pixel",
    )
    fp16_safe: bool = False
    precision: Literal["fp32", "fp16", "int8"] = "fp32"
    architecture: str = Field("", description="network family, e.g. 'SPAN', 'RRDBNet' (as spandrel names it)")
    noise_input: str | None = Field(
        None, description="name of a second input taking the noise level (N x 1 x H x W, same scale as the pixels)"
    )
    variant_of: str | None = Field(None, description="the fp32 model this precision variant was made from")
    providers: tuple[str, ...] = Field(
        (), description="execution providers this variant is meant for (empty: any); the runtime picks by provider"
    )
    quality: dict[str, float] = Field(
        default_factory=dict, description="measured figures, e.g. psnr_delta_db and speed_vs_fp32 against variant_of"
    )
    licence: str
    source: str = Field(description="where the weights come from (package, version, file)")
    authors: str = ""
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    notes: str = ""

    def __hash__(self) -> int:  # cards key session caches; `quality` is a dict, so hash the identity
        return hash((self.name, self.file, self.sha256))

    @property
    def overlap(self) -> int:
        return self.receptive_field

    def bytes_per_pixel_for(self, provider: str) -> int:
        """Working memory per input pixel on the runtime that runs the model (`provider`, as a
        session names it: OpenVINO's is 'OpenVINO:CPU')."""
        if provider.startswith("OpenVINO") and self.bytes_per_pixel_openvino:
            return self.bytes_per_pixel_openvino
        return self.bytes_per_pixel


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_CARDS: dict[tuple[str, bytes], ModelCard] = {}  # (path, its bytes) -> the card read from them
_CARDS_MAX = 256


def load_card(path: Path) -> ModelCard:
    """Read a card; errors name the file and the offending key. Cards are frozen and kept per
    process by path and content (a catalog lookup validates every card, and a job looks models
    up several times; reading the small file is what stays), so a changed card is read again
    even within the file system's timestamp resolution."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ModelError(f"model card not found: {path}") from None
    except OSError as exc:
        raise ModelError(f"model card {path} is not valid JSON: {exc}", hint="fix or regenerate the card") from None
    key = (str(path), raw)
    card = _CARDS.get(key)
    if card is None:
        card = _parse_card(path, raw)
        if len(_CARDS) >= _CARDS_MAX:
            _CARDS.clear()
        _CARDS[key] = card
    return card


def _parse_card(path: Path, raw: bytes) -> ModelCard:
    try:
        data = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise ModelError(f"model card {path} is not valid JSON: {exc}", hint="fix or regenerate the card") from None
    try:
        return ModelCard.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(card)'}: {err['msg']}" for err in exc.errors()
        )
        raise ModelError(f"model card {path} is invalid: {problems}") from None


def write_card(card: ModelCard, folder: Path) -> Path:
    path = Path(folder) / f"{card.name}{CARD_SUFFIX}"
    path.write_text(json.dumps(card.model_dump(mode="json"), indent=2) + "\n")
    return path
