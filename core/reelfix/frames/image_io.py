"""Read and write single images (EXR, DPX, TIFF, PNG, JPEG) with OpenImageIO.

Pixels are float32 HxWxC of the display window (see :func:`_in_display_window`: an EXR whose data
window differs from it, e.g. a Nuke render with a bbox, comes back in its format) as stored in the file: no colour conversion and no alpha
(un)premultiplication in either direction (the colour module owns both).  Non-finite values
survive reading; integer formats are written clipped to [0, 1] and rounded to the nearest code
(NaN -> 0, +Inf -> 1, -Inf -> 0).  10/12-bit DPX reads back as exact code/1023 (code/4095) values.

Metadata (``Frame.metadata``) holds the header attributes that travel from input to output,
as OIIO names -> plain values: ``str``, ``int``, ``float``, ``Fraction`` for ``FramesPerSecond``,
``"HH:MM:SS:FF"`` text (``;`` before FF for drop frame) for ``smpte:TimeCode``, a 7-int tuple for
``smpte:KeyCode``.  Attributes that describe the file encoding are not carried (compression,
bit depth, chunking, ``oiio:*`` except ``oiio:ColorSpace``, ``openexr:*``/``tiff:*``/``jpeg:*``/
``png:*``, DPX packing/descriptor/transfer/colorimetric, resolution/DPI, ``colorInteropID``,
EXIF pixel dimensions) and neither are other array-valued attributes (e.g. ``chromaticities``).
A few read-only keys describe the source file for the colour module's guesses and are never
written: ``reelfix:pixel_type`` (``uint8``/``uint16``/``half``/``float``), ``oiio:BitsPerSample``,
``dpx:Transfer``, ``dpx:Colorimetric`` (see ``SOURCE_INFO``).

What survives a write, per format (checked with OIIO 3.2 by tests/frames):

* EXR: every carried attribute natively, with its type.
* DPX: natively timecode, ``PixelAspectRatio``, ``FramesPerSecond`` (as the float ``dpx:FrameRate``),
  ``DateTime``, ``Software``, ``ImageDescription``, ``Copyright``, ``DocumentName``; the rest
  (custom strings/ints/floats such as ``reelfix:*`` provenance) in the DPX user-data block.
* TIFF, JPEG: natively ``DateTime``, ``Software``, ``ImageDescription``, ``Artist``, ``Copyright``
  (+ ``DocumentName``/``HostComputer`` in TIFF); ``PixelAspectRatio`` via the resolution tags;
  everything else (timecode, fps, custom attributes) in a JSON packet in the IPTC/XMP ``Label``.
* PNG: strings natively as text chunks; everything else in a ``reelfix:attributes`` text chunk.

The packed attributes (``reelfix-attrs-v1:`` + JSON) are unpacked by :func:`read_image` and
:func:`read_header`, so every format gives back the same metadata reelfix wrote; other programs
see plain text.  Writes are atomic: a hidden temp file in the target folder, then ``os.replace``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from fractions import Fraction
from typing import Any, Callable

import numpy as np
import OpenImageIO as oiio

from reelfix import faults
from reelfix.errors import FrameReadError, FrameWriteError, JobError
from reelfix.frames.frame import Frame
from reelfix.frames.half import from_half, to_half
from reelfix.frames.written import unreadable_end
from reelfix.frames.sequence import as_frame_rate, bcd_to_timecode, timecode_to_bcd

IMAGE_EXTENSIONS = {".exr": "exr", ".dpx": "dpx", ".tif": "tiff", ".tiff": "tiff",
                    ".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg"}
# bit depth name -> (OIIO pixel type, bits per sample; 0 = floating point)
_DEPTHS: dict[str, dict[str, tuple[str, int]]] = {
    "exr": {"half": ("half", 0), "16": ("half", 0), "float": ("float", 0), "32": ("float", 0)},
    "dpx": {"8": ("uint8", 8), "10": ("uint16", 10), "12": ("uint16", 12), "16": ("uint16", 16)},
    "tiff": {"8": ("uint8", 8), "16": ("uint16", 16), "32": ("float", 0), "float": ("float", 0)},
    "png": {"8": ("uint8", 8), "16": ("uint16", 16)},
    "jpeg": {"8": ("uint8", 8)},
}
_DEFAULT_DEPTH = {"exr": "half", "dpx": "10", "tiff": "16", "png": "16", "jpeg": "8"}
_EXR_COMPRESSIONS = {"none", "rle", "zips", "zip", "piz", "pxr24", "b44", "b44a", "dwaa", "dwab"}
_TIFF_COMPRESSIONS = {"none", "lzw", "zip", "packbits"}
_MAX_CHANNELS = {"exr": 1024, "dpx": 4, "tiff": 4, "png": 4, "jpeg": 3}

_SKIP_NAMES = {
    "compression", "Compression", "planarconfig", "BitsPerSample", "XResolution", "YResolution", "ResolutionUnit",
    "screenWindowCenter", "screenWindowWidth", "colorInteropID", "ICCProfile", "Exif:PixelXDimension",
    "Exif:PixelYDimension", "Exif:ColorSpace", *(f"dpx:{n}" for n in (
        "TimeCode", "UserBits", "FrameRate", "UserData", "ImageDescriptor", "Packing", "Encoding", "Transfer",
        "Colorimetric", "EndOfLinePadding", "EndOfImagePadding", "DittoKey", "Version", "Signal", "DataSign",
        "LowData", "LowQuantity", "HighData", "HighQuantity", "DataOffset")),
}
_SKIP_PREFIXES = ("oiio:", "openexr:", "tiff:", "jpeg:", "png:")
_KEEP = {"oiio:ColorSpace"}
# read into Frame.metadata to describe the source file (the colour module guesses from them), never written
SOURCE_INFO = {"reelfix:pixel_type", "oiio:BitsPerSample", "dpx:Transfer", "dpx:Colorimetric"}
_CARRIER_MAGIC = "reelfix-attrs-v1:"
_CARRIER_KEY = {"dpx": "dpx:UserData", "tiff": "IPTC:Label", "jpeg": "IPTC:Label", "png": "reelfix:attributes"}
_TEMP_NAME = re.compile(r"^\..+\.\d+\.[0-9a-f]{8}\.tmp\.[^.]+$")
_READ_HINT = "the file is probably truncated or corrupt: re-render or re-copy it"


def is_carried(name: str) -> bool:
    """Whether a header attribute travels from input to output (see the module docstring)."""
    if name in _KEEP:
        return True
    return name not in SOURCE_INFO and name not in _SKIP_NAMES and not name.startswith(_SKIP_PREFIXES)


# ---------------------------------------------------------------- attribute values

def _from_oiio(name: str, type_name: str, value: Any) -> Any:
    """An OIIO attribute value as a plain Python value, or None when it is not carried."""
    if type_name == "timecode" and isinstance(value, tuple):
        return bcd_to_timecode(int(value[0]))
    if type_name.startswith("rational") and isinstance(value, tuple) and len(value) == 2 and value[1]:
        return Fraction(int(value[0]), int(value[1]))
    if type_name == "keycode" and isinstance(value, tuple):
        return tuple(int(v) for v in value)
    if isinstance(value, bool):
        return int(value)
    return value if isinstance(value, (str, int, float)) else None


def _set_attribute(spec: oiio.ImageSpec, name: str, value: Any) -> None:
    """Store a plain Python value on ``spec`` with the OIIO type it needs; unknown shapes are skipped."""
    if name == "smpte:TimeCode":
        if isinstance(value, str):
            spec.attribute(name, oiio.TypeDesc("timecode"), (timecode_to_bcd(value), 0))
        elif isinstance(value, (tuple, list)) and len(value) == 2:
            spec.attribute(name, oiio.TypeDesc("timecode"), (int(value[0]), int(value[1])))
    elif name == "FramesPerSecond" or isinstance(value, Fraction):
        rate = as_frame_rate(value)
        spec.attribute(name, oiio.TypeDesc("rational2i"), (rate.numerator, rate.denominator))
    elif name == "smpte:KeyCode" and isinstance(value, (tuple, list)) and len(value) == 7:
        spec.attribute(name, oiio.TypeDesc("keycode"), tuple(int(v) for v in value))
    elif isinstance(value, (bool, int)):
        spec.attribute(name, int(value) if -(2**31) <= int(value) < 2**31 else str(value))
    elif isinstance(value, (float, str)):
        spec.attribute(name, value)


def _pack(attrs: dict[str, Any]) -> str:
    def encode(v: Any) -> Any:
        if isinstance(v, Fraction):
            return {"rational": [v.numerator, v.denominator]}
        return {"tuple": list(v)} if isinstance(v, tuple) else v

    return _CARRIER_MAGIC + json.dumps({k: encode(v) for k, v in attrs.items()}, ensure_ascii=False)


def _unpack(raw: Any) -> dict[str, Any] | None:
    text = bytes(np.asarray(raw, dtype=np.uint8)).decode("utf-8", "replace") if not isinstance(raw, str) else raw
    if not text.startswith(_CARRIER_MAGIC):
        return None
    try:
        data = json.loads(text[len(_CARRIER_MAGIC):].rstrip("\0"))
    except ValueError:
        return None

    def decode(v: Any) -> Any:
        if isinstance(v, dict) and "rational" in v:
            return Fraction(*v["rational"])
        return tuple(v["tuple"]) if isinstance(v, dict) and "tuple" in v else v

    return {str(k): decode(v) for k, v in data.items()} if isinstance(data, dict) else None


def _carried_metadata(spec: oiio.ImageSpec) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    packed: dict[str, Any] = {}
    for attr in spec.extra_attribs:
        if attr.name in ("dpx:UserData", "IPTC:Label", "reelfix:attributes"):
            unpacked = _unpack(attr.value)
            if unpacked is not None:
                packed.update(unpacked)
                continue
        if not is_carried(attr.name) and attr.name not in SOURCE_INFO:
            continue
        value = _from_oiio(attr.name, str(attr.type), attr.value)
        if value is not None:
            meta[attr.name] = value
    dpx_rate = spec.getattribute("dpx:FrameRate")
    if "FramesPerSecond" not in meta and isinstance(dpx_rate, float) and dpx_rate > 0:
        meta["FramesPerSecond"] = as_frame_rate(dpx_rate)
    meta.update({k: v for k, v in packed.items() if k not in SOURCE_INFO})
    meta["reelfix:pixel_type"] = str(spec.format)
    return meta


# ---------------------------------------------------------------- reading

def _clean(message: str) -> str:
    text = " ".join(message.split())
    return text if len(text) <= 300 else text[:297] + "..."


def _open_input(path: str) -> oiio.ImageInput:
    if not os.path.exists(path):
        raise FrameReadError(path, "file does not exist", hint="check the path and frame numbers")
    if os.path.isdir(path):
        raise FrameReadError(path, "this is a folder, not an image", hint="give a file or a pattern like name.####.exr")
    if os.path.getsize(path) == 0:
        raise FrameReadError(path, "file is empty (0 bytes)",
                             hint="the program that wrote it probably failed: re-render or re-copy this frame")
    config = oiio.ImageSpec()
    config.attribute("oiio:UnassociatedAlpha", 1)  # keep alpha as stored: no premultiplication
    inp = oiio.ImageInput.open(path, config)
    if inp is None:
        reason = _clean(oiio.geterror()) or "OpenImageIO cannot open it"
        raise FrameReadError(path, reason, hint="check that it is an EXR/DPX/TIFF/PNG/JPEG image and not damaged")
    return inp


def read_image(path: str | os.PathLike[str], number: int = 0, colorspace: str | None = None, keep_half: bool = False) -> Frame:
    """Read every channel of an image as float32 (`keep_half`: float16 where the file holds only halves,
    the same values in half the bytes, `half.widened`); FrameReadError when missing, empty, truncated or corrupt."""
    p = os.fspath(path)
    inp = _open_input(p)
    try:
        spec = inp.spec()
        if spec.deep:
            raise FrameReadError(p, "deep (per-sample) images are not supported", hint="flatten it to a plain image first")
        # halves as stored, cast here (OpenCV's F16C, exact): OIIO's own half -> float costs ~5x the CPU
        half = str(spec.format) == "half" and all(str(f) == "half" for f in spec.channelformats)
        pixels = inp.read_image(0, 0, 0, spec.nchannels, "half" if half else "float")
        error = inp.geterror()
        if pixels is None or error:
            raise FrameReadError(p, _clean(error) or "the pixel data could not be read", hint=_READ_HINT)
        pixels = from_half(np.asarray(pixels)) if half and not keep_half else pixels
        metadata = _carried_metadata(spec)
        bits = spec.get_int_attribute("oiio:BitsPerSample", 0)
    finally:
        inp.close()
    pixels = _in_display_window(np.asarray(pixels, np.float16 if half and keep_half else np.float32).reshape(spec.height, spec.width, spec.nchannels), spec)
    if bits in (10, 12) and str(spec.format) == "uint16":
        top = float(2**bits - 1)
        pixels = (np.rint(pixels * top) / top).astype(np.float32)
    cs = colorspace if colorspace is not None else str(metadata.get("oiio:ColorSpace", ""))
    return Frame(np.ascontiguousarray(pixels), tuple(spec.channelnames), cs, int(number), metadata)


def _in_display_window(pixels: np.ndarray, spec: oiio.ImageSpec) -> np.ndarray:
    """The image as it is meant to be seen: its display window (EXR: the format), black where the
    data window (Nuke: the bbox) does not reach it, the data outside it (overscan) cut off. Frames
    of a sequence keep one size however the bbox moves, and a result lines up with its input."""
    x, y, w, h = spec.x, spec.y, spec.width, spec.height
    fx, fy, fw, fh = spec.full_x, spec.full_y, spec.full_width, spec.full_height
    if (x, y, w, h) == (fx, fy, fw, fh) or fw <= 0 or fh <= 0:
        return pixels
    out = np.zeros((fh, fw, pixels.shape[2]), pixels.dtype)
    x0, y0, x1, y1 = max(x, fx), max(y, fy), min(x + w, fx + fw), min(y + h, fy + fh)
    if x1 > x0 and y1 > y0:
        out[y0 - fy:y1 - fy, x0 - fx:x1 - fx] = pixels[y0 - y:y1 - y, x0 - x:x1 - x]
    return out


def read_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The carried attributes of an image (same keys as ``Frame.metadata``) without reading pixels."""
    p = os.fspath(path)
    inp = _open_input(p)
    try:
        return _carried_metadata(inp.spec())
    finally:
        inp.close()


