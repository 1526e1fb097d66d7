"""Read movies (ProRes, DNxHR, H.264, FFV1, ... in mov/mp4/mxf/mkv/avi) and write ProRes .mov, with PyAV.

Frames come out as float32 RGB(A) in the video's own display-referred signal (e.g. Rec.709
video), nominally [0, 1] (super-white / sub-black codes are kept slightly outside).  Y'CbCr is
converted with the matrix and range the stream is tagged with; untagged streams use BT.709 for
ProRes/DNxHD and anything 720 lines or taller, BT.601 otherwise, and tv range unless the pixel
format is a full-range ``yuvj`` one.  Planar YUV/RGB/gray formats (what ProRes, DNxHR, H.264 and
FFV1 decode to) are converted here in numpy with exact coefficients and linear chroma
upsampling (4:2:2 co-sited, 4:2:0 vertically centred); other layouts go through swscale with
the same explicit matrix and range.  Each frame's metadata carries ``reelfix:movie_colorspace``
(``bt709``/``bt601``/``bt2020``/``smpte240m``), ``reelfix:movie_color_range`` (``tv``/``full``),
``FramesPerSecond`` and, when the movie has a start timecode, ``smpte:TimeCode`` of that frame.

Frames are numbered 0..frame_count-1 in presentation order (index = pts x time_base x fps).
Reading forward keeps one decoder open; going back or jumping far ahead seeks to the nearest
key frame before the target.  A gap in the timestamps repeats the previous frame.  The frame count
comes from the header (mkv/mxf: duration x fps); frames the data does not reach (a truncated file)
raise FrameReadError when read.

:class:`MovieWriter` writes ProRes 422 HQ (``yuv422p10le``) or 4444 with alpha (``yuva444p10le``)
via ``prores_ks``, converting RGB with the BT.709 matrix itself (PyAV's default would be BT.601),
tagging BT.709 primaries/transfer/matrix and tv range, keeping the exact frame rate and the start
timecode, atomically (temp file renamed on ``close``).  ProRes 4:2:2 needs an even width (FFmpeg
drops the last chroma column of odd widths); 4444 takes any size.
"""

from __future__ import annotations

import os
import re
from fractions import Fraction
from types import TracebackType
from typing import Any

import av
import numpy as np

from reelfix.errors import FrameReadError, FrameWriteError, UserError
from reelfix.frames.frame import Frame
from reelfix.frames.image_io import temp_path_for
from reelfix.frames.sequence import TIMECODE_RE, as_frame_rate, frames_to_timecode, timecode_to_frames

# Y'CbCr luma weights (Kr, Kb) per matrix
MATRICES = {"bt709": (0.2126, 0.0722), "bt601": (0.299, 0.114), "bt2020": (0.2627, 0.0593),
            "smpte240m": (0.212, 0.087), "fcc": (0.30, 0.11)}
_AV_COLORSPACE = {1: "bt709", 4: "fcc", 5: "bt601", 6: "bt601", 7: "smpte240m", 9: "bt2020", 10: "bt2020"}
_AV_PRIMARIES = {1: "bt709", 5: "bt601", 6: "bt601", 7: "smpte240m", 9: "bt2020"}
_SWS_NAME = {"bt709": "ITU709", "bt601": "ITU601", "bt2020": "BT2020", "smpte240m": "SMPTE240M", "fcc": "FCC"}
_PLANAR = re.compile(r"^(?:(yuva?|yuvj)(420|422|444|440)p|(gbra?p)|(gray))(\d+)?(le)?$")
_SEEK_AHEAD = 48  # decode forward rather than seek when the target is this close
_PRORES = {"prores_proxy": "proxy", "prores_lt": "lt", "prores_422": "standard", "prores_hq": "hq",
           "prores_4444": "4444", "prores_4444xq": "4444xq"}
_READ_HINT = "check that it is a movie file (mov/mp4/mxf/mkv/avi) and not damaged or truncated"


# ---------------------------------------------------------------- Y'CbCr maths

