"""The one typer app every `reelfix` sub-command module registers on, and what they share:
the error guard (a message and an exit code, never a traceback) and running a job with progress."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any, Callable, Optional

import typer

from .. import __version__, console
from ..errors import JobError, ProcessingError, ReelfixError
from ..jobs.spec import Job
from ..optional import missing_extra

app = typer.Typer(add_completion=False, no_args_is_help=True, help="reelfix: colour-managed film restoration.")
models_app = typer.Typer(no_args_is_help=True, help="Model cards and the model catalog.")
app.add_typer(models_app, name="models")


def _guard(fn: Callable[[], Any]) -> Any:
    """Run a command body: reelfix errors become a message and an exit code, never a traceback."""
    try:
        return fn()
    except ReelfixError as exc:
        console.error(exc)
        raise typer.Exit(exc.exit_code) from None
    except ImportError as exc:  # an optional package: one line naming the extra; anything else is a bug
        missing = missing_extra(exc)
        if missing is None:
            raise
        console.error(missing)
        raise typer.Exit(missing.exit_code) from None
    except KeyboardInterrupt:
        console.err.print("interrupted: finished frames are kept; run the same command again to resume")
        raise typer.Exit(130) from None


def _version(value: bool) -> None:
    if value:
        console.out.print(f"reelfix {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="print the version and exit"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="log details"),
) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.ERROR, format="%(levelname)s %(name)s: %(message)s")


def _execute(
    job: Job, frames: Optional[str], resume: bool, fail_fast: bool, label: str, progress_style: str = "auto", observer: Any = None,
    manifest_per_chunk: bool = False,
) -> None:
    from ..pipeline import run_job

    if progress_style not in console.PROGRESS_STYLES:
        raise JobError(f"--progress {progress_style}: choose one of {', '.join(console.PROGRESS_STYLES)}")
    if progress_style == "json":
        _cancel_by_sigint()
    with console.progress_reporter(label, progress_style) as progress:
        summary = run_job(job, frames=frames, resume=resume, fail_fast=fail_fast, progress=progress, warn=console.warning, observer=observer,
                          manifest_per_chunk=manifest_per_chunk)
    if progress_style == "json":
        console.summary_event(summary)
    console.print_summary(summary)
    if summary.failed:
        raise ProcessingError(f"{len(summary.failed)} frame(s) failed; the others were written", hint="fix the named inputs and rerun: finished frames are skipped")


def _cancel_by_sigint() -> None:
    """A host (`--progress json`: Nuke, Resolve) cancels with SIGINT: the core stops, keeps its finished
    frames and reports them. A process started in the background (`nohup`, `&` in a script, as a
    render wrapper may start Nuke) hands its children SIGINT ignored (and may block it), and an
    ignored SIGINT left Cancel to the host's SIGTERM after its grace period, with finished frames
    unreported: here Python's own handler is put back and the signal unblocked."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if hasattr(signal, "pthread_sigmask"):  # POSIX
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


FRAMES_HELP = 'frames to write, e.g. "1001-1100" (neighbours still come from the whole input range)'


