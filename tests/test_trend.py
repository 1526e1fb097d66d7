"""trend.fit_trend: flicker buys no change; a step, a fade and an exposure ramp are followed
where they are; too-short series; and the same answer for the same series."""

from __future__ import annotations

import numpy as np

from reelfix.trend import fit_trend, jitter_sigma, short_sigma

T = np.arange(96, dtype=float)


def _jitter(seed: int, sd: float = 0.08) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, sd, T.size)


def test_pure_jitter_fits_a_constant() -> None:
    for seed in range(5):
        y = _jitter(seed)
        trend, kinds, _ = fit_trend(T, y, float(jitter_sigma(y[:, None])[0]))
        assert kinds == [], kinds
        assert np.allclose(trend, y.mean())


def test_step_fade_and_ramp_are_found_where_they_are() -> None:
    y_step = _jitter(1) + np.where(T >= 48, 0.7, 0.0)
    trend, kinds, _ = fit_trend(T, y_step, float(jitter_sigma(y_step[:, None])[0]))
    assert kinds == [("step", 48, 48)]
    assert abs((trend[60] - trend[30]) - 0.7) < 0.06
    fade = np.log2(np.where(T > 83, 1 - 0.8 * (T - 83) / 12, 1.0))  # linear in light, to 20%
    y_fade = _jitter(2, 0.02) + fade
    trend, kinds, domain = fit_trend(T, y_fade, float(jitter_sigma(y_fade[:, None])[0]))
    assert [k[0] for k in kinds] == ["after"] and abs(kinds[0][1] - 83) <= 1 and domain == "light"
    assert np.abs(np.exp2(trend[84:] - fade[84:]) - 1).max() < 0.05
    ramp = np.clip((T - 24) / 48, 0, 1)  # +1 stop
    y_ramp = _jitter(3) + ramp
    trend, kinds, domain = fit_trend(T, y_ramp, float(jitter_sigma(y_ramp[:, None])[0]))
    assert kinds[0][0] == "ramp" and abs(kinds[0][1] - 24) <= 3 and abs(kinds[0][2] - 72) <= 3 and domain == "stops"
    assert np.sqrt(np.mean((trend - ramp - (trend - ramp).mean()) ** 2)) < 0.03


def test_short_series_and_determinism() -> None:
    assert fit_trend(T[:2], np.array([0.1, 0.3]), 0.05)[0].tolist() == [0.2, 0.2]
    assert fit_trend(T[:5], np.array([0.0, 0.1, 0.0, 0.1, 0.0]), 0.05)[1] == []
    y = _jitter(4) + np.where(T >= 30, 0.5, 0.0)
    a, b = fit_trend(T, y, 0.08)[0], fit_trend(T.copy(), y.copy(), 0.08)[0]
    assert np.array_equal(a, b)


def test_a_fade_made_in_display_values_is_fitted_there() -> None:
    """A fade made on display-encoded pictures (values scaled evenly to 35%: light as the
    2.2th power of that), flicker as an offset of those values: the display domain is
    chosen and the fade followed to its end."""
    n = 24
    t = np.arange(n, dtype=float)
    scale = np.where(t >= 16, 1 - 0.65 * (t - 15) / 8, 1.0)
    rng = np.random.default_rng(5)
    values = 0.45 * scale + rng.normal(0.0, 0.004, n)  # mean display value, offset jitter
    y = 2.2 * np.log2(values)
    truth = 2.2 * np.log2(0.45 * scale)
    trend, kinds, domain = fit_trend(t, y, float(jitter_sigma(y[:, None])[0]))
    assert domain == "display" and [k[0] for k in kinds] == ["after"] and abs(kinds[0][1] - 15) <= 1, (domain, kinds)
    err = (trend - truth) - (trend - truth)[:16].mean()
    assert np.abs(err).max() < 0.04, err  # stops (a fit in stops or light misses by ~0.1-0.2)


def test_a_short_series_measures_its_jitter_from_what_its_fade_leaves() -> None:
    """24 frames (a 1-s shot) fading over its last third, flicker of 0.07 stops. On draws
    where the MAD of second differences reads the jitter low (on 200 draws of this shot it
    buys extra knots 13 times, `short_sigma` 3 times; these four are among them), the jitter
    measured from what the strongest change leaves is near the truth and the fade alone is
    kept, where it is; a long series keeps the jitter it is given."""
    t = np.arange(24, dtype=float)
    truth = np.where(t > 15, -0.16 * (t - 15), 0.0)
    for seed in (36, 52, 82, 129):
        y = truth + np.random.default_rng(seed).normal(0.0, 0.07, t.size)
        s0 = float(jitter_sigma(y[:, None])[0])
        assert len(fit_trend(t, y, s0)[1]) > 1  # the MAD's jitter: flicker bought a knot
        s1 = short_sigma(t, y, s0)
        assert s0 < s1 and 0.045 < s1 < 0.09, (seed, s0, s1)
        trend, kinds, _ = fit_trend(t, y, s1)
        assert [k[0] for k in kinds] == ["after"] and abs(kinds[0][1] - 15) <= 1, (seed, kinds)
        err = trend - truth
        assert np.sqrt(np.mean((err - err.mean()) ** 2)) < 0.035, seed
    long = _jitter(1) + np.where(T >= 80, -0.1 * (T - 79), 0.0)
    assert short_sigma(T, long, 0.08) == 0.08
