"""The pipeline file: a job without `input`/`output`, applied to every clip of an edit.

    pipeline:                     # required: the nodes, as in a job
      - node: upscale
        params: {scale: 2}
    colorspace: ARRI LogC4        # optional: colour space of the source media (default: from the files)
    output:                       # optional: how restored frames are written
      format: exr                 #   image format (extension): exr (default), dpx, tif, png, jpg
      compression: dwaa           #   per format, as in a job
      bit_depth: half             #   as in a job
      colorspace: acescg          #   default: the input's
    device: auto                  # optional, as in a job
    max_memory: 2GB               # optional, as in a job

Unknown keys are errors naming the key and the file, like job files. The Resolve adapter
(stdlib only, no YAML) reads pipeline files through `reelfix check-pipeline FILE --json`,
which prints `PipelineFile.normalised()`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import JobError
from ..frames.sink import IMAGE_EXTENSIONS
from ..jobs.load import explain, job_from_data, read_data_file
from ..jobs.spec import Job, NodeEntry, parse_memory
from ..nodes import get_node

FORMATS = tuple(sorted({ext.lstrip(".") for ext in IMAGE_EXTENSIONS}))


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OutputOptions(_Strict):
    format: str = Field("exr", description="image format of the restored frames (file extension)")
    compression: str | None = None
    bit_depth: str | None = None
    colorspace: str | None = None

    @field_validator("format")
    @classmethod
    def _image_format(cls, value: str) -> str:
        ext = value.lower().lstrip(".")
        if ext not in FORMATS:
            raise ValueError(f"'{value}' is not an image format reelfix writes; conform writes image sequences: {', '.join(FORMATS)}")
        return ext

    @field_validator("bit_depth", mode="before")
    @classmethod
    def _bit_depth_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class PipelineFile(_Strict):
    pipeline: list[NodeEntry] = Field(min_length=1)
    colorspace: str | None = Field(None, description="colour space of the source media; default: from the files")
    output: OutputOptions = OutputOptions.model_validate({})  # frozen: one shared default is safe
    device: Literal["auto", "cpu", "cuda", "tensorrt", "dml", "coreml"] = "auto"
    max_memory: str | int = "2GB"

    def normalised(self) -> dict[str, Any]:
        """Plain data with every default filled in (what `check-pipeline --json` prints)."""
        return self.model_dump(mode="json")

    def job(self, input_path: str, frames: str, output_pattern: str) -> Job:
        """The job restoring `frames` of `input_path` into `output_pattern` with this pipeline."""
        data = {
            "input": {"path": input_path, "frames": frames, "colorspace": self.colorspace},
            "output": {
                "path": output_pattern,
                "compression": self.output.compression,
                "bit_depth": self.output.bit_depth,
                "colorspace": self.output.colorspace,
            },
            "pipeline": [e.model_dump(mode="json") for e in self.pipeline],
            "device": self.device,
            "max_memory": self.max_memory,
        }
        return job_from_data(data, f"job for {input_path}")


def pipeline_from_data(data: Any, source: str) -> PipelineFile:
    """Validate pipeline-file data; node names and parameters are checked against their
    declarations and defaults filled in."""
    if isinstance(data, list):  # a bare list of nodes is accepted as the pipeline
        data = {"pipeline": data}
    if not isinstance(data, dict):
        raise JobError(f"{source}: a pipeline file must be a mapping with a 'pipeline' key", hint="see docs/resolve.md")
    if "input" in data:
        raise JobError(
            f"{source}: unknown key 'input': a pipeline file has no input (each clip's media is the input)",
            hint="keep pipeline, colorspace, output (format, compression, bit_depth, colorspace), device, max_memory",
        )
    if isinstance(data.get("output"), dict) and "path" in data["output"]:
        raise JobError(
            f"{source}: unknown key 'path' in output: conform chooses where restored frames go (-o OUT_DIR)",
            hint="use output.format (exr, dpx, ...) to choose the format",
        )
    try:
        spec = PipelineFile.model_validate(data)
    except ValidationError as exc:
        raise explain(exc, source) from None
    parse_memory(spec.max_memory)
    entries = []
    for i, entry in enumerate(spec.pipeline):
        where = f"{source}: pipeline[{i}] ({entry.node})"
        params = get_node(entry.node, f"{source}: pipeline[{i}]").validate(entry.params, where)
        entries.append(NodeEntry(node=entry.node, params=params))
    return spec.model_copy(update={"pipeline": entries})


def load_pipeline_file(path: str | Path) -> PipelineFile:
    """Read a .yaml/.yml/.json pipeline file."""
    path = Path(path)
    data = read_data_file(path, "pipeline")
    return pipeline_from_data(data, str(path))
