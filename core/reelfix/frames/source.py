"""Frame sources: one interface over image sequences, single images and movies.

``open_source(path, colorspace)`` picks the source from the path:

* a movie (extension in ``MOVIE_EXTENSIONS``): frames are numbered by index from 0 in
  presentation order (not by timecode; the timecode of each frame is in its metadata as
  ``smpte:TimeCode``), ``fps`` is the movie's exact rate;
* a pattern (``name.####.exr``, ``name.%04d.exr``, ``name.%d.exr``): the frames found on disk
  when the source was opened (gaps are allowed; see ``sequence.find_gaps``);
* any other path: one image, numbered by its trailing digits (``plate.1001.exr`` -> 1001) or 0.

Every source's frames carry ``colorspace`` when one is given; otherwise an image's own
``oiio:ColorSpace`` tag (or "") and "" for movies, for the colour module to decide.
"""

from __future__ import annotations

import os
import re
from fractions import Fraction
from typing import Protocol, runtime_checkable

from reelfix.analysis_store import file_identity
from reelfix.errors import FrameReadError, UserError
from reelfix.frames.frame import Frame
from reelfix.frames.image_io import read_image
from reelfix.frames.movie_io import MovieReader
from reelfix.frames.sequence import SequencePattern

MOVIE_EXTENSIONS = (".mov", ".mp4", ".m4v", ".mxf", ".mkv", ".avi")


def is_movie(path: str | os.PathLike[str]) -> bool:
    """Whether the path names a movie file (by extension)."""
    return os.path.splitext(os.fspath(path))[1].lower() in MOVIE_EXTENSIONS


@runtime_checkable
class FrameSource(Protocol):
    """Anything frames can be read from by number."""

    numbers: list[int]
    display: str
    fps: Fraction | None

    def read(self, n: int) -> Frame: ...

    def close(self) -> None: ...


class SequenceSource:
    """An image sequence (or one image) read with OpenImageIO."""

    def __init__(self, pattern: SequencePattern | str, colorspace: str | None = None) -> None:
        self.pattern = pattern if isinstance(pattern, SequencePattern) else SequencePattern.parse(pattern)
        self.colorspace = colorspace
        self.display = self.pattern.display
        self.numbers: list[int] = self.pattern.scan()
        self.fps: Fraction | None = None

    def identity(self, n: int) -> str | None:
        """What identifies frame ``n``'s content for caches: its file's path, size and time."""
        return file_identity(self.pattern.path_for(n)) if self.pattern.is_sequence or n == self.pattern.single_number else None

    def read(self, n: int, keep_half: bool = False) -> Frame:
        """Frame ``n`` (`keep_half`: see `read_image`); FrameReadError when it is missing or damaged."""
        if not self.pattern.is_sequence and n != self.pattern.single_number:
            raise FrameReadError(self.display, f"frame {n} asked of a single image (its frame is {self.pattern.single_number})")
        return read_image(self.pattern.path_for(n), number=n, colorspace=self.colorspace, keep_half=keep_half)

    def close(self) -> None:
        """Nothing to release: images are opened per read."""


class MovieSource:
    """A movie read with PyAV; frames numbered from 0."""

    def __init__(self, path: str, colorspace: str | None = None) -> None:
        self.display = os.fspath(path)
        self.colorspace = colorspace
        self.reader = MovieReader(self.display)
        self.numbers: list[int] = self.reader.numbers
        self.fps: Fraction | None = self.reader.fps

    def identity(self, n: int) -> str | None:
        """The movie file's path, size and time, and the frame number."""
        whole = file_identity(self.display)
        return f"{whole}|{n}" if whole else None

    def read(self, n: int) -> Frame:
        """Frame ``n`` (0-based) as float RGB(A); colorspace set when one was given."""
        frame = self.reader.read(n)
        if self.colorspace is not None:
            frame.colorspace = self.colorspace
        return frame

    def close(self) -> None:
        """Close the movie file."""
        self.reader.close()


def _similar_files(pattern: SequencePattern, limit: int = 3) -> list[str]:
    """A few names in the pattern's folder that look like the intended frames."""
    stem = re.split(r"[._\-]", pattern.prefix.rstrip("._-"))[0] if pattern.prefix else ""
    try:
        names = sorted(os.listdir(pattern.directory or "."))
    except OSError:
        return []
    return [n for n in names if (not stem or n.startswith(stem)) and n.endswith(pattern.suffix)][:limit]


def open_source(path: str | os.PathLike[str], colorspace: str | None = None) -> FrameSource:
    """The source for ``path``: a movie, a sequence pattern or one image; UserError when nothing matches."""
    text = os.fspath(path)
    if is_movie(text):
        if not os.path.isfile(text):
            raise UserError(f"input movie {text} does not exist", hint="check the path")
        return MovieSource(text, colorspace)
    pattern = SequencePattern.parse(text)
    if not pattern.is_sequence:
        if not os.path.isfile(text):
            hint = ("for a sequence, put a placeholder where the frame number goes: name.####.exr or name.%04d.exr"
                    if re.search(r"\d+\.[^.]+$", text) else "check the path")
            raise UserError(f"input file {text} does not exist", hint=hint)
        return SequenceSource(pattern, colorspace)
    folder = pattern.directory or "."
    if not os.path.isdir(folder):
        raise UserError(f"input folder {folder} does not exist (pattern {text})", hint="check the path")
    source = SequenceSource(pattern, colorspace)
    if not source.numbers:
        similar = _similar_files(pattern)
        seen = f"; files there include {', '.join(similar)}" if similar else ""
        raise UserError(
            f"no frames match {text} in folder {folder}{seen}",
            hint="#### / %04d mean zero-padded to 4 digits (name.0001.exr); use # or %d for unpadded "
            "numbers (name.1.exr), and as many # as the files have digits",
        )
    return source
