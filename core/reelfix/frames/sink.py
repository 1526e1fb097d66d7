"""Where finished frames go: an image sequence (atomic, resumable) or a movie (written whole).

A sequence sink writes each frame to a temporary name in the output folder and renames it
when complete, and can tell whether a frame already on disk was made by the same job
(its header's `reelfix:job_hash`), which is how a rerun resumes. A movie sink writes frames
in order to a temporary file renamed on close; movies are redone whole on a rerun.
"""

from __future__ import annotations

import os
import re
import time
from fractions import Fraction
from pathlib import Path
from typing import Protocol

from ..errors import FrameReadError, FrameWriteError, JobError
from .frame import Frame
from .image_io import read_header, temp_files_in, write_image
from .movie_io import MovieWriter
from .sequence import SequencePattern
from .source import is_movie

IMAGE_EXTENSIONS = (".exr", ".dpx", ".tif", ".tiff", ".png", ".jpg", ".jpeg")
MOVIE_OUT_EXTENSIONS = (".mov",)
HASH_KEY = "reelfix:job_hash"
STALE_TEMP_SECONDS = 600.0
_TEMP_OWNER = re.compile(r"^\.(.+)\.\d+\.[0-9a-f]{8}\.tmp\.[^.]+$")  # .<frame name>.<pid>.<random>.tmp.<ext>


class FrameSink(Protocol):
    resumable: bool

    def path_for(self, number: int) -> str: ...

    def finished(self, number: int, job_hash: str) -> bool: ...

    def write(self, frame: Frame, attributes: dict[str, str]) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


class SequenceSink:
    resumable = True

    def __init__(self, path: str, *, compression: str | None, bit_depth: str | None) -> None:
        self.pattern = SequencePattern.parse(path)
        self.compression = compression
        self.bit_depth = bit_depth
        self.swept = self.sweep()

    def sweep(self, older_than: float = STALE_TEMP_SECONDS) -> list[str]:
        """Remove this output's temp files left by a killed run: hidden names that never match the
        pattern, untouched for `older_than` seconds (a live writer, here or on another farm host,
        renames its temp within seconds)."""
        frame_name = re.compile(re.escape(self.pattern.prefix) + r"-?\d+" + re.escape(self.pattern.suffix) if self.pattern.is_sequence
                                else re.escape(os.path.basename(self.pattern.display)))
        removed = []
        for tmp in temp_files_in(self.pattern.directory or "."):
            m = _TEMP_OWNER.match(os.path.basename(tmp))
            if m is None or not frame_name.fullmatch(m.group(1)):
                continue
            try:
                if time.time() - os.stat(tmp).st_mtime > older_than:
                    os.remove(tmp)
                    removed.append(tmp)
            except OSError:
                continue  # gone already, or not ours to remove
        return removed

    def path_for(self, number: int) -> str:
        return self.pattern.path_for(number) if self.pattern.is_sequence else self.pattern.display

    def finished(self, number: int, job_hash: str) -> bool:
        path = self.path_for(number)
        if not Path(path).is_file():
            return False
        try:
            return read_header(path).get(HASH_KEY) == job_hash
        except FrameReadError:
            return False  # damaged leftovers are redone

    def write(self, frame: Frame, attributes: dict[str, str]) -> None:
        write_image(
            self.path_for(frame.number),
            frame,
            compression=self.compression,
            bit_depth=self.bit_depth,
            attributes=attributes,
        )

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


class MovieSink:
    resumable = False

    def __init__(self, path: str, *, fps: Fraction, timecode: str | None) -> None:
        self.path = path
        self.fps = fps
        self.timecode = timecode
        self.writer: MovieWriter | None = None

    def path_for(self, number: int) -> str:
        return self.path

    def finished(self, number: int, job_hash: str) -> bool:
        return False

    def write(self, frame: Frame, attributes: dict[str, str]) -> None:
        if self.writer is None:
            self.writer = MovieWriter(
                self.path,
                fps=self.fps,
                width=frame.width,
                height=frame.height,
                alpha=frame.alpha_index is not None,
                timecode=self.timecode,
                metadata={k.replace(":", "_"): v for k, v in attributes.items() if k != "reelfix:source"},
            )
        self.writer.write(frame)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()


def open_sink(
    path: str, *, compression: str | None, bit_depth: str | None, fps: Fraction, timecode: str | None
) -> FrameSink:
    """A sink for the output path; the format comes from the extension."""
    ext = Path(path).suffix.lower()
    if is_movie(path):
        if ext not in MOVIE_OUT_EXTENSIONS:
            raise JobError(f"output {path}: movies are written as ProRes .mov", hint="use a .mov output or an image sequence")
        return MovieSink(path, fps=fps, timecode=timecode)
    if ext not in IMAGE_EXTENSIONS:
        raise JobError(
            f"output {path}: unknown format '{ext or '(no extension)'}'",
            hint=f"use one of {', '.join(IMAGE_EXTENSIONS + MOVIE_OUT_EXTENSIONS)}",
        )
    folder = Path(path).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FrameWriteError(str(folder), f"cannot create the output folder ({exc.strerror})", hint="choose a writable output folder") from None
    return SequenceSink(path, compression=compression, bit_depth=bit_depth)
