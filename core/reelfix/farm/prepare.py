"""What every farm format needs from a job: the job checked for farm use, its frames, the
job file the workers run, and the reelfix executable they call.

A farm task runs ``reelfix run JOB --frames A-B``: it writes frames A..B and reads their
temporal neighbours from the whole input range, so chunks of one job give the same frames,
bit for bit, as one local run. For that the farm job must:

* name every path absolutely (tasks run in a scratch folder on another machine): the farm
  job file is the job re-written with absolute paths (relative ones taken from the job
  file's folder, as ``reelfix run`` does), node parameters naming files (models) included,
  each checked to exist with its model card (`reelfix.farm.paths`);
* write an image sequence, never a movie (a movie is written whole by one process);
* not write over its own input (a task would read neighbours another task replaced);
* keep its frames inside its output folder (no ``..`` after a named folder in the output
  path): ``job files cannot write outside their output folder``;
* chunk over the frames that exist: a task asked for a missing input frame fails, so the
  farm frame list is the job's range (or every frame found) less the frames not on disk.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import yaml

from ..errors import JobError, UserError
from ..frames.sequence import SequencePattern
from ..frames.source import is_movie, open_source
from ..jobs.load import load_job
from ..jobs.spec import Job
from ..pipeline import input_frames
from .paths import model_files, node_paths, with_paths

YAML_WIDTH = 1 << 20  # never fold a long path over two lines (Deadline maps the file's text line by line)
FARM_JOB_HEADER = (
    "# reelfix farm job: written by `reelfix farm`, every path absolute.\n"
    "# Each farm task runs: reelfix run THIS_FILE --frames A-B\n"
)


@dataclass(frozen=True)
class FarmJob:
    """A job checked for the farm, with the frames its tasks will write."""

    source: Path
    job: Job
    frames: list[int]
    missing: list[int] = field(default_factory=list)

    @property
    def name(self) -> str:
        """A short label for farm monitors: the output's name without the frame number."""
        base = Path(self.job.output.path).name
        stem = base.split("#")[0].split("%")[0].rstrip("._-") if SequencePattern.parse(base).is_sequence else Path(base).stem
        return f"reelfix {stem or self.source.stem}"

    def runs(self) -> list[tuple[int, int]]:
        """The frames as contiguous (first, last) runs."""
        return contiguous_runs(self.frames)


def contiguous_runs(frames: list[int]) -> list[tuple[int, int]]:
    """``[1, 2, 3, 7, 8]`` -> ``[(1, 3), (7, 8)]``."""
    runs: list[tuple[int, int]] = []
    for n in sorted(set(frames)):
        if runs and n == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    return runs


def range_expression(frames: list[int]) -> str:
    """Frames as a range expression both OpenJD and Deadline read: ``"1001-1005,1008,1010-1012"``."""
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in contiguous_runs(frames))


def prepare(job_file: str | Path) -> FarmJob:
    """Load a job with the normal loader (unknown keys are refused) and check it for farm use."""
    path = Path(job_file)
    job = _absolute_node_files(path, load_job(path))
    raw_output = _raw_output_path(path)
    _check_output(path, job, raw_output)
    frames, missing = _frames(path, job)
    return FarmJob(path.resolve(), job, frames, missing)


def _absolute_node_files(path: Path, job: Job) -> Job:
    """Node parameters naming files made absolute from the job file's folder; each file (and a
    model's card) must exist, or every task would fail with ``model file not found``."""
    folder = path.resolve().parent

    def absolute(value: str) -> str:
        q = Path(value).expanduser()
        return value if q.is_absolute() else str((folder / q).resolve())

    job = with_paths(job, absolute)
    for i, name, value in node_paths(job):
        for needed in model_files(value) if value.lower().endswith(".onnx") else [Path(value)]:
            if not needed.is_file():
                raise JobError(
                    f"{path}: pipeline[{i}] ({job.pipeline[i].node}) {name}: {needed} not found",
                    hint="fix the path (relative paths are taken from the job file's folder)"
                    + ("; a model needs its card beside it (`reelfix models convert`)" if needed.name.endswith(".card.json") else ""),
                )
    return job


def _raw_output_path(path: Path) -> str:
    """output.path exactly as the job file writes it (the loader already validated the file)."""
    text = path.read_text()
    data: Any = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    return str(data["output"]["path"])


def _climbs_out(raw: str) -> str | None:
    """The named folder that a ``..`` after it leaves, if any (``renders/../../x`` -> ``renders``).
    Leading ``..`` only say where the folder is (``../renders/A.####.exr`` is fine)."""
    windows = "\\" in raw or (len(raw) > 1 and raw[1] == ":")
    path = PureWindowsPath(raw) if windows else PurePosixPath(raw)
    named: list[str] = []
    for part in path.parent.parts[1 if path.anchor else 0 :]:
        if part == ".." and named:
            return named[-1]
        if part not in ("..", "."):
            named.append(part)
    return None


