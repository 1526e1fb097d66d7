"""A fake DaVinci Resolve that follows `fusionscript-stubs` (Resolve 21's documented API) and the real
behaviour listed in ../shared/docs/hosts.md ("Real behaviour ... Resolve"), each with its source.

Every public method here exists in the stubs with the same parameter names (checked by
test_fake_matches_the_stubs); internal state and helpers start with `_` or live at module level.

Measured behaviour modelled (hosts.md; davinci-resolve-mcp `src/utils/api_truth.py`, ayon-resolve, PRs named there):

* a selected take swaps the item's source: `GetMediaPoolItem`, `GetLeftOffset`, `GetDuration`,
  `GetSourceStart/EndFrame` answer for the selected take (take 1 is the original);
* `AppendToTimeline` places `endFrame - startFrame` frames (end exclusive), on the *current* timeline,
  never overwrites: onto an occupied range it drops the clip or returns a dead item (`append_collision`);
  source frames whose rate differs from the timeline's are converted to timeline frames by flooring;
* `GetSourceEndFrame` is exclusive when clip and timeline rates match, inclusive when they differ
  (`source_end="measured"`); `GetSourceStartFrame` can be one frame off `GetLeftOffset`
  (`source_start_slip`), which is exact;
* retimes: source frames are true source frames, left/right offsets are divided by the speed; a
  reversed clip reports start > end;
* `Timeline.GetMarkInOut` exists from 19.1.0: older versions answer None (a do-nothing callable);
* `ImportMedia` gives one item per frame when "Show Individual Frames" is on (`individual_frames`);
* item markers: `frameId` counts from the media head (`marker_frame="media"`); a second marker on
  one frame is refused; `GetMarkerByCustomData`/`DeleteMarkerByCustomData` find ours again;
* imported image sequences get the project's frame rate until `SetClipProperty("FPS", ...)`.

Undocumented, so switches (each test runs both ways where it matters): `take_end_inclusive` (AddTake's
extents), `source_origin` ("clip": source frames from 0; "file": from the file number / start timecode),
`source_end` ("measured" | "inclusive" | "exclusive"), `mark_origin`, `file_path_style`.
"""

import math
import os
import re
from typing import Any, Dict, List, Optional

MARKER_COLORS = {"Blue", "Cyan", "Green", "Yellow", "Red", "Pink", "Purple", "Fuchsia", "Rose", "Lavender", "Sky", "Mint",
                 "Lemon", "Sand", "Cocoa", "Cream"}


class World:
    """The fake's switches and shared counters."""

    def __init__(self, **switches: Any) -> None:
        self.source_origin = "clip"
        self.source_end = "measured"
        self.source_start_slip = 0
        self.take_end_inclusive = False
        self.append_end_inclusive = False
        self.append_collision = "drop"  # "drop" | "dead"
        self.mark_origin = "record"
        self.marker_frame = "media"  # "media" (ayon-resolve: GetLeftOffset() + n) | "item"
        self.version = [19, 1, 3, 7, ""]
        self.file_path_style = "brackets"
        self.individual_frames = False
        self.timeline_fps = 24.0
        self.product = "DaVinci Resolve Studio"
        for key, value in switches.items():
            if not hasattr(self, key):
                raise AttributeError(key)
            setattr(self, key, value)
        self._ids = 0

    def _next_id(self) -> str:
        self._ids += 1
        return f"id-{self._ids}"

    def _at_least(self, *version: int) -> bool:
        return [int(v) for v in self.version[:3]] >= list(version)


def _tc_frames(tc: str, fps: float) -> int:
    hh, mm, ss, ff = (int(x) for x in re.split(r"[:;]", tc))
    return (hh * 3600 + mm * 60 + ss) * round(fps) + ff


