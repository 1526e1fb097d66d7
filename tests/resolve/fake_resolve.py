"""A fake DaVinci Resolve that follows `fusionscript-stubs` (Resolve 21's documented API).

Every public method here exists in the stubs with the same parameter names (checked by
test_fake_matches_the_stubs); internal state and helpers start with `_` or live at module
level. The conventions Resolve does not document are switches on `World`, so the adapter
can be tested against each reading:

* `source_origin`: "clip" (source frames count from 0) or "file" (from the file number /
  the start timecode) - for GetSourceStartFrame/EndFrame and the frames given to AddTake
  and AppendToTimeline;
* `source_end_inclusive`: GetSourceEndFrame is the last frame (True) or one past it;
* `take_end_inclusive`: the endFrame given to AddTake/AppendToTimeline is the last frame or one past;
* `mark_origin`: GetMarkInOut counts from the timeline start ("timeline") or in record frames;
* `marker_frame`: TimelineItem.AddMarker frameId counts from the item ("item") or the source;
* `version`: GetSourceStartFrame/EndFrame exist from 19.0.2;
* `file_path_style`: how a sequence's "File Path" reads: brackets | printf | hashes.
"""

import os
import re
from typing import Any, Dict, List, Optional

MARKER_COLORS = {"Blue", "Cyan", "Green", "Yellow", "Red", "Pink", "Purple", "Fuchsia", "Rose", "Lavender", "Sky", "Mint",
                 "Lemon", "Sand", "Cocoa", "Cream"}


class World:
    """The fake's switches and shared counters."""

    def __init__(self, **switches: Any) -> None:
        self.source_origin = "clip"
        self.source_end_inclusive = True
        self.take_end_inclusive = True
        self.mark_origin = "record"
        self.marker_frame = "item"
        self.version = [19, 1, 3, 7, ""]
        self.file_path_style = "brackets"
        for key, value in switches.items():
            if not hasattr(self, key):
                raise AttributeError(key)
            setattr(self, key, value)
        self._ids = 0

    def _next_id(self) -> str:
        self._ids += 1
        return f"id-{self._ids}"

    @property
    def _has_source_frames(self) -> bool:
        return [int(v) for v in self.version[:3]] >= [19, 0, 2]


def _tc_frames(tc: str, fps: float) -> int:
    hh, mm, ss, ff = (int(x) for x in re.split(r"[:;]", tc))
    return (hh * 3600 + mm * 60 + ss) * round(fps) + ff


class MediaPoolItem:
    """A movie (`_kind` movie, `_path`) or an image sequence (`_path` with ####, `_first` file number)."""

    def __init__(self, world: World, path: str, frames: int, *, kind: str = "movie", first: int = 0, fps: float = 24.0,
                 start_tc: str = "01:00:00:00", name: Optional[str] = None) -> None:
        self._world, self._path, self._frames, self._kind = world, path, frames, kind
        self._first, self._fps, self._start_tc = first, fps, start_tc
        self._name = name or os.path.basename(path).replace("####", f"[{first}-{first + frames - 1}]")
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
                 "Start TC": self._start_tc, "Clip Name": self._name, "Type": "Video"}
        if propertyName is None:
            return props
        return props.get(propertyName, "")


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


