"""Image-sequence patterns, frame ranges and gap reports.

A pattern names every frame of a sequence with one placeholder in the file name:

* ``name.####.exr``  - one ``#`` per digit, zero padded (``name.1001.exr``; ``#`` alone = unpadded)
* ``name.%04d.exr``  - printf style, zero padded to 4 digits
* ``name.%d.exr``    - printf style, unpadded

A path with no placeholder is a single file (``is_sequence`` is False).  Frame numbers are
formatted the way printf does it (``%04d`` of -1 is ``-001``), and a file belongs to the
sequence only when formatting its number gives back exactly its name, so ``name.####.exr``
matches ``name.0001.exr`` and ``name.10000.exr`` but not ``name.001.exr``.

Also here: frame ranges (``"1001-1100x2"``), gap reports, and the timing helpers the readers
share: timecode text <-> frame counts (drop frame at 29.97/59.94) and <-> SMPTE BCD words, and
exact frame rates.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from reelfix.errors import JobError

_PLACEHOLDER = re.compile(r"#+|%(0?)(\d*)d")
_RANGE_TOKEN = re.compile(r"^(-?\d+)(?:\s*-\s*(-?\d+)(?:\s*[x:]\s*(-?\d+))?)?$")
_TRAILING_NUMBER = re.compile(r"(\.-)?(\d+)(?=\.[^.]*$|$)")
TIMECODE_RE = re.compile(r"^(\d{2}):(\d{2}):(\d{2})([:;])(\d{2})$")


@dataclass(frozen=True)
class SequencePattern:
    """A parsed sequence pattern (or a single file when ``is_sequence`` is False)."""

    display: str
    directory: str
    prefix: str
    suffix: str
    padding: int
    is_sequence: bool

    @classmethod
    def parse(cls, path: str | os.PathLike[str]) -> "SequencePattern":
        """Parse ``name.####.exr``, ``name.%04d.exr`` or ``name.%d.exr``; anything else is one file."""
        text = os.fspath(path)
        directory, base = os.path.split(text)
        matches = list(_PLACEHOLDER.finditer(base))
        if not matches:
            return cls(text, directory, base, "", 0, False)
        if len(matches) > 1:
            raise JobError(
                f"{text!r} has {len(matches)} frame-number placeholders; a sequence pattern has exactly one",
                hint="write one placeholder, e.g. shot.####.exr or shot.%04d.exr",
            )
        m = matches[0]
        if m.group(0).startswith("#"):
            padding = len(m.group(0))
            padding = 0 if padding == 1 else padding
        else:
            width = m.group(2)
            if width and not m.group(1) and int(width) > 1:
                raise JobError(
                    f"{text!r} uses {m.group(0)!r}, which pads with spaces, not zeros",
                    hint=f"use %0{width}d for zero-padded frame numbers",
                )
            padding = int(width) if width else 0
        return cls(text, directory, base[: m.start()], base[m.end():], padding, True)

    def _name_for(self, number: int) -> str:
        return f"{self.prefix}{number:0{self.padding}d}{self.suffix}" if self.padding else (
            f"{self.prefix}{number:d}{self.suffix}"
        )

    def path_for(self, number: int) -> str:
        """The file name of frame ``number`` (negative numbers work); a single file returns itself."""
        if not self.is_sequence:
            return self.display
        return os.path.join(self.directory, self._name_for(int(number)))

    @property
    def single_number(self) -> int:
        """The frame number of a single file: its trailing digits (``plate.1001.exr`` -> 1001, ``p.-5.exr`` -> -5), else 0."""
        m = _TRAILING_NUMBER.search(os.path.basename(self.display))
        return (-1 if m.group(1) else 1) * int(m.group(2)) if m else 0

    def scan(self) -> list[int]:
        """The frame numbers present on disk, sorted; one directory listing, then a regex per name."""
        if not self.is_sequence:
            return [self.single_number] if os.path.isfile(self.display) else []
        regex = re.compile(re.escape(self.prefix) + r"(-?\d+)" + re.escape(self.suffix) + r"\Z")
        found: list[int] = []
        try:
            with os.scandir(self.directory or ".") as entries:
                for entry in entries:
                    m = regex.match(entry.name)
                    if m is None:
                        continue
                    number = int(m.group(1))
                    if self._name_for(number) == entry.name and not entry.is_dir():
                        found.append(number)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(found)