class MediaPoolItem:
    """A movie (`_kind` movie, `_path`), an image sequence (`_path` with ####, `_first` file number) or a still."""

    def __init__(self, world: World, path: str, frames: int, *, kind: str = "movie", first: int = 0, fps: float = 24.0,
                 start_tc: str = "01:00:00:00", name: Optional[str] = None) -> None:
        self._world, self._path, self._frames, self._kind = world, path, frames, kind
        self._first, self._fps, self._start_tc = first, fps, start_tc
        self._name = name or os.path.basename(path).replace("####", f"[{first}-{first + frames - 1}]")
        self._props: Dict[str, str] = {"Input Color Space": "Rec.709 Gamma 2.4"}
        self._third: Dict[str, str] = {}
        self._id = world._next_id()

    @property
    def _base(self) -> int:
        """The number of the clip's first frame in the world's source-frame convention."""
        if self._world.source_origin == "clip":
            return 0
        return self._first if self._kind == "sequence" else _tc_frames(self._start_tc, self._fps)

    def _file_path(self) -> str:
        if self._kind != "sequence":
            return self._path
        folder, name = os.path.split(self._path)
        m = re.search("#+", name)
        assert m
        pad = len(m.group(0))
        style = self._world.file_path_style
        token = {"brackets": f"[{self._first:0{pad}d}-{self._first + self._frames - 1:0{pad}d}]",
                 "printf": f"%0{pad}d", "hashes": "#" * pad}[style]
        return os.path.join(folder, name[: m.start()] + token + name[m.end():])

    def GetName(self) -> str:
        return self._name

    def GetUniqueId(self) -> str:
        return self._id

    def GetClipProperty(self, propertyName: Optional[str] = None) -> Any:
        props = {"File Path": self._file_path(), "Frames": str(self._frames), "FPS": f"{self._fps:.3f}",
                 "Start TC": self._start_tc, "Clip Name": self._name, "Type": "Video", **self._props}
        if propertyName is None:
            return props
        return props.get(propertyName, "")

    def SetClipProperty(self, propertyName: str, propertyValue: Any) -> bool:
        if propertyName == "FPS":
            self._fps = float(propertyValue)
            return True
        if propertyName in ("Input Color Space", "Clip Name"):
            self._props[propertyName] = str(propertyValue)
            return True
        return False

    def GetThirdPartyMetadata(self, metadataType: Optional[str] = None) -> Any:
        return dict(self._third) if metadataType is None else self._third.get(metadataType, "")

    def SetThirdPartyMetadata(self, metadataType: str, metadataValue: str) -> bool:
        self._third[metadataType] = metadataValue
        return True


class Folder:
    def __init__(self, world: World, name: str) -> None:
        self._world, self._name, self._clips, self._subfolders = world, name, [], []
        self._id = world._next_id()

    def GetName(self) -> str:
        return self._name

    def GetClipList(self) -> List[MediaPoolItem]:
        return list(self._clips)

    def GetSubFolderList(self) -> List["Folder"]:
        return list(self._subfolders)

    def GetUniqueId(self) -> str:
        return self._id


def _record_frames(n: int, fps: float, timeline_fps: float) -> int:
    """Timeline frames that `n` source frames at `fps` fill (Resolve floors: api_truth, mixed fps)."""
    return int(math.floor(n * timeline_fps / fps + 1e-9))


