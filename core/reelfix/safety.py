"""Never write over a source: a job whose output could land on one of its input files is refused
before anything is written.

What a job writes: its output frames (or movie), its mattes, its manifest and the analysis
folder beside them. What it must never touch: every file its input names that exists now
(each frame of a sequence, the image, the movie). A collision is found by identity, not by
spelling: each path the job would write is compared by device and inode with the input files,
so the same file reached through a symlink, `..`, a hard link, another pattern spelling
(`####`, `%04d`, `#`) or a case-insensitive file system is caught. Output frames are the frame
numbers the input has, named by the output pattern - exactly the paths the pipeline writes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

from .analysis_store import FOLDER
from .errors import JobError
from .frames.sequence import SequencePattern
from .frames.source import is_movie
from .jobs.manifest import manifest_path
from .jobs.spec import Job

HINT = "write the output to another folder or name: reelfix never writes over the files it reads"


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino)


def input_files(path: str) -> list[tuple[int | None, str]]:
    """(frame number, file) for each file the input names that exists now (number None for a movie)."""
    if is_movie(path):
        return [(None, path)] if os.path.exists(path) else []
    pattern = SequencePattern.parse(path)
    if not pattern.is_sequence:
        return [(pattern.single_number, path)] if os.path.exists(path) else []
    return [(n, pattern.path_for(n)) for n in pattern.scan()]


def _written(job: Job, numbers: list[int]) -> Iterator[tuple[str, str, str]]:
    """(what, its path in the job, one concrete path the job would write)."""
    for what, text in (("output", job.output.path), ("mattes", job.output.mattes)):
        if not text:
            continue
        pattern = SequencePattern.parse(text)
        if is_movie(text) or not pattern.is_sequence:
            yield what, text, text
        else:
            for n in numbers:
                yield what, text, pattern.path_for(n)
    manifest = str(manifest_path(job.output.path))
    yield "manifest", manifest, manifest


def _inside(path: str, folder: str) -> bool:
    real, top = os.path.realpath(path), os.path.realpath(folder)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


def check_output_folder(job: Job) -> None:
    """JobError (exit 2) when the job would write outside its output's folder: everything it writes (frames, manifest,
    analysis folder, mattes) lies in the folder of `output.path` or below it, so a job file cannot reach anywhere else."""
    if not job.output.mattes:
        return
    folder = os.path.dirname(os.path.abspath(job.output.path))
    if not _inside(os.path.dirname(os.path.abspath(job.output.mattes)), folder):
        raise JobError(
            f"mattes {job.output.mattes} lie outside the output's folder {folder}: a job writes only there",
            hint=f"put the mattes in that folder or one inside it, e.g. {os.path.join(folder, 'mattes', os.path.basename(job.output.mattes))}",
        )


def check_outputs(job: Job) -> None:
    """JobError (exit 2, naming both paths) when anything the job writes could land on an input file,
    or lie outside its output's folder (`check_output_folder`)."""
    inputs = input_files(job.input.path)
    by_id = {ident: p for _, p in inputs if (ident := _identity(p)) is not None}
    numbers = sorted({n for n, _ in inputs if n is not None})
    seen: dict[str, str] = {}
    for what, text, path in _written(job, numbers):
        ident = _identity(path)
        if ident is not None and ident in by_id:
            same = "" if os.path.abspath(path) == os.path.abspath(by_id[ident]) else f" (the same file as {path})"
            raise JobError(
                f"{what} {text} would overwrite the input {job.input.path}: {by_id[ident]} is an input file{same}",
                hint=HINT,
            )
        key = os.path.normcase(os.path.realpath(path))
        if what != "manifest" and seen.get(key, what) != what:
            raise JobError(f"mattes {job.output.mattes} would overwrite the output {job.output.path} ({path})", hint="give the mattes their own name")
        seen[key] = what
    store = os.path.realpath(manifest_path(job.output.path).parent / FOLDER)
    for _, p in inputs:
        if _inside(p, store):
            raise JobError(f"input {p} lies in {store}, the analysis folder the job writes beside its output", hint=HINT)
    check_output_folder(job)
