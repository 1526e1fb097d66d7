"""Restore the chosen clips of a Resolve timeline and put the results back as takes (or on a new track).

For each chosen item: find its original media and used frames (+handles), restore them with
the core in its own process (one job per source span: items sharing a source and
overlapping frames share one run), import the frames into the bin "reelfix restored"
(one clip, with the original's frame rate and input colour space), add them to the item as
a take and select it (the original stays take 1), or place them on a new track above; a
marker records the pipeline and the manifest. Items whose media is offline, reversed or
retimed are skipped with a message; the others go on.

Reruns: restored media live in a folder per source and pipeline (`<source>_<hash>/<pipeline
hash>/`), so the same pipeline resumes (finished frames are skipped, the bin clip, take or
track clip and marker are reused or replaced, never stacked) and a changed pipeline makes a
new take from the original media.
"""

import hashlib
import json
import os
import re
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from . import core
from .clips import ClipPlan, Skip, frames_of, plan_item, select_items
from .conventions import Conventions
from .media import METADATA_KEY, parse_file_path, printf_pattern
from .place import PlaceError, add_marker, add_take, place_on_track

if TYPE_CHECKING:
    from fusionscript import Folder, MediaPool, MediaPoolItem, Project, Resolve, Timeline

BIN_NAME = "reelfix restored"
TRACK_NAME = "reelfix restored"


class RestoreError(Exception):
    """Nothing can be restored (no project, timeline or pipeline); the message says why."""


class Options(object):
    def __init__(self, pipeline: str, clip_color: Optional[str] = None, track: Optional[int] = None, marks: bool = False,
                 handles: int = 8, mode: str = "take", timeline: Optional[str] = None, out_dir: Optional[str] = None,
                 farm: Optional[str] = None, chunk: int = 10) -> None:
        if mode not in ("take", "track"):
            raise RestoreError("--as {}: choose take or track".format(mode))
        if farm not in (None, "openjd", "deadline"):
            raise RestoreError("--farm {}: choose openjd or deadline".format(farm))
        if not (clip_color or track or marks):
            raise RestoreError("choose the clips: a clip colour, a track, or the timeline's in/out marks")
        self.pipeline, self.clip_color, self.track, self.marks = os.path.abspath(pipeline), clip_color, track, marks
        self.handles, self.mode, self.timeline, self.out_dir = max(0, int(handles)), mode, timeline, out_dir
        self.farm, self.chunk = farm, max(1, int(chunk))


class ClipReport(object):
    def __init__(self, label: str, status: str, message: str = "", order: Tuple[int, int] = (0, 0)) -> None:
        self.label, self.status, self.message = label, status, message  # status: restored|skipped|failed|farm
        self.order = order  # (track, record frame): reports are listed in timeline order

    def line(self) -> str:
        return "{:<9} {}: {}".format(self.status, self.label, self.message)


class Reporter(object):
    """Where messages and progress go: printed (Resolve's console, a terminal); the dialog
    substitutes its own."""

    def message(self, text: str) -> None:
        print("reelfix: " + text)

    def progress(self, label: str, done: int, total: int) -> None:
        if total and (done == total or done == 1 or done % 10 == 0):
            print("reelfix: {} {}/{} frames".format(label, done, total))


class Span(object):
    """Frames first..last of one source, restored by one job into `output`."""

    def __init__(self, plan: ClipPlan, output: str) -> None:
        self.media, self.first, self.last = plan.media, plan.wanted[0], plan.wanted[1]
        self.output, self.plans = output, [plan]
        self.job_file, self.manifest, self.error, self.farm_files = "", core.manifest_for(output), "", ""
        self.mpi = None  # type: Optional[MediaPoolItem]

    @property
    def name(self) -> str:
        return "{}.{}.{}-{}".format(self.media.folder_name, os.path.basename(os.path.dirname(self.output)), self.first, self.last)