class TimelineItem:
    """`_in`: first source frame shown (from the media head); `_duration`: record frames; `_speed`: 1.0,
    2.0 (200%), -1.0 (reversed)."""

    def __init__(self, world: World, name: str, mpi: Optional[MediaPoolItem], record: int, source_in: int, duration: int,
                 color: str = "", track: int = 1, speed: float = 1.0) -> None:
        self._world, self._name, self._mpi, self._record = world, name, mpi, record
        self._in, self._duration, self._color, self._track, self._speed = source_in, duration, color, track, speed
        self._takes: List[Dict[str, Any]] = []
        self._selected = 0
        self._markers: Dict[float, Dict[str, Any]] = {}
        self._dead = False
        self._n: Optional[int] = None  # source frames shown, when placed from a range (AppendToTimeline)
        self._id = world._next_id()

    # -- what the item shows: the selected take (or the original) -----------------------
    def _view(self) -> Dict[str, Any]:
        if self._takes:
            return self._takes[self._selected - 1]
        n = self._n or int(math.ceil(self._duration * abs(self._speed) * (self._mpi._fps if self._mpi else 24.0) / self._world.timeline_fps - 1e-9))
        return {"mediaPoolItem": self._mpi, "_start0": self._in, "_n": n, "_speed": self._speed}

    def _shown_duration(self) -> int:
        view = self._view()
        if view.get("_speed", 1.0) != 1.0 or not self._takes:
            return self._duration
        return _record_frames(view["_n"], view["mediaPoolItem"]._fps, self._world.timeline_fps)

    def GetName(self) -> str:
        return self._name

    def GetUniqueId(self) -> str:
        return "" if self._dead else self._id

    def GetStart(self, subframe_precision: bool = False) -> int:
        return self._record

    def GetEnd(self, subframe_precision: bool = False) -> int:
        return self._record + self._shown_duration()

    def GetDuration(self, subframe_precision: bool = False) -> int:
        return 0 if self._dead else self._shown_duration()

    def GetLeftOffset(self, subframe_precision: bool = False) -> int:
        view = self._view()
        return int(view["_start0"] / abs(view.get("_speed", 1.0)))

    def GetRightOffset(self, subframe_precision: bool = False) -> int:
        view = self._view()
        return int((view["mediaPoolItem"]._frames - view["_start0"] - view["_n"]) / abs(view.get("_speed", 1.0)))

    def _source_frames(self) -> List[int]:
        view = self._view()
        mpi, start, n = view["mediaPoolItem"], mpi_base(view["mediaPoolItem"]) + view["_start0"], view["_n"]
        mode = self._world.source_end
        if mode == "measured":
            mode = "exclusive" if abs(mpi._fps - self._world.timeline_fps) < 1e-3 else "inclusive"
        end = start + n - (1 if mode == "inclusive" else 0)
        if view.get("_speed", 1.0) < 0:  # reversed: start > end
            start, end = end, start
        return [start + self._world.source_start_slip, end]

    def GetSourceStartFrame(self) -> int:
        if not self._world._at_least(19, 0, 2):
            raise TypeError("'NoneType' object is not callable")  # what a missing API method does
        return self._source_frames()[0]

    def GetSourceEndFrame(self) -> int:
        if not self._world._at_least(19, 0, 2):
            raise TypeError("'NoneType' object is not callable")
        return self._source_frames()[1]

    def GetMediaPoolItem(self) -> Optional[MediaPoolItem]:
        return self._view()["mediaPoolItem"] if self._mpi is not None else None

    def GetClipColor(self) -> str:
        return self._color

    def SetClipColor(self, colorName: str) -> bool:
        self._color = colorName
        return True

    # -- takes --------------------------------------------------------------------------
    def AddTake(self, mediaPoolItem: MediaPoolItem, startFrame: Optional[int] = None, endFrame: Optional[int] = None) -> bool:
        base = mpi_base(mediaPoolItem)
        start0 = 0 if startFrame is None else startFrame - base
        n = mediaPoolItem._frames - start0 if endFrame is None else endFrame - startFrame + (1 if self._world.take_end_inclusive else 0)
        if n < 1 or start0 < 0 or start0 + n > mediaPoolItem._frames:
            return False
        if not self._takes:  # the take selector starts with the original
            self._takes.append(self._view())
            self._selected = 1
        self._takes.append({"mediaPoolItem": mediaPoolItem, "_start0": start0, "_n": n, "_speed": 1.0})
        return True

    def GetTakesCount(self) -> int:
        return len(self._takes)

    def GetSelectedTakeIndex(self) -> int:
        return self._selected

    def GetTakeByIndex(self, idx: int) -> Dict[str, Any]:
        take = self._takes[idx - 1]
        mpi = take["mediaPoolItem"]
        start = take["_start0"] + mpi_base(mpi)
        return {"mediaPoolItem": mpi, "startFrame": start, "endFrame": start + take["_n"] - (1 if self._world.take_end_inclusive else 0)}

    def SelectTakeByIndex(self, idx: int) -> bool:
        if not 1 <= idx <= len(self._takes):
            return False
        self._selected = idx
        return True

    def DeleteTakeByIndex(self, idx: int) -> bool:
        if not 1 <= idx <= len(self._takes) or idx == self._selected:
            return False
        del self._takes[idx - 1]
        self._selected -= 1 if idx < self._selected else 0
        return True

    def FinalizeTake(self) -> bool:
        raise AssertionError("the adapter must keep the original take")

    # -- markers: frameId from the media head (ayon-resolve), one marker per frame -------
    def AddMarker(self, frameId: float, color: str, name: str, note: str, duration: float, customData: Optional[str] = None) -> bool:
        lo = self.GetLeftOffset() if self._world.marker_frame == "media" else 0
        if color not in MARKER_COLORS or not lo <= frameId < lo + self.GetDuration() or frameId in self._markers:
            return False
        self._markers[frameId] = {"color": color, "duration": duration, "note": note, "name": name, "customData": customData or ""}
        return True

    def GetMarkers(self) -> Dict[float, Dict[str, Any]]:
        return dict(self._markers)

    def GetMarkerByCustomData(self, customData: str) -> Dict[float, Dict[str, Any]]:
        for frame, marker in sorted(self._markers.items()):
            if marker["customData"] == customData:
                return {frame: dict(marker)}
        return {}

    def DeleteMarkerByCustomData(self, customData: str) -> bool:
        for frame in self.GetMarkerByCustomData(customData):
            del self._markers[frame]
            return True
        return False


