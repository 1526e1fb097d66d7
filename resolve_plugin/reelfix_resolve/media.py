"""A media pool clip's source media on disk: a movie or an image sequence, as the core reads it.

Resolve shows an image sequence's `File Path` as `name.[1001-1100].ext` (seen in 17-19;
`name_[0001-0100].ext` too); `name.%04d.ext` and `name.####.ext` are accepted as well. The
core reads sequences as `name.####.ext` (frames numbered by file) and movies by index from 0.
"""

import hashlib
import os
import re
from typing import Any, List, Optional, Tuple

from .core import manifest_for, run_manifests

_BRACKETS = re.compile(r"\[(-?\d+)-(-?\d+)\]")
_PRINTF = re.compile(r"%0?(\d*)d")
_HASHES = re.compile(r"#+")
_ADAPTER_LAYOUT = re.compile(r"_[0-9a-f]{6}[/\\]p[0-9a-f]{8}[/\\][^/\\]+$")  # restore.merge_spans' folders
_TIMECODE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;.])(\d{2,3})$")
METADATA_KEY = "reelfix"  # third-party metadata on the clips reelfix imports
MOVIE_EXTENSIONS = (".mov", ".mp4", ".m4v", ".mxf", ".mkv", ".avi")


class Offline(Exception):
    """The clip's media cannot be restored (offline, missing, not a file)."""


class SourceMedia(object):
    """One source on disk. `first`/`last`: core frame numbers the media has (inclusive);
    `file_first`: the number Resolve's "file" frame origin starts from (sequence: first file
    number; movie: start timecode in frames)."""

    def __init__(self, path: str, kind: str, first: int, last: Optional[int], file_first: int,
                 numbers: Optional[List[int]] = None, fps: float = 24.0, colorspace: str = "") -> None:
        self.path = path
        self.fps = fps  # the clip's FPS property: a 16 fps scan stays 16 fps in a 24 fps timeline
        self.colorspace = colorspace  # the clip's "Input Color Space" property (Resolve's name; "" when unknown)
        self.kind = kind
        self.first = first
        self.last = last
        self.file_first = file_first
        self.numbers = numbers  # frames present on disk (sequences)

    def core_frame(self, clip_frame: int) -> int:
        """Core frame number of the clip's `clip_frame`-th frame (0 = the media's first)."""
        return self.first + clip_frame

    @property
    def stem(self) -> str:
        name = os.path.basename(self.path)
        if self.kind == "sequence":
            return _HASHES.split(name)[0].rstrip("._- ") or "frames"
        return os.path.splitext(name)[0] or "movie"

    @property
    def folder_name(self) -> str:
        """The stem plus a short hash of the path: two sources with one name never share frames."""
        return "{}_{}".format(self.stem, hashlib.sha1(self.path.encode("utf-8")).hexdigest()[:6])


def _hashes(folder: str, prefix: str, padding: int, suffix: str) -> str:
    return os.path.join(folder, prefix + ("#" * padding if padding > 1 else "#") + suffix)


def parse_file_path(text: str) -> Tuple[str, Optional[int], Optional[int]]:
    """(path, first, last): sequences become `name.####.ext` with the bracketed range when
    shown; a movie (or single file) comes back unchanged with (None, None)."""
    folder, name = os.path.split(text.strip())
    m = _BRACKETS.search(name)
    if m:
        a, b = m.group(1).lstrip("-"), m.group(2).lstrip("-")
        padding = len(a) if (len(a) == len(b) or a.startswith("0")) else 0
        return _hashes(folder, name[: m.start()], padding, name[m.end():]), int(m.group(1)), int(m.group(2))
    m = _PRINTF.search(name)
    if m:
        return _hashes(folder, name[: m.start()], int(m.group(1) or 0), name[m.end():]), None, None
    m = _HASHES.search(name)
    if m:
        return _hashes(folder, name[: m.start()], len(m.group(0)), name[m.end():]), None, None
    return text.strip(), None, None


def scan_sequence(pattern: str) -> List[int]:
    """Frame numbers on disk for `name.####.ext` (`#` alone: unpadded), sorted."""
    folder, name = os.path.split(pattern)
    m = _HASHES.search(name)
    if not m:
        return []
    prefix, suffix = name[: m.start()], name[m.end():]
    padding = len(m.group(0)) if len(m.group(0)) > 1 else 0
    regex = re.compile(re.escape(prefix) + r"(-?\d+)" + re.escape(suffix) + r"\Z")
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return []
    found = []
    for entry in names:
        hit = regex.match(entry)
        if hit and entry == "{}{:0{}d}{}".format(prefix, int(hit.group(1)), padding, suffix):
            found.append(int(hit.group(1)))
    return sorted(found)


