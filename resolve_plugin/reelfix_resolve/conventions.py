"""Every Resolve API convention reelfix could not verify, in one place, as switches.

Resolve's scripting documentation does not say these things, and no Resolve runs where
reelfix is developed and tested. Each one is a switch with a documented default; the
tests run the adapter against a fake Resolve set each way. Where the API itself can tell
(two answers that must agree), "auto" works it out per clip and falls back to the default.

source_origin ("auto" | "clip" | "file"; default "auto", falling back to "clip")
    How `TimelineItem.GetSourceStartFrame/GetSourceEndFrame` (19.0.2+) count a clip's
    frames, and so how we count the `startFrame`/`endFrame` we pass to `AddTake` and
    `AppendToTimeline`: "clip" = 0 at the media's first frame; "file" = the media's own
    numbers (an image sequence's file number, a movie's start timecode in frames).
    "auto" compares `GetSourceStartFrame()` with `GetLeftOffset()` (clip-based and exact),
    allowing the one frame `GetSourceStartFrame` is measured to be off. Without
    `GetSourceStartFrame` (before 19.0.2) the fallback decides the take frames.
take_end_inclusive (default False)
    Whether the `endFrame` we pass to `AddTake` is the last frame (True) or one past it
    (False, like AppendToTimeline's). Undocumented: every take is read back after it is
    added (`GetDuration`, `GetLeftOffset` with it selected) and a take one frame off is
    added again with the other reading, which is then kept for the rest of the run.
append_end_inclusive (default False)
    The same for `MediaPool.AppendToTimeline` (measured exclusive: davinci-resolve-mcp
    issue #82); placed items are read back the same way.
mark_origin ("auto" | "timeline" | "record"; default "auto", falling back to "record")
    Whether `Timeline.GetMarkInOut()` frames count from the timeline start (0) or are
    record frames like `TimelineItem.GetStart()`. "auto": a value below
    `Timeline.GetStartFrame()` can only be timeline-relative.
marker_frame ("source" | "item"; default "source")
    What `TimelineItem.AddMarker(frameId, ...)` counts from: the source media's head
    (ayon-resolve writes `GetLeftOffset() + duration / 2`) or the item's first frame.
free_external_scripting (default False)
    Whether Resolve's free version answers `DaVinciResolveScript.scriptapp("Resolve")`
    from outside (automation). Only changes the reasons printed when it returns None.
source_frames_min_version (default [19, 0, 2])
    The first Resolve version with `GetSourceStartFrame`/`GetSourceEndFrame`.
marks_min_version (default [19, 1, 0])
    The first Resolve version with `Timeline.GetMarkInOut` (older ones answer any unknown
    name with a do-nothing callable).

Set them in the reelfix config file (`config.json`, key "resolve_conventions"), in the
environment variable REELFIX_RESOLVE_CONVENTIONS (JSON), or on the automation command line
(`--convention source_origin=file`); later ones win. `python -m reelfix_resolve conventions`
prints the values in force.
"""

import json
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence

CHOICES = {
    "source_origin": ("auto", "clip", "file"),
    "mark_origin": ("auto", "timeline", "record"),
    "marker_frame": ("source", "item"),
}
FLAGS = ("take_end_inclusive", "append_end_inclusive", "free_external_scripting")
VERSIONS = ("source_frames_min_version", "marks_min_version")
ENV_VAR = "REELFIX_RESOLVE_CONVENTIONS"


class ConventionError(ValueError):
    """A convention name or value that does not exist."""


