"""A report written while a job runs: a collector planned from the job's frames, handed to the
pipeline as its frame observer, and the page written from the manifest once the run is over."""

from __future__ import annotations

import os
from pathlib import Path

from ..frames.sequence import parse_frame_range
from ..frames.source import open_source
from ..jobs.manifest import manifest_path
from ..jobs.spec import Job
from .build import write_report
from .collect import ReportCollector


def collector_for(job: Job, folder: str | os.PathLike[str], frames: str | None = None, **options: object) -> ReportCollector:
    """A collector whose previews are planned over the frames this run will write."""
    from ..pipeline import input_frames

    source = open_source(job.input.path, job.input.colorspace)
    try:
        requested, _ = input_frames(job, source)
    finally:
        source.close()
    numbers = parse_frame_range(frames) if frames else requested
    return ReportCollector(folder, numbers, cuts=job.input.cuts, **options)  # type: ignore[arg-type]


def finish(job: Job, collector: ReportCollector, title: str = "") -> Path:
    """Write the page for the run that fed `collector` (its manifest is beside the output)."""
    collected = collector.data()
    seen = len(collected["frames"])
    if seen == 0:
        collected["notes"] = ["report: no frame was processed in this run (all skipped or failed), so there are no pictures or curves"]
    return write_report(collector.folder, manifest_path(job.output.path), collected, title=title)
