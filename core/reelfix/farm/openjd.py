"""Open Job Description templates (Deadline Cloud, the ``openjd`` CLI) for a reelfix job.

``reelfix farm openjd job.yaml --chunk 10 -o farm/job.template.yaml`` writes a *job bundle*
folder: the template and, beside it, the farm job file (the job with absolute paths).

Facts about OpenJD this relies on (checked against openjd-model / openjd-sessions 0.13 and
openjd-cli 0.8, and Deadline Cloud's CHUNK[INT] reference):

* ``specificationVersion: jobtemplate-2023-09`` with ``extensions: [TASK_CHUNKING]``; a
  ``CHUNK[INT]`` task parameter needs the extension, and a step has at most one.
* ``range`` takes an integer range expression (``"1001-1005,1008-1010"``) or a job
  parameter reference (``"{{Param.Frames}}"``); ``chunks.defaultTaskCount`` takes an int or
  ``"{{Param.ChunkSize}}"`` (Deadline Cloud caps it at 150); ``rangeConstraint: CONTIGUOUS``
  makes every chunk a ``"first-last"`` string (``"15-15"`` for one frame), split at gaps in
  the range and balanced in size (10 frames in chunks of 4: 4, 3, 3, where filling gives 4, 4, 2).
  ``reelfix run --frames`` reads exactly that form. No ``targetRuntimeSeconds``: adaptive
  chunk sizes would still be contiguous, but the chunk size stays the user's choice.
* In a task, ``{{Task.Param.Frame}}`` is the chunk string; ``{{Param.X}}`` a job parameter.
  ``args`` is a list, so paths with spaces need no quoting.
* A PATH job parameter's default must be *relative*; it is joined to the template's folder
  when the job is created (an absolute default is refused: "Default paths must be
  relative"), and it may not climb out of that folder. So the farm job file lives beside
  the template and the ``JobFile`` default is its bare name: ``openjd run`` needs no
  arguments, and the value becomes an absolute path that path mapping rules apply to on
  workers. PATH with ``dataFlow: IN`` also makes Deadline Cloud's job attachments carry it.
* A STRING job parameter holds at most 1024 characters (openjd-model); a longer frame list
  is written into the task parameter's ``range`` itself.
* The executable is a STRING parameter (default: ``reelfix``, found on the workers' PATH):
  STRING parameters are never path-mapped, a PATH default could not be absolute, and
  attachments must never upload a program.
* Each task writes its own manifest (``--manifest-per-chunk``: ``NAME.reelfix.A-B.json``):
  job attachments sync each task's output folder back on its own, and one shared manifest
  would be overwritten by the last task synced.
* One failing task stops ``openjd run`` with exit code 1; the session runs the command in
  a scratch folder with the caller's environment; ``openjd_progress:`` / ``openjd_status:``
  lines on stdout are read by the runtime (``--progress openjd``).
* Path mapping rules reach a task as ``{{Session.PathMappingRulesFile}}``, a JSON file
  (``{"version": "pathmapping-1.0", "path_mapping_rules": [...]}`` or ``{}`` when there are
  none); ``reelfix run --path-mapping-rules`` applies them to every path inside the job
  (`reelfix.farm.pathmap`, no openjd package needed on the workers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import UserError
from .prepare import YAML_WIDTH, FarmJob, find_executable, prepare, range_expression, write_farm_job

SPEC_VERSION = "jobtemplate-2023-09"
STEP_NAME = "Render"
TASK_PARAM = "Frame"
MAX_CHUNK = 150  # Deadline Cloud's limit for chunks.defaultTaskCount
MAX_STRING = 1024  # the longest STRING job parameter value
GPU_DEVICES = ("cuda", "tensorrt")


def farm_job_name_for(template: Path) -> str:
    """``farm/job.template.yaml`` -> ``job.farm-job.yaml`` (kept beside the template)."""
    stem = template.name
    for suffix in (".yaml", ".yml", ".json", ".template"):
        stem = stem[: -len(suffix)] if stem.lower().endswith(suffix) else stem
    return f"{stem or 'reelfix'}.farm-job.yaml"


def build_template(
    farm: FarmJob, *, job_file: str, executable: str, chunk: int, name: str | None = None, env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The template as data. `job_file` is the farm job file's path relative to the template;
    `env`: variables set for every task (a job environment)."""
    if not 1 <= chunk <= MAX_CHUNK:
        raise UserError(f"--chunk {chunk}: a chunk holds 1 to {MAX_CHUNK} frames (Deadline Cloud's limit)")
    frames = range_expression(farm.frames)
    # A STRING parameter holds at most 1024 characters; a longer frame list (an input with many
    # gaps) goes straight into the task parameter's range, which is then not a job parameter.
    frames_param = len(frames) <= MAX_STRING
    command_args = [
        "run", "{{Param.JobFile}}", "--frames", "{{Task.Param." + TASK_PARAM + "}}", "--progress", "openjd",
        "--path-mapping-rules", "{{Session.PathMappingRulesFile}}", "--manifest-per-chunk",
    ]
    step: dict[str, Any] = {
        "name": STEP_NAME,
        "parameterSpace": {
            "taskParameterDefinitions": [
                {
                    "name": TASK_PARAM,
                    "type": "CHUNK[INT]",
                    "range": "{{Param.Frames}}" if frames_param else frames,
                    "chunks": {"defaultTaskCount": "{{Param.ChunkSize}}", "rangeConstraint": "CONTIGUOUS"},
                }
            ]
        },
        "script": {"actions": {"onRun": {"command": "{{Param.ReelfixExecutable}}", "args": command_args}}},
    }
    if farm.job.device in GPU_DEVICES:  # only hosts with a GPU take these tasks
        step["hostRequirements"] = {"amounts": [{"name": "amount.worker.gpu", "min": 1}]}
    template: dict[str, Any] = {
        "specificationVersion": SPEC_VERSION,
        "extensions": ["TASK_CHUNKING"],
        "name": _safe(name or farm.name)[:128],
        "description": _safe(f"reelfix job {farm.source.name}: {farm.job.input.path} -> {farm.job.output.path}")[:2048],
        "parameterDefinitions": [
            {
                "name": "JobFile",
                "type": "PATH",
                "objectType": "FILE",
                "dataFlow": "IN",
                "default": job_file,
                "description": "the reelfix job file the tasks run (relative: beside this template)",
            },
            {
                "name": "ReelfixExecutable",
                "type": "STRING",
                "default": executable,
                "description": "reelfix on the workers: `reelfix` on their PATH (a queue environment), or an absolute path",
            },
            *(
                [{
                    "name": "Frames",
                    "type": "STRING",
                    "default": frames,
                    "description": "frames to render (range expression); the job's input frames that exist",
                }]
                if frames_param
                else []
            ),
            {
                "name": "ChunkSize",
                "type": "INT",
                "default": chunk,
                "minValue": 1,
                "maxValue": MAX_CHUNK,
                "description": "frames per task",
            },
        ],
        "steps": [step],
    }
    if env:
        template["jobEnvironments"] = [{"name": "ReelfixEnvironment", "variables": dict(env)}]
    return template


