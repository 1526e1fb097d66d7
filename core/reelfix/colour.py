"""Colour management with OpenColorIO: into a model's working space and exactly back.

The config is pinned (`CONFIG_URI`, the ACES studio config built into both PyOpenColorIO
and OpenImageIO), so a job gives the same pixels on every machine. Environment:
- `REELFIX_OCIO`: path (or `ocio://` URI) of another config to use instead.
- `REELFIX_USE_OCIO_ENV=1`: use the config named by the standard `$OCIO` variable. `$OCIO`
  is not read otherwise, because a studio's `$OCIO` would silently change reelfix's results.

Transforms run through CPU processors optimised with `OPTIMIZATION_LOSSLESS`: no fast
pow/log approximations, so a lin -> sRGB -> lin round trip is exact to ~3e-7 relative
(measured; the default optimisation gives ~4e-5). A 3840x2160 RGB frame took ~100 ms for
sRGB/gamma curves, ~30 ms for matrix-only and ~300 ms for ADX10 conversions on 2 idle
cores (rows split over threads; OCIO releases the GIL; ~190/40/600 ms of CPU).

NaN and Inf: OCIO does not fail on them. Matrices and sRGB/gamma curves pass NaN through;
log encodings (ACEScct, camera logs) turn NaN into a finite value, and Inf can become NaN
after a matrix. The pipeline replaces NaN/Inf before colour conversion.
"""

from __future__ import annotations

import difflib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np
import PyOpenColorIO as OCIO

from . import buffers
from .errors import ColourError
from .frames.half import exact_half
from .parallel import over_rows, workers

log = logging.getLogger(__name__)

CONFIG_URI = "ocio://studio-config-v4.0.0_aces-v2.0_ocio-v2.5"
_OPTIMIZATION = OCIO.OPTIMIZATION_LOSSLESS
_PARALLEL_MIN_PIXELS = 1 << 19  # below this a frame is converted in the calling thread
_HALF_TABLE_MIN = 1 << 16  # values; below this the checks cost more than the table saves


def config_source() -> str:
    """The config reelfix uses: `$REELFIX_OCIO`, else `$OCIO` if `REELFIX_USE_OCIO_ENV=1`, else `CONFIG_URI`."""
    own = os.environ.get("REELFIX_OCIO", "").strip()
    if own:
        return own
    if os.environ.get("REELFIX_USE_OCIO_ENV", "").strip() == "1" and os.environ.get("OCIO", "").strip():
        return os.environ["OCIO"].strip()
    return CONFIG_URI


@lru_cache(maxsize=4)
def _load_config(source: str) -> OCIO.Config:
    try:
        return OCIO.Config.CreateFromFile(source)
    except Exception as exc:  # noqa: BLE001 - OCIO raises its own Exception type
        raise ColourError(
            f"cannot load OCIO config {source}: {exc}",
            hint="fix or unset REELFIX_OCIO (or REELFIX_USE_OCIO_ENV/OCIO) to use the built-in config",
        ) from None


def get_config() -> OCIO.Config:
    """The OCIO config (loaded once per source)."""
    return _load_config(config_source())


def list_colorspaces() -> list[tuple[str, tuple[str, ...], str]]:
    """(name, aliases, family) of every colour space in the config, active and inactive."""
    cfg = get_config()
    spaces = cfg.getColorSpaces(OCIO.SEARCH_REFERENCE_SPACE_ALL, OCIO.COLORSPACE_ALL)
    return [(cs.getName(), tuple(cs.getAliases()), cs.getFamily()) for cs in spaces]


def _known_names() -> list[str]:
    cfg = get_config()
    names = [n for name, aliases, _ in list_colorspaces() for n in (name, *aliases)]
    return names + list(cfg.getRoleNames())