def _plane(plane: Any, dtype: Any) -> np.ndarray:
    """A (height, width) numpy view of one plane of a VideoFrame (writable, stride-aware)."""
    item = np.dtype(dtype).itemsize
    return np.frombuffer(plane, dtype=dtype).reshape(-1, plane.line_size // item)[: plane.height, : plane.width]


def _upsample(c: np.ndarray, height: int, width: int) -> np.ndarray:
    """Linear 2x chroma upsampling: co-sited horizontally, centred vertically."""
    c = c.astype(np.float32)
    if c.shape[1] != width:
        out = np.empty((c.shape[0], c.shape[1] * 2), np.float32)
        out[:, 0::2] = c
        out[:, 1::2] = 0.5 * (c + np.concatenate([c[:, 1:], c[:, -1:]], axis=1))
        c = out[:, :width]
    if c.shape[0] != height:
        out = np.empty((c.shape[0] * 2, c.shape[1]), np.float32)
        out[0::2] = 0.75 * c + 0.25 * np.concatenate([c[:1], c[:-1]])
        out[1::2] = 0.75 * c + 0.25 * np.concatenate([c[1:], c[-1:]])
        c = out[:height]
    return c


def _subsample_422(c: np.ndarray) -> np.ndarray:
    """Co-sited 4:2:2 chroma: a [1, 2, 1] / 4 filter centred on the even columns."""
    left = np.concatenate([c[:, :1], c[:, :-1]], axis=1)
    right = np.concatenate([c[:, 1:], c[:, -1:]], axis=1)
    return (0.25 * left + 0.5 * c + 0.25 * right)[:, 0::2]


def ycbcr_to_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray, matrix: str) -> np.ndarray:
    """Normalised Y' [0,1] and Cb/Cr [-0.5, 0.5] to R'G'B' (H, W, 3) with the named matrix."""
    kr, kb = MATRICES[matrix]
    r = y + 2.0 * (1.0 - kr) * cr
    b = y + 2.0 * (1.0 - kb) * cb
    g = (y - kr * r - kb * b) / (1.0 - kr - kb)
    return np.stack([r, g, b], axis=-1).astype(np.float32)