def _safe(text: str) -> str:
    """Text for a template string field: no format-string braces, one line."""
    return " ".join(text.replace("{{", "{ {").replace("}}", "} }").split())


def validate_template(template: dict[str, Any], where: str) -> None:
    """Check the template with openjd-model when it is installed (the `farm` extra)."""
    try:
        from openjd.model import DecodeValidationError, decode_job_template
    except ImportError:
        return
    try:
        decode_job_template(template=template, supported_extensions=["TASK_CHUNKING"])
    except DecodeValidationError as exc:
        raise UserError(f"{where}: the generated template is not valid OpenJD: {exc}", hint="report this as a reelfix bug") from None


@dataclass(frozen=True)
class OpenJDFiles:
    template: Path
    job_file: Path
    farm: FarmJob
    asset_references: Path
    executable: str


def write_openjd(
    job_file: str | Path, out: str | Path, *, chunk: int = 10, executable: str | None = None, name: str | None = None,
    env: dict[str, str] | None = None,
) -> OpenJDFiles:
    """Write the template `out` and, beside it, the farm job file and ``asset_references.yaml``
    (what Deadline Cloud's job attachments carry: `reelfix.farm.bundle`)."""
    from .bundle import ASSET_REFERENCES, asset_references

    farm = prepare(job_file)
    out = Path(out)
    if out.suffix.lower() not in (".yaml", ".yml", ".json"):
        raise UserError(f"-o {out}: a template is a .yaml or .json file", hint="e.g. -o farm/job.template.yaml")
    farm_name = farm_job_name_for(out)
    exe = find_executable(executable)
    template = build_template(farm, job_file=farm_name, executable=exe, chunk=chunk, name=name, env=env)
    validate_template(template, str(out))
    written_job = write_farm_job(farm, out.parent / farm_name)
    text = json.dumps(template, indent=2) + "\n" if out.suffix.lower() == ".json" else yaml.safe_dump(template, sort_keys=False, width=200)
    references = out.parent / ASSET_REFERENCES
    try:
        out.write_text(text)
        references.write_text(yaml.safe_dump(asset_references(farm), sort_keys=False, width=YAML_WIDTH))
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror}", hint="choose a writable folder for -o") from None
    return OpenJDFiles(out.resolve(), written_job, farm, references.resolve(), exe)
