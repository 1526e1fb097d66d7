"""Conform an edit: plan, restore each span once (here or on a farm), relink, write the new edit."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ContextManager, Iterator, Sequence

import opentimelineio as otio

from ..errors import JobError, ReelfixError, UserError
from ..frames.sequence import format_ranges
from ..jobs.manifest import manifest_path
from ..jobs.spec import Job
from ..pipeline import ProgressFn, run_job
from ..safety import check_outputs
from .pipeline_file import PipelineFile, load_pipeline_file
from .plan import ClipUse, Plan, Skipped, Span, make_plan
from .relink import relink, write_timeline

FARMS = ("openjd", "deadline")
REFERENCES = ("external", "sequence")  # what the restored edit points with: see relink.restored_reference
ProgressFactory = Callable[[str], ContextManager[ProgressFn]]
FarmRunner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


@dataclass
class SpanResult:
    span: Span
    job_file: str = ""
    manifest: str = ""
    line: str = ""  # the run's summary, or what was written for the farm
    error: str = ""
    failed_frames: list[int] = field(default_factory=list)
    user_error: bool = False

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass
class ConformReport:
    output: Path
    plan: Plan
    results: list[SpanResult] = field(default_factory=list)
    restored: list[ClipUse] = field(default_factory=list)
    kept: list[tuple[ClipUse, str]] = field(default_factory=list)  # planned but their span failed
    farm_files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> list[Skipped]:
        return self.plan.skipped

    @property
    def failed(self) -> list[SpanResult]:
        return [r for r in self.results if not r.ok]


def read_edit(path: Path) -> otio.schema.Timeline:
    """The timeline of an edit file (.otio, or any format an installed OTIO adapter reads)."""
    if not path.is_file():
        raise JobError(f"edit file not found: {path}")
    try:
        edit = otio.adapters.read_from_file(str(path))
    except Exception as exc:  # noqa: BLE001 - OTIO raises many types for unreadable files
        raise JobError(f"cannot read edit {path}: {exc}", hint="export OTIO (.otio) from your editor (Resolve 18.5+: File > Export > Timeline)") from None
    if isinstance(edit, otio.schema.SerializableCollection):
        timelines = list(edit.find_children(descended_from_type=otio.schema.Timeline))
        if len(timelines) != 1:
            raise JobError(f"{path} holds {len(timelines)} timelines; conform one timeline per file")
        edit = timelines[0]
    if not isinstance(edit, otio.schema.Timeline):
        raise JobError(f"{path} holds a {type(edit).__name__}, not a timeline")
    return edit


def _no_progress(label: str) -> ContextManager[ProgressFn | None]:
    return contextlib.nullcontext(None)


def _run_local(span: Span, job: Job, resume: bool, progress_for: ProgressFactory | None, warn: Callable[[str], None] | None) -> SpanResult:
    result = SpanResult(span, manifest=str(manifest_path(span.output)))
    factory = progress_for or _no_progress
    try:
        with factory(f"{span.media.stem} {span.frames}") as progress:
            summary = run_job(job, resume=resume, progress=progress, warn=warn)
    except ReelfixError as exc:
        result.error, result.user_error = exc.message, isinstance(exc, UserError)
        return result
    result.line = summary.line()
    result.manifest = summary.manifest
    if summary.failed:
        result.failed_frames = [r.number for r in summary.failed]
        first = summary.failed[0]
        result.error = f"frames {format_ranges(result.failed_frames)} failed (frame {first.number}: {first.error})"
    return result


def _subprocess_runner(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True)


def farm_available() -> bool:
    """Whether this installation has `reelfix farm` (the module `reelfix.farm`)."""
    try:
        return importlib.util.find_spec("reelfix.farm") is not None
    except (ImportError, ValueError):
        return False


def _submit(span: Span, job_file: Path, out_dir: Path, farm: str, chunk: int, runner: FarmRunner) -> tuple[str, str]:
    """Write the farm files for one job with `reelfix farm` into their own folder (an OpenJD
    template there is a Deadline Cloud job bundle); (written path, error)."""
    folder = out_dir / "farm" / span.name
    target = folder / "template.yaml" if farm == "openjd" else folder
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "reelfix", "farm", farm, str(job_file), "--chunk", str(chunk), "-o", str(target)]
    done = runner(cmd)
    if done.returncode != 0:
        return "", f"`reelfix farm {farm}` failed (exit {done.returncode}): {(done.stderr or done.stdout).strip()[-400:]}"
    return str(target), ""


def conform(
    edit: Path,
    pipeline: Path,
    out_dir: Path,
    *,
    handles: int = 8,
    resume: bool = True,
    farm: str | None = None,
    chunk: int = 10,
    progress_for: ProgressFactory | None = None,
    warn: Callable[[str], None] | None = None,
    farm_runner: FarmRunner | None = None,
    reference: str = "external",
) -> ConformReport:
    """Restore every video clip's used frames (+`handles`) of `edit` with the pipeline file and
    write `out_dir/<edit name>.restored.otio`. With `farm` ("openjd" or "deadline") the jobs are
    written for a farm instead of run here, and the new edit points where the farm will write.
    `reference`: "external" (default: what Resolve and NukeStudio import) or "sequence" (OTIO's
    ImageSequenceReference, for tools that read it). Raises UserError for a bad edit, pipeline or option before any work starts."""
    if handles < 0:
        raise JobError(f"--handles {handles}: handles cannot be negative")
    if farm is not None and farm not in FARMS:
        raise JobError(f"--farm {farm}: choose one of {', '.join(FARMS)}")
    if chunk < 1:
        raise JobError(f"--chunk {chunk}: a chunk has at least one frame")
    if reference not in REFERENCES:
        raise JobError(f"--reference {reference}: choose one of {', '.join(REFERENCES)}")
    edit, pipeline, out_dir = Path(edit).resolve(), Path(pipeline).resolve(), Path(out_dir).resolve()
    spec: PipelineFile = load_pipeline_file(pipeline)
    timeline = read_edit(edit)
    plan = make_plan(timeline, out_dir / "media", handles, spec.output.format)
    report = ConformReport(out_dir / f"{edit.stem}.restored.otio", plan, warnings=list(plan.warnings))
    jobs = [spec.job(span.media.path, span.frames, span.output) for span in plan.spans]  # all valid before any work
    for job in jobs:
        check_outputs(job)  # no span may write over any source

    jobs_dir = out_dir / "jobs"
    for span, job in zip(plan.spans, jobs):
        job_file = jobs_dir / f"{span.name}.job.json"
        jobs_dir.mkdir(parents=True, exist_ok=True)
        job_file.write_text(json.dumps(job.model_dump(mode="json"), indent=2))
        if farm is None:
            result = _run_local(span, job, resume, progress_for, warn)
        else:
            result = SpanResult(span, manifest=str(manifest_path(span.output)), line=f"job written for the farm: {job_file}")
        result.job_file = str(job_file)
        report.results.append(result)

    if farm is not None and plan.spans:
        if not farm_available():
            report.warnings.append(
                f"`reelfix farm` is not available in this installation: the job files are in {jobs_dir}; "
                f"make farm files from them with `reelfix farm {farm} JOB --chunk {chunk}` once it is installed"
            )
        else:
            for result in report.results:
                written, error = _submit(result.span, Path(result.job_file), out_dir, farm, chunk, farm_runner or _subprocess_runner)
                if written:
                    report.farm_files.append(written)
                result.error = error

    for result in report.results:
        for use in result.span.uses:
            if result.ok:
                relink(use, result.span, str(pipeline), result.manifest, reference)
                report.restored.append(use)
            else:
                report.kept.append((use, result.error))
    report.restored.sort(key=lambda u: u.index)
    write_timeline(timeline, report.output)
    return report


def iter_lines(report: ConformReport) -> Iterator[str]:
    """A readable summary: one line per clip in edit order, then one per span."""
    lines: list[tuple[int, str]] = []
    for use in report.restored:
        lines.append((use.index, f"restored  {use.label}: frames {use.used[0]}-{use.used[1]} (with handles {use.wanted[0]}-{use.wanted[1]})"))
    for use, reason in report.kept:
        lines.append((use.index, f"original  {use.label}: keeps its original media: {reason}"))
    for skipped in report.skipped:
        lines.append((skipped.index, f"skipped   {skipped.label}: {skipped.reason}"))
    yield from (text for _, text in sorted(lines, key=lambda item: item[0]))
    for result in report.results:
        status = "ok" if result.ok else "FAILED"
        yield f"span      {status} {result.span.media.path} {result.span.frames}: {result.error or result.line}"