def _check_output(path: Path, job: Job, raw_output: str) -> None:
    out = job.output.path
    if is_movie(out):
        raise JobError(
            f"{path}: output {out} is a movie; farm tasks write frames of an image sequence",
            hint="write an image sequence (e.g. out/A001.####.exr) on the farm and make the movie from it afterwards",
        )
    pattern = SequencePattern.parse(out)
    if not pattern.is_sequence:
        raise JobError(
            f"{path}: output {out} names a single file; farm tasks each write their own frames",
            hint="put the frame number in the output name: e.g. out/A001.####.exr",
        )
    left = _climbs_out(raw_output)
    if left is not None:
        raise JobError(
            f"{path}: output {raw_output!r}: job files cannot write outside their output folder "
            f"('..' leaves '{left}')",
            hint=f"name the output folder directly: {os.path.normpath(out)}",
        )
    if _same_files(pattern, SequencePattern.parse(job.input.path)):
        raise JobError(
            f"{path}: the output {out} is the input; farm tasks would read neighbours other tasks already replaced",
            hint="write to another folder or file name",
        )


def _same_files(a: SequencePattern, b: SequencePattern) -> bool:
    """Whether two patterns name the same files (``A.####.exr`` and ``A.%04d.exr`` do)."""
    def key(p: SequencePattern) -> tuple[object, ...]:
        return (p.is_sequence, os.path.normcase(os.path.normpath(p.directory or ".")), p.prefix, p.suffix, p.padding)

    return key(a) == key(b)


def _frames(path: Path, job: Job) -> tuple[list[int], list[int]]:
    source = open_source(job.input.path, job.input.colorspace)
    try:
        requested, frames = input_frames(job, source, f"{path}: input")
    finally:
        source.close()
    found = set(frames)
    return frames, [n for n in requested if n not in found]


def farm_job_data(farm: FarmJob) -> dict[str, Any]:
    """The job as the farm runs it: every path absolute, nothing else changed."""
    return farm.job.model_dump(mode="json", exclude_none=True)


def write_farm_job(farm: FarmJob, dest: Path) -> Path:
    """Write the farm job file (YAML, absolute paths) and check it loads back as the same job."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.resolve() == farm.source:
        raise UserError(f"{dest} is the job file itself", hint="write the farm files to another folder or name")
    dest.write_text(FARM_JOB_HEADER + yaml.safe_dump(farm_job_data(farm), sort_keys=False, allow_unicode=True, width=YAML_WIDTH))
    if load_job(dest) != farm.job:
        raise JobError(f"{dest}: the farm job does not load back as {farm.source}", hint="report this as a reelfix bug")
    return dest.resolve()


def parse_env(items: list[str] | None) -> dict[str, str]:
    """``--env KEY=VALUE`` options -> {KEY: VALUE} (worker environment, e.g. REELFIX_MODEL_PATH)."""
    env: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise UserError(f"--env {item!r}: write it as NAME=VALUE (a letter or _ first, then letters, digits, _)")
        if any(c in value for c in "\r\n") or "{{" in value:
            raise UserError(f"--env {key}: the value cannot hold a line break or '{{{{'")
        env[key] = value
    return env


DEFAULT_EXECUTABLE = "reelfix"  # on the workers' PATH (a queue environment or the worker service sets it up)


def find_executable(explicit: str | None = None) -> str:
    """The reelfix executable tasks call: `explicit`, else ``reelfix`` found on the workers' PATH.
    Never this machine's venv path: workers run other machines and operating systems, and the
    executable is a plain string that no path mapping touches."""
    return explicit.strip() if explicit and explicit.strip() else DEFAULT_EXECUTABLE


def home_folder_warning(executable: str) -> str | None:
    """A warning when the executable lies under a home folder (this user's, or any
    ``/home/NAME``, ``/Users/NAME``, ``C:\\Users\\NAME``): render nodes rarely have it."""
    text = executable.replace("\\", "/")
    home = str(Path.home()).replace("\\", "/").rstrip("/")
    lowered = text.lower()
    under_home = (bool(home) and home != "/" and (text == home or text.startswith(home + "/"))) or any(
        lowered.startswith(prefix) for prefix in ("/home/", "/users/", "/root/")
    ) or (len(lowered) > 2 and lowered[1:3] == ":/" and lowered[3:].startswith("users/"))
    if not under_home:
        return None
    return (
        f"the executable {executable} is under a home folder, which render nodes rarely have: "
        "install reelfix on the workers and leave --executable out (tasks then call `reelfix` on their PATH)"
    )