def parse_frame_range(text: str) -> list[int]:
    """Parse ``"1001-1100"``, ``"1001"``, ``"1,5,10-20"`` or ``"1001-1100x2"`` into sorted frame numbers."""
    if not isinstance(text, str) or not text.strip():
        raise JobError(
            f"frame range {text!r} is empty",
            hint='write frames like "1001-1100", "1001", "1,5,10-20" or "1001-1100x2" (every 2nd frame)',
        )
    numbers: set[int] = set()
    for raw in text.split(","):
        token = raw.strip()
        m = _RANGE_TOKEN.match(token)
        if m is None:
            raise JobError(
                f"cannot read {token!r} in frame range {text!r}",
                hint='write frames like "1001-1100", "1001", "1,5,10-20" or "1001-1100x2" (every 2nd frame)',
            )
        start = int(m.group(1))
        end = int(m.group(2)) if m.group(2) is not None else start
        step = int(m.group(3)) if m.group(3) is not None else 1
        if end < start:
            raise JobError(
                f"range {token!r} in {text!r} ends before it starts",
                hint=f'write it lowest first: "{end}-{start}"',
            )
        if step < 1:
            raise JobError(
                f"step in {token!r} of {text!r} must be 1 or more",
                hint='e.g. "1001-1100x2" takes every 2nd frame',
            )
        numbers.update(range(start, end + 1, step))
    return sorted(numbers)


def find_gaps(numbers: list[int]) -> list[tuple[int, int]]:
    """Inclusive ranges missing between the first and last of ``numbers`` (any order, duplicates ok)."""
    ordered = sorted(set(numbers))
    return [(a + 1, b - 1) for a, b in zip(ordered, ordered[1:]) if b - a > 1]


def format_ranges(numbers: list[int]) -> str:
    """Compact text for frame numbers: ``[1001..1010, 1012..1020]`` -> ``"1001-1010, 1012-1020"``."""
    ordered = sorted(set(numbers))
    if not ordered:
        return ""
    parts: list[str] = []
    start = prev = ordered[0]
    for n in ordered[1:]:
        if n != prev + 1:
            parts.append(_span(start, prev))
            start = n
        prev = n
    parts.append(_span(start, prev))
    return ", ".join(parts)


def _span(start: int, end: int) -> str:
    return str(start) if start == end else f"{start}-{end}"


# ---------------------------------------------------------------- timecode and frame rates

def _timecode_fields(timecode: str) -> tuple[int, int, int, int, bool]:
    m = TIMECODE_RE.match(timecode.strip())
    if m is None:
        raise JobError(f"timecode {timecode!r} is not HH:MM:SS:FF", hint="write it like 01:00:00:00 (01:00:00;00 for drop frame)")
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(5)), m.group(4) == ";"


def timecode_to_frames(timecode: str, fps: Fraction) -> int:
    """Frames since 00:00:00:00 at ``fps`` (nominal rate; ``;`` = drop frame at 30000/1001 and 60000/1001)."""
    hh, mm, ss, ff, drop_frame = _timecode_fields(timecode)
    nominal = max(1, round(fps))
    frames = (hh * 3600 + mm * 60 + ss) * nominal + ff
    if drop_frame and nominal % 30 == 0:
        minutes = hh * 60 + mm
        frames -= (nominal // 15) * (minutes - minutes // 10)
    return frames


def frames_to_timecode(frames: int, fps: Fraction, drop_frame: bool = False) -> str:
    """The timecode of a frame count (wraps at 24 h); drop frame only at 30/60 nominal rates."""
    nominal = max(1, round(fps))
    drop = nominal // 15 if drop_frame and nominal % 30 == 0 else 0
    n = frames % (nominal * 86400 - drop * 9 * 144)  # 144 ten-minute blocks a day
    if drop:
        tens, rest = divmod(n, nominal * 600 - drop * 9)
        n += drop * 9 * tens + (drop * ((rest - drop) // (nominal * 60 - drop)) if rest > drop else 0)
    ff, secs = n % nominal, n // nominal
    return f"{secs // 3600 % 24:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}{';' if drop else ':'}{ff:02d}"


def bcd_to_timecode(bcd: int) -> str:
    """SMPTE 12M time word (as in EXR/DPX headers) -> ``HH:MM:SS:FF`` (``;`` when the drop-frame bit is set)."""
    d = [(bcd >> s) & m for s, m in ((28, 3), (24, 15), (20, 7), (16, 15), (12, 7), (8, 15), (4, 3), (0, 15))]
    hh, mm, ss, ff = (d[i] * 10 + d[i + 1] for i in range(0, 8, 2))
    return f"{hh:02d}:{mm:02d}:{ss:02d}{';' if bcd & 0x40 else ':'}{ff:02d}"


def timecode_to_bcd(timecode: str) -> int:
    """``HH:MM:SS:FF`` (or ``;FF``) -> SMPTE 12M time word; JobError when malformed."""
    hh, mm, ss, ff, drop_frame = _timecode_fields(timecode)
    value = 0
    for shift, n in zip((24, 16, 8, 0), (hh, mm, ss, ff)):
        value |= ((n // 10) << (shift + 4)) | ((n % 10) << shift)
    return value | (0x40 if drop_frame else 0)


def as_frame_rate(value: Any) -> Fraction:
    """A frame rate as an exact Fraction; floats near the NTSC rates snap to n*1000/1001."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return Fraction(int(value[0]), int(value[1]))
    if isinstance(value, float):
        for base in (24, 30, 48, 60, 120):
            if abs(base * 1000 / 1001 - value) < 1e-3:
                return Fraction(base * 1000, 1001)
        return Fraction(value).limit_denominator(1001)
    return Fraction(value)
