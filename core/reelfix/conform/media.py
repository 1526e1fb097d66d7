"""What a clip's media reference points at, and how OTIO time maps to the core's frame numbers.

The core numbers image-sequence frames by their file numbers and movie frames by index
from 0 (see `frames/source.py`). An OTIO clip's `source_range` is in the media's own time
(`available_range`: a timecode-based start for most editors, Resolve included). So each
`Media` keeps one anchor: core frame `first` sits at media time `origin`, at `rate` frames
per second; every other frame is counted from there:

* `ImageSequenceReference`: `first` = `start_frame`, `origin` = `available_range.start_time`;
* `ExternalReference` to a movie: `first` = 0 at `available_range.start_time` (0 when absent);
* `ExternalReference` to a sequence path (`name.%04d.ext`, `name.####.ext`, Resolve's
  `name.[1001-1100].ext`): `first` = the first number in brackets, else the first file found.

A `%04d` inside a `file://` URL would be read as the escaped byte 0x04 by plain URL
decoding; it is protected here before decoding.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import opentimelineio as otio
from opentimelineio.opentime import RationalTime

from ..frames.sequence import SequencePattern
from ..frames.source import is_movie, open_source

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+://")
_PRINTF = re.compile(r"%0\d+d|%d")  # raw printf placeholders; an escaped one (%2504d) decodes normally
_BRACKETS = re.compile(r"\[(-?\d+)-(-?\d+)\]")


class Unusable(Exception):
    """A clip whose media reelfix cannot restore (missing, offline, a generator, a still...)."""


@dataclass(frozen=True)
class Media:
    """One source: what the core opens and how media time maps to its frame numbers."""

    path: str  # absolute path the core opens: /m/A001.####.dpx or /m/clip.mov
    kind: str  # "sequence" | "movie"
    rate: float
    first: int  # core frame number at `origin`
    origin: RationalTime  # media time of core frame `first`
    url_style: bool  # the edit wrote file:// URLs (restored references follow suit)

    def frame_at(self, t: RationalTime) -> int:
        """The core frame number shown at media time `t`."""
        return self.first + round(t.value_rescaled_to(self.rate) - self.origin.value_rescaled_to(self.rate))

    def time_of(self, frame: int) -> RationalTime:
        """The media time of core frame `frame` (inverse of `frame_at`)."""
        return RationalTime(self.origin.value_rescaled_to(self.rate) + (frame - self.first), self.rate)

    @property
    def stem(self) -> str:
        """A readable name: `A001` for `A001.####.dpx` and for `A001.mov`."""
        name = os.path.basename(self.path)
        if self.kind == "sequence":
            return SequencePattern.parse(self.path).prefix.rstrip("._- ") or "frames"
        return os.path.splitext(name)[0] or "movie"

    @property
    def folder_name(self) -> str:
        """Folder for this source's restored frames: the stem plus a short hash of the full path,
        so two sources with one name never share (and wrongly resume) each other's frames."""
        return f"{self.stem}_{hashlib.sha1(self.path.encode()).hexdigest()[:6]}"

    def frames_on_disk(self) -> list[int]:
        """Core frame numbers that exist; Unusable when the media is offline."""
        try:
            source = open_source(self.path)
        except Exception as exc:  # noqa: BLE001 - any reason the media cannot open makes it offline
            reason = getattr(exc, "message", None) or str(exc)
            raise Unusable(f"media offline: {reason}") from None
        try:
            return list(source.numbers)
        finally:
            source.close()


def url_to_path(url: str) -> str:
    """A local path from a target URL or a plain path; `%04d` placeholders survive decoding."""
    if not _SCHEME.match(url):
        return url
    parsed = urlparse(url)
    if parsed.scheme.lower() != "file":
        raise Unusable(f"media at {url} is not a local file")
    tokens: list[str] = []

    def protect(m: re.Match[str]) -> str:
        tokens.append(m.group(0))
        return f"\0{len(tokens) - 1}\0"

    raw = _PRINTF.sub(protect, parsed.path)
    if parsed.netloc and parsed.netloc != "localhost":
        raw = f"//{parsed.netloc}{raw}"
    path = url2pathname(raw)  # decodes %xx itself
    return re.sub(r"\0(\d+)\0", lambda m: tokens[int(m.group(1))], path)


def path_to_target(path: str, url_style: bool) -> str:
    """The reference text for a local path, as a file:// URL when the edit used URLs."""
    if not url_style:
        return path
    uri = Path(path).absolute().as_uri()
    return uri + ("/" if path.endswith(("/", os.sep)) and not uri.endswith("/") else "")


def _hashes(folder: str, prefix: str, padding: int, suffix: str) -> str:
    """One spelling per sequence (`name.####.ext`), so a source is recognised however it was written."""
    return os.path.join(folder, f"{prefix}{'#' * padding if padding > 1 else '#'}{suffix}")


def _bracket_pattern(path: str) -> tuple[str, int] | None:
    """`A001.[1001-1100].dpx` -> (`A001.####.dpx`, 1001)."""
    m = _BRACKETS.search(os.path.basename(path))
    if not m:
        return None
    a, b = m.group(1).lstrip("-"), m.group(2).lstrip("-")
    padding = len(a) if (len(a) == len(b) or a.startswith("0")) else 0
    folder, name = os.path.split(path)
    return _hashes(folder, name[: m.start()], padding, name[m.end():]), int(m.group(1))


def _rate_of(ref: otio.core.MediaReference, fallback: float) -> float:
    rate = getattr(ref, "rate", None)
    if rate:
        return float(rate)
    if ref.available_range is not None:
        return float(ref.available_range.start_time.rate)
    return fallback


def media_of(ref: otio.core.MediaReference | None, clip_rate: float) -> Media:
    """The `Media` behind a clip's reference; Unusable with a reason when there is none."""
    if ref is None or ref.is_missing_reference or isinstance(ref, otio.schema.GeneratorReference):
        raise Unusable("no media (missing reference or a generator)")
    rate = _rate_of(ref, clip_rate)
    origin = ref.available_range.start_time if ref.available_range is not None else RationalTime(0, rate)
    if isinstance(ref, otio.schema.ImageSequenceReference):
        if ref.frame_step != 1:
            raise Unusable(f"image sequence with frame_step {ref.frame_step} (only 1 is supported)")
        url_style = bool(_SCHEME.match(ref.target_url_base))
        folder = url_to_path(ref.target_url_base)
        pattern = _hashes(os.path.abspath(folder), ref.name_prefix, ref.frame_zero_padding, ref.name_suffix)
        return Media(pattern, "sequence", rate, ref.start_frame, origin, url_style)
    if not isinstance(ref, otio.schema.ExternalReference):
        raise Unusable(f"unsupported media reference {type(ref).__name__}")
    url_style = bool(_SCHEME.match(ref.target_url))
    path = os.path.abspath(url_to_path(ref.target_url))
    bracket = _bracket_pattern(path)
    if bracket is not None:
        return Media(bracket[0], "sequence", rate, bracket[1], origin, url_style)
    parsed = SequencePattern.parse(path)
    if parsed.is_sequence:
        numbers = parsed.scan()
        if not numbers:
            raise Unusable(f"media offline: no frames match {path}")
        canonical = _hashes(parsed.directory, parsed.prefix, parsed.padding, parsed.suffix)
        return Media(canonical, "sequence", rate, numbers[0], origin, url_style)
    if is_movie(path):
        return Media(path, "movie", rate, 0, origin, url_style)
    raise Unusable(f"{path} is neither a movie nor an image sequence (stills are not restored)")