def mpi_base(mpi: MediaPoolItem) -> int:
    return mpi._base


def shown_frames(item: TimelineItem) -> List[int]:
    """The frame numbers (file numbers; movie indices) the item shows at each of its record frames,
    through its selected take: timeline frame i shows source frame in + floor(i * speed * fps / timeline fps)."""
    view = item._view()
    mpi, start0, speed = view["mediaPoolItem"], view["_start0"], view.get("_speed", 1.0)
    assert mpi is not None
    first = mpi._first if mpi._kind == "sequence" else 0
    ratio = mpi._fps / item._world.timeline_fps
    return [first + start0 + int(math.floor(i * speed * ratio + 1e-9)) for i in range(item.GetDuration())]


class Timeline:
    def __init__(self, world: World, name: str, start: int = 86400) -> None:
        self._world, self._name, self._start = world, name, start
        self._tracks: List[List[TimelineItem]] = [[]]
        self._track_names = ["Video 1"]
        self._marks: Dict[str, Dict[str, int]] = {}
        self._id = world._next_id()

    def _add(self, item: TimelineItem) -> TimelineItem:
        while len(self._tracks) < item._track:
            self._tracks.append([])
            self._track_names.append(f"Video {len(self._tracks)}")
        self._tracks[item._track - 1].append(item)
        self._tracks[item._track - 1].sort(key=lambda i: i._record)
        return item

    def _free(self, track: int, start: int, end: int) -> bool:
        return all(i.GetEnd() <= start or i.GetStart() >= end for i in self._tracks[track - 1])

    def GetName(self) -> str:
        return self._name

    def GetUniqueId(self) -> str:
        return self._id

    def GetStartFrame(self) -> int:
        return self._start

    def GetEndFrame(self) -> int:
        return max([i.GetEnd() for t in self._tracks for i in t] or [self._start])

    def GetSetting(self, settingName: str) -> str:
        return f"{self._world.timeline_fps:g}" if settingName == "timelineFrameRate" else ""

    def GetTrackCount(self, trackType: str) -> int:
        return len(self._tracks) if trackType == "video" else 0

    def GetItemListInTrack(self, trackType: str, index: int) -> List[TimelineItem]:
        if trackType != "video" or not 1 <= index <= len(self._tracks):
            return []
        return list(self._tracks[index - 1])

    def AddTrack(self, trackType: str, subTrackType: Optional[str] = None) -> bool:
        if trackType != "video":
            return False
        self._tracks.append([])
        self._track_names.append(f"Video {len(self._tracks)}")
        return True

    def GetTrackName(self, trackType: str, trackIndex: int) -> str:
        return self._track_names[trackIndex - 1]

    def SetTrackName(self, trackType: str, trackIndex: int, name: str) -> bool:
        self._track_names[trackIndex - 1] = name
        return True

    def DeleteClips(self, timelineItems: List[TimelineItem], Bool: bool = False) -> bool:
        for item in timelineItems:
            for track in self._tracks:
                if item in track:
                    track.remove(item)
        return True

    def SetMarkInOut(self, mark_in: int, mark_out: int, type: str = "all") -> bool:
        """Marks given in record frames; stored as the world's convention says GetMarkInOut answers."""
        offset = self._start if self._world.mark_origin == "timeline" else 0
        self._marks = {"video": {"in": mark_in - offset, "out": mark_out - offset}}
        return True

    def GetMarkInOut(self) -> Any:
        if not self._world._at_least(19, 1, 0):
            return None  # before 19.1 an unknown name is a do-nothing callable
        return dict(self._marks)