def printf_pattern(pattern: str) -> str:
    """`name.####.exr` -> `name.%04d.exr` (what MediaPool.ImportMedia wants)."""
    m = _HASHES.search(os.path.basename(pattern))
    if not m:
        return pattern
    n = len(m.group(0))
    folder, name = os.path.split(pattern)
    return os.path.join(folder, name[: m.start()] + ("%0{}d".format(n) if n > 1 else "%d") + name[m.end():])


def timecode_frames(timecode: str, fps: float) -> int:
    """Frames since 00:00:00:00 (`;` = drop frame at 29.97/59.94); 0 when unreadable."""
    m = _TIMECODE.match((timecode or "").strip())
    if not m or fps <= 0:
        return 0
    hh, mm, ss, ff = int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(5))
    nominal = max(1, int(round(fps)))
    frames = (hh * 3600 + mm * 60 + ss) * nominal + ff
    if m.group(4) == ";" and nominal % 30 == 0:
        minutes = hh * 60 + mm
        frames -= (nominal // 15) * (minutes - minutes // 10)
    return frames


def _number(text: Any) -> Optional[float]:
    try:
        return float(str(text).strip())
    except ValueError:
        return None


def source_media(mpi: Any) -> SourceMedia:
    """The source of a media pool item; Offline with a reason when it cannot be restored."""
    if mpi is None:
        raise Offline("no media pool clip (a generator, title, compound or Fusion clip)")
    raw = mpi.GetClipProperty("File Path")
    text = raw if isinstance(raw, str) else ""
    if not text.strip():
        raise Offline("no file path (media offline or not file-based)")
    path, first, last = parse_file_path(text)
    fps = _number(mpi.GetClipProperty("FPS")) or 24.0
    space = mpi.GetClipProperty("Input Color Space")
    colorspace = space if isinstance(space, str) else ""
    if path != text.strip() or "#" in os.path.basename(path):
        numbers = scan_sequence(path)
        if not numbers:
            raise Offline("media offline: no frames of {} on disk".format(path))
        first = numbers[0] if first is None else first
        last = numbers[-1] if last is None else min(last, numbers[-1])
        return SourceMedia(path, "sequence", first, last, first, numbers, fps, colorspace)
    if not os.path.isfile(path):
        raise Offline("media offline: {} does not exist".format(path))
    if os.path.splitext(path)[1].lower() not in MOVIE_EXTENSIONS:
        raise Offline("{} is a still image or an unsupported format".format(os.path.basename(path)))
    frames = _number(mpi.GetClipProperty("Frames"))
    last_frame = int(frames) - 1 if frames else None
    tc = mpi.GetClipProperty("Start TC")
    return SourceMedia(path, "movie", 0, last_frame, timecode_frames(tc if isinstance(tc, str) else "", fps), None, fps, colorspace)


def reelfix_output(mpi: Any) -> str:
    """The path of a media pool clip that this adapter restored ("" for any other clip): the
    third-party metadata it sets on import (`METADATA_KEY`), or its folder layout
    (`<stem>_<source hash>/p<pipeline hash>/`) with a reelfix manifest beside the frames (what
    `reelfix run` writes: `A001.####.exr` -> `A001.reelfix.json`, or a farm run's per-task
    manifests), so a clip imported again by
    hand or a finalized take is recognised too."""
    try:
        tagged = mpi.GetThirdPartyMetadata(METADATA_KEY)
    except (TypeError, AttributeError):
        tagged = ""
    raw = mpi.GetClipProperty("File Path")
    text = raw if isinstance(raw, str) else ""
    if isinstance(tagged, str) and tagged.strip():
        return text or tagged
    if not text.strip():
        return ""
    path = parse_file_path(text)[0]
    if "#" not in os.path.basename(path) or not _ADAPTER_LAYOUT.search(path):  # reelfix_resolve's own layout only:
        return ""  # a sequence restored with the reelfix CLI and edited in is a source like any other
    return text if run_manifests(manifest_for(path)) else ""  # a farm run: each task's NAME.reelfix.FRAMES.json
