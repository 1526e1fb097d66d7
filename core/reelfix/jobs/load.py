"""Reading a job file (YAML or JSON) into a validated `Job`, with messages a person can act on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import JobError
from ..nodes import get_node
from .spec import Job, parse_memory


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def explain(exc: ValidationError, source: str) -> JobError:
    """Turn pydantic's errors into one readable message naming the file and each bad key."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            parent = _where(loc[:-1])
            lines.append(f"unknown key '{loc[-1]}' in {parent}")
        elif err["type"] == "missing":
            lines.append(f"missing key '{_where(loc)}'")
        else:
            lines.append(f"{_where(loc)}: {err['msg']}")
    return JobError(f"{source}: " + "; ".join(lines), hint="see the job format in the README (`reelfix nodes` lists node parameters)")


def job_from_data(data: Any, source: str) -> Job:
    """Validate a job dict (also used by the CLI and host adapters). Node names and
    parameters are checked against each node's declaration, with defaults filled in."""
    if not isinstance(data, dict):
        raise JobError(f"{source}: a job must be a mapping with input, output and pipeline keys")
    try:
        job = Job.model_validate(data)
    except ValidationError as exc:
        raise explain(exc, source) from None
    parse_memory(job.max_memory)
    for i, entry in enumerate(job.pipeline):
        get_node(entry.node, f"{source}: pipeline[{i}]").validate(entry.params, f"{source}: pipeline[{i}] ({entry.node})")
    return job


def read_data_file(path: str | Path, kind: str) -> Any:
    """Parse a YAML (or .json) file; errors name the file and say what kind of file it is."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise JobError(f"{kind} file not found: {path}") from None
    except OSError as exc:
        raise JobError(f"cannot read {kind} file {path}: {exc.strerror}") from None
    is_json = path.suffix.lower() == ".json"
    try:
        return json.loads(text) if is_json else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise JobError(f"{path}: not valid {'JSON' if is_json else 'YAML'}: {exc}") from None


def load_job(path: str | Path) -> Job:
    """Load a .yaml/.yml/.json job. Relative paths inside are relative to the job file's folder."""
    path = Path(path)
    job = job_from_data(read_data_file(path, "job"), str(path))
    return rebase(job, path.parent)


def rebase(job: Job, folder: Path) -> Job:
    """Make the input/output paths absolute, relative ones taken from `folder`; so are node
    parameters naming a file by a relative path (``model: ../models/x.onnx``) that exists there."""

    def absolute(p: str) -> str:
        q = Path(p).expanduser()
        return str(q if q.is_absolute() else (folder / q).resolve())

    def node_file(value: Any) -> Any:
        if not (isinstance(value, str) and (value.lower().endswith(".onnx") or "/" in value or "\\" in value)):
            return value
        q = Path(value).expanduser()
        return str((folder / q).resolve()) if not q.is_absolute() and (folder / q).is_file() else value

    return job.model_copy(
        update={
            "input": job.input.model_copy(update={"path": absolute(job.input.path)}),
            "output": job.output.model_copy(
                update={"path": absolute(job.output.path), "mattes": absolute(job.output.mattes) if job.output.mattes else None}
            ),
            "pipeline": [e.model_copy(update={"params": {k: node_file(v) for k, v in e.params.items()}}) for e in job.pipeline],
        }
    )
