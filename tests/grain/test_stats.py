"""reelfix.grain.stats and the spectrum side of reelfix.grain.synth: the std of grain that is
not Gaussian, the radial spectrum measured and synthesised back (grain no Gaussian blur can
make), its scaling with the picture, and the profile's JSON with and without a spectrum."""

from __future__ import annotations

import numpy as np
import pytest

from reelfix.grain import stats
from reelfix.grain.synth import GrainProfile, SPECTRUM_BINS, film_profile, unit_field
from tests.nodes import grain_independent as gi


def clumped_field(h: int = 192, w: int = 256, seed: int = 0) -> np.ndarray:
    """Three channels of the Boolean-model grain of tests/nodes/grain_independent.py."""
    rng = np.random.default_rng(seed)
    return np.stack([gi._grain_field((h, w), rng, 0.35) for _ in range(3)], axis=2)


def test_std_of_skewed_clumped_grain_is_its_std_not_its_median_deviation() -> None:
    g = clumped_field()
    assert abs(stats.grain_std(g) / float(g.std()) - 1) < 0.01
    assert stats.robust_std(g) / float(g.std()) > 1.08  # what the median absolute deviation reads
    gauss = np.random.default_rng(1).standard_normal(200_000).astype(np.float32)
    assert abs(stats.grain_std(gauss) - 1) < 0.01
    spiky = gauss.copy()
    spiky[:200] = 50.0  # a few outliers (a flow error) barely count
    assert stats.grain_std(spiky) < 1.01


@pytest.mark.parametrize("kind", ["clumped", "gaussian 1.5", "white"])
def test_measured_spectrum_synthesised_back_within_5_percent_per_frequency_band(kind: str) -> None:
    rng = np.random.default_rng(2)
    field = clumped_field() if kind == "clumped" else unit_field((192, 256, 3), 1.5 if kind == "gaussian 1.5" else 0.0, 0.5, rng)
    spectrum = stats.radial_spectrum(field)
    assert spectrum is not None and len(spectrum) == SPECTRUM_BINS
    made = unit_field((192, 256, 3), 0.8, 0.5, np.random.default_rng(3), spectrum)
    assert abs(float(made.std()) - 1) < 0.02
    truth = stats.band_std_by_frequency(field)
    filled = truth**2 / np.sum(truth**2) >= 0.1
    ratio = stats.band_std_by_frequency(made) / truth
    assert np.all(np.abs(ratio[filled] - 1) < 0.05), (ratio, filled)


def test_spectrum_follows_the_picture_scale() -> None:
    spectrum = stats.radial_spectrum(clumped_field())
    x2 = unit_field((384, 512, 1), 0.0, 1.0, np.random.default_rng(4), spectrum, scale=2.0)
    # grain twice as large: its lag-2 correlation at the new size is the old lag-1 one
    lag2 = float(np.mean(x2[:, 2:] * x2[:, :-2]) / np.mean(x2 * x2))
    assert abs(lag2 - stats.lag1_correlation(clumped_field())) < 0.05


def test_profile_json_round_trip_with_and_without_spectrum() -> None:
    plain = film_profile(0.05)
    back = GrainProfile.from_dict(plain.to_dict())
    assert "spectrum" not in plain.to_dict() and back.spectrum is None and back.sigma == pytest.approx(plain.sigma, abs=1e-6)
    measured = stats.measure(clumped_field() * 0.04, np.full((192, 256), 0.5, np.float32))
    assert measured.spectrum is not None
    again = GrainProfile.from_dict(measured.to_dict())
    assert again.spectrum == measured.spectrum and again.sigma == pytest.approx(measured.sigma, abs=1e-6)
    assert stats.radial_spectrum(np.zeros((40, 40, 3), np.float32)) is None  # too small to measure
    with pytest.raises(ValueError, match="spectrum"):
        GrainProfile(sigma=(0.04,) * 8, spectrum=(1.0, 2.0))
