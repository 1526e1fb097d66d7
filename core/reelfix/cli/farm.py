"""`reelfix farm openjd|deadline`: render-farm job files for a job (see docs/farm.md)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import List, Optional

import typer

from .. import console
from .app import _guard, app
from ..frames.sequence import find_gaps, format_ranges

farm_app = typer.Typer(no_args_is_help=True, help="Render-farm jobs: Open Job Description (Deadline Cloud) and Deadline 10.")
app.add_typer(farm_app, name="farm")

CHUNK_HELP = "frames per task"
EXE_HELP = "reelfix on the workers (default: `reelfix`, found on the workers' PATH)"
ENV_HELP = "KEY=VALUE set for every task (repeat), e.g. REELFIX_MODEL_PATH=/mnt/models"


def _say(text: str) -> None:
    console.out.print(text, markup=False, soft_wrap=True)


def _warn_executable(executable: str) -> None:
    from ..farm.prepare import home_folder_warning

    warning = home_folder_warning(executable)
    if warning:
        console.warning(warning)


def _report_frames(frames: list[int], missing: list[int]) -> None:
    """The frames the farm renders, and every frame left out: asked for by input.frames and
    absent, or a gap between frames found."""
    _say(f"frames: {format_ranges(frames)} ({len(frames)})")
    gaps = [n for a, b in find_gaps(frames) for n in range(a, b + 1)]
    absent = sorted(set(missing) | set(gaps))
    if absent:
        console.warning(f"input frames {format_ranges(absent)} do not exist: the farm job leaves them out")


@farm_app.command("openjd")
def openjd_cmd(
    job_file: Path = typer.Argument(..., help="job file (.yaml/.yml/.json)"),
    chunk: int = typer.Option(10, "--chunk", "-c", help=CHUNK_HELP),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="template to write (default: JOB.template.yaml beside the job)"),
    executable: Optional[str] = typer.Option(None, "--executable", help=EXE_HELP),
    name: Optional[str] = typer.Option(None, "--name", help="job name shown by the farm"),
    env: Optional[List[str]] = typer.Option(None, "--env", help=ENV_HELP),
) -> None:
    """Open Job Description template (Deadline Cloud, `openjd run`) with chunked frames."""
    from ..farm.openjd import STEP_NAME, write_openjd
    from ..farm.prepare import parse_env

    def body() -> None:
        out = output or job_file.with_name(f"{job_file.stem}.template.yaml")
        files = write_openjd(job_file, out, chunk=chunk, executable=executable, name=name, env=parse_env(env))
        _say(f"wrote {files.template}\n  and {files.job_file} (the job the tasks run, absolute paths)")
        _say(f"  and {files.asset_references} (files Deadline Cloud's job attachments carry)")
        _warn_executable(files.executable)
        _report_frames(files.farm.frames, files.farm.missing)
        _say(f"run it here: openjd run {shlex.quote(str(files.template))} --step {STEP_NAME}")
        if files.template.name in ("template.yaml", "template.json"):
            _say(f"Deadline Cloud: deadline bundle submit {shlex.quote(str(files.template.parent))}")
        else:
            _say("Deadline Cloud: write the template as template.yaml in its own folder to submit that folder as a job bundle")

    _guard(body)


@farm_app.command("deadline")
def deadline_cmd(
    job_file: Path = typer.Argument(..., help="job file (.yaml/.yml/.json)"),
    chunk: int = typer.Option(10, "--chunk", "-c", help=CHUNK_HELP),
    output: Path = typer.Option(Path("deadline"), "--output", "-o", help="folder for the Deadline files"),
    executable: Optional[str] = typer.Option(None, "--executable", help=EXE_HELP),
    name: Optional[str] = typer.Option(None, "--name", help="job name shown in the Deadline Monitor"),
    pool: Optional[str] = typer.Option(None, "--pool", help="Deadline pool"),
    group: Optional[str] = typer.Option(None, "--group", help="Deadline group"),
    priority: Optional[int] = typer.Option(None, "--priority", help="Deadline priority (0-100)"),
    submit: bool = typer.Option(False, "--submit", help="submit with deadlinecommand now"),
    deadlinecommand: Optional[str] = typer.Option(None, "--deadlinecommand", help="path of deadlinecommand (default: $DEADLINE_PATH or PATH)"),
    plugin: str = typer.Option("reelfix", "--plugin", help="reelfix (the Reelfix plugin: installers/install.py deadline) or commandline (stock)"),
    env: Optional[List[str]] = typer.Option(None, "--env", help=ENV_HELP),
) -> None:
    """Deadline 10 job (the Reelfix plugin, or the stock CommandLine plugin): job info, plugin info, submit scripts."""
    from ..farm import deadline
    from ..farm.openjd import GPU_DEVICES
    from ..farm.prepare import parse_env

    def body() -> None:
        files = deadline.write_deadline(
            job_file, output, chunk=chunk, executable=executable, name=name, pool=pool, group=group, priority=priority,
            plugin=plugin, env=parse_env(env),
        )
        _say(f"wrote {files.folder}: {', '.join(p.name for p in files.job_infos)}, {files.plugin_info.name}, submit.sh, submit.bat")
        _say(f"  and {files.job_file} (the job the tasks run, absolute paths)")
        if executable:
            _warn_executable(executable)
        if files.farm.job.device in GPU_DEVICES and not (group or pool):
            console.warning(f"the job runs on {files.farm.job.device}: pass --group (or --pool) naming your GPU workers, "
                            "or Deadline may send tasks to workers without a GPU")
        _report_frames(files.farm.frames, files.farm.missing)
        if len(files.farm.runs()) > deadline.MAX_JOBS:
            console.warning(f"{len(files.farm.runs())} separate runs of frames: one job with one frame per task (ChunkSize=1)")
        if submit:
            for text in deadline.submit(files, deadlinecommand):
                _say(text)
        else:
            _say(f"submit: sh {shlex.quote(str(files.folder / 'submit.sh'))}  (Windows: \"{files.folder / 'submit.bat'}\")")

    _guard(body)