class MediaPool:
    def __init__(self, world: World, project: "Project") -> None:
        self._world, self._project = world, project
        self._root = Folder(world, "Master")
        self._current = self._root

    def GetRootFolder(self) -> Folder:
        return self._root

    def AddSubFolder(self, folder: Folder, name: str) -> Folder:
        sub = Folder(self._world, name)
        folder._subfolders.append(sub)
        return sub

    def GetCurrentFolder(self) -> Folder:
        return self._current

    def SetCurrentFolder(self, folder: Folder) -> bool:
        self._current = folder
        return True

    def DeleteClips(self, clips: List[MediaPoolItem]) -> bool:
        for folder in [self._root, *self._root._subfolders]:
            folder._clips = [c for c in folder._clips if c not in clips]
        return True

    def ImportMedia(self, items: List[Any]) -> List[MediaPoolItem]:
        made = []
        fps = self._world.timeline_fps  # image sequences get the project's rate
        for info in items:
            if isinstance(info, str):
                if not os.path.isfile(info):
                    return []
                made.append(MediaPoolItem(self._world, info, 1, kind="still", fps=fps))
                continue
            path, start, end = info["FilePath"], int(info["StartIndex"]), int(info["EndIndex"])
            m = re.search(r"%0(\d+)d", path)
            if not m or end < start:
                return []
            if not all(os.path.isfile(path % n) for n in range(start, end + 1)):
                return []  # Resolve imports nothing for missing files
            if self._world.individual_frames:  # "Show Individual Frames": one still per file
                made.extend(MediaPoolItem(self._world, path % n, 1, kind="still", fps=fps) for n in range(start, end + 1))
                continue
            pattern = path[: m.start()] + "#" * int(m.group(1)) + path[m.end():]
            made.append(MediaPoolItem(self._world, pattern, end - start + 1, kind="sequence", first=start, fps=fps))
        self._current._clips.extend(made)
        return made

    def AppendToTimeline(self, clipInfo: List[Dict[str, Any]]) -> List[TimelineItem]:
        timeline = self._project._current
        assert timeline is not None
        made = []
        for info in clipInfo:
            mpi = info["mediaPoolItem"]
            start0 = int(info["startFrame"]) - mpi._base
            n = int(info["endFrame"]) - int(info["startFrame"]) + (1 if self._world.append_end_inclusive else 0)
            track, record = int(info["trackIndex"]), int(info["recordFrame"])
            if n < 1 or start0 < 0 or start0 + n > mpi._frames or track > len(timeline._tracks):
                continue
            item = TimelineItem(self._world, mpi.GetName(), mpi, record, start0, _record_frames(n, mpi._fps, self._world.timeline_fps), track=track)
            item._n = n
            if not timeline._free(track, record, record + item._duration):  # never overwrites
                if self._world.append_collision == "dead":
                    item._dead = True
                    made.append(item)
                continue
            made.append(timeline._add(item))
        return made