class Conventions(object):
    """The switches, with their defaults; see the module docstring for each one."""

    FALLBACK_ORIGIN = "clip"
    FALLBACK_MARK_ORIGIN = "record"

    def __init__(self, **values: Any) -> None:
        self.source_origin = "auto"
        self.take_end_inclusive = False
        self.append_end_inclusive = False
        self.mark_origin = "auto"
        self.marker_frame = "source"
        self.free_external_scripting = False
        self.source_frames_min_version = [19, 0, 2]  # type: List[int]
        self.marks_min_version = [19, 1, 0]  # type: List[int]
        self.update(values, "arguments")

    def update(self, values: Mapping[str, Any], where: str) -> "Conventions":
        for key, value in values.items():
            if key in CHOICES:
                if value not in CHOICES[key]:
                    raise ConventionError("{}: {}={!r}: choose one of {}".format(where, key, value, ", ".join(CHOICES[key])))
            elif key in FLAGS:
                value = _flag(value, key, where)
            elif key in VERSIONS:
                value = _version(value, key, where)
            else:
                known = sorted(list(CHOICES) + list(FLAGS) + list(VERSIONS))
                raise ConventionError("{}: unknown convention '{}' (known: {})".format(where, key, ", ".join(known)))
            setattr(self, key, value)
        return self

    def as_dict(self) -> Dict[str, Any]:
        keys = list(CHOICES) + list(FLAGS) + list(VERSIONS)
        return {k: getattr(self, k) for k in keys}

    # -- what the switches decide -------------------------------------------------------
    def has_source_frames(self, version: Sequence[Any]) -> bool:
        """Whether this Resolve version has GetSourceStartFrame/GetSourceEndFrame."""
        return _at_least(version, self.source_frames_min_version)

    def has_mark_in_out(self, version: Sequence[Any]) -> bool:
        """Whether this Resolve version has Timeline.GetMarkInOut."""
        return _at_least(version, self.marks_min_version)

    def origin(self, reported_start: Optional[int], left_offset: int, file_first: int) -> str:
        """"clip" or "file": how this clip's source frames are counted."""
        if self.source_origin != "auto":
            return self.source_origin
        if reported_start is not None:  # exact first, then the one frame GetSourceStartFrame can be off
            for slack in (0, 1):
                if abs(reported_start - left_offset) <= slack:
                    return "clip"
                if abs(reported_start - (left_offset + file_first)) <= slack:
                    return "file"
        return self.FALLBACK_ORIGIN

    def end_frame(self, start: int, count: int, inclusive: bool) -> int:
        """The endFrame to pass for `count` frames from `start` (AddTake / AppendToTimeline)."""
        return start + count - (1 if inclusive else 0)

    def marks_to_record(self, mark: int, timeline_start: int) -> int:
        """A GetMarkInOut frame as a record frame (like TimelineItem.GetStart)."""
        mode = self.mark_origin
        if mode == "auto":
            mode = "timeline" if mark < timeline_start else self.FALLBACK_MARK_ORIGIN
        return mark + timeline_start if mode == "timeline" else mark


def _flag(value: Any, key: str, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConventionError("{}: {}={!r}: use true or false".format(where, key, value))


def _at_least(version: Sequence[Any], minimum: Sequence[int]) -> bool:
    try:
        parts = [int(v) for v in list(version)[:3]]
    except (TypeError, ValueError):
        return False
    return parts >= list(minimum)


def _version(value: Any, key: str, where: str) -> List[int]:
    parts = value.split(".") if isinstance(value, str) else value
    try:
        return [int(p) for p in parts]
    except (TypeError, ValueError):
        raise ConventionError("{}: {}={!r}: write it like 19.0.2".format(where, key, value))


def parse_assignments(items: Sequence[str], where: str = "--convention") -> Dict[str, str]:
    """["source_origin=file", ...] -> {"source_origin": "file"}."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConventionError("{} {}: write it as name=value".format(where, item))
        out[key.strip()] = value.strip()
    return out


def load(config: Optional[Mapping[str, Any]] = None, environ: Optional[Mapping[str, str]] = None,
         assignments: Sequence[str] = ()) -> Conventions:
    """Defaults, then the config file's "resolve_conventions", then the environment, then `assignments`."""
    conv = Conventions()
    section = (config or {}).get("resolve_conventions")
    if isinstance(section, dict):
        conv.update(section, "config.json resolve_conventions")
    env = os.environ if environ is None else environ
    text = env.get(ENV_VAR, "").strip()
    if text:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConventionError("{}: not valid JSON ({})".format(ENV_VAR, exc))
        if not isinstance(data, dict):
            raise ConventionError("{}: must be a JSON object".format(ENV_VAR))
        conv.update(data, ENV_VAR)
    if assignments:
        conv.update(parse_assignments(assignments), "--convention")
    return conv
