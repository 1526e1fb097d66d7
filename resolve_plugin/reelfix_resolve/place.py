"""Putting restored media back into the edit, and checking what Resolve really did.

Resolve's extents are not to be trusted blind (hosts.md, "Real behaviour"): `AppendToTimeline`
places `endFrame - startFrame` frames, `AddTake`'s extents are undocumented, and neither says
when it placed something else. So every take and every placed clip is read back (`GetDuration`,
`GetLeftOffset`, with the take selected): one that is one frame off is removed and placed again
with the other end-frame reading (kept for the rest of the run); anything else is removed and
reported, never left wrong on the timeline.

* takes: a take of the same restore (same source and pipeline: the same output pattern) that
  shows the right frames is reused; one that does not is ours and stale, so it is replaced;
  takes of other pipelines and the user's own takes are left alone;
* track mode: the timeline is made current first (`AppendToTimeline` uses the current one);
  `AppendToTimeline` never overwrites, so the range on the reelfix track must be free or hold
  our own clip of the same restore (reused, not stacked); a dropped or dead item is reported;
* markers: `frameId` counts from the media head (`GetLeftOffset()` + half the item); ours carry
  JSON custom data with a "reelfix" key, are found again by it and replaced on a rerun.
"""

import json
from typing import TYPE_CHECKING, Any, List, Optional, Tuple

from .clips import ClipPlan, frames_of
from .conventions import Conventions
from .media import parse_file_path

if TYPE_CHECKING:
    from fusionscript import MarkerColor, MediaPool, MediaPoolClipInfo, MediaPoolItem, Project, Timeline, TimelineItem

MARKER_COLOR = "Cyan"  # type: MarkerColor


class PlaceError(Exception):
    """Resolve did not place the restored media as asked; nothing wrong was left on the timeline."""


def restored_pattern(mpi: Any) -> Tuple[str, Optional[int]]:
    """(output pattern, first file number) of a restored clip from its File Path."""
    if mpi is None:
        return "", None
    raw = mpi.GetClipProperty("File Path")
    path, first, _ = parse_file_path(raw if isinstance(raw, str) else "")
    return path, first


def _readback(item: "TimelineItem") -> Tuple[int, int]:
    return frames_of(item.GetLeftOffset), frames_of(item.GetDuration)


def _clip_start(plan: ClipPlan, clip_first: int, origin: str) -> int:
    """The item's first used frame in the restored clip's own numbering (Resolve's source origin)."""
    return plan.used[0] - clip_first if origin == "clip" else plan.used[0]


def _mismatch(what: str, got: Tuple[int, int], want: Tuple[int, int]) -> str:
    return "Resolve placed the {} at source frame {} for {} frames where {} for {} were asked".format(
        what, got[0], got[1], want[0], want[1])


def add_take(plan: ClipPlan, output: str, first: int, mpi: "MediaPoolItem", conv: Conventions) -> Tuple[int, bool]:
    """Select the restored take on the item, reusing ours when it shows the right frames;
    returns (take index, reused). PlaceError with the original selected again when Resolve
    cannot place it right."""
    item = plan.item
    want = (plan.used[0] - first, plan.placed_duration)
    count = int(item.GetTakesCount() or 0)
    for index in range(count, 1, -1):  # ours from an earlier run: reuse it, or drop it when stale
        take = item.GetTakeByIndex(index) or {}
        pattern, clip_first = restored_pattern(take.get("mediaPoolItem"))
        if pattern != output:
            continue
        item.SelectTakeByIndex(index)
        if clip_first is not None and _readback(item) == (plan.used[0] - clip_first, plan.placed_duration):
            return index, True
        item.SelectTakeByIndex(1)
        item.DeleteTakeByIndex(index)
    inclusive = conv.take_end_inclusive
    got = want
    for attempt in range(2):
        start = _clip_start(plan, first, plan.origin)
        end = conv.end_frame(start, plan.count, inclusive)
        if not item.AddTake(mpi, start, end):
            raise PlaceError("Resolve refused the take (AddTake {} {}-{})".format(mpi.GetName(), start, end))
        index = int(item.GetTakesCount())
        item.SelectTakeByIndex(index)
        got = _readback(item)
        if got == want:
            conv.take_end_inclusive = inclusive  # what this Resolve does: kept for the rest of the run
            return index, False
        item.SelectTakeByIndex(1)
        item.DeleteTakeByIndex(index)
        if got[0] != want[0]:
            break
        inclusive = not inclusive
    raise PlaceError(_mismatch("take", got, want) + "; the take was removed (original kept)")