class Project:
    def __init__(self, world: World, name: str = "Film") -> None:
        self._world, self._name = world, name
        self._pool = MediaPool(world, self)
        self._timelines: List[Timeline] = []
        self._current: Optional[Timeline] = None

    def GetName(self) -> str:
        return self._name

    def GetMediaPool(self) -> MediaPool:
        return self._pool

    def GetSetting(self, settingName: str) -> str:
        return f"{self._world.timeline_fps:g}" if settingName == "timelineFrameRate" else ""

    def GetTimelineCount(self) -> int:
        return len(self._timelines)

    def GetTimelineByIndex(self, idx: int) -> Timeline:
        return self._timelines[idx - 1]

    def GetCurrentTimeline(self) -> Optional[Timeline]:
        return self._current

    def SetCurrentTimeline(self, timeline: Timeline) -> bool:
        self._current = timeline
        return True


class ProjectManager:
    def __init__(self, project: Project) -> None:
        self._project = project

    def GetCurrentProject(self) -> Project:
        return self._project


class Resolve:
    def __init__(self, world: Optional[World] = None) -> None:
        self._world = world or World()
        self._pm = ProjectManager(Project(self._world))

    def GetProjectManager(self) -> ProjectManager:
        return self._pm

    def GetVersion(self) -> List[Any]:
        return list(self._world.version)

    def GetVersionString(self) -> str:
        return ".".join(str(v) for v in self._world.version[:4])

    def GetProductName(self) -> str:
        return self._world.product


# -- a test scene -------------------------------------------------------------------------
TL_START = 86400


class _Scene(object):
    def __init__(self, **parts: Any) -> None:
        self.__dict__.update(parts)


def build_scene(world: World, movie: str, plate: str, gone: str, movie_frames: int = 30, seq_frames: int = 30) -> Any:
    """V1: movie (src 5, 10 fr) | seq (src 10 = file 1011, 8 fr) | seq again (src 14, 5 fr) | offline | title | a Blue clip.
    All but the last are Orange."""
    resolve = Resolve(world)
    project = resolve.GetProjectManager().GetCurrentProject()
    timeline = Timeline(world, "Reel 1", TL_START)
    project._timelines.append(timeline)
    project._current = timeline
    m = MediaPoolItem(world, movie, movie_frames, kind="movie", start_tc="01:00:00:00")
    s = MediaPoolItem(world, plate, seq_frames, kind="sequence", first=1001)
    off = MediaPoolItem(world, gone, 50)
    project.GetMediaPool().GetRootFolder()._clips.extend([m, s, off])
    items = {
        "movie": TimelineItem(world, "movie", m, TL_START, 5, 10, "Orange"),
        "seq": TimelineItem(world, "seq", s, TL_START + 10, 10, 8, "Orange"),
        "seq again": TimelineItem(world, "seq again", s, TL_START + 18, 14, 5, "Orange"),
        "offline": TimelineItem(world, "offline", off, TL_START + 23, 3, 6, "Orange"),
        "title": TimelineItem(world, "title", None, TL_START + 29, 0, 24, "Orange"),
        "blue": TimelineItem(world, "blue", m, TL_START + 53, 20, 5, "Blue"),
    }
    for item in items.values():
        timeline._add(item)
    return _Scene(resolve=resolve, project=project, timeline=timeline, items=items, movie=m, seq=s)
