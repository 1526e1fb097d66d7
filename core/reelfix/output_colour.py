"""The colour space an output is written in when the job names none (`output.colorspace`).

- A colour space the job names is always used.
- Movies: the video encoding (Rec.709, see `colour.default_colorspace`).
- Display-referred image formats (PNG, JPEG, 8- and 16-bit TIFF) from a scene-linear or log
  input: the format's conventional encoding, because a viewer shows such a file as display
  values whatever its metadata says (a linear PNG looks far too dark, a log one washed out).
  Nuke's Write and OpenColorIO's file rules do the same. The config's file rule for the path
  is used when it names a scene-referred encoding for it; the pinned config's rules only give
  its default rule ('sRGB - Display', a display space reached through the ACES view
  transform, i.e. a tone map and a look), so there, as in Nuke's default Write, the plain
  sRGB curve ('sRGB Encoded Rec.709', `srgb_tx`): values in 0..1 keep exactly their look,
  values above 1 are clipped by the integer format. The choice is reported (the pipeline's
  warning, and the manifest).
- Otherwise (EXR, DPX, float TIFF, or a display-encoded input): the input's colour space.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import PyOpenColorIO as OCIO

from . import colour
from .errors import ColourError
from .frames.source import is_movie

DISPLAY_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}
FLOAT_DEPTHS = {"32", "float", "half"}
SRGB_NAMES = ("srgb_tx", "sRGB Encoded Rec.709 (sRGB)", "sRGB", "Utility - sRGB - Texture")


@dataclass(frozen=True)
class OutputSpace:
    name: str  # canonical name of the colour space written
    reason: str = ""  # why it differs from the input's when the job named none ('' otherwise)


def display_format(path: str, bit_depth: str | None) -> str | None:
    """'PNG', 'JPEG' or 'TIFF' when `path` is written as display-referred integer pixels, else None."""
    fmt = DISPLAY_FORMATS.get(Path(path).suffix.lower())
    if fmt == "TIFF" and bit_depth is not None and str(bit_depth).lower() in FLOAT_DEPTHS:
        return None  # a float TIFF holds scene values like an EXR
    return fmt


def encoding(space: str) -> str:
    """'scene-linear', 'log', or another of OCIO's encodings ('sdr-video', 'data', ...) of a
    canonical colour space; for spaces without one, the scene_linear and compositing_log roles decide."""
    cfg = colour.get_config()
    cs = cfg.getColorSpace(space)
    enc = str(cs.getEncoding()) if cs is not None else ""
    if enc or cs is None or cs.isData():
        return enc
    for role, kind in ((OCIO.ROLE_SCENE_LINEAR, "scene-linear"), (OCIO.ROLE_COMPOSITING_LOG, "log")):
        named = cfg.getColorSpace(role)
        if named is not None and named.getName() == space:
            return kind
    return ""


def display_encoding(path: str) -> str | None:
    """The display encoding for a display-referred file: the config's file rule when it names
    a scene-referred, non-data space for this path, else the plain sRGB curve (None if the config has none)."""
    cfg = colour.get_config()
    if not cfg.filepathOnlyMatchesDefaultRule(path):
        name = cfg.getColorSpaceFromFilepath(path)[0]
        cs = cfg.getColorSpace(name)
        if cs is not None and cs.getReferenceSpaceType() == OCIO.REFERENCE_SPACE_SCENE and not cs.isData():
            return str(cs.getName())
    for name in SRGB_NAMES:
        try:
            return colour.canonical_name(name)
        except ColourError:
            continue
    return None


def output_colorspace(path: str, in_space: str, explicit: str | None, bit_depth: str | None = None) -> OutputSpace:
    """The colour space to write `path` in (see the module docstring); `in_space` is canonical."""
    if explicit:
        return OutputSpace(colour.canonical_name(explicit))
    if is_movie(path):
        return OutputSpace(colour.default_colorspace(path, {"reelfix:movie_colorspace": "bt709"}))
    fmt = display_format(path, bit_depth)
    kind = encoding(in_space)
    if fmt is None or kind not in ("scene-linear", "log"):
        return OutputSpace(in_space)
    target = display_encoding(path)
    if target is None or target == in_space:
        return OutputSpace(in_space)
    return OutputSpace(
        target,
        f"output {Path(path).name}: {fmt} is a display-referred format and output.colorspace is not set, so it is written "
        f"in {target!r} (the format's display encoding) instead of the input's {kind} {in_space!r}, which viewers would "
        f"show wrongly; values above 1 are clipped. Set output.colorspace (--out-colorspace) to choose (e.g. {in_space!r} to keep the input's)",
    )