class TimelineItem:
    def __init__(self, world: World, name: str, mpi: Optional[MediaPoolItem], record: int, source_in: int, duration: int,
                 color: str = "", track: int = 1) -> None:
        self._world, self._name, self._mpi, self._record = world, name, mpi, record
        self._in, self._duration, self._color, self._track = source_in, duration, color, track
        self._takes: List[Dict[str, Any]] = []
        self._selected = 0
        self._markers: Dict[float, Dict[str, Any]] = {}
        self._id = world._next_id()

    # -- what the timeline shows ------------------------------------------------------
    def GetName(self) -> str:
        return self._name

    def GetUniqueId(self) -> str:
        return self._id

    def GetStart(self, subframe_precision: bool = False) -> int:
        return self._record

    def GetEnd(self, subframe_precision: bool = False) -> int:
        return self._record + self._duration

    def GetDuration(self, subframe_precision: bool = False) -> int:
        return self._duration

    def GetLeftOffset(self, subframe_precision: bool = False) -> int:
        return self._in

    def GetRightOffset(self, subframe_precision: bool = False) -> int:
        assert self._mpi is not None
        return self._mpi._frames - self._in - self._duration

    def GetSourceStartFrame(self) -> int:
        if not self._world._has_source_frames:
            raise TypeError("'NoneType' object is not callable")  # what a missing API method does
        assert self._mpi is not None
        return self._mpi._base + self._in

    def GetSourceEndFrame(self) -> int:
        if not self._world._has_source_frames:
            raise TypeError("'NoneType' object is not callable")
        assert self._mpi is not None
        return self._mpi._base + self._in + self._duration - (1 if self._world.source_end_inclusive else 0)

    def GetMediaPoolItem(self) -> Optional[MediaPoolItem]:
        return self._mpi

    def GetClipColor(self) -> str:
        return self._color

    def SetClipColor(self, colorName: str) -> bool:
        self._color = colorName
        return True

    # -- takes --------------------------------------------------------------------------
    def AddTake(self, mediaPoolItem: MediaPoolItem, startFrame: Optional[int] = None, endFrame: Optional[int] = None) -> bool:
        base = mediaPoolItem._base
        start0 = 0 if startFrame is None else startFrame - base
        end0 = mediaPoolItem._frames - 1 if endFrame is None else endFrame - base - (0 if self._world.take_end_inclusive else 1)
        if not (0 <= start0 <= end0 < mediaPoolItem._frames):
            return False
        if not self._takes:  # the take selector starts with the original
            assert self._mpi is not None
            self._takes.append({"mediaPoolItem": self._mpi, "_start0": self._in, "_end0": self._in + self._duration - 1})
            self._selected = 1
        self._takes.append({"mediaPoolItem": mediaPoolItem, "_start0": start0, "_end0": end0})
        return True

    def GetTakesCount(self) -> int:
        return len(self._takes)

    def GetSelectedTakeIndex(self) -> int:
        return self._selected

    def GetTakeByIndex(self, idx: int) -> Dict[str, Any]:
        take = self._takes[idx - 1]
        mpi = take["mediaPoolItem"]
        end = take["_end0"] + mpi._base + (0 if self._world.take_end_inclusive else 1)
        return {"mediaPoolItem": mpi, "startFrame": take["_start0"] + mpi._base, "endFrame": end}

    def SelectTakeByIndex(self, idx: int) -> bool:
        if not 1 <= idx <= len(self._takes):
            return False
        self._selected = idx
        return True

    def FinalizeTake(self) -> bool:
        raise AssertionError("the adapter must keep the original take")

    # -- markers ------------------------------------------------------------------------
    def AddMarker(self, frameId: float, color: str, name: str, note: str, duration: float, customData: Optional[str] = None) -> bool:
        lo = 0 if self._world.marker_frame == "item" else (self._mpi._base if self._mpi else 0) + self._in
        if color not in MARKER_COLORS or not lo <= frameId < lo + self._duration or frameId in self._markers:
            return False
        self._markers[frameId] = {"color": color, "duration": duration, "note": note, "name": name, "customData": customData or ""}
        return True

    def GetMarkers(self) -> Dict[float, Dict[str, Any]]:
        return dict(self._markers)

    def DeleteMarkerByCustomData(self, customData: str) -> bool:
        hits = [f for f, m in self._markers.items() if m["customData"] == customData]
        for f in hits:
            del self._markers[f]
        return bool(hits)


def shown_frames(item: TimelineItem) -> List[int]:
    """The frame numbers (file numbers; movie indices) the item shows through its selected take."""
    if item._takes:
        take = item._takes[item._selected - 1]
        mpi, start0, length = take["mediaPoolItem"], take["_start0"], take["_end0"] - take["_start0"] + 1
    else:
        mpi, start0, length = item._mpi, item._in, item._duration
    assert mpi is not None
    if length < item._duration:
        raise AssertionError(f"{item._name}: take of {length} frames under a {item._duration}-frame item")
    first = mpi._first if mpi._kind == "sequence" else 0
    return [first + start0 + i for i in range(item._duration)]


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

    def GetName(self) -> str:
        return self._name

    def GetUniqueId(self) -> str:
        return self._id

    def GetStartFrame(self) -> int:
        return self._start

    def GetEndFrame(self) -> int:
        return max([i.GetEnd() for t in self._tracks for i in t] or [self._start])

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

    def SetMarkInOut(self, mark_in: int, mark_out: int, type: str = "all") -> bool:
        """Marks given in record frames; stored as the world's convention says GetMarkInOut answers."""
        offset = self._start if self._world.mark_origin == "timeline" else 0
        self._marks = {"video": {"in": mark_in - offset, "out": mark_out - offset}}
        return True

    def GetMarkInOut(self) -> Dict[str, Dict[str, int]]:
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

    def ImportMedia(self, items: List[Any]) -> List[MediaPoolItem]:
        made = []
        for info in items:
            if isinstance(info, str):
                if not os.path.isfile(info):
                    return []
                made.append(MediaPoolItem(self._world, info, 1))
                continue
            path, start, end = info["FilePath"], int(info["StartIndex"]), int(info["EndIndex"])
            m = re.search(r"%0(\d+)d", path)
            if not m or end < start:
                return []
            if not all(os.path.isfile(path % n) for n in range(start, end + 1)):
                return []  # Resolve imports nothing for missing files
            pattern = path[: m.start()] + "#" * int(m.group(1)) + path[m.end():]
            made.append(MediaPoolItem(self._world, pattern, end - start + 1, kind="sequence", first=start))
        self._current._clips.extend(made)
        return made

    def AppendToTimeline(self, clipInfo: List[Dict[str, Any]]) -> List[TimelineItem]:
        timeline = self._project._current
        made = []
        for info in clipInfo:
            mpi = info["mediaPoolItem"]
            start0 = int(info["startFrame"]) - mpi._base
            end0 = int(info["endFrame"]) - mpi._base - (0 if self._world.take_end_inclusive else 1)
            track = int(info["trackIndex"])
            if not (0 <= start0 <= end0 < mpi._frames) or track > len(timeline._tracks):
                return []
            item = TimelineItem(self._world, mpi.GetName(), mpi, int(info["recordFrame"]), start0, end0 - start0 + 1, track=track)
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
        return "DaVinci Resolve Studio"


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
