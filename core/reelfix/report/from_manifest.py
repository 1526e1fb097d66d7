"""A review report for a run that has finished: the manifest says what was run and where the
frames are; only the chosen frames (at most `per_shot` per shot, or every `every`-th frame)
are read back (input, output and matte), so the curves come from those frames. `FrameReader`
also fills in a live report's previews of frames a resumed run skipped."""

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


def written_frames(manifest: dict[str, Any]) -> list[int]:
    return sorted(int(n) for n, r in manifest["frames"].items() if r.get("status") in ("done", "skipped"))


class FrameReader:
    """(before, after-with-mattes) of a frame a run wrote, read back from its files."""

    def __init__(self, manifest: dict[str, Any], manifest_file: str | os.PathLike[str]) -> None:
        self.near = Path(manifest_file).resolve().parent
        job: dict[str, Any] = manifest.get("job") or {}
        self.spaces = manifest["runs"][-1].get("colorspaces", {})
        self.records = manifest["frames"]
        self.mattes = job.get("output", {}).get("mattes")
        self.source: FrameSource | None = None
        self.movie_out: FrameSource | None = None
        self.problem = ""
        out_path = job.get("output", {}).get("path", "")
        try:
            self.source = open_source(_located(job.get("input", {}).get("path", ""), self.near), self.spaces.get("input"))
            if is_movie(out_path):
                self.movie_out = open_source(_located(out_path, self.near), self.spaces.get("output"))
        except ReelfixError as exc:
            self.problem = f"report: the run's frames cannot be opened, so no pictures: {exc}"

    def pair(self, n: int) -> tuple[Frame, Frame]:
        if self.source is None:
            raise ReelfixError(self.problem)
        before = self.source.read(n)
        before.colorspace = self.spaces.get("input") or before.colorspace
        after = self.movie_out.read(n) if self.movie_out is not None else read_image(_located(self.records[str(n)]["path"], self.near), n)
        after.colorspace = self.spaces.get("output") or after.colorspace
        if self.mattes:
            matte = read_image(_located(SequencePattern.parse(self.mattes).path_for(n), self.near))
            after.mattes = {name: matte.pixels[:, :, i] for i, name in enumerate(matte.channels) if name != "none"}
        return before, after

    def feed(self, collector: ReportCollector, numbers: list[int], notes: list[str]) -> None:
        """Read `numbers` in order into `collector`; a frame that cannot be read is named in `notes`."""
        if self.problem:
            notes.append(self.problem)
            return
        for n in numbers:
            try:
                collector.observe(n, *self.pair(n))
            except ReelfixError as exc:
                notes.append(f"report: frame {n} left out: {exc}")

    def close(self) -> None:
        for s in (self.source, self.movie_out):
            if s is not None:
                s.close()


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
    written = written_frames(manifest)
    cuts = list((manifest.get("job") or {}).get("input", {}).get("cuts") or [])
    wanted = plan_previews(written, cuts, per_shot) | (set(written[:: max(1, every)]) if every else set())
    collector = ReportCollector(folder, written, cuts=cuts, per_shot=per_shot, display=display, view=view)
    notes: list[str] = []
    reader = FrameReader(manifest, manifest_file)
    try:
        reader.feed(collector, sorted(wanted), notes)
    finally:
        reader.close()
    collected = collector.data()
    collected["notes"] = notes
    return write_report(folder, manifest_file, collected)
