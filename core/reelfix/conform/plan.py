"""From an edit to restore work: which frames of which source each clip shows, plus handles,
clamped to the media, merged per source into spans that are each restored once.

Only video tracks count (audio clips of the same movies are left alone). A clip's used
frames are its `trimmed_range()` in the media's frame numbers (see `media.Media`), stretched
by any `LinearTimeWarp` speed (a freeze frame uses one frame). Handles extend that range on
both sides, clamped to what the media has: the reference's `available_range` and the frames
really on disk. Ranges of clips sharing a source are merged where they overlap or touch,
so shared frames are restored once; far-apart uses of one source stay separate spans.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import opentimelineio as otio

from ..frames.sequence import format_ranges
from .media import Media, Unusable, media_of


@dataclass
class ClipUse:
    """One video clip of the edit that will be restored."""

    index: int  # position among the edit's video clips (track by track, in order)
    clip: otio.schema.Clip
    media: Media
    used: tuple[int, int]  # core frames the clip shows (inclusive)
    wanted: tuple[int, int]  # `used` plus handles, clamped to the media (inclusive)

    @property
    def label(self) -> str:
        return f"clip {self.index + 1} '{self.clip.name}'"


@dataclass
class Span:
    """Frames `first`..`last` of one source, restored by one job into `output`."""

    media: Media
    first: int
    last: int
    output: str  # output pattern with ####
    uses: list[ClipUse] = field(default_factory=list)

    @property
    def frames(self) -> str:
        return f"{self.first}-{self.last}"

    @property
    def name(self) -> str:
        return f"{self.media.folder_name}.{self.first}-{self.last}"


@dataclass
class Skipped:
    index: int
    name: str
    reason: str

    @property
    def label(self) -> str:
        return f"clip {self.index + 1} '{self.name}'"


@dataclass
class Plan:
    uses: list[ClipUse] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def video_clips(timeline: otio.schema.Timeline) -> list[otio.schema.Clip]:
    """Every clip on the video tracks, track by track (bottom first), in edit order."""
    clips: list[otio.schema.Clip] = []
    for track in timeline.video_tracks():
        clips.extend(track.find_clips(shallow_search=False))
    return clips


def _speed(clip: otio.schema.Clip) -> float:
    speed = 1.0
    for effect in clip.effects:
        if isinstance(effect, otio.schema.FreezeFrame):
            speed = 0.0
        elif isinstance(effect, otio.schema.LinearTimeWarp):
            speed *= float(effect.time_scalar)
    return speed


def used_frames(clip: otio.schema.Clip, media: Media) -> tuple[int, int]:
    """First and last core frame the clip shows (inclusive)."""
    try:
        rng = clip.trimmed_range()
    except otio.exceptions.OTIOError:
        raise Unusable("the clip has no source range and its media no available range") from None
    first = media.frame_at(rng.start_time)
    length = max(1, round(rng.duration.value_rescaled_to(media.rate)))
    speed = _speed(clip)
    if speed < 0:
        raise Unusable("reversed clips (negative speed) are not restored")
    if speed != 1.0:
        length = max(1, math.ceil(length * speed - 1e-9))
    return first, first + length - 1


def _media_limits(media: Media, ref: otio.core.MediaReference, cache: dict[str, list[int]]) -> tuple[int, int]:
    """The first and last core frame the media has: available_range and the files on disk."""
    if media.path not in cache:
        cache[media.path] = media.frames_on_disk()
    disk = cache[media.path]
    if not disk:
        raise Unusable(f"media offline: no frames of {media.path}")
    lo, hi = disk[0], disk[-1]
    if ref.available_range is not None:
        avail = ref.available_range
        lo = max(lo, media.frame_at(avail.start_time))
        hi = min(hi, media.frame_at(avail.end_time_inclusive()))
    return lo, hi


def make_plan(timeline: otio.schema.Timeline, media_dir: Path, handles: int, extension: str) -> Plan:
    """Plan the restore of every video clip of `timeline` into `media_dir`."""
    plan = Plan()
    disk_cache: dict[str, list[int]] = {}
    rate = float(timeline.global_start_time.rate) if timeline.global_start_time is not None else 24.0
    for index, clip in enumerate(video_clips(timeline)):
        try:
            ref = clip.media_reference
            media = media_of(ref, float(clip.source_range.start_time.rate) if clip.source_range else rate)
            used = used_frames(clip, media)
            lo, hi = _media_limits(media, ref, disk_cache)
        except Unusable as exc:
            plan.skipped.append(Skipped(index, clip.name, str(exc)))
            continue
        if used[0] < lo or used[1] > hi:
            plan.skipped.append(Skipped(index, clip.name, f"it shows frames {used[0]}-{used[1]} but {media.path} has {lo}-{hi}"))
            continue
        wanted = (max(lo, used[0] - handles), min(hi, used[1] + handles))
        missing = sorted(set(range(wanted[0], wanted[1] + 1)) - set(disk_cache[media.path]))
        if missing:
            plan.warnings.append(f"{media.path}: frames {format_ranges(missing)} are missing on disk")
        plan.uses.append(ClipUse(index, clip, media, used, wanted))
    plan.spans = merge_spans(plan.uses, media_dir, extension)
    return plan


def merge_spans(uses: list[ClipUse], media_dir: Path, extension: str) -> list[Span]:
    """One span per run of overlapping or touching ranges of the same source."""
    by_source: dict[str, list[ClipUse]] = {}
    for use in uses:
        by_source.setdefault(use.media.path, []).append(use)
    spans: list[Span] = []
    for path in sorted(by_source):
        group = sorted(by_source[path], key=lambda u: u.wanted)
        media = group[0].media
        output = str(media_dir / media.folder_name / f"{media.stem}.####.{extension}")
        current: Span | None = None
        for use in group:
            if current is not None and use.wanted[0] <= current.last + 1:
                current.last = max(current.last, use.wanted[1])
                current.uses.append(use)
                continue
            current = Span(media, use.wanted[0], use.wanted[1], output, [use])
            spans.append(current)
    return spans


def describe(span: Span) -> str:
    clips = ", ".join(u.label for u in span.uses)
    return f"{os.path.basename(span.media.path)} frames {span.frames} for {clips}"
