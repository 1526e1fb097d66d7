"""`reelfix conform EDIT.otio -p PIPELINE -o OUT_DIR` (OTIO timeline conform) and
`reelfix check-pipeline PIPELINE [--json]` (validate a pipeline file; hosts read its JSON)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .. import console
from .app import _guard, app
from ..errors import ProcessingError


@app.command()
def conform(
    edit: Path = typer.Argument(..., help="edit to conform (.otio; Resolve 18.5+: File > Export > Timeline > OpenTimelineIO)"),
    pipeline: Path = typer.Option(..., "--pipeline", "-p", help="pipeline file (.yaml/.json): pipeline, optional colorspace and output"),
    out_dir: Path = typer.Option(..., "--out", "-o", help="folder for the restored media and <edit>.restored.otio"),
    handles: int = typer.Option(8, "--handles", min=0, help="extra frames restored before and after each clip (clamped to the media)"),
    farm: bool = typer.Option(False, "--farm", help="write farm jobs (one per source span) instead of restoring here"),
    farm_format: str = typer.Option("openjd", "--farm-format", help="openjd (template per job) | deadline (job bundle per job)"),
    chunk: int = typer.Option(10, "--chunk", min=1, help="frames per farm task"),
    no_resume: bool = typer.Option(False, "--no-resume", help="redo frames already finished"),
    progress: str = typer.Option("auto", "--progress", help="auto|bar|plain|json|openjd"),
    reference: str = typer.Option("external", "--reference", help="external: ExternalReference to A001.[0997-1018].exr, what Resolve and NukeStudio import (default) | sequence: OTIO ImageSequenceReference"),
) -> None:
    """Restore every video clip of an edit (used frames + handles; shared sources once) and
    write OUT_DIR/<edit>.restored.otio with the same cut pointing at the restored frames."""
    from ..conform import conform as run_conform
    from ..conform import iter_lines
    from ..errors import JobError

    def body() -> None:
        if progress not in console.PROGRESS_STYLES:
            raise JobError(f"--progress {progress}: choose one of {', '.join(console.PROGRESS_STYLES)}")
        report = run_conform(
            edit,
            pipeline,
            out_dir,
            handles=handles,
            resume=not no_resume,
            farm=farm_format if farm else None,
            chunk=chunk,
            progress_for=lambda label: console.progress_reporter(label, progress),
            warn=console.warning,
            reference=reference,
        )
        for message in report.warnings:
            console.warning(message)
        for line in iter_lines(report):
            console.out.print(line, markup=False, soft_wrap=True)
        for path in report.farm_files:
            console.out.print(f"farm: {path}", markup=False, soft_wrap=True)
        console.out.print(f"edit: {report.output}", markup=False, soft_wrap=True)
        failed = report.failed
        if failed:
            if not report.restored and all(r.user_error for r in failed):
                raise JobError(failed[0].error, hint="nothing was restored; fix the pipeline or media and rerun")
            raise ProcessingError(
                f"{len(failed)} source span(s) failed; their clips keep the original media in {report.output.name}",
                hint="fix the named inputs and rerun: finished frames are skipped",
            )

    _guard(body)


@app.command("check-pipeline")
def check_pipeline(
    pipeline: Path = typer.Argument(..., help="pipeline file (.yaml/.yml/.json)"),
    as_json: bool = typer.Option(False, "--json", help="print the pipeline with defaults filled in, as JSON"),
) -> None:
    """Validate a pipeline file (nodes, parameters, output options)."""
    from ..conform import load_pipeline_file

    def body() -> None:
        spec = load_pipeline_file(pipeline)
        if as_json:
            typer.echo(json.dumps(spec.normalised()))
            return
        chain = " -> ".join(f"{e.node}({', '.join(f'{k}={v!r}' for k, v in e.params.items())})" for e in spec.pipeline)
        console.out.print(f"ok: {chain}; output .{spec.output.format}", markup=False, soft_wrap=True)

    _guard(body)