def find_timeline(project: "Project", name: Optional[str]) -> "Timeline":
    if not name:
        timeline = project.GetCurrentTimeline()
        if not timeline:
            raise RestoreError("the project has no current timeline: open one (or pass --timeline NAME)")
        return timeline
    names = []
    for i in range(1, int(project.GetTimelineCount() or 0) + 1):
        timeline = project.GetTimelineByIndex(i)
        if timeline and timeline.GetName() == name:
            project.SetCurrentTimeline(timeline)  # AppendToTimeline works on the current timeline
            return timeline
        names.append(timeline.GetName() if timeline else "?")
    raise RestoreError("no timeline named '{}' (timelines: {})".format(name, ", ".join(names) or "none"))


def timeline_fps(project: "Project", timeline: "Timeline") -> float:
    for owner in (timeline, project):
        try:
            value = float(str(owner.GetSetting("timelineFrameRate")).strip())
        except (TypeError, ValueError, AttributeError):
            continue
        if value > 0:
            return value
    return 24.0


def default_out_dir(project: "Project", config: Dict[str, Any]) -> str:
    root = config.get("resolve_output_dir") or os.path.join(os.path.expanduser("~"), "reelfix", "resolve")
    return os.path.join(str(root), re.sub(r"[^\w.-]+", "_", project.GetName() or "project"))


def pipeline_key(pipeline: Dict[str, Any]) -> str:
    """A short hash of what decides the pixels (nodes, parameters, colour spaces, output options; not
    the device or memory budget): the restored frames' folder, so a changed pipeline never resumes
    or reuses another's frames."""
    decisive = {k: v for k, v in pipeline.items() if k not in ("device", "max_memory")}
    text = json.dumps(decisive, sort_keys=True, separators=(",", ":"), default=str)
    return "p" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]


def merge_spans(plans: List[ClipPlan], out_dir: str, extension: str, key: str = "") -> List[Span]:
    """One span per run of overlapping or touching ranges of one source."""
    spans = []  # type: List[Span]
    for plan in sorted(plans, key=lambda p: (p.media.path, p.wanted)):
        last = spans[-1] if spans else None
        if last is not None and last.media.path == plan.media.path and plan.wanted[0] <= last.last + 1:
            last.last = max(last.last, plan.wanted[1])
            last.plans.append(plan)
            continue
        name = "{}.####.{}".format(plan.media.stem, extension)
        spans.append(Span(plan, os.path.join(out_dir, plan.media.folder_name, key, name) if key else
                          os.path.join(out_dir, plan.media.folder_name, name)))
    return spans


def job_data(pipeline: Dict[str, Any], span: Span) -> Dict[str, Any]:
    out = pipeline.get("output") or {}
    return {
        "input": {"path": span.media.path, "frames": "{}-{}".format(span.first, span.last), "colorspace": pipeline.get("colorspace")},
        "output": {"path": span.output, "compression": out.get("compression"), "bit_depth": out.get("bit_depth"),
                   "colorspace": out.get("colorspace")},
        "pipeline": pipeline["pipeline"],
        "device": pipeline.get("device", "auto"),
        "max_memory": pipeline.get("max_memory", "2GB"),
    }


def pipeline_text(pipeline: Dict[str, Any]) -> str:
    parts = []
    for entry in pipeline["pipeline"]:
        params = ", ".join("{}={}".format(k, v) for k, v in sorted((entry.get("params") or {}).items()))
        parts.append("{}({})".format(entry.get("node"), params))
    return " -> ".join(parts)


def get_bin(media_pool: "MediaPool") -> "Folder":
    root = media_pool.GetRootFolder()
    for folder in root.GetSubFolderList() or []:
        if folder.GetName() == BIN_NAME:
            return folder
    folder = media_pool.AddSubFolder(root, BIN_NAME)
    if not folder:
        raise RestoreError("cannot create the bin '{}' in the media pool".format(BIN_NAME))
    return folder


def _same_sequence(mpi: "MediaPoolItem", pattern: str, first: int, last: int) -> bool:
    text = mpi.GetClipProperty("File Path")
    return isinstance(text, str) and parse_file_path(text) == (pattern, first, last)