def canonical_name(name: str) -> str:
    """The config's name for a colour space given by name, alias or role, any case
    (e.g. 'lin_srgb', 'ACEScg', 'scene_linear'). Unknown -> ColourError with suggestions."""
    cs = get_config().getColorSpace(str(name).strip())
    if cs is not None:
        return str(cs.getName())
    by_lower = {n.lower(): n for n in _known_names()}
    close = difflib.get_close_matches(str(name).strip().lower(), list(by_lower), n=5, cutoff=0.5)
    suggest = f"did you mean {', '.join(repr(by_lower[c]) for c in close)}? " if close else ""
    raise ColourError(
        f"unknown colour space {name!r} in OCIO config {config_source()}",
        hint=f"{suggest}`reelfix colorspaces` lists them all",
    )


@lru_cache(maxsize=256)
def _processor(source: str, src: str, dst: str, fast: bool = False) -> OCIO.CPUProcessor | None:
    """CPU processor src -> dst (canonical names), or None when it is a no-op. `fast`: OCIO's
    default optimisation (fast pow/log approximations; see `convert`)."""
    try:
        proc = _load_config(source).getProcessor(src, dst)
        if proc.isNoOp():
            return None
        return proc.getOptimizedCPUProcessor(OCIO.BIT_DEPTH_F32, OCIO.BIT_DEPTH_F32, OCIO.OPTIMIZATION_DEFAULT if fast else _OPTIMIZATION)
    except Exception as exc:  # noqa: BLE001 - OCIO raises its own Exception type
        raise ColourError(f"OCIO cannot convert {src!r} -> {dst!r}: {exc}", hint="pick other colour spaces") from None


@lru_cache(maxsize=64)
def _half_processor(source: str, src: str, dst: str) -> OCIO.CPUProcessor | None:
    """src -> dst for values that are exactly half floats, as OCIO's one 65536-entry table (its
    separable-prefix optimisation), where that table gives `_processor(src, dst)`'s values bit for
    bit on every finite half (checked here, once per pair); None where OCIO does not reduce the
    conversion to one table (a matrix in it: the table would not be faster) or any value differs."""
    try:
        proc = _load_config(source).getProcessor(src, dst)
        exact = _processor(source, src, dst)
        if exact is None:
            return None
        flags = OCIO.OptimizationFlags(int(_OPTIMIZATION) | int(OCIO.OPTIMIZATION_COMP_SEPARABLE_PREFIX))
        group = proc.getOptimizedProcessor(OCIO.BIT_DEPTH_F16, OCIO.BIT_DEPTH_F32, flags).createGroupTransform()
        if [type(t) for t in group] != [OCIO.Lut1DTransform]:
            return None
        table = proc.getOptimizedCPUProcessor(OCIO.BIT_DEPTH_F16, OCIO.BIT_DEPTH_F32, flags)
    except Exception:  # noqa: BLE001 - no table: the exact route serves
        return None
    every = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    every = np.repeat(every[np.isfinite(every)], 3).reshape(1, -1, 3)  # each finite half in R, G and B
    n = every.shape[1]
    want = every.astype(np.float32)
    exact.apply(OCIO.PackedImageDesc(want, n, 1, 3))
    got = np.empty_like(want)
    table.apply(OCIO.PackedImageDesc(every, n, 1, 3, OCIO.BIT_DEPTH_F16, 2, 6, 6 * n), OCIO.PackedImageDesc(got, n, 1, 3))
    return table if np.array_equal(want.view(np.uint32), got.view(np.uint32)) else None


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=workers(), thread_name_prefix="reelfix-ocio")


def _apply(proc: OCIO.CPUProcessor, rgb: np.ndarray) -> None:
    """Apply in place to a C-contiguous HxWx3 float32 array, rows split over threads."""
    h, w = rgb.shape[:2]

    def rows(r0: int, r1: int) -> None:
        band = rgb[r0:r1]
        proc.apply(OCIO.PackedImageDesc(band, w, r1 - r0, 3))

    _over_threads(h, w, rows)


