"""The float32 -> half cast of EXR writes (image_io._to_half) gives numpy's bits exactly, whichever
route a band of rows takes (OpenCV's F16C cast for bands within +-65504, numpy's cast for the
rest), and keeps finite values finite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from reelfix.frames.frame import Frame
from reelfix.frames.half import to_half as _to_half
from reelfix.frames.image_io import write_image


def numpy_half(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        h = x.astype(np.float16)
    return np.clip(h, -65504.0, 65504.0)  # what the writer promised before: finite stays finite (NaN stays NaN)


def awkward_values(n: int, seed: int = 0) -> np.ndarray:
    """Random float32 bit patterns within +-65504 (every exponent), plus zeros, float32 denormals,
    half denormals, ties between two halves and the ends of the half range."""
    bits = np.random.default_rng(seed).integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    x = x[np.abs(x) <= 65504.0]
    one_ulp = np.float32(2.0**-10)
    special = np.array([0.0, -0.0, 1e-45, -1e-45, 1e-40, 2.0**-24, 2.0**-25, 3 * 2.0**-25, 2.0**-14, 6e-8,
                        1 + one_ulp / 2, 1 + 3 * one_ulp / 2, 2048 + 1, 2048 + 3, 65504.0, -65504.0, 65488.0, 65500.0], np.float32)
    return np.concatenate([special, -special, x]).astype(np.float32)


@pytest.mark.parametrize("channels", [1, 2, 3, 4, 5])
def test_half_cast_is_numpys_bit_for_bit(channels: int) -> None:
    v = awkward_values(600_000)
    width = 101
    rows = v.size // (width * channels)
    pix = v[: rows * width * channels].reshape(rows, width, channels)  # > 256 rows: several bands over threads
    assert rows > 256
    assert _to_half(pix).view(np.uint16).tobytes() == numpy_half(pix).view(np.uint16).tobytes()


def test_bands_with_overflow_nan_or_inf_keep_finite_values_finite() -> None:
    pix = np.random.default_rng(1).uniform(-2, 2, (600, 64, 3)).astype(np.float32)
    pix[10, 3, 0], pix[300, 5, 1], pix[310, 6, 2], pix[599, 0, 0] = 70000.0, np.inf, -np.inf, np.nan
    got = _to_half(pix)
    want = numpy_half(pix)
    assert got.view(np.uint16).tobytes() == want.view(np.uint16).tobytes()
    assert got[10, 3, 0] == 65504.0 and got[300, 5, 1] == 65504.0 and got[310, 6, 2] == -65504.0 and np.isnan(got[599, 0, 0])


def test_half_exr_holds_numpys_half_bits(tmp_path: Path) -> None:
    pix = np.random.default_rng(2).uniform(-0.5, 40.0, (300, 200, 3)).astype(np.float32)
    path = tmp_path / "h.exr"
    write_image(path, Frame(pix, ("R", "G", "B"), "lin_srgb", 1), compression="zip", bit_depth="half")
    inp = oiio.ImageInput.open(str(path))
    stored = inp.read_image(0, 0, 0, 3, "half")  # the file's own values, no conversion
    inp.close()
    assert np.asarray(stored).view(np.uint16).tobytes() == numpy_half(pix).view(np.uint16).tobytes()


@pytest.mark.parametrize("compression", ["zip", "piz", "dwab", "none"])
def test_half_exr_written_in_bands_is_the_one_shot_file_byte_for_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compression: str) -> None:
    """The writer casts and hands over a frame in bands of rows (no frame-sized half copy): the
    file is byte for byte what OpenImageIO writes from the whole cast frame, NaN, overflow and a
    last, short band included."""
    from reelfix.frames import image_io

    pix = np.random.default_rng(3).uniform(-0.5, 4.0, (700, 90, 3)).astype(np.float32)
    pix[3, 4, 0], pix[600, 1, 2], pix[699, 89, 1] = np.nan, 1e6, -np.inf
    monkeypatch.setattr(image_io, "HALF_BAND_BYTES", 1)  # bands of 256 rows: 256, 256, 188
    assert image_io.band_rows(oiio.ImageSpec(90, 700, 3, "half")) == 256
    banded = tmp_path / "banded.exr"
    write_image(banded, Frame(pix, ("R", "G", "B"), "lin_srgb", 1), compression=compression, bit_depth="half")
    inp = oiio.ImageInput.open(str(banded))
    spec = inp.spec()
    inp.close()
    whole = tmp_path / "whole.exr"
    out = oiio.ImageOutput.create(str(whole))
    assert out.open(str(whole), spec) and out.write_image(numpy_half(pix)) and out.close()
    assert banded.read_bytes() == whole.read_bytes()


@pytest.mark.soak
def test_every_float32_within_the_half_range_casts_to_numpys_bits() -> None:
    """Exhaustive (about 2.4e9 values, minutes): `pytest -m soak tests/frames/test_half_cast.py`."""
    top = int(np.array(65504.0, np.float32).view(np.uint32))
    width, step = 3 * 4096, 3 * 4096 * 2048
    for sign in (0, 1 << 31):
        for start in range(0, top + 1, step):
            bits = np.arange(start, min(start + step, top + 1), dtype=np.uint32) | np.uint32(sign)
            bits = np.concatenate([bits, np.zeros(-bits.size % width, np.uint32)])  # whole rows
            pix = bits.view(np.float32).reshape(-1, width // 3, 3)
            assert _to_half(pix).view(np.uint16).tobytes() == pix.astype(np.float16).view(np.uint16).tobytes(), hex(start | sign)


def test_half_files_read_back_with_oiios_float_bits(tmp_path: Path) -> None:
    """read_image takes a half EXR's values as stored and casts them itself: the float32 bits OIIO's
    own conversion gives, for every half value (zeros, denormals, the range's ends, Inf); a file
    with one float channel among halves is read as float."""
    from reelfix.frames.image_io import read_image

    every = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    every = every[~np.isnan(every)]
    pix = np.resize(every, 3 * 200 * 330).reshape(200, 330, 3)
    for formats in (("half", "half", "half"), ("half", "float", "half")):
        path = tmp_path / f"{formats[1]}.exr"
        spec = oiio.ImageSpec(330, 200, 3, "half")
        spec.channelformats = formats
        out = oiio.ImageOutput.create(str(path))
        assert out.open(str(path), spec) and out.write_image(pix) and out.close()
        inp = oiio.ImageInput.open(str(path))
        want = inp.read_image(0, 0, 0, 3, "float")
        inp.close()
        got = read_image(path).pixels
        assert got.dtype == np.float32 and got.shape == (200, 330, 3)
        assert got.tobytes() == np.asarray(want, np.float32).tobytes()