# ---------------------------------------------------------------- writing

def temp_path_for(path: str | os.PathLike[str]) -> str:
    """A unique hidden temp name next to ``path`` that keeps its extension (OIIO picks formats by it)."""
    folder, name = os.path.split(os.fspath(path))
    ext = os.path.splitext(name)[1]
    return os.path.join(folder, f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp{ext}")


def temp_files_in(folder: str | os.PathLike[str]) -> list[str]:
    """Temp files left in ``folder`` by interrupted writes (safe to delete once no writer runs)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return sorted(os.path.join(folder, n) for n in names if _TEMP_NAME.match(n))


def _write_hint(reason: str) -> str:
    low = reason.lower()
    if "space" in low or "quota" in low:
        return "free some disk space or choose another output folder"
    if "permission" in low or "read-only" in low or "not a directory" in low:
        return "check permissions or choose another output folder"
    return "check that the output folder is writable and has free space"


def _encoding(path: str, fmt: str, compression: str | None, bit_depth: str | None) -> tuple[str, int, dict[str, Any]]:
    """(OIIO pixel type, integer bits or 0, encoding attributes) for the requested options."""
    depth = (str(bit_depth).strip().lower().removesuffix("bit").rstrip("-") if bit_depth is not None
             else _DEFAULT_DEPTH[fmt])
    if depth not in _DEPTHS[fmt]:
        raise FrameWriteError(path, f"bit depth {bit_depth!r} is not available for {fmt}",
                              hint=f"use one of: {', '.join(_DEPTHS[fmt])}")
    pixel_type, bits = _DEPTHS[fmt][depth]
    comp = compression.strip().lower() if compression else ""
    base, _, level = comp.partition(":")
    enc: dict[str, Any] = {}
    if fmt == "exr":
        ok = not comp or (base in _EXR_COMPRESSIONS and (
            not level or (base in ("zip", "zips", "dwaa", "dwab") and re.fullmatch(r"\d+(\.\d+)?", level))))
        enc["compression"] = comp or "zip"
    elif fmt == "tiff":
        ok = not comp or comp in _TIFF_COMPRESSIONS
        enc["compression"] = comp or "zip"
    elif fmt == "jpeg":
        m = re.fullmatch(r"(?:jpeg:)?(\d+)", comp or "95")
        ok = m is not None and 1 <= int(m.group(1)) <= 100
        enc.update({"compression": f"jpeg:{int(m.group(1)) if m else 95}", "jpeg:subsampling": "4:4:4"})
    elif fmt == "png":
        ok = not comp or re.fullmatch(r"zip(:[0-9])?", comp) is not None
        if level.isdigit():
            enc["png:compressionLevel"] = int(level)
    else:
        ok = comp in ("", "none")
    if not ok:
        raise FrameWriteError(path, f"compression {compression!r} is not available for {fmt}",
                              hint={"exr": "use zip, piz, dwaa, dwab or none (dwaa:45 sets a level)",
                                    "tiff": "use zip, lzw, packbits or none", "jpeg": "give the quality, e.g. jpeg:95",
                                    "png": "use zip or zip:0-9"}.get(fmt, "leave compression unset for dpx"))
    if bits and fmt in ("dpx", "tiff"):
        enc["oiio:BitsPerSample"] = bits
    return pixel_type, bits, enc


def _encode_pixels(pixels: np.ndarray, bits: int) -> np.ndarray:
    """Contiguous data for OIIO: float32 as is, integers clipped, rounded, 10/12 bits bit-replicated."""
    if not bits:
        return np.ascontiguousarray(pixels, dtype=np.float32)
    x = np.nan_to_num(np.asarray(pixels, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    codes = np.rint(np.clip(x, 0.0, 1.0) * float(2**bits - 1))
    if bits == 8:
        return np.ascontiguousarray(codes, dtype=np.uint8)
    q = codes.astype(np.uint16)
    if bits < 16:
        q = (q << (16 - bits)) | (q >> (2 * bits - 16))
    return np.ascontiguousarray(q)


def write_image(
    path: str | os.PathLike[str],
    frame: Frame,
    *,
    compression: str | None = None,
    bit_depth: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> None:
    """Write ``frame`` atomically; the format comes from the extension (see the module docstring)."""
    p = os.fspath(path)
    ext = os.path.splitext(p)[1].lower()
    if ext not in IMAGE_EXTENSIONS:
        raise FrameWriteError(p, f"unsupported image extension {ext or '(none)'!r}", hint="use .exr, .dpx, .tif, .png or .jpg")
    fmt = IMAGE_EXTENSIONS[ext]
    pixel_type, bits, enc = _encoding(p, fmt, compression, bit_depth)
    nch = frame.pixels.shape[2]
    if fmt == "jpeg" and nch in (2, 4):
        raise FrameWriteError(p, "JPEG cannot hold an alpha channel", hint="write exr, png or tif to keep alpha")
    if nch > _MAX_CHANNELS[fmt] or (fmt == "dpx" and nch == 2) or (fmt == "jpeg" and nch not in (1, 3)):
        raise FrameWriteError(p, f"{fmt} cannot hold {nch} channels {frame.channels}",
                              hint="write exr for any channel count (png/tif take Y, YA, RGB, RGBA)")
    spec = oiio.ImageSpec(frame.width, frame.height, nch, pixel_type)
    spec.channelnames = tuple(frame.channels)
    spec.alpha_channel = -1 if frame.alpha_index is None else frame.alpha_index
    attrs = {k: v for k, v in frame.metadata.items() if is_carried(k)}
    if frame.colorspace:
        attrs["oiio:ColorSpace"] = frame.colorspace
    attrs.update(attributes or {})
    try:
        for name, value in attrs.items():
            _set_attribute(spec, name, value)
    except JobError as exc:
        raise FrameWriteError(p, exc.message, hint=exc.hint) from exc
    if fmt == "dpx" and "FramesPerSecond" in attrs:
        spec.attribute("dpx:FrameRate", float(as_frame_rate(attrs["FramesPerSecond"])))
    if fmt in _CARRIER_KEY:
        packet = _pack(attrs)
        if fmt == "dpx":
            blob = np.frombuffer(packet.encode("utf-8"), dtype=np.uint8)
            spec.attribute("dpx:UserData", oiio.TypeDesc(f"uint8[{blob.size}]"), blob)
        else:
            spec.attribute(_CARRIER_KEY[fmt], packet)
    if fmt in ("png", "tiff") and frame.alpha_index is not None:
        spec.attribute("oiio:UnassociatedAlpha", 1)  # data is written as given: no un-premultiply
    for name, value in enc.items():
        spec.attribute(name, value)
    data = _encode_pixels(frame.pixels, bits)
    # half: numpy's vectorised float16 cast beats OIIO's per-pixel conversion; cast band by band
    _write_atomic(p, spec, data, to_half if pixel_type == "half" else None)


HALF_BAND_BYTES = 32 * 1024**2  # half-float bytes cast and handed to OpenEXR at a time
BAND_MULTIPLE = 256  # rows: whole blocks of every EXR compression (zip 16, piz/b44 32, dwab 256 lines)


def band_rows(spec: oiio.ImageSpec) -> int:
    """Rows of a frame written at a time when its pixels are cast on the way: about
    `HALF_BAND_BYTES` of them, a multiple of `BAND_MULTIPLE` (at least one)."""
    row = max(1, spec.width * spec.nchannels * 2)
    return max(BAND_MULTIPLE, HALF_BAND_BYTES // row // BAND_MULTIPLE * BAND_MULTIPLE)


def _write_pixels(out: oiio.ImageOutput, spec: oiio.ImageSpec, data: np.ndarray, cast: Callable[[np.ndarray], np.ndarray] | None) -> bool:
    """The pixels to the writer: as they are, or cast in bands of rows (`band_rows`): no frame-sized
    copy in the file's type (8K half: 200 MB fresh every frame); OpenEXR compresses over its threads."""
    if cast is None:
        return bool(out.write_image(data))
    step = band_rows(spec)
    for r0 in range(0, spec.height, step):
        r1 = min(spec.height, r0 + step)
        if not out.write_scanlines(spec.y + r0, spec.y + r1, spec.z, cast(data[r0:r1])):
            return False
    return True


def _write_atomic(path: str, spec: oiio.ImageSpec, data: np.ndarray, cast: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
    folder = os.path.dirname(path) or "."
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        reason = f"cannot create folder {folder}: {exc.strerror or exc}"
        raise FrameWriteError(path, reason, hint=_write_hint(reason)) from exc
    tmp = temp_path_for(path)

    def fail(what: str, detail: str) -> FrameWriteError:
        reason = _clean(detail.replace(tmp, "temp file").replace(os.path.basename(tmp), "temp file")) or what
        return FrameWriteError(path, reason, hint=_write_hint(reason))

    out = oiio.ImageOutput.create(tmp)
    if out is None:
        raise fail("no OpenImageIO writer for this format", oiio.geterror())
    opened = done = False
    try:
        if not out.open(tmp, spec):
            raise fail("cannot create the file", out.geterror())
        opened = True
        if not _write_pixels(out, spec, data, cast):
            raise fail("writing the pixels failed", out.geterror())
        faults.point("write", path)
        opened = False
        if not out.close():
            raise fail("finishing the file failed", out.geterror())
        problem = unreadable_end(tmp, spec)
        if problem:
            raise fail("", f"the file came out incomplete ({problem}): the disk is full or a file-size limit was reached")
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise fail("cannot move the finished file into place", f"{exc.strerror or exc}") from exc
        done = True
    finally:
        if not done:
            if opened:
                out.close()
            if os.path.lexists(tmp):
                try:
                    os.remove(tmp)
                except OSError:
                    pass