def convert(rgb: np.ndarray, src: str, dst: str, *, in_place: bool = False, fast: bool = False) -> np.ndarray:
    """Convert pixels from colour space `src` to `dst`; returns a new C-contiguous float32 array.

    `rgb` is HxWx3. Grey images (HxWx1 or HxW) are replicated to three equal channels,
    converted, and the mean of the three channels is returned in the input's shape (for the
    white-point-preserving transforms of the config the three stay equal to ~1e-7).
    src == dst (after resolving aliases) returns a copy. `in_place=True` converts a
    C-contiguous float32 RGB array in its own buffer (no copy) and returns it. Scene <-> display-referred spaces
    (families 'Display') go through the config's default view transform: a tone map, not
    exactly invertible; the model pipeline stays within scene-referred spaces.
    `fast=True` uses OCIO's default optimisation (fast pow/log): 2.5x less CPU for the sRGB curve
    on a 4K frame (0.10 s against 0.26 s on one core), at most ~3e-5 relative error (measured on
    the sRGB curve), 19x below half-float's step; for pixels a model is about to change anyway,
    never for pixels that must come back bit-identical.
    """
    a, b = canonical_name(src), canonical_name(dst)
    arr = np.asarray(rgb)
    grey = arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 1)
    if not grey and not (arr.ndim == 3 and arr.shape[2] == 3):
        raise ColourError(
            f"convert takes HxWx3 RGB or HxWx1 grey pixels, got shape {arr.shape}",
            hint="split off alpha and other channels before colour conversion",
        )
    proc = None if a == b else _processor(config_source(), a, b, fast)
    if proc is None:
        return np.array(arr, dtype=np.float32, order="C", copy=True)
    if grey:
        g = arr.reshape(arr.shape[0], arr.shape[1], 1)
        work = np.repeat(g.astype(np.float32, copy=False), 3, axis=2)
    elif in_place and arr.dtype == np.float32 and arr.flags.c_contiguous and arr.flags.writeable:
        work = arr  # the caller owns this buffer and no longer needs the source values
    else:
        work = buffers.empty(arr.shape, np.float32)
        np.copyto(work, arr, casting="unsafe")
    _apply(proc, work)
    if grey:
        return np.ascontiguousarray(work.mean(axis=2, dtype=np.float32).reshape(arr.shape))
    return work


def convert_planes(planes: np.ndarray, src: str, dst: str, *, fast: bool = False) -> np.ndarray:
    """`convert` of a 3xHxW float32 picture (planar, as a model outputs it) into a new
    C-contiguous HxWx3 array, in one pass: OCIO reads the planes and writes the interleaved
    result, so no interleaved copy is made first (at 3840x2160 that copy cost ~70 ms of CPU).
    The values are `convert(planes.transpose(1, 2, 0), src, dst, fast=fast)`'s, bit for bit
    (OCIO unpacks either layout into the same scanline buffer before its ops)."""
    if planes.ndim != 3 or planes.shape[0] != 3:
        raise ColourError(f"convert_planes takes 3xHxW planes, got shape {planes.shape}")
    a, b = canonical_name(src), canonical_name(dst)
    planes = np.ascontiguousarray(planes, dtype=np.float32)
    _, h, w = planes.shape
    out = buffers.empty((h, w, 3), np.float32)
    proc = None if a == b else _processor(config_source(), a, b, fast)

    def rows(r0: int, r1: int) -> None:
        if proc is None:  # no conversion: only the interleave (OpenCV's merge releases the GIL)
            cv2.merge([p[r0:r1] for p in planes], out[r0:r1])
            return
        desc = OCIO.PlanarImageDesc(planes[0, r0:r1], planes[1, r0:r1], planes[2, r0:r1], w, r1 - r0)
        proc.apply(desc, OCIO.PackedImageDesc(out[r0:r1], w, r1 - r0, 3))

    _over_threads(h, w, rows)
    return out


def _shuffled_place(out: np.ndarray, block: int, r0: int, n: int, i: int, j: int) -> OCIO.PackedImageDesc:
    """OCIO's view of sub-pixel (i, j) of input rows [r0, r0 + n) in a shuffled (h*s)x(w*s)x3
    picture `out`: every s-th pixel of every s-th row, written through strides. PyOpenColorIO
    checks that the buffer holds width*height*channels values, then writes through the strides
    from its first one: it is handed that many, from the sub-pixel's first value; the writes
    stay inside `out` (the last one ends at or before its end)."""
    w = out.shape[1] // block
    px = 3 * out.itemsize  # bytes of one output pixel
    row = out.shape[1] * px
    flat = out.reshape(-1)
    start = ((r0 * block + i) * out.shape[1] + j) * 3
    if start + ((n - 1) * block * row + (w - 1) * block * px + px) // out.itemsize > flat.size:  # pragma: no cover - the arithmetic
        raise RuntimeError("shuffled conversion: strided writes would leave the output")
    return OCIO.PackedImageDesc(flat[start : start + w * n * 3], w, n, 3, OCIO.BIT_DEPTH_F32, out.itemsize, block * px, block * row)


