"""Frame positions over a window from pair-wise rigid motions, by least squares.

Chaining neighbour-to-neighbour motions (n-1 -> n) makes each frame's position the sum of
every pair estimate between it and the reference frame: their errors add up like a random
walk, and a small bias (people walking pull each pair a little the same way) grows with the
distance. With pairs measured over a longer step as well (n-8 -> n), every position is
also tied to frames far away by a single estimate, and the positions that agree best with
all the pairs at once (least squares over the window's graph of pairs) carry no such
accumulated error. Where only neighbour pairs are given the graph is a chain and the result
is exactly the chained path.

Rigid motions about one centre compose simply: angles add, and the pair a -> b of positions
P_a, P_b (rotation theta, translation t about the centre) is theta_b - theta_a and
t_b - R(theta_b - theta_a) t_a. So the angles are solved first (linear), then the
translations (linear given the angles): no linearisation error. Pairs that disagree with
the rest (an estimate that locked onto a moving object) are down-weighted: Cauchy weights on
each pair's residual, re-solved a few times (a gross outlier ends with almost no weight; the
weights never reach zero, so the graph stays connected).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from .global_motion import rigid, rigid_params

CAUCHY_K = 3.0  # robust sigmas: a pair whose residual is this far out gets half the weight
RESIDUAL_FLOOR = 0.05  # px: the robust sigma is never taken below this / CAUCHY_K (the estimates' own noise)
REWEIGHTS = 3


def _solve(rows: np.ndarray, rhs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted least squares (normal equations; the systems are small and well posed)."""
    wr = rows * weights[:, None]
    return np.linalg.solve(wr.T @ rows, wr.T @ rhs)


def positions(
    numbers: list[int], pairs: Mapping[tuple[int, int], np.ndarray], reference: int, centre: tuple[float, float]
) -> dict[int, np.ndarray]:
    """For each frame of `numbers` (all connected to `reference` through `pairs`), the rigid
    transform P_s (3x3, about `centre`) from the reference frame's pixels to frame s's, with
    P_reference = identity, fitted so that P_b P_a^-1 matches each pair's motion M_ab
    ({(a, b): M_ab}, a point of a to where it is in b) as closely as possible."""
    index = {s: i for i, s in enumerate(numbers)}
    keys = sorted(pairs)
    n, m = len(numbers), len(keys)
    meas = np.array([rigid_params(pairs[k], centre) for k in keys])
    ia = np.array([index[a] for a, _ in keys])
    ib = np.array([index[b] for _, b in keys])
    r = np.arange(m)
    free = np.array([i for i in range(n) if numbers[i] != reference])
    diff = np.zeros((m, n))
    diff[r, ib] += 1.0
    diff[r, ia] -= 1.0
    cols = np.ravel(np.stack([2 * free, 2 * free + 1], axis=1))
    weights = np.ones(m)
    for attempt in range(REWEIGHTS + 1):
        theta = np.zeros(n)
        theta[free] = _solve(diff[:, free], meas[:, 2], weights)
        d = theta[ib] - theta[ia]
        c, s = np.cos(d), np.sin(d)
        rows = np.zeros((2 * m, 2 * n))
        rows[2 * r, 2 * ib] = 1.0
        rows[2 * r + 1, 2 * ib + 1] = 1.0
        rows[2 * r, 2 * ia] -= c
        rows[2 * r, 2 * ia + 1] += s
        rows[2 * r + 1, 2 * ia] -= s
        rows[2 * r + 1, 2 * ia + 1] -= c
        t = np.zeros(2 * n)
        t[cols] = _solve(rows[:, cols], meas[:, :2].ravel(), np.repeat(weights, 2))
        res = (rows @ t).reshape(m, 2) - meas[:, :2]
        err = np.hypot(res[:, 0], res[:, 1])
        if attempt == REWEIGHTS or err.max() < 1e-9:  # the last solve, or a chain (every pair met exactly)
            break
        scale = max(1.4826 * float(np.median(err)), RESIDUAL_FLOOR / CAUCHY_K)
        weights = 1.0 / (1.0 + (err / (CAUCHY_K * scale)) ** 2)
    return {s: rigid(t[2 * i], t[2 * i + 1], theta[i], centre) for i, s in enumerate(numbers)}
