"""Which timeline items to restore, and which source frames each one uses (+handles).

Selection: items on video tracks with a given clip colour, on one track, and/or overlapping
the timeline's in/out marks (all given criteria must hold; marks need Resolve 19.1+).

Planning always reads the *original* media: a selected take swaps the item's source (its
`GetMediaPoolItem`, offsets and duration answer for the take), so an item with takes is read
with take 1 selected and its selection put back afterwards; media that reelfix itself wrote
(recognised by `media.reelfix_output`) is never restored again.

Used frames are anchored on `GetLeftOffset` (exact at 100% speed: davinci-resolve-mcp's
api_truth) and counted from `GetDuration` at the clip's frame rate: a 16 or 18 fps scan in a
24 fps timeline uses `ceil(duration * 16 / 24)` source frames. `GetSourceStartFrame` /
`GetSourceEndFrame` (19.0.2+; true source frames, the end exclusive or inclusive depending on
the rates) only witness the speed and the frame origin: a reversed clip reports start > end, a
retimed one a source span that does not match the duration; both are skipped with the reason.
Handles are clamped to the media and stop at gaps in an image sequence.
"""

import math
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Tuple

from .conventions import Conventions
from .media import Offline, SourceMedia, reelfix_output, source_media

if TYPE_CHECKING:  # the real API's types, from fusionscript-stubs
    from fusionscript import Timeline, TimelineItem


class Skip(Exception):
    """This item is not restored; the message says why."""


class ClipPlan(object):
    """One timeline item to restore."""

    def __init__(self, item: "TimelineItem", track: int, name: str, media: SourceMedia, used: Tuple[int, int],
                 wanted: Tuple[int, int], duration: int, origin: str, timeline_fps: float) -> None:
        self.item = item
        self.track = track
        self.name = name
        self.media = media
        self.used = used  # core frames the item shows (inclusive)
        self.wanted = wanted  # used + handles, clamped to the media (inclusive)
        self.duration = duration  # record (timeline) frames
        self.origin = origin  # "clip" | "file": how Resolve counts this clip's source frames
        self.timeline_fps = timeline_fps
        self.selected_take = 0  # the take selected before planning (0: no take selector)

    @property
    def label(self) -> str:
        return "V{} '{}'".format(self.track, self.name)

    @property
    def count(self) -> int:
        """Source frames the item shows."""
        return self.used[1] - self.used[0] + 1

    @property
    def mixed_rate(self) -> bool:
        return abs(self.media.fps - self.timeline_fps) > 1e-3

    @property
    def placed_duration(self) -> int:
        """Timeline frames a clip of the used source frames fills: Resolve floors the conversion of
        another rate (api_truth.py), so a 23-frame item of a 16 fps scan (15.3 source frames) gets a
        24-frame take; at one rate, the item's duration."""
        if not self.mixed_rate:
            return self.duration
        return int(math.floor(self.count * self.timeline_fps / self.media.fps + 1e-6))


def frames_of(method: Callable[[bool], Any]) -> int:
    """An int frame count from GetStart/GetDuration/GetLeftOffset...; the subframe flag is
    new in 19 and older versions take no argument."""
    try:
        value = method(False)
    except TypeError:
        value = (method)()  # type: ignore[call-arg]
    return int(round(float(value or 0)))


def _maybe_int(fn: Callable[[], Any]) -> Optional[int]:
    try:
        value = fn()
    except (TypeError, AttributeError):  # a method this Resolve does not have
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def version_text(version: List[Any]) -> str:
    return ".".join(str(v) for v in version[:4] if str(v) != "") or "unknown"


def select_items(timeline: "Timeline", conv: Conventions, clip_color: Optional[str] = None, track: Optional[int] = None,
                 marks: bool = False, version: Optional[List[Any]] = None) -> List[Tuple[int, "TimelineItem"]]:
    """(track index, item) of the chosen video items, track by track, in timeline order."""
    tracks = [track] if track else list(range(1, int(timeline.GetTrackCount("video") or 0) + 1))
    span = None
    if marks:
        if version is not None and not conv.has_mark_in_out(version):
            raise Skip("choosing clips by in/out marks needs Resolve 19.1 or later (Timeline.GetMarkInOut); this is "
                       "Resolve {}: choose them by clip colour or track instead".format(version_text(version)))
        got = timeline.GetMarkInOut()
        if not isinstance(got, dict):
            raise Skip("Resolve gave no in/out marks (Timeline.GetMarkInOut needs Resolve 19.1 or later): "
                       "choose the clips by clip colour or track instead")
        video = got.get("video") or got.get("audio")
        if not video or "in" not in video or "out" not in video:
            raise Skip("the timeline has no in/out marks")
        start = int(timeline.GetStartFrame())
        span = (conv.marks_to_record(int(video["in"]), start), conv.marks_to_record(int(video["out"]), start))
    chosen = []
    for index in tracks:
        for item in timeline.GetItemListInTrack("video", index) or []:
            if clip_color and (item.GetClipColor() or "") != clip_color:
                continue
            if span is not None:
                start, end = frames_of(item.GetStart), frames_of(item.GetEnd)  # end: one past the last frame
                if end <= span[0] or start > span[1]:
                    continue
            chosen.append((index, item))
    return chosen