def convert_shuffled(
    pre: np.ndarray, block: int, plane: Callable[[int, int, int], int], src: str, dst: str, *, fast: bool = False
) -> np.ndarray:
    """`convert_planes` of a pixel-shuffled picture, with the shuffle done on the way: `pre` is
    the (3*s*s)xhxw output of a model cut before its DepthToSpace (s = `block`; `plane(c, i, j)`
    names the channel of colour c at sub-pixel row i, column j) and the result is the new
    (h*s)x(w*s)x3 picture `convert_planes(depth_to_space(pre), src, dst, fast=fast)` returns,
    bit for bit: OCIO reads each sub-pixel's three planes and writes them with strides straight
    to their places in the output (no shuffled copy is made, and the model does not make one).
    For planes as one model call gives them; tiles assembled channels-last are converted over
    their own memory instead (`convert_shuffled_in_place`)."""
    if pre.ndim != 3 or pre.shape[0] != 3 * block * block:
        raise ColourError(f"convert_shuffled takes {3 * block * block}xHxW planes, got shape {pre.shape}")
    a, b = canonical_name(src), canonical_name(dst)
    pre = np.ascontiguousarray(pre, dtype=np.float32)
    _, h, w = pre.shape
    out = buffers.empty((h * block, w * block, 3), np.float32)
    proc = None if a == b else _processor(config_source(), a, b, fast)
    subs = [(i, j, [plane(c, i, j) for c in range(3)]) for i in range(block) for j in range(block)]

    def rows(r0: int, r1: int) -> None:
        for i, j, (pr, pg, pb) in subs:
            if proc is None:
                dst_view = out[r0 * block + i : r1 * block : block, j::block]
                for c, p in enumerate((pr, pg, pb)):
                    dst_view[:, :, c] = pre[p, r0:r1]
            else:
                proc.apply(OCIO.PlanarImageDesc(pre[pr, r0:r1], pre[pg, r0:r1], pre[pb, r0:r1], w, r1 - r0),
                           _shuffled_place(out, block, r0, r1 - r0, i, j))

    _over_threads(h, w, rows)
    return out


IN_PLACE_BAND_BYTES = 4 * 1024**2  # bytes of `convert_shuffled_in_place`'s copy of a band of rows


