"""A review report for a run that has finished: the manifest says what was run and where the
frames are; only the chosen frames (at most `per_shot` per shot, or every `every`-th frame)
are read back (input, output and matte), so the curves come from those frames."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import ReelfixError
from ..frames.frame import Frame
from ..frames.image_io import read_image
from ..frames.sequence import SequencePattern
from ..frames.source import FrameSource, is_movie, open_source
from .build import load_manifest, write_report
from .collect import ReportCollector, plan_previews


def _located(path: str, near: Path) -> str:
    """`path` as written in the manifest, else the same name beside the manifest (a moved folder)."""
    if not path or os.path.exists(path) or SequencePattern.parse(path).is_sequence and Path(path).parent.is_dir():
        return path
    return str(near / Path(path).name)


def _with_mattes(frame: Frame, path: str) -> Frame:
    matte = read_image(path)
    frame.mattes = {name: matte.pixels[:, :, i] for i, name in enumerate(matte.channels) if name != "none"}
    return frame


def report_from_manifest(
    manifest_file: str | os.PathLike[str],
    folder: str | os.PathLike[str],
    *,
    per_shot: int = 60,
    every: int = 0,
    display: str | None = None,
    view: str | None = None,
) -> Path:
    """Write `folder/index.html` for the run that wrote `manifest_file`; returns its path."""
    manifest = load_manifest(manifest_file)
    near = Path(manifest_file).resolve().parent
    job: dict[str, Any] = manifest.get("job") or {}
    spaces = manifest["runs"][-1].get("colorspaces", {})
    records = {int(n): r for n, r in manifest["frames"].items()}
    written = sorted(n for n, r in records.items() if r.get("status") in ("done", "skipped"))
    cuts = list(job.get("input", {}).get("cuts") or [])
    wanted = plan_previews(written, cuts, per_shot) | (set(written[:: max(1, every)]) if every else set())
    collector = ReportCollector(folder, written, cuts=cuts, per_shot=per_shot, display=display, view=view)
    notes: list[str] = []
    source: FrameSource | None = None
    try:
        source = open_source(_located(job.get("input", {}).get("path", ""), near), spaces.get("input"))
    except ReelfixError as exc:
        notes.append(f"report: the input cannot be opened, so no before pictures: {exc}")
    out_path = job.get("output", {}).get("path", "")
    mattes = job.get("output", {}).get("mattes")
    movie_out = open_source(_located(out_path, near), spaces.get("output")) if source is not None and is_movie(out_path) else None
    try:
        for n in sorted(wanted):
            if source is None:
                break
            try:
                before = source.read(n)
                before.colorspace = spaces.get("input") or before.colorspace
                after = movie_out.read(n) if movie_out is not None else read_image(_located(records[n]["path"], near), n)
                after.colorspace = spaces.get("output") or after.colorspace
                if mattes:
                    after = _with_mattes(after, _located(SequencePattern.parse(mattes).path_for(n), near))
                collector.observe(n, before, after)
            except ReelfixError as exc:
                notes.append(f"report: frame {n} left out: {exc}")
    finally:
        for s in (source, movie_out):
            if s is not None:
                s.close()
    collected = collector.data()
    collected["notes"] = notes
    return write_report(folder, manifest_file, collected)
