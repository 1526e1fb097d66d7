"""trend.fit_trend: flicker buys no change; a step, a fade and an exposure ramp are followed
where they are; too-short series; and the same answer for the same series."""

from __future__ import annotations

import numpy as np

from reelfix.trend import fit_trend, jitter_sigma

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