def convert_shuffled_in_place(
    pre: np.ndarray, block: int, plane: Callable[[int, int, int], int], src: str, dst: str, *, fast: bool = False
) -> np.ndarray:
    """`convert_planes` of a pixel-shuffled picture, with the shuffle done on the way and over its
    own memory: `pre` is the output of a model cut before its DepthToSpace, held channels-last,
    hxwx(3*s*s) float32, C-contiguous (s = `block`; `plane(c, i, j)` names the channel of colour c
    at sub-pixel row i, column j). The result is the (h*s)x(w*s)x3 picture
    `convert_planes(depth_to_space(pre), src, dst, fast=fast)` returns, bit for bit, as a view of
    `pre`'s memory (`pre` is used up): input row r holds exactly the bytes of output rows
    s*r .. s*r+s-1, so each band of rows is copied aside (a few MB) and OCIO reads each sub-pixel's
    three channels from it and writes them with strides to their places. No shuffled copy is made
    and no second frame-sized array (at 4K -> 8K: 400 MB less, which the kernel would zero afresh
    every frame); the copies aside and the strided reads cost ~15% more than `convert_shuffled`
    from planes, so that is kept for planes as one model call gives them."""
    if pre.ndim != 3 or pre.shape[2] != 3 * block * block or pre.dtype != np.float32 or not pre.flags.c_contiguous:
        raise ColourError(f"convert_shuffled_in_place takes contiguous float32 HxWx{3 * block * block} pixels, got {pre.dtype} {pre.shape}")
    a, b = canonical_name(src), canonical_name(dst)
    h, w, ch = pre.shape
    out = pre.reshape(h * block, w * block, 3)  # the same memory, in output rows
    proc = None if a == b else _processor(config_source(), a, b, fast)
    subs = [(i, j, [plane(c, i, j) for c in range(3)]) for i in range(block) for j in range(block)]

    def rows(r0: int, r1: int) -> None:
        n = r1 - r0
        band = np.array(pre[r0:r1])  # aside: the writes below land on these rows' own bytes
        band_flat = band.reshape(-1)
        for i, j, chans in subs:
            if proc is None:
                out[r0 * block + i : r1 * block : block, j::block] = band[:, :, chans]
                continue
            step = chans[1] - chans[0]
            if chans[2] - chans[1] == step and step > 0:  # the three channels evenly spaced in each pixel
                src_desc = OCIO.PackedImageDesc(band_flat[chans[0] : chans[0] + w * n * 3], w, n, 3, OCIO.BIT_DEPTH_F32,
                                                step * band.itemsize, ch * band.itemsize, w * ch * band.itemsize)
            else:
                src_desc = OCIO.PackedImageDesc(np.ascontiguousarray(band[:, :, chans]), w, n, 3)
            proc.apply(src_desc, _shuffled_place(out, block, r0, n, i, j))

    step_rows = max(1, IN_PLACE_BAND_BYTES // max(1, w * ch * pre.itemsize))
    if h * w < _PARALLEL_MIN_PIXELS or workers() == 1:
        for r0 in range(0, h, step_rows):
            rows(r0, min(h, r0 + step_rows))
    else:
        over_rows(h, rows, step_rows)
    return out


def convert_to_planes(rgb: np.ndarray, src: str, dst: str) -> np.ndarray:
    """`convert` of an HxWx3 picture into a new 3xHxW float32 array (planar, as a model takes
    it), in one pass: the values of `convert(rgb, src, dst)`, bit for bit, without the
    interleaved copy and the transposed copy after it."""
    arr = np.ascontiguousarray(rgb, dtype=np.float32)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ColourError(f"convert_to_planes takes HxWx3 pixels, got shape {arr.shape}")
    a, b = canonical_name(src), canonical_name(dst)
    h, w = arr.shape[:2]
    out = buffers.empty((3, h, w), np.float32)
    proc = None if a == b else _processor(config_source(), a, b)
    # values read from a half-float file: OCIO's table for halves gives the same values ~6x faster;
    # the first row tells whether to try (a 10-bit DPX or float plate does not pay for the checks)
    table = None if proc is None or arr.size < _HALF_TABLE_MIN else _half_processor(config_source(), a, b)
    if table is not None and exact_half(arr[:1]) is None:
        table = None

    def rows(r0: int, r1: int) -> None:
        if proc is None:
            out[:, r0:r1] = arr[r0:r1].transpose(2, 0, 1)
            return
        n = r1 - r0
        dst_desc = OCIO.PlanarImageDesc(out[0, r0:r1], out[1, r0:r1], out[2, r0:r1], w, n)
        half = exact_half(arr[r0:r1]) if table is not None else None
        if half is not None:
            table.apply(OCIO.PackedImageDesc(half, w, n, 3, OCIO.BIT_DEPTH_F16, 2, 6, 6 * w), dst_desc)
            return
        proc.apply(OCIO.PackedImageDesc(arr[r0:r1], w, n, 3), dst_desc)

    _over_threads(h, w, rows)
    return out


def _over_threads(h: int, w: int, rows: Callable[[int, int], None]) -> None:
    """rows(r0, r1) over `workers()` bands of rows on the pool (one call for small pictures)."""
    n = workers()
    if h * w < _PARALLEL_MIN_PIXELS or n == 1 or h < 2:
        rows(0, h)
        return
    edges = np.linspace(0, h, min(h, n) + 1).astype(int)
    list(_pool().map(rows, edges[:-1], edges[1:]))


# --------------------------------------------------------------------------- defaults per format

MOVIE_EXTENSIONS = frozenset({".mov", ".mp4", ".m4v", ".mxf", ".mkv", ".avi", ".webm", ".mts", ".y4m"})
FLOAT_TYPES = frozenset({"float", "half", "double"})


def _known(name: Any) -> str | None:
    if not isinstance(name, str) or not name.strip():
        return None
    cs = get_config().getColorSpace(name.strip())
    return str(cs.getName()) if cs is not None else None


def _movie_space(tag: str) -> str:
    t = tag.strip().lower()
    named = _known(tag)
    if named:
        return named
    if "srgb" in t or "iec61966" in t:
        return canonical_name("srgb_tx")
    if "linear" in t:
        return canonical_name("lin_srgb")
    if t and not any(k in t for k in ("709", "601", "170m", "470", "240m", "fcc", "unknown", "unspecified")):
        log.warning("movie colour %r is not supported; reading it as Rec.709 (set the input colour space)", tag)
    return canonical_name("g24_rec709_tx")


def default_colorspace(path: str, attributes: dict[str, Any]) -> str:
    """The colour space to assume for a file when the user gives none (canonical name).

    `attributes` are the reader's OpenImageIO-style attributes. Rules, in order:
    - Movies (`reelfix:movie_colorspace` set, or a movie extension): the tag if it names a
      config space; 'srgb' -> sRGB; otherwise (bt709, bt601/170m/470bg/fcc, smpte240m, unknown) the video
      encoding 'Gamma 2.4 Encoded Rec.709' (g24_rec709_tx: BT.1886's inverse EOTF, a plain
      invertible curve; the 'Rec.1886 Rec.709 - Display' space would add a tone map).
      BT.601 primaries are read as Rec.709 (close); HDR/BT.2020 tags warn and fall back.
    - DPX/Cineon: `.cin`, `oiio:ColorSpace` 'KodakLog', or `dpx:Transfer` 'Printing density'
      / 'Logarithmic' / 'ADX' -> ADX10 (the config's printing-density log: code 95 -> black,
      445 -> 0.18, the Cineon conventions; round trip exact to 2.4e-4 code values); a
      known `oiio:ColorSpace` (e.g. linear) -> that; video transfers (709, 274M, 601) ->
      g24_rec709_tx; float data -> lin_srgb; anything else -> srgb_tx.
    - Any other format: a known `oiio:ColorSpace` wins (EXR headers, PNG gAMA/sRGB chunks).
      Else EXR/HDR and float pixels (`reelfix:pixel_type` float/half, or
      `oiio:BitsPerSample` 32) -> lin_srgb; integer PNG/JPEG/TIFF/... -> srgb_tx.
    """
    ext = Path(path).suffix.lower()
    movie_tag = attributes.get("reelfix:movie_colorspace")
    if movie_tag is not None or ext in MOVIE_EXTENSIONS:
        return _movie_space(str(movie_tag or ""))
    header = attributes.get("oiio:ColorSpace")
    known = _known(header)
    pixel_type = str(attributes.get("reelfix:pixel_type", "")).lower()
    is_float = pixel_type in FLOAT_TYPES or (not pixel_type and attributes.get("oiio:BitsPerSample") == 32)
    if ext in (".dpx", ".cin"):
        transfer = str(attributes.get("dpx:Transfer", "")).lower()
        if (
            ext == ".cin"
            or str(header).lower() == "kodaklog"
            or any(k in transfer for k in ("printing density", "logarithmic", "adx"))
        ):
            return canonical_name("ADX10")
        if known:
            return known
        if any(k in transfer for k in ("709", "274m", "601", "video")):
            return canonical_name("g24_rec709_tx")
        return canonical_name("lin_srgb" if is_float else "srgb_tx")
    if known:
        return known
    if ext in (".exr", ".sxr", ".hdr") or is_float:
        return canonical_name("lin_srgb")
    return canonical_name("srgb_tx")
