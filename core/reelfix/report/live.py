"""A report written while a job runs: a collector planned from the job's frames, handed to the
pipeline as its frame observer, and the page written from the manifest once the run is over."""

from __future__ import annotations

import os
from pathlib import Path

from ..frames.sequence import parse_frame_range
from ..frames.source import open_source
from ..jobs.manifest import manifest_path
from ..jobs.spec import Job
from .build import load_manifest, write_report
from .collect import ReportCollector
from .from_manifest import FrameReader, written_frames


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
    """Write the page for the run that fed `collector` (its manifest is beside the output). Preview
    frames the run did not process (a resumed run skips finished frames) are read back from disk."""
    mpath = manifest_path(job.output.path)
    collector.flush()
    notes: list[str] = list(collector.problems)
    if not collector.frames:
        notes.append("report: no frame was processed in this run (all skipped or failed); pictures and curves are read back from the files")
    if mpath.is_file():
        manifest = load_manifest(mpath)
        unseen = sorted(n for n in collector.chosen if n not in collector.frames and n in set(written_frames(manifest)))
        if unseen:
            reader = FrameReader(manifest, mpath)
            try:
                reader.feed(collector, unseen, notes)
            finally:
                reader.close()
    collected = collector.data()
    collected["notes"] = notes
    return write_report(collector.folder, mpath, collected, title=title)
