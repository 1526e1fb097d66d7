"""Which timeline items to restore, and which source frames each one uses (+handles).

Selection: items on video tracks with a given clip colour, on one track, and/or overlapping
the timeline's in/out marks (all given criteria must hold). Used frames come from
`GetSourceStartFrame`/`GetSourceEndFrame` on Resolve 19.0.2+ and from `GetLeftOffset` +
`GetDuration` before; `GetLeftOffset + GetDuration + GetRightOffset` is the media length.
How those numbers count is decided in `conventions`. Handles are clamped to the media.
"""

from typing import TYPE_CHECKING, Any, Callable, List, Optional, Tuple

from .conventions import Conventions
from .media import Offline, SourceMedia, source_media

if TYPE_CHECKING:  # the real API's types, from fusionscript-stubs
    from fusionscript import Timeline, TimelineItem


class Skip(Exception):
    """This item is not restored; the message says why."""


class ClipPlan(object):
    """One timeline item to restore."""

    def __init__(self, item: "TimelineItem", track: int, name: str, media: SourceMedia, used: Tuple[int, int],
                 wanted: Tuple[int, int], duration: int, origin: str, source_in: int) -> None:
        self.item = item
        self.track = track
        self.name = name
        self.media = media
        self.used = used  # core frames the item shows (inclusive)
        self.wanted = wanted  # used + handles, clamped to the media (inclusive)
        self.duration = duration
        self.origin = origin  # "clip" | "file": how Resolve counts this clip's source frames
        self.source_in = source_in  # the item's source in-point as Resolve counts it

    @property
    def label(self) -> str:
        return "V{} '{}'".format(self.track, self.name)


def _frames(method: Callable[[bool], Any]) -> int:
    """An int frame count from GetStart/GetDuration/GetLeftOffset...; the subframe flag is
    new in 19 and older versions take no argument."""
    try:
        value = method(False)
    except TypeError:
        value = (method)()  # type: ignore[call-arg]
    return int(round(float(value)))


def _maybe_int(fn: Callable[[], Any]) -> Optional[int]:
    try:
        value = fn()
    except (TypeError, AttributeError):  # a method this Resolve does not have
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def select_items(timeline: "Timeline", conv: Conventions, clip_color: Optional[str] = None, track: Optional[int] = None,
                 marks: bool = False) -> List[Tuple[int, "TimelineItem"]]:
    """(track index, item) of the chosen video items, track by track, in timeline order."""
    tracks = [track] if track else list(range(1, int(timeline.GetTrackCount("video") or 0) + 1))
    span = None
    if marks:
        got = timeline.GetMarkInOut() or {}
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
                start, end = _frames(item.GetStart), _frames(item.GetEnd)  # end: one past the last frame
                if end <= span[0] or start > span[1]:
                    continue
            chosen.append((index, item))
    return chosen


def plan_item(item: "TimelineItem", track: int, version: List[Any], conv: Conventions, handles: int,
              warn: Callable[[str], None]) -> ClipPlan:
    """Used frames (+handles) of one item; Skip when it cannot be restored."""
    name = item.GetName() or "(unnamed)"
    try:
        media = source_media(item.GetMediaPoolItem())
    except Offline as exc:
        raise Skip(str(exc))
    duration = _frames(item.GetDuration)
    left, right = _frames(item.GetLeftOffset), _frames(item.GetRightOffset)
    start = end = None
    if conv.has_source_frames(version):
        start, end = _maybe_int(item.GetSourceStartFrame), _maybe_int(item.GetSourceEndFrame)
    origin = conv.origin(start, left, media.file_first)
    base = media.file_first if origin == "file" else 0
    if start is not None and end is not None:
        first0, last0 = start - base, conv.source_last(start, end, duration) - base
        if last0 - first0 + 1 != duration:
            warn("{}: source frames {}-{} for a {}-frame item (speed change?): restoring the source frames".format(
                name, start, end, duration))
        source_in = start
    else:
        first0, last0 = left, left + duration - 1
        source_in = left + base
    used = (media.core_frame(first0), media.core_frame(last0))
    lo, hi = media.first, media.core_frame(left + duration + right - 1)
    if media.last is not None:
        hi = min(hi, media.last)
    if used[0] < lo or used[1] > hi:
        raise Skip("it uses frames {}-{} but {} has {}-{}".format(used[0], used[1], media.path, lo, hi))
    if media.numbers is not None:
        present = set(media.numbers)
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
    return ClipPlan(item, track, name, media, used, wanted, duration, origin, source_in)
