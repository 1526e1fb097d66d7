"""A reversible map of all reals into a model's input range (the upscale node's `rolloff`
highlights; see nodes/highlights.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ModelError


@dataclass(frozen=True)
class RangeMap:
    """A reversible map of all reals into the open interval (lo, hi), for models trained on
    in-range (display-referred) pixels.

    Identity on the band [lo + low_band*(hi-lo), hi - high_band*(hi-lo)] (for (0, 1) and the
    defaults: [0.02, 0.8]); outside it a C1 roll-off compresses highlights and negatives into
    the remaining headroom instead of clipping them. With knee k, headroom H and power p, a
    value at distance u past the knee maps to k +/- H*(1 - (1 + u/(p*H))^-p): slope 1 at the
    knee, approaching the bound like u^-p. p=1 (rational, for the small negatives of
    scene-linear plates) keeps black gentle: 0 -> 0.01, slope 1/4; p=0.25 on the highlight
    side keeps huge values apart in float32 (1 -> 0.866, 16 -> 0.952, 1e4 -> 0.9906; round
    trips of 1e4 / 1e6 are exact to ~2e-6 / ~3e-5 relative, where p=1 would lose ~1.5% at 1e4).

    The band cannot start at `lo` itself: the open interval needs room below every real
    value, so in-range values under `low_band` are lifted slightly (and restored by
    `inverse`). Both directions compute in float64 and return float32; `forward` keeps
    results strictly inside (lo, hi) in float32 and `inverse` clamps its input there, so
    every result is finite; values whose image would round onto a bound saturate (for
    (0, 1): below about -3000 and above about 1e23). NaN passes through. A 3840x2160 RGB
    frame takes a few tens of ms each way: only values outside the identity band are computed.
    """

    lo: float = 0.0
    hi: float = 1.0
    low_band: float = 0.02
    high_band: float = 0.2
    low_power: float = 1.0
    high_power: float = 0.25

    def __post_init__(self) -> None:
        ok = (
            np.isfinite(self.lo)
            and np.isfinite(self.hi)
            and self.lo < self.hi
            and self.low_band > 0
            and self.high_band > 0
            and self.low_band + self.high_band < 1
            and self.low_power > 0
            and self.high_power > 0
        )
        if not ok:
            raise ModelError(
                f"invalid range map {self}: needs finite lo < hi, bands > 0 summing to < 1, powers > 0",
                hint="check the model card's input_range (e.g. [0, 1])",
            )

    @property
    def knees(self) -> tuple[float, float]:
        """The identity band [low knee, high knee]."""
        span = self.hi - self.lo
        return self.lo + self.low_band * span, self.hi - self.high_band * span

    @property
    def _margin(self) -> np.float32:
        return np.float32(np.spacing(np.float32(max(abs(self.lo), abs(self.hi), 1.0))))

    def _bounds32(self) -> tuple[np.float32, np.float32]:
        m = self._margin
        return np.float32(self.lo) + m, np.float32(self.hi) - m

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Map any reals into (lo, hi)."""
        return self._outside_band(x, inverse=False)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        """Exact inverse of `forward` (y is first clamped into the open interval)."""
        return self._outside_band(y, inverse=True)

    def _outside_band(self, values: np.ndarray, inverse: bool) -> np.ndarray:
        """The band is the identity: only values outside it (usually a small share of a
        frame) go through the float64 curves, each side on its own subset."""
        a, b = self.knees
        out = np.array(values, dtype=np.float32, order="C", copy=True)
        flat = out.reshape(-1)
        for side, idx in ((1, np.flatnonzero(flat > np.float32(b))), (-1, np.flatnonzero(flat < np.float32(a)))):
            if idx.size:
                flat[idx] = self._curve(flat[idx].astype(np.float64), side, inverse)
        return out

    def _curve(self, v: np.ndarray, side: int, inverse: bool) -> np.ndarray:
        """One roll-off: side +1 above the high knee, -1 below the low knee.

        Forward: knee + side*H*(1 - (1 + d/(pH))^-p) for distance d past the knee;
        inverse: knee + side*pH*(w^(-1/p) - 1) with w = 1 - distance/H."""
        a, b = self.knees
        knee, room, p = (b, self.hi - b, self.high_power) if side > 0 else (a, a - self.lo, self.low_power)
        with np.errstate(all="ignore"):
            if not inverse:
                t = np.abs(v - knee)
                t *= 1.0 / (p * room)
                t += 1.0
                _pow_neg_(t, p)
                r = (1.0 - t) * (side * room) + knee
                lo32, hi32 = self._bounds32()
                return np.clip(r.astype(np.float32), lo32, hi32)
            m = float(self._margin)
            w = 1.0 - np.abs(np.clip(v, self.lo + m, self.hi - m) - knee) * (1.0 / room)
            np.maximum(w, np.finfo(np.float64).tiny, out=w)
            _pow_neg_(w, 1.0 / p)
            w -= 1.0
            return (w * (side * p * room) + knee).astype(np.float32)


def _pow_neg_(t: np.ndarray, p: float) -> None:
    """t = t ** -p in place (t > 0), with sqrt/reciprocal fast paths for the usual powers."""
    if p == 0.5:
        np.sqrt(t, out=t)
    elif p == 0.25:
        np.sqrt(t, out=t)
        np.sqrt(t, out=t)
    elif p == 2.0:
        np.square(t, out=t)
    elif p == 4.0:
        np.square(t, out=t)
        np.square(t, out=t)
    elif p != 1.0:
        np.power(t, p, out=t)
    np.reciprocal(t, out=t)