def import_span(media_pool: "MediaPool", folder: "Folder", span: Span, colorspace: bool = True) -> "MediaPoolItem":
    """The span's frames as one media pool clip in the bin (reused when already there), with the
    original's frame rate (and input colour space when the pipeline keeps the colour space)."""
    mpi = next((m for m in folder.GetClipList() or [] if _same_sequence(m, span.output, span.first, span.last)), None)
    if mpi is None:
        items = media_pool.ImportMedia([{"FilePath": printf_pattern(span.output), "StartIndex": span.first, "EndIndex": span.last}]) or []
        count = span.last - span.first + 1
        if len(items) != 1 or str(items[0].GetClipProperty("Frames")).strip() != str(count):
            if items:
                media_pool.DeleteClips(list(items))
            raise RestoreError("Resolve imported {} clip(s) for the {} frames of {}: turn off 'Show Individual Frames' "
                               "(the Media Storage panel's options) so a sequence comes in as one clip, then run again".format(len(items), count, printf_pattern(span.output)))
        mpi = items[0]
        mpi.SetThirdPartyMetadata(METADATA_KEY, json.dumps({"source": span.media.path, "frames": [span.first, span.last]}))
    mpi.SetClipProperty("FPS", "{:g}".format(span.media.fps))
    if colorspace and span.media.colorspace:
        mpi.SetClipProperty("Input Color Space", span.media.colorspace)
    return mpi


def restore(resolve: "Resolve", options: Options, conv: Conventions, reelfix: str,
            reporter: Optional[Reporter] = None, config: Optional[Dict[str, Any]] = None) -> List[ClipReport]:
    """Restore the chosen clips of the timeline; one report per chosen item."""
    say = reporter or Reporter()
    project = resolve.GetProjectManager().GetCurrentProject()
    if not project:
        raise RestoreError("no project is open in Resolve")
    timeline = find_timeline(project, options.timeline)
    pipeline = core.check_pipeline(reelfix, options.pipeline)
    extension = (pipeline.get("output") or {}).get("format", "exr")
    out_dir = os.path.abspath(options.out_dir or default_out_dir(project, config or {}))
    version = list(resolve.GetVersion() or [])
    fps = timeline_fps(project, timeline)
    if not conv.has_source_frames(version):
        say.message("Resolve {} has no GetSourceStartFrame/GetSourceEndFrame (19.0.2+): reversed and speed-changed "
                    "clips cannot be told apart here, check those by hand".format(".".join(str(v) for v in version[:3])))
    try:
        chosen = select_items(timeline, conv, options.clip_color, options.track, options.marks, version)
    except Skip as exc:
        raise RestoreError(str(exc))
    reports, plans = [], []  # type: List[ClipReport], List[ClipPlan]
    for track, item in chosen:
        if options.mode == "track" and timeline.GetTrackName("video", track) == TRACK_NAME:
            continue  # our own track: its clips are the results
        try:
            plans.append(plan_item(item, track, version, conv, options.handles, say.message, fps))
        except Skip as exc:
            reports.append(ClipReport("V{} '{}'".format(track, item.GetName()), "skipped", str(exc), _order(track, item)))
            say.message("skipped V{} '{}': {}".format(track, item.GetName(), exc))
    spans = merge_spans(plans, out_dir, extension, pipeline_key(pipeline))
    jobs_dir = os.path.join(out_dir, "jobs")
    for span in spans:
        run_span(span, pipeline, jobs_dir, options, reelfix, say)
    if options.farm:
        for span in spans:
            for plan in span.plans:
                _reselect(plan)
                message = span.error or "farm files in {}; once the farm has finished, run again without farm to import".format(span.farm_files)
                reports.append(ClipReport(plan.label, "failed" if span.error else "farm", message, _order(plan.track, plan.item)))
        return sorted(reports, key=lambda r: r.order)
    media_pool = project.GetMediaPool()
    previous = media_pool.GetCurrentFolder()
    try:
        folder = get_bin(media_pool)
        media_pool.SetCurrentFolder(folder)
        track_index = new_track(timeline) if options.mode == "track" and any(not s.error for s in spans) else 0
        keep_space = not (pipeline.get("output") or {}).get("colorspace")
        for span in spans:
            for plan in span.plans:
                reports.append(place(plan, span, project, timeline, folder, track_index, pipeline, options, conv, keep_space))
    finally:
        if previous:
            media_pool.SetCurrentFolder(previous)
    return sorted(reports, key=lambda r: r.order)


