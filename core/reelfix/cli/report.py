"""`reelfix report`: the review page of a finished run from its manifest; and the `--report`
folder of `reelfix run` (the page written while the job runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .. import console
from ..errors import ProcessingError
from ..jobs.spec import Job
from .app import _execute, _guard, app

PER_SHOT_HELP = "at most this many preview frames per shot (thumbnails and wipes)"


@app.command()
def report(
    manifest: Path = typer.Argument(..., help="a run's manifest: out/<name>.reelfix.json"),
    out: Path = typer.Option(..., "--out", "-o", help="folder for index.html and its assets"),
    per_shot: int = typer.Option(60, "--per-shot", min=1, help=PER_SHOT_HELP),
    every: int = typer.Option(0, "--every", min=0, help="also read every N-th frame for the curves (0: the preview frames only)"),
    display: Optional[str] = typer.Option(None, "--display", help="OCIO display (default: sRGB - Display)"),
    view: Optional[str] = typer.Option(None, "--view", help="OCIO view (default: ACES SDR for scene-linear/log plates, un-tone-mapped for video)"),
) -> None:
    """Write a self-contained review page (before/after, curves, mattes, provenance) for a finished run."""

    def body() -> None:
        from ..report import report_from_manifest

        page = report_from_manifest(manifest, out, per_shot=per_shot, every=every, display=display, view=view)
        console.out.print(f"report: {page}", soft_wrap=True, markup=False)

    _guard(body)


def run_with_report(job: Job, frames: Optional[str], resume: bool, fail_fast: bool, label: str, progress: str, folder: Path) -> None:
    """`reelfix run --report DIR`: the page is fed frame by frame during the run, written at its end
    (also when some frames failed: the page names them)."""
    from ..report.live import collector_for, finish

    collector = collector_for(job, folder.resolve(), frames)
    try:
        _execute(job, frames, resume, fail_fast, label, progress, observer=collector)
    except ProcessingError:
        console.err.print(f"report: {finish(job, collector, label)}", soft_wrap=True, markup=False)
        raise
    console.err.print(f"report: {finish(job, collector, label)}", soft_wrap=True, markup=False)