def rgb_to_ycbcr(rgb: np.ndarray, matrix: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R'G'B' (H, W, 3) to normalised Y' [0,1] and Cb/Cr [-0.5, 0.5] with the named matrix."""
    kr, kb = MATRICES[matrix]
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = kr * r + (1.0 - kr - kb) * g + kb * b
    return y, (b - y) / (2.0 * (1.0 - kb)), (r - y) / (2.0 * (1.0 - kr))


def _planar_to_rgb(vf: av.VideoFrame, matrix: str, full_range: bool) -> np.ndarray | None:
    """Float RGB(A) from a planar YUV / RGB / gray frame, or None for layouts handled by swscale."""
    m = _PLANAR.match(vf.format.name)
    if m is None or vf.format.is_big_endian:
        return None
    bits = vf.format.components[0].bits
    dtype = np.uint8 if bits <= 8 else np.dtype("<u2")
    planes = [_plane(p, dtype) for p in vf.planes]
    top = float(2**bits - 1)
    h, w = vf.height, vf.width
    if m.group(3):  # gbrp / gbrap: planes are G, B, R (, A)
        out = [planes[2], planes[0], planes[1]] + planes[3:4]
        return np.stack([p.astype(np.float32) / top for p in out], axis=-1)
    if full_range:
        y = planes[0].astype(np.float32) / top
    else:
        scale = float(2 ** (bits - 8))
        y = (planes[0].astype(np.float32) - 16.0 * scale) / (219.0 * scale)
    if m.group(4):  # gray
        return np.repeat(y[..., None], 3, axis=-1)
    half = float(2 ** (bits - 1))
    c_scale = top if full_range else 224.0 * float(2 ** (bits - 8))
    cb = (_upsample(planes[1], h, w) - half) / c_scale
    cr = (_upsample(planes[2], h, w) - half) / c_scale
    rgb = ycbcr_to_rgb(y, cb, cr, matrix)
    if m.group(1) == "yuva":
        rgb = np.concatenate([rgb, (planes[3].astype(np.float32) / top)[..., None]], axis=-1)
    return rgb


# ---------------------------------------------------------------- reading

class MovieReader:
    """Random access to the frames of one movie (fast when read in increasing order)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise FrameReadError(self.path, "file does not exist", hint="check the path")
        try:
            self._container = av.open(self.path, "r")
        except (av.FFmpegError, OSError) as exc:
            raise FrameReadError(self.path, f"not a readable movie ({exc})", hint=_READ_HINT) from exc
        if not self._container.streams.video:
            self._container.close()
            raise FrameReadError(self.path, "no video stream in the file", hint=_READ_HINT)
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        cc = self._stream.codec_context
        self.codec_name: str = cc.name
        self.width: int = cc.width
        self.height: int = cc.height
        self.fps = Fraction(self._stream.average_rate or self._stream.guessed_rate or self._stream.base_rate or 24)
        self.has_alpha: bool = cc.format is not None and any(c.is_alpha for c in cc.format.components)
        self.timecode: str | None = self._find_timecode()
        self.frame_count: int = self._count_frames()
        self._time_base = self._stream.time_base or Fraction(1, 1000)
        self._start = self._stream.start_time or 0
        self._decoder: Any = None
        self._next = 0  # index the decoder yields next (when pts is missing)
        self._last: tuple[int, av.VideoFrame] | None = None
        try:
            if self.frame_count < 1:
                raise FrameReadError(self.path, "the movie has no frames", hint=_READ_HINT)
            self.read(0)  # fail now, not mid-job, when the video data cannot be decoded
        except BaseException:
            self.close()
            raise

    @property
    def numbers(self) -> list[int]:
        """Frame indices 0..frame_count-1."""
        return list(range(self.frame_count))

    def _find_timecode(self) -> str | None:
        sources = [self._stream.metadata, self._container.metadata] + [s.metadata for s in self._container.streams]
        for meta in sources:
            for key, value in meta.items():
                if key.lower() == "timecode" and TIMECODE_RE.match(str(value).strip()):
                    return str(value).strip()
        return None

    def _count_frames(self) -> int:
        if self._stream.frames > 0:
            return int(self._stream.frames)
        if self._stream.duration and self._stream.time_base:
            return int(round(self._stream.duration * self._stream.time_base * self.fps))
        if self._container.duration:
            return int(round(Fraction(self._container.duration, av.time_base) * self.fps))
        count = sum(1 for packet in self._container.demux(self._stream) if packet.size)
        self._container.seek(0)
        return count

    def _index(self, vf: av.VideoFrame) -> int:
        if vf.pts is None:
            return self._next
        return int(round((vf.pts - self._start) * self._time_base * self.fps))

    def _seek(self, n: int) -> None:
        target = self._start + int(Fraction(n) / self.fps / self._time_base)
        self._container.seek(max(target, self._start), stream=self._stream, backward=True, any_frame=False)
        self._stream.codec_context.flush_buffers()
        self._decoder = self._container.decode(self._stream)
        self._last = None

    def read(self, n: int) -> Frame:
        """Frame ``n`` as float32 RGB(A); FrameReadError when out of range or undecodable."""
        if not 0 <= n < self.frame_count:
            raise FrameReadError(self.path, f"frame {n} is outside the movie's frames 0-{self.frame_count - 1}")
        if self._last is not None and self._last[0] == n:
            return self._to_frame(n, self._last[1])
        ahead = self._last[0] if self._last is not None else -1
        if self._decoder is None or n < ahead or n - ahead > _SEEK_AHEAD:
            self._seek(n)
        try:
            vf = self._decode_to(n)
            if vf is None and n > 0:  # the seek landed after n: decode from the start
                self._seek(0)
                vf = self._decode_to(n)
        except (av.FFmpegError, ValueError) as exc:
            self._decoder = None
            raise FrameReadError(self.path, f"frame {n} cannot be decoded ({exc})", hint=_READ_HINT) from exc
        if vf is None:
            self._decoder = None
            raise FrameReadError(self.path, f"frame {n} cannot be decoded: the video data ends before it",
                                 hint="the file is probably truncated: re-export or re-copy it")
        return self._to_frame(n, vf)

    def _decode_to(self, n: int) -> av.VideoFrame | None:
        """Decode forward to frame n; a timestamp gap repeats the previous frame; None if n is not reached."""
        prev = self._last
        for vf in self._decoder:
            idx = self._index(vf)
            self._next = idx + 1
            if idx == n or (idx > n and prev is not None and prev[0] < n):
                chosen = vf if idx == n else prev[1]  # type: ignore[index]
                self._last = (idx, vf)
                return chosen
            if idx > n:
                return None
            prev = self._last = (idx, vf)
        return None

    def _to_frame(self, n: int, vf: av.VideoFrame) -> Frame:
        cc = self._stream.codec_context
        fmt = vf.format.name
        code = vf.colorspace if int(vf.colorspace) != 2 else cc.colorspace
        tag = _AV_COLORSPACE.get(int(code))
        if vf.format.is_rgb or fmt.startswith("gbr"):
            name = _AV_PRIMARIES.get(int(cc.color_primaries), "bt709")
        else:
            name = tag or ("bt709" if self.codec_name in ("prores", "dnxhd") or self.height >= 720 else "bt601")
        matrix = name if name in MATRICES else "bt709"
        rng = int(vf.color_range) or int(cc.color_range)
        full = rng == 2 or (rng == 0 and fmt.startswith("yuvj"))
        pixels = _planar_to_rgb(vf, matrix, full)
        if pixels is None:
            pixels = vf.to_ndarray(format="gbrapf32le" if self.has_alpha else "gbrpf32le",
                                   src_colorspace=_SWS_NAME[matrix], src_color_range="JPEG" if full else "MPEG",
                                   dst_color_range="JPEG", interpolation="BICUBIC").astype(np.float32)
        meta: dict[str, Any] = {"reelfix:movie_colorspace": name, "reelfix:movie_color_range": "full" if full else "tv",
                                "FramesPerSecond": self.fps}
        if self.timecode:
            start = timecode_to_frames(self.timecode, self.fps)
            meta["smpte:TimeCode"] = frames_to_timecode(start + n, self.fps, ";" in self.timecode)
        sar = self._stream.sample_aspect_ratio
        if sar and sar.denominator and sar != 1:
            meta["PixelAspectRatio"] = float(sar)
        channels = ("R", "G", "B", "A") if pixels.shape[2] == 4 else ("R", "G", "B")
        return Frame(np.ascontiguousarray(pixels, dtype=np.float32), channels, "", n, meta)

    def close(self) -> None:
        """Release the file (idempotent)."""
        self._decoder = None
        self._last = None
        self._container.close()

    def __enter__(self) -> "MovieReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------- writing

class MovieWriter:
    """Append frames to a ProRes .mov; ``close()`` publishes it, ``abort()`` throws it away."""

    def __init__(self, path: str | os.PathLike[str], *, fps: Fraction | float | int, width: int, height: int,
                 alpha: bool, codec: str = "auto", timecode: str | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        self.path = os.fspath(path)
        if os.path.splitext(self.path)[1].lower() != ".mov":
            raise UserError(f"cannot write {self.path}: only ProRes .mov movie output is supported for now",
                            hint="name the output .mov, or write an image sequence such as name.####.exr")
        name = codec.lower() if codec != "auto" else ("prores_4444" if alpha else "prores_hq")
        if name not in _PRORES:
            raise UserError(f"cannot write {self.path}: unknown codec {codec!r}",
                            hint=f"use auto or one of {', '.join(_PRORES)}")
        self.alpha = bool(alpha)
        if self.alpha and not name.startswith("prores_4444"):
            raise UserError(f"cannot write {self.path}: {name} has no alpha channel", hint="use prores_4444 or codec auto")
        if timecode is not None and not TIMECODE_RE.match(timecode.strip()):
            raise UserError(f"cannot write {self.path}: timecode {timecode!r} is not HH:MM:SS:FF",
                            hint="write it like 01:00:00:00")
        if width < 1 or height < 1:
            raise UserError(f"cannot write {self.path}: frame size {width}x{height} is empty")
        self.fps = as_frame_rate(fps)
        if self.fps <= 0:
            raise UserError(f"cannot write {self.path}: frame rate {fps} must be above 0")
        self.width, self.height = int(width), int(height)
        self._pix_fmt = ("yuva444p10le" if self.alpha else "yuv444p10le") if name.startswith("prores_4444") else "yuv422p10le"
        if self._pix_fmt == "yuv422p10le" and self.width % 2:
            raise UserError(f"cannot write {self.path}: ProRes 4:2:2 needs an even width, the frames are {width} wide",
                            hint="crop or pad to an even width, or use codec prores_4444")
        self._count = 0
        self._tmp = temp_path_for(self.path)
        try:
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            self._container: Any = av.open(self._tmp, "w", format="mov", options={"movflags": "use_metadata_tags"})
        except (av.FFmpegError, OSError) as exc:
            raise FrameWriteError(self.path, str(exc), hint="check permissions or choose another output folder") from exc
        try:
            for key, value in (metadata or {}).items():
                self._container.metadata[str(key)] = str(value)
            stream = self._container.add_stream("prores_ks", rate=self.fps, options={"profile": _PRORES[name], "vendor": "apl0"})
            stream.width, stream.height, stream.pix_fmt = self.width, self.height, self._pix_fmt
            self._frame_time_base = 1 / self.fps
            stream.time_base = self._frame_time_base
            cc = stream.codec_context
            cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = 1, 1, 1, 1  # BT.709, tv range
            if timecode:
                stream.metadata["timecode"] = timecode.strip()
                self._container.metadata["timecode"] = timecode.strip()
            self._stream = stream
        except (av.FFmpegError, ValueError, OSError) as exc:
            self.abort()
            raise FrameWriteError(self.path, f"cannot set up the ProRes encoder ({exc})") from exc

    def _encode_frame(self, frame: Frame) -> av.VideoFrame:
        px = np.nan_to_num(np.asarray(frame.pixels, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        colour = px[:, :, frame.colour_indices]
        rgb = np.repeat(colour[:, :, :1], 3, axis=2) if colour.shape[2] < 3 else colour[:, :, :3]
        y, cb, cr = rgb_to_ycbcr(np.clip(rgb, 0.0, 1.0), "bt709")
        if self._pix_fmt == "yuv422p10le":
            cb, cr = _subsample_422(cb), _subsample_422(cr)
        vf = av.VideoFrame(self.width, self.height, self._pix_fmt)
        _plane(vf.planes[0], "<u2")[:] = np.clip(np.rint(64.0 + 876.0 * y), 4, 1019)
        _plane(vf.planes[1], "<u2")[:] = np.clip(np.rint(512.0 + 896.0 * cb), 4, 1019)
        _plane(vf.planes[2], "<u2")[:] = np.clip(np.rint(512.0 + 896.0 * cr), 4, 1019)
        if self.alpha:
            a = px[:, :, frame.alpha_index] if frame.alpha_index is not None else np.ones(px.shape[:2], np.float32)
            _plane(vf.planes[3], "<u2")[:] = np.rint(np.clip(a, 0.0, 1.0) * 1023.0)
        vf.colorspace, vf.color_range = 1, 1
        vf.pts = self._count
        vf.time_base = self._frame_time_base  # the muxer changes the stream's time base after the header
        return vf

    def write(self, frame: Frame) -> None:
        """Append one frame: float RGB(A) [0,1], display-referred (Y/YA becomes grey; alpha is dropped
        when the movie has none and is opaque when the frame has none)."""
        if self._container is None:
            raise FrameWriteError(self.path, "the movie is already closed")
        if (frame.width, frame.height) != (self.width, self.height):
            raise FrameWriteError(self.path, f"frame {frame.number} is {frame.width}x{frame.height} but the movie is "
                                  f"{self.width}x{self.height}", hint="every frame of a movie must have the same size")
        try:
            for packet in self._stream.encode(self._encode_frame(frame)):
                self._container.mux(packet)
        except (av.FFmpegError, ValueError, OSError) as exc:
            self.abort()
            raise FrameWriteError(self.path, f"encoding frame {frame.number} failed ({exc})",
                                  hint="check free disk space and permissions") from exc
        self._count += 1

    def close(self) -> None:
        """Finish the file and move it into place; FrameWriteError (and no file) on failure."""
        if self._container is None:
            return
        if self._count == 0:
            self.abort()
            raise FrameWriteError(self.path, "no frames were written", hint="check the frame range of the job")
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
            self._container = None
            os.replace(self._tmp, self.path)
        except (av.FFmpegError, ValueError, OSError) as exc:
            self.abort()
            raise FrameWriteError(self.path, f"finishing the movie failed ({exc})",
                                  hint="check free disk space and permissions") from exc

    def abort(self) -> None:
        """Stop writing and delete the temp file (idempotent)."""
        if self._container is not None:
            try:
                self._container.close()
            except (av.FFmpegError, OSError):
                pass
            self._container = None
        if os.path.lexists(self._tmp):
            try:
                os.remove(self._tmp)
            except OSError:
                pass

    def __enter__(self) -> "MovieWriter":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