def _original_selected(item: "TimelineItem") -> int:
    """Select take 1 (the original) when the item is a take selector; returns the take that was selected."""
    count = int(item.GetTakesCount() or 0)
    if count < 1:
        return 0
    selected = int(item.GetSelectedTakeIndex() or 1)
    if selected != 1:
        item.SelectTakeByIndex(1)
    return selected


def plan_item(item: "TimelineItem", track: int, version: List[Any], conv: Conventions, handles: int,
              warn: Callable[[str], None], timeline_fps: float = 24.0) -> ClipPlan:
    """Used frames (+handles) of one item, read from its original media; Skip when it cannot be restored.
    An item with takes is left with take 1 selected: the caller selects a take again (`ClipPlan.selected_take`)."""
    name = item.GetName() or "(unnamed)"
    selected = _original_selected(item)
    try:
        plan = _plan(item, track, name, version, conv, handles, warn, timeline_fps)
    except Skip:
        if selected > 1:
            item.SelectTakeByIndex(selected)
        raise
    plan.selected_take = selected
    return plan


def _plan(item: "TimelineItem", track: int, name: str, version: List[Any], conv: Conventions, handles: int,
          warn: Callable[[str], None], timeline_fps: float) -> ClipPlan:
    mpi = item.GetMediaPoolItem()
    own = reelfix_output(mpi) if mpi is not None else ""
    if own:
        raise Skip("it shows reelfix's own restored media ({}): restore the original instead (take 1, or the clip "
                   "under the 'reelfix restored' track)".format(own))
    try:
        media = source_media(mpi)
    except Offline as exc:
        raise Skip(str(exc))
    duration = frames_of(item.GetDuration)
    left, right = frames_of(item.GetLeftOffset), frames_of(item.GetRightOffset)
    count = max(1, int(math.ceil(duration * media.fps / timeline_fps - 1e-6)))  # source frames the item shows
    start = end = None
    if conv.has_source_frames(version):
        start, end = _maybe_int(item.GetSourceStartFrame), _maybe_int(item.GetSourceEndFrame)
    if start is not None and end is not None:
        _check_speed(start, end, count, duration)
    origin = conv.origin(start, left, media.file_first)
    first0 = left
    used = (media.core_frame(first0), media.core_frame(first0 + count - 1))
    lo, hi = media.first, media.core_frame(left + count + right - 1)
    if media.last is not None:
        hi = min(hi, media.last)
    if used[0] < lo or used[1] > hi:
        raise Skip("it uses frames {}-{} but {} has {}-{}".format(used[0], used[1], media.path, lo, hi))
    present = set(media.numbers or [])
    if media.numbers is not None:
        missing = [n for n in range(used[0], used[1] + 1) if n not in present]
        if missing:
            raise Skip("media incomplete: {} of its frames are missing on disk (first: {})".format(len(missing), missing[0]))
    wanted = (max(lo, used[0] - handles), min(hi, used[1] + handles))
    if media.numbers is not None:  # handles stop at a gap in the sequence
        a, b = used
        while a > wanted[0] and a - 1 in present:
            a -= 1
        while b < wanted[1] and b + 1 in present:
            b += 1
        wanted = (a, b)
    if abs(media.fps - timeline_fps) > 1e-3:
        warn("{}: a {:g} fps clip in a {:g} fps timeline: restoring the {} source frames it shows".format(
            name, media.fps, timeline_fps, count))
    return ClipPlan(item, track, name, media, used, wanted, duration, origin, timeline_fps)


def _check_speed(start: int, end: int, count: int, duration: int) -> None:
    """Skip reversed and speed-changed items: GetSourceStart/EndFrame are true source frames, so their
    span (end exclusive or inclusive: one frame either way) matches the frames a 100% item shows."""
    if end < start:
        raise Skip("it plays in reverse (source frames {} -> {}): reversed clips are not restored; restore the clip "
                   "unreversed (or its media with `reelfix run`) and reverse the result".format(start, end))
    span = end - start
    if count - 2 <= span <= count + 1:
        return
    speed = 100.0 * span / max(1, count)
    raise Skip("its speed is changed (about {:.0f}%: source frames {}-{} for {} timeline frames): retimed clips are not "
               "restored; restore the media at 100% and retime the result".format(speed, start, end, duration))
