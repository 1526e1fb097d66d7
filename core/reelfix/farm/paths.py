"""Every path inside a job, in one place: what the farm makes absolute, maps and transfers.

A job names files in its input, output and mattes, and in node parameters that take a file
(``model: ../models/my-x2.onnx``). A parameter value is a path when it is a string naming an
``.onnx`` file or holding a path separator, the rule the model catalog uses to tell a path from
a catalog name (`reelfix.models.catalog.find_model`); a catalog name (``span-x2``) is left
alone: the workers find it in their own catalog (``REELFIX_MODEL_PATH``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

from ..jobs.spec import Job

MODEL_SUFFIX = ".onnx"


def is_path_value(value: Any) -> bool:
    """Whether a node parameter value names a file rather than a catalog entry or a setting."""
    return isinstance(value, str) and bool(value.strip()) and (
        value.lower().endswith(MODEL_SUFFIX) or "/" in value or "\\" in value
    )


def node_paths(job: Job) -> Iterator[tuple[int, str, str]]:
    """(pipeline index, parameter name, value) of every node parameter that names a file."""
    for i, entry in enumerate(job.pipeline):
        for name, value in entry.params.items():
            if is_path_value(value):
                yield i, name, value


def with_paths(job: Job, change: Callable[[str], str]) -> Job:
    """The job with `change` applied to every path in it (input, output, mattes, node files)."""
    pipeline = [
        entry.model_copy(update={"params": {k: change(v) if is_path_value(v) else v for k, v in entry.params.items()}})
        for entry in job.pipeline
    ]
    output_update: dict[str, Any] = {"path": change(job.output.path)}
    if job.output.mattes:
        output_update["mattes"] = change(job.output.mattes)
    return job.model_copy(
        update={
            "input": job.input.model_copy(update={"path": change(job.input.path)}),
            "output": job.output.model_copy(update=output_update),
            "pipeline": pipeline,
        }
    )


def model_files(path: str) -> list[Path]:
    """A model file and its card (``name.onnx`` -> ``name.card.json`` beside it)."""
    from ..models.card import CARD_SUFFIX

    onnx = Path(path)
    return [onnx, onnx.with_name(onnx.stem + CARD_SUFFIX)]
