"""Point restored clips at their restored frames, keeping the cut.

Each restored clip gets a reference over the frames of its span, anchored in the same media
time as the original reference: the clip's `source_range` is left untouched, so its order,
duration and in-point are the same and it lands on the restored copy of the frames it showed.
What was there is kept in the clip's metadata under `reelfix` (original target, pipeline, manifest).

Two shapes (hosts.md, "OTIO import"):

* "external" (default): what Resolve imports, shaped like Resolve's own export (Resolve and
  NukeStudio do not read `ImageSequenceReference`: ynput/ayon-core PR #44): an
  `ExternalReference` whose target is the bare path in bracket form
  `/out/media/A001_1a2b3c/A001.[0997-1018].exr`, its `available_range` starting at the media
  time (the source's timecode) of the first restored frame. The restored frames carry their
  source frame's timecode in their headers, so the clip's source range (in the media's
  timecode) lands on them;
* "sequence": an `ImageSequenceReference` (never a `%04d` URL: OTIO URL-decodes it), for tools
  that read it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import opentimelineio as otio

from ..frames.sequence import SequencePattern
from .media import path_to_target
from .plan import ClipUse, Span


def bracket_path(output: str, first: int, last: int) -> str:
    """`/o/A001.####.exr`, 997, 1018 -> `/o/A001.[0997-1018].exr` (Resolve's spelling of a sequence)."""
    pattern = SequencePattern.parse(output)
    pad = max(1, pattern.padding)
    return os.path.join(pattern.directory, f"{pattern.prefix}[{first:0{pad}d}-{last:0{pad}d}]{pattern.suffix}")


def restored_reference(use: ClipUse, span: Span, reference: str = "external") -> otio.core.MediaReference:
    """A reference over `span`'s restored frames, in `use`'s media time (see the module docstring)."""
    pattern = SequencePattern.parse(span.output)
    media = use.media
    folder = pattern.directory.rstrip("/\\") + os.sep
    available = otio.opentime.TimeRange(media.time_of(span.first), otio.opentime.RationalTime(span.last - span.first + 1, media.rate))
    if reference == "external":
        return otio.schema.ExternalReference(target_url=bracket_path(span.output, span.first, span.last), available_range=available)
    return otio.schema.ImageSequenceReference(
        target_url_base=path_to_target(folder, media.url_style),
        name_prefix=pattern.prefix,
        name_suffix=pattern.suffix,
        start_frame=span.first,
        frame_step=1,
        rate=media.rate,
        frame_zero_padding=pattern.padding,
        missing_frame_policy=otio.schema.ImageSequenceReference.MissingFramePolicy.error,
        available_range=available,
    )


def _original(ref: otio.core.MediaReference | None) -> str:
    if isinstance(ref, otio.schema.ExternalReference):
        return ref.target_url
    if isinstance(ref, otio.schema.ImageSequenceReference):
        return ref.target_url_base + ref.name_prefix + "#" * max(1, ref.frame_zero_padding) + ref.name_suffix
    return ""


def relink(use: ClipUse, span: Span, pipeline_file: str, manifest: str, reference: str = "external") -> None:
    """Point `use.clip` at the restored frames and record what it pointed at."""
    clip = use.clip
    info: dict[str, Any] = {
        "original_media": _original(clip.media_reference),
        "restored": span.output,
        "restored_frames": span.frames,
        "used_frames": f"{use.used[0]}-{use.used[1]}",
        "pipeline": pipeline_file,
        "manifest": manifest,
    }
    clip.media_reference = restored_reference(use, span, reference)
    clip.metadata["reelfix"] = info


def write_timeline(timeline: otio.schema.Timeline, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    otio.adapters.write_to_file(timeline, str(tmp), adapter_name="otio_json")
    os.replace(tmp, path)
