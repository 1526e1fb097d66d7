"""The job: what to read, what to run, where to write. Data only, validated strictly.

The same job runs from the CLI, Nuke, Resolve or a farm task with the same result.
Unknown keys are errors that name the key and the file.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import JobError

DEVICES = ("auto", "cpu", "cuda", "tensorrt", "dml", "coreml")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def parse_memory(value: str | int) -> int:
    """'2GB', '512M', '1.5g' or a byte count -> bytes."""
    if isinstance(value, int):
        return value
    m = _SIZE.match(str(value))
    if not m:
        raise JobError(f"cannot read memory size {value!r}", hint="write it like 2GB, 512MB or 1.5G")
    number, unit = float(m.group(1)), m.group(2).lower()
    return int(number * 1024 ** " kmgt".index(unit or " "))


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InputSpec(_Strict):
    path: str = Field(description="image sequence (name.####.exr or name.%04d.exr), single image, or movie")
    frames: str | None = Field(None, description='frame range like "1001-1100"; default: every frame found')
    colorspace: str | None = Field(None, description="colour space of the input; default: from the file")
    cuts: list[int] = Field(default_factory=list, description="first frames of new shots: no node looks across them")
    detect_cuts: bool = Field(True, description="also find cuts from the pictures (decided per frame pair)")

    @field_validator("frames", mode="before")
    @classmethod
    def _frames_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class OutputSpec(_Strict):
    path: str = Field(description="output pattern or movie; the format comes from the extension")
    colorspace: str | None = Field(None, description="colour space to write; default: the input's (sRGB for png/jpg/8-16-bit tif from a linear or log input)")
    compression: str | None = Field(None, description="per format, e.g. zip, piz, dwaa for EXR")
    bit_depth: str | None = Field(None, description="half|float for EXR; 8|10|16|32 for the others")
    mattes: str | None = Field(None, description="EXR sequence for what repair nodes changed, one channel per node; inside the output's folder")


class NodeEntry(_Strict):
    node: str
    params: dict[str, Any] = Field(default_factory=dict)


class Job(_Strict):
    input: InputSpec
    output: OutputSpec
    pipeline: list[NodeEntry] = Field(min_length=1)
    device: Literal["auto", "cpu", "cuda", "tensorrt", "dml", "coreml"] = "auto"
    max_memory: str | int = Field("2GB", description="host memory budget for the upscaler's tiles and dustbust's bands, e.g. 2GB")

    @property
    def max_memory_bytes(self) -> int:
        return parse_memory(self.max_memory)
