"""colour.py: OCIO conversions, names, the reversible range map, per-format defaults."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PyOpenColorIO as OCIO
import pytest
from reelfix import colour
from reelfix.errors import ColourError, ModelError
from reelfix.range_map import RangeMap

EXTREMES = np.array([0.0, 1e-4, 0.18, 1.0, 4.0, 16.0, 100.0, -0.05], np.float32)


def _px(values: np.ndarray) -> np.ndarray:
    """A 1xNx3 grey image of the given values."""
    return np.ascontiguousarray(np.repeat(values[None, :, None], 3, axis=2), dtype=np.float32)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-6)))


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("lin_srgb", "Linear Rec.709 (sRGB)"),
        ("LIN_SRGB", "Linear Rec.709 (sRGB)"),
        ("linear rec.709 (srgb)", "Linear Rec.709 (sRGB)"),
        ("srgb_tx", "sRGB Encoded Rec.709 (sRGB)"),
        ("acescg", "ACEScg"),
        ("acescct", "ACEScct"),
        ("ADX10", "ADX10"),
        ("scene_linear", "ACEScg"),
        ("g24_rec709_tx", "Gamma 2.4 Encoded Rec.709"),
        ("  lin_srgb ", "Linear Rec.709 (sRGB)"),
    ],
)
def test_canonical_name_accepts_names_aliases_roles_any_case(name: str, canonical: str) -> None:
    assert colour.canonical_name(name) == canonical


def test_unknown_name_names_it_suggests_close_matches_and_the_cli() -> None:
    with pytest.raises(ColourError) as err:
        colour.canonical_name("lin_srgbb")
    text = str(err.value)
    assert "'lin_srgbb'" in text and "'lin_srgb'" in text and "reelfix colorspaces" in text


def test_list_colorspaces_has_names_aliases_families() -> None:
    spaces = {name: (aliases, family) for name, aliases, family in colour.list_colorspaces()}
    aliases, family = spaces["Linear Rec.709 (sRGB)"]
    assert "lin_srgb" in aliases and family == "Utility"
    assert "ACEScg" in spaces and "ADX10" in spaces


# --------------------------------------------------------------------------- convert


def test_known_values() -> None:
    out = colour.convert(_px(np.array([0.18, 1.0, 0.0], np.float32)), "lin_srgb", "srgb_tx")
    np.testing.assert_allclose(out[0, :, 0], [0.4613561, 1.0, 0.0], atol=1e-6)
    assert colour.convert(_px(np.array([0.18], np.float32)), "lin_srgb", "acescg")[0, 0, 0] == pytest.approx(
        0.18, abs=1e-6
    )


@pytest.mark.parametrize("space", ["srgb_tx", "acescct", "acescg", "g24_rec709_tx", "lin_rec2020"])
def test_round_trip_keeps_values_outside_0_1(space: str) -> None:
    x = _px(EXTREMES)
    back = colour.convert(colour.convert(x, "lin_srgb", space), space, "lin_srgb")
    assert _rel(back, x) < 1e-5


def test_convert_returns_new_contiguous_float32_and_leaves_input_alone() -> None:
    rng = np.random.default_rng(0)
    base = rng.random((3, 20, 10)).astype(np.float64)
    view = base.transpose(1, 2, 0)  # HxWx3, not contiguous, float64
    keep = view.copy()
    out = colour.convert(view, "lin_srgb", "srgb_tx")
    assert out.dtype == np.float32 and out.flags.c_contiguous and out.shape == (20, 10, 3)
    np.testing.assert_array_equal(view, keep)


def test_same_space_is_a_copy_even_through_aliases() -> None:
    x = _px(EXTREMES)
    for dst in ("lin_srgb", "Linear Rec.709 (sRGB)", "LIN_REC709"):
        out = colour.convert(x, "lin_srgb", dst)
        assert out is not x and not np.shares_memory(out, x)
        np.testing.assert_array_equal(out, x)


@pytest.mark.parametrize("shape", [(7, 9, 1), (7, 9)])
def test_grey_images_convert_like_rgb(shape: tuple[int, ...]) -> None:
    g = np.random.default_rng(1).random(shape).astype(np.float32)
    out = colour.convert(g, "lin_srgb", "srgb_tx")
    assert out.shape == g.shape and out.dtype == np.float32
    rgb = colour.convert(np.repeat(g.reshape(7, 9, 1), 3, axis=2), "lin_srgb", "srgb_tx")
    np.testing.assert_allclose(out.reshape(7, 9), rgb[:, :, 0], rtol=1e-6, atol=1e-7)


def test_rgba_is_refused_with_a_hint() -> None:
    with pytest.raises(ColourError, match="split off alpha"):
        colour.convert(np.zeros((2, 2, 4), np.float32), "lin_srgb", "srgb_tx")


def test_unknown_space_in_convert_raises() -> None:
    with pytest.raises(ColourError, match="unknown colour space 'nope'"):
        colour.convert(np.zeros((2, 2, 3), np.float32), "nope", "srgb_tx")


def test_nan_does_not_crash_and_neighbours_are_right() -> None:
    x = _px(np.array([0.18, np.nan, 1.0], np.float32))
    out = colour.convert(x, "lin_srgb", "srgb_tx")
    assert np.isnan(out[0, 1]).all()  # sRGB curves pass NaN through
    np.testing.assert_allclose(out[0, [0, 2], 0], [0.4613561, 1.0], atol=1e-6)
    colour.convert(x, "lin_srgb", "acescct")  # log encodings may turn NaN into a number; no crash


def test_large_frames_are_split_over_threads_with_the_same_result() -> None:
    img = np.random.default_rng(2).random((768, 1024, 3)).astype(np.float32) * 4  # over the parallel threshold
    out = colour.convert(img, "lin_srgb", "srgb_tx")
    ref = img.copy()
    cfg = colour.get_config()
    proc = cfg.getProcessor("lin_srgb", "srgb_tx").getOptimizedCPUProcessor(
        OCIO.BIT_DEPTH_F32, OCIO.BIT_DEPTH_F32, OCIO.OPTIMIZATION_LOSSLESS
    )
    proc.applyRGB(ref)
    np.testing.assert_array_equal(out, ref)


# --------------------------------------------------------------------------- config selection


def test_pinned_config_is_used_and_ocio_env_is_ignored(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("REELFIX_OCIO", raising=False)
    monkeypatch.delenv("REELFIX_USE_OCIO_ENV", raising=False)
    monkeypatch.setenv("OCIO", str(tmp_path / "studio.ocio"))
    assert colour.config_source() == colour.CONFIG_URI
    monkeypatch.setenv("REELFIX_USE_OCIO_ENV", "1")
    assert colour.config_source() == str(tmp_path / "studio.ocio")


def test_reelfix_ocio_points_to_another_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "copy.ocio"
    path.write_text(OCIO.Config.CreateFromFile(colour.CONFIG_URI).serialize())
    monkeypatch.setenv("REELFIX_OCIO", str(path))
    assert colour.config_source() == str(path)
    assert colour.convert(_px(np.array([0.18], np.float32)), "lin_srgb", "srgb_tx")[0, 0, 0] == pytest.approx(
        0.4613561, abs=1e-6
    )
    monkeypatch.setenv("REELFIX_OCIO", str(tmp_path / "missing.ocio"))
    with pytest.raises(ColourError, match="REELFIX_OCIO"):
        colour.canonical_name("lin_srgb")


# --------------------------------------------------------------------------- range map


def test_range_map_lands_strictly_inside_the_interval() -> None:
    rm = RangeMap()
    x = np.array([-np.inf, -1e30, -1e6, -1, -0.05, 0, 0.5, 1, 4, 1e4, 1e8, 1e30, np.inf], np.float32)
    y = rm.forward(x)
    assert y.dtype == np.float32
    assert np.all(y > 0) and np.all(y < 1)
    assert np.all(np.diff(y) >= 0)  # monotonic


def test_range_map_is_identity_on_its_band_and_c1_at_the_knees() -> None:
    rm = RangeMap()
    a, b = rm.knees
    assert (a, b) == pytest.approx((0.02, 0.8))
    band = np.linspace(a, b, 1001).astype(np.float32)
    np.testing.assert_array_equal(rm.forward(band), band)
    eps = 1e-4
    f = lambda v: rm.forward(np.array([v], np.float32)).astype(np.float64)  # noqa: E731
    for k in (a, b):  # one-sided slopes match (C1)
        lo = (f(k) - f(k - eps)) / eps
        hi = (f(k + eps) - f(k)) / eps
        assert lo[0] == pytest.approx(1.0, abs=2e-2) and hi[0] == pytest.approx(1.0, abs=2e-2)


def test_range_map_round_trip() -> None:
    rm = RangeMap()
    x = np.concatenate([EXTREMES, np.array([1e3, 1e4, -0.646, -1.0, 0.019, 0.81], np.float32)])
    back = rm.inverse(rm.forward(x))
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, x, rtol=1e-4, atol=1e-6)
    big = np.array([1e4], np.float32)
    assert rm.inverse(rm.forward(big))[0] == pytest.approx(1e4, rel=1e-4)


def test_range_map_other_ranges_and_nan() -> None:
    for lo, hi in [(-1.0, 1.0), (0.0, 255.0)]:
        rm = RangeMap(lo, hi)
        x = np.array([lo - 5 * (hi - lo), lo, (lo + hi) / 2, hi, hi + 100 * (hi - lo), np.nan], np.float32)
        y = rm.forward(x)
        assert np.all((y[:-1] > lo) & (y[:-1] < hi)) and np.isnan(y[-1])
        back = rm.inverse(y)
        np.testing.assert_allclose(back[:-1], x[:-1], rtol=1e-4, atol=1e-4 * (hi - lo))


def test_range_map_inverse_clamps_to_stay_finite() -> None:
    rm = RangeMap()
    out = rm.inverse(np.array([-1.0, 0.0, 1.0, 2.0, np.inf], np.float32))
    assert np.all(np.isfinite(out))
    assert out[0] < 0 and out[-1] > 1e6


def test_range_map_rejects_empty_range() -> None:
    with pytest.raises(ModelError, match="input_range"):
        RangeMap(1.0, 0.0)


def test_range_map_keeps_shape_of_images() -> None:
    img = np.random.default_rng(3).normal(0.5, 2.0, (33, 17, 3)).astype(np.float32)
    rm = RangeMap()
    y = rm.forward(img)
    assert y.shape == img.shape
    np.testing.assert_allclose(rm.inverse(y), img, rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------- defaults


@pytest.mark.parametrize(
    ("path", "attrs", "expected"),
    [
        ("a.exr", {}, "lin_srgb"),
        ("a.exr", {"oiio:ColorSpace": "ACEScg"}, "acescg"),
        ("a.exr", {"oiio:ColorSpace": "something odd"}, "lin_srgb"),
        ("a.png", {"oiio:ColorSpace": "srgb_rec709_scene"}, "srgb_tx"),
        ("a.png", {}, "srgb_tx"),
        ("a.jpg", {}, "srgb_tx"),
        ("a.tif", {"oiio:BitsPerSample": 16}, "srgb_tx"),
        ("a.tif", {"oiio:BitsPerSample": 32}, "lin_srgb"),
        ("a.tif", {"reelfix:pixel_type": "half", "oiio:BitsPerSample": 16}, "lin_srgb"),
        ("a.dpx", {"oiio:BitsPerSample": 10, "dpx:Transfer": "Printing density"}, "ADX10"),
        ("a.dpx", {"oiio:ColorSpace": "KodakLog", "dpx:Transfer": "Logarithmic"}, "ADX10"),
        ("a.dpx", {"oiio:ColorSpace": "lin_rec709_scene", "dpx:Transfer": "Linear"}, "lin_srgb"),
        ("a.dpx", {"dpx:Transfer": "SMPTE 274M"}, "g24_rec709_tx"),
        ("a.dpx", {"dpx:Transfer": "Undefined"}, "srgb_tx"),
        ("a.cin", {}, "ADX10"),
        ("a.mov", {"reelfix:movie_colorspace": "bt709"}, "g24_rec709_tx"),
        ("a.mov", {}, "g24_rec709_tx"),
        ("out.%04d.png", {"reelfix:movie_colorspace": "bt709"}, "g24_rec709_tx"),
        ("a.mp4", {"reelfix:movie_colorspace": "iec61966-2-1"}, "srgb_tx"),
        ("a.mov", {"reelfix:movie_colorspace": "bt601"}, "g24_rec709_tx"),
        ("a.mov", {"reelfix:movie_colorspace": "ACEScct"}, "acescct"),
    ],
)
def test_default_colorspace(path: str, attrs: dict[str, object], expected: str) -> None:
    assert colour.default_colorspace(path, attrs) == colour.canonical_name(expected)


def test_adx10_round_trips_every_10bit_code() -> None:
    codes = _px(np.arange(1024, dtype=np.float32) / 1023)
    back = colour.convert(colour.convert(codes, "ADX10", "srgb_tx"), "srgb_tx", "ADX10")
    assert np.max(np.abs(back - codes)) * 1023 < 1e-3


def test_unsupported_movie_colour_warns_and_reads_rec709(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="reelfix.colour"):
        got = colour.default_colorspace("a.mov", {"reelfix:movie_colorspace": "bt2020"})
    assert got == colour.canonical_name("g24_rec709_tx") and "bt2020" in caplog.text