def new_track(timeline: "Timeline") -> int:
    """The video track named 'reelfix restored' (made on top when there is none)."""
    count = int(timeline.GetTrackCount("video") or 0)
    for index in range(1, count + 1):
        if timeline.GetTrackName("video", index) == TRACK_NAME:
            return index
    add = timeline.AddTrack  # type: Callable[..., bool]  # the sub-track type only applies to audio tracks
    if not add("video"):
        raise RestoreError("cannot add a video track to the timeline")
    index = int(timeline.GetTrackCount("video"))
    timeline.SetTrackName("video", index, TRACK_NAME)
    return index


def _order(track: int, item: Any) -> Tuple[int, int]:
    return track, frames_of(item.GetStart)


def _reselect(plan: ClipPlan) -> None:
    """Put back the take that was selected before planning read the original."""
    if plan.selected_take > 1:
        plan.item.SelectTakeByIndex(plan.selected_take)


def run_span(span: Span, pipeline: Dict[str, Any], jobs_dir: str, options: Options, reelfix: str, say: Reporter) -> None:
    """Write the span's job and run it here (or make its farm files); errors land in span.error."""
    if not os.path.isdir(jobs_dir):
        os.makedirs(jobs_dir)
    span.job_file = os.path.join(jobs_dir, span.name + ".job.json")
    with open(span.job_file, "w") as fh:
        json.dump(job_data(pipeline, span), fh, indent=2)
    label = "{} {}-{}".format(span.media.stem, span.first, span.last)
    try:
        if options.farm:
            folder = os.path.join(os.path.dirname(jobs_dir), "farm", span.name)  # a bundle folder per job
            if not os.path.isdir(folder):
                os.makedirs(folder)
            target = os.path.join(folder, "template.yaml") if options.farm == "openjd" else folder
            span.farm_files = core.make_farm_files(reelfix, options.farm, span.job_file, options.chunk, target)
            return
        say.message("restoring {} (frames {}-{} of {})".format(label, span.first, span.last, span.media.path))
        result = core.run_job(reelfix, span.job_file, lambda done, total, event: say.progress(label, done, total))
    except core.CoreError as exc:
        span.error = str(exc)
        return
    span.manifest = result.manifest or span.manifest
    if not result.ok:
        span.error = result.reason()


def place(plan: ClipPlan, span: Span, project: "Project", timeline: "Timeline", folder: "Folder", track_index: int,
          pipeline: Dict[str, Any], options: Options, conv: Conventions, keep_space: bool = True) -> ClipReport:
    """Import the span (once), then add the take / track clip and the marker for one item."""
    order = _order(plan.track, plan.item)
    if span.error:
        _reselect(plan)
        return ClipReport(plan.label, "failed", span.error, order)
    used = "frames {}-{} (handles {}-{})".format(plan.used[0], plan.used[1], plan.wanted[0], plan.wanted[1])
    media_pool = project.GetMediaPool()
    try:
        if span.mpi is None:
            span.mpi = import_span(media_pool, folder, span, keep_space)
        if options.mode == "take":
            index, reused = add_take(plan, span.output, span.first, span.mpi, conv)
            target, where = plan.item, "take {} {} (original: take 1)".format(index, "reused" if reused else "selected")
        else:
            target, reused = place_on_track(plan, span.output, span.first, span.mpi, project, timeline, media_pool, track_index, conv)
            where = "on track V{}{}".format(track_index, " (already there)" if reused else "")
            _reselect(plan)
    except (RestoreError, PlaceError) as exc:
        _reselect(plan)
        return ClipReport(plan.label, "failed", str(exc), order)
    note = "restored with reelfix: {}\npipeline: {}\nmanifest: {}\nframes: {}".format(
        pipeline_text(pipeline), options.pipeline, span.manifest, used)
    custom = json.dumps({"reelfix": span.output, "frames": [span.first, span.last], "manifest": span.manifest}, sort_keys=True)
    marked = add_marker(target, plan.count, note, custom, conv)
    rate = ", {:g} fps source".format(plan.media.fps) if plan.mixed_rate else ""
    if plan.placed_duration != plan.duration:
        rate += " ({} timeline frames: the item ended inside a source frame)".format(plan.placed_duration)
    return ClipReport(plan.label, "restored", "{}{}, {}{}".format(used, rate, where, "" if marked else " (marker refused)"), order)