def _overlapping(timeline: "Timeline", track: int, start: int, end: int) -> List["TimelineItem"]:
    found = []
    for other in timeline.GetItemListInTrack("video", track) or []:
        if frames_of(other.GetEnd) > start and frames_of(other.GetStart) < end:
            found.append(other)
    return found


def _alive(timeline: "Timeline", track: int, placed: Any) -> bool:
    ident = placed.GetUniqueId() if placed is not None else ""
    return bool(ident) and any(i.GetUniqueId() == ident for i in timeline.GetItemListInTrack("video", track) or [])


def place_on_track(plan: ClipPlan, output: str, first: int, mpi: "MediaPoolItem", project: "Project", timeline: "Timeline",
                   media_pool: "MediaPool", track: int, conv: Conventions) -> Tuple["TimelineItem", bool]:
    """The restored clip on `track` at the item's record frames; (item, reused)."""
    if not project.SetCurrentTimeline(timeline):
        raise PlaceError("cannot make '{}' the current timeline (AppendToTimeline places on the current one)".format(timeline.GetName()))
    record = frames_of(plan.item.GetStart)
    want = (plan.used[0] - first, plan.placed_duration)
    for other in _overlapping(timeline, track, record, record + plan.placed_duration):
        pattern, clip_first = restored_pattern(other.GetMediaPoolItem())
        if pattern != output:
            raise PlaceError("track V{} already holds '{}' at {}-{}: not placed (AppendToTimeline does not overwrite)".format(
                track, other.GetName(), frames_of(other.GetStart), frames_of(other.GetEnd)))
        if frames_of(other.GetStart) == record and clip_first is not None and _readback(other) == (plan.used[0] - clip_first, plan.placed_duration):
            return other, True
        timeline.DeleteClips([other], False)  # ours, stale: replaced
    inclusive = conv.append_end_inclusive
    got = want
    for attempt in range(2):
        start = _clip_start(plan, first, plan.origin)
        info = {"mediaPoolItem": mpi, "startFrame": start, "endFrame": conv.end_frame(start, plan.count, inclusive),
                "trackIndex": track, "recordFrame": record}  # type: MediaPoolClipInfo
        items = media_pool.AppendToTimeline([info])  # type: ignore[arg-type]  # the stub's first AppendToTimeline lacks @overload
        placed = items[0] if items else None
        if placed is None or not _alive(timeline, track, placed):
            raise PlaceError("Resolve did not place {} on track V{} at {} (AppendToTimeline gave {})".format(
                mpi.GetName(), track, record, "a dead item" if placed is not None else "nothing"))
        got = _readback(placed)
        if got == want:
            conv.append_end_inclusive = inclusive
            return placed, False
        timeline.DeleteClips([placed], False)
        if got[0] != want[0]:
            break
        inclusive = not inclusive
    raise PlaceError(_mismatch("clip", got, want) + "; it was removed")


def is_ours(custom: Any) -> bool:
    try:
        data = json.loads(custom) if isinstance(custom, str) and custom.startswith("{") else None
    except ValueError:
        return False
    return isinstance(data, dict) and "reelfix" in data


def add_marker(target: "TimelineItem", count: int, note: str, custom: str, conv: Conventions) -> bool:
    """Replace our marker on `target` (found by its custom data) with a new one in the middle of the item."""
    for marker in list((target.GetMarkers() or {}).values()):
        data = marker.get("customData", "")
        if is_ours(data):
            target.DeleteMarkerByCustomData(data)
    left, duration = _readback(target)
    base = left if conv.marker_frame == "source" else 0
    middle = max(0, min(duration, count) - 1) // 2
    for offset in range(middle, -1, -1):  # a second marker on one frame is refused: step towards the head
        if target.AddMarker(base + offset, MARKER_COLOR, "reelfix", note, 1, custom):
            return True
    return False
