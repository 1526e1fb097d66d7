"""Intended brightness over a shot: a piecewise trend with a few changes, fitted through flicker.

A series of per-frame levels (log2 brightness) is modelled as a trend plus independent
frame-to-frame jitter (the flicker). The trend is a constant plus a few terms chosen from
a dictionary of the changes a film really holds:

- `line`: a slow drift over the whole segment;
- `step` at a frame: a light switched on or off;
- `after` / `before` a frame: a kink, where a fade or a pan starts or ends;
- `ramp` from one frame to another: a change that starts and stops (an exposure ramp).

Terms are chosen greedily (the one that explains most, while it is worth its penalty: 2
ln n for the line, 3 ln n per knot, so that jitter of the flicker's size almost never
buys a knot), then each is moved to its best place given the others, terms no longer
worth their penalty are dropped, and each knot is averaged over its near places by
their evidence (a fade whose first frame is ambiguous is not bet on one of them).

The fit is made in several domains (`DOMAINS`): in stops (ramps of exposure are straight
there), in linear light with weights for multiplicative jitter (a fade made in light is
straight there), and in display values, light to the power 1/2.4 (sRGB, Rec.1886), with jitter of the values
themselves (a fade made on display-encoded pictures is straight there, and an offset of
those values, a common flicker, weighs more on dark frames); the best by its likelihood
plus penalty is kept. A short series' jitter can be measured again from what its strongest change
leaves (`short_sigma`). All arithmetic is deterministic for a given series, so a
farm chunk gets the same trend as a whole run.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

MARGIN = 3  # frames a knot needs on each side
RAMP_POSITIONS = 48  # ramp ends are searched on about this many places per segment
MAX_TERMS = 6
LINE_PENALTY = 2.0  # x ln n: a slow drift over the whole segment
KNOT_PENALTY = 3.0  # x ln n per knot (a ramp has two)
KNOT_AVERAGE = 3  # a step or kink is averaged over places this many frames either side
RAMP_AVERAGE = 8  # a ramp's ends likewise (a ramp's ends are less sharply placed)
SIGMA_FLOOR = 0.002  # stops: jitter below this is measurement noise
SHORT_SERIES = 64  # below this many frames the jitter is measured again from what the strongest change leaves
# where the trend is fitted: light raised to a power (0: stops) and the jitter's kind there ('gain':
# proportional to the level; 'offset': the same at every level, so darker frames jitter more in stops).
# Display values: a fade made on display-encoded pictures scales them, and light goes as their ~2.4th
# power; flicker there is often an offset of the values (a print's or a telecine's black level).
DOMAINS = {"stops": (0.0, "gain"), "light": (1.0, "gain"), "display": (1.0 / 2.4, "offset")}
DOMAIN_NAMES = tuple(DOMAINS)

Kind = tuple[str, int, int]  # ("line"|"step"|"after"|"before"|"ramp", index, index)


def jitter_sigma(levels: np.ndarray, floor: float = SIGMA_FLOOR) -> np.ndarray:
    """Robust frame-to-frame jitter per column of (n, k) levels: MAD of second differences
    (a step or a kink moves only two or three of them)."""
    v = np.asarray(levels, dtype=np.float64)
    if v.shape[0] < 4:
        return np.full(v.shape[1:], floor)
    d2 = v[2:] - 2 * v[1:-1] + v[:-2]
    sig = 1.4826 * np.median(np.abs(d2 - np.median(d2, axis=0)), axis=0) / np.sqrt(6.0)
    return np.maximum(sig, floor)


def knot_penalty(n: int) -> float:
    """A knot's penalty for a series of n frames: KNOT_PENALTY x ln n, but never below
    2 ln(candidates), what the best of that many pure-jitter candidates gains on average
    (the risk inflation criterion): a short shot's dictionary holds nearly as many ramps
    as a long one's, and ln n alone would let its flicker buy a knot."""
    stride = max(1, n // RAMP_POSITIONS)
    ramps = sum(len(range(i + MARGIN, n, stride)) for i in range(0, n, stride))
    candidates = max(1 + 3 * (n - 2 * MARGIN) + ramps, 2)
    return max(KNOT_PENALTY * np.log(max(n, 2)), 2.0 * np.log(candidates))


@lru_cache(maxsize=16)
def dictionary(times: tuple[float, ...]) -> tuple[np.ndarray, tuple[Kind, ...], np.ndarray]:
    """(columns (n, m), their kinds, penalties (m,)) for frames at `times`."""
    t = np.asarray(times, dtype=np.float64)
    n = t.size
    ln = np.log(max(n, 2))
    knot = knot_penalty(n)
    cols: list[np.ndarray] = [t - t.mean()]
    kinds: list[Kind] = [("line", 0, 0)]
    pens = [LINE_PENALTY * ln]
    for i in range(MARGIN, n - MARGIN + 1):
        cols.append((t >= t[i]).astype(np.float64))
        kinds.append(("step", i, i))
        pens.append(knot)
    for i in range(MARGIN, n - MARGIN):
        cols.append(np.maximum(t - t[i], 0.0))
        kinds.append(("after", i, i))
        cols.append(np.maximum(t[i] - t, 0.0))
        kinds.append(("before", i, i))
        pens += [knot, knot]
    stride = max(1, n // RAMP_POSITIONS)
    for i in range(0, n, stride):
        for j in range(i + MARGIN, n, stride):
            cols.append(np.clip((t - t[i]) / (t[j] - t[i]), 0.0, 1.0))
            kinds.append(("ramp", i, j))
            pens.append(2 * knot)
    if n < 2 * MARGIN + 1:  # too short for knots: constant or line only
        cols, kinds, pens = cols[:1], kinds[:1], pens[:1]
    return np.stack(cols, axis=1), tuple(kinds), np.array(pens)


def _basis(sw: np.ndarray, cw: np.ndarray, chosen: Sequence[int]) -> np.ndarray:
    """Orthonormal basis (weighted) of the constant and the chosen columns."""
    q = (sw / np.linalg.norm(sw))[:, None]
    for j in chosen:
        v = cw[:, j] - q @ (q.T @ cw[:, j])
        nv = float(np.linalg.norm(v))
        if nv > 1e-9 * max(float(np.linalg.norm(cw[:, j])), 1e-30):
            q = np.concatenate([q, (v / nv)[:, None]], axis=1)
    return q


def _gains(q: np.ndarray, yw: np.ndarray, cw: np.ndarray) -> np.ndarray:
    """Residual sum of squares each column would remove if added to basis `q`."""
    r = yw - q @ (q.T @ yw)
    p = cw - q @ (q.T @ cw)
    nn = np.einsum("ij,ij->j", p, p)
    ok = nn > 1e-12 * max(float(np.einsum("ij,ij->j", cw, cw).max()), 1e-30)
    return np.where(ok, (p.T @ r) ** 2 / np.where(ok, nn, 1.0), -np.inf)


def _project(sw: np.ndarray, yw: np.ndarray, cw: np.ndarray, chosen: Sequence[int]) -> np.ndarray:
    q = _basis(sw, cw, chosen)
    return (q @ (q.T @ yw)) / sw


def _fine_ramps(times: np.ndarray, kinds: tuple[Kind, ...], chosen: list[int], reach: int) -> tuple[np.ndarray, list[Kind]]:
    """Ramps at every frame within `reach` of the chosen ramps' ends (the dictionary holds
    ramps on a coarse grid only, to stay small)."""
    n = times.size
    stride = reach
    have = set(kinds)
    cols, found = [], []
    for j in chosen:
        kind, a0, b0 = kinds[j]
        if kind != "ramp":
            continue
        for a in range(max(0, a0 - stride), min(n, a0 + stride + 1)):
            for b in range(max(0, b0 - stride), min(n, b0 + stride + 1)):
                k = ("ramp", a, b)
                if b - a >= MARGIN and k not in have:
                    have.add(k)
                    cols.append(np.clip((times - times[a]) / (times[b] - times[a]), 0.0, 1.0))
                    found.append(k)
    return (np.stack(cols, axis=1) if cols else np.zeros((n, 0))), found


def _extend(kinds: tuple[Kind, ...], pens: np.ndarray, cw: np.ndarray, extra_w: np.ndarray, fine: list[Kind]) -> tuple[tuple[Kind, ...], np.ndarray, np.ndarray]:
    """The dictionary with weighted columns `extra_w` of kinds `fine` (ramps, at a ramp's penalty) added."""
    ramp_pen = 2.0 * knot_penalty(cw.shape[0])
    return kinds + tuple(fine), np.concatenate([pens, np.full(len(fine), ramp_pen)]), np.concatenate([cw, extra_w], axis=1)


def _select(
    y: np.ndarray, w: np.ndarray, times: np.ndarray, cols: np.ndarray, kinds: tuple[Kind, ...], pens: np.ndarray, sigma2: float,
    max_terms: int = MAX_TERMS,
) -> tuple[np.ndarray, list[Kind], float]:
    """Weighted fit of y: (fitted values, chosen changes, their penalty). See the module docstring."""
    sw = np.sqrt(w)
    yw, cw = y * sw, cols * sw[:, None]
    chosen: list[int] = []
    for _ in range(max_terms):
        net = _gains(_basis(sw, cw, chosen), yw, cw) / sigma2 - pens
        net[chosen] = -np.inf
        j = int(np.argmax(net))
        if net[j] <= 0:
            break
        chosen.append(j)
    for _ in range(3):  # move each term to its best place given the others
        moved = False
        for pos in range(len(chosen)):
            others = chosen[:pos] + chosen[pos + 1 :]
            net = _gains(_basis(sw, cw, others), yw, cw) / sigma2 - pens
            net[others] = -np.inf
            j = int(np.argmax(net))
            if j != chosen[pos] and net[j] > net[chosen[pos]] + 1e-9:
                chosen[pos], moved = j, True
        if not moved:
            break
    stride = max(1, times.size // RAMP_POSITIONS)
    extra, fine = _fine_ramps(times, kinds, chosen, stride)
    if fine:  # ramps: their ends to the frame, then the same moves again
        kinds, pens, cw = _extend(kinds, pens, cw, extra * sw[:, None], fine)
        for pos in range(len(chosen)):
            others = chosen[:pos] + chosen[pos + 1 :]
            net = _gains(_basis(sw, cw, others), yw, cw) / sigma2 - pens
            net[others] = -np.inf
            j = int(np.argmax(net))
            if net[j] > net[chosen[pos]] + 1e-9:
                chosen[pos] = j
    while chosen:  # drop the term least worth its penalty, while one is not
        full = _project(sw, yw, cw, chosen)
        sse = float(((yw - full * sw) ** 2).sum())
        worth = []
        for pos in range(len(chosen)):
            rest = _project(sw, yw, cw, chosen[:pos] + chosen[pos + 1 :])
            worth.append((float(((yw - rest * sw) ** 2).sum()) - sse) / sigma2 - pens[chosen[pos]])
        pos = int(np.argmin(worth))
        if worth[pos] > 0:
            break
        chosen.pop(pos)
    extra, fine = _fine_ramps(times, kinds, chosen, max(RAMP_AVERAGE, stride))
    if fine:  # the places a ramp's ends are averaged over
        kinds, pens, cw = _extend(kinds, pens, cw, extra * sw[:, None], fine)
    best = _project(sw, yw, cw, chosen)
    out = best.copy()
    for pos, j in enumerate(chosen):  # average each knot over its near places by their evidence
        kind = kinds[j]
        if kind[0] == "line":
            continue
        others = chosen[:pos] + chosen[pos + 1 :]
        gain = _gains(_basis(sw, cw, others), yw, cw)
        reach = max(RAMP_AVERAGE, stride) if kind[0] == "ramp" else KNOT_AVERAGE
        near = [a for a, k in enumerate(kinds) if k[0] == kind[0] and abs(k[1] - kind[1]) <= reach and abs(k[2] - kind[2]) <= reach and a not in others]
        weights = np.exp(np.clip(0.5 * (gain[near] - gain[j]) / sigma2, -50.0, 50.0))
        fits = np.array([_project(sw, yw, cw, others + [a]) for a in near])
        out += (weights[:, None] * fits).sum(axis=0) / weights.sum() - best
    return out, [kinds[j] for j in chosen], float(pens[chosen].sum()) if chosen else 0.0


def fit_trend(
    times: Sequence[float] | np.ndarray, levels: np.ndarray, sigma: float, domains: Sequence[str] = DOMAIN_NAMES
) -> tuple[np.ndarray, list[Kind], str]:
    """The intended levels (n,) of a series of log2 levels with jitter `sigma` (stops), the
    changes found and the domain (of `domains`, see `DOMAINS`) they were fitted in: the changes
    (`fit_changes`) plus a slow wander of the light (`smooth_wander`), each fitted to what
    the other leaves, twice (changes first: a smoother would blur a fade or a light switched
    on into a slope it then keeps)."""
    y = np.asarray(levels, dtype=np.float64)
    wander = np.zeros(y.size)
    for _ in range(2):
        changes, kinds, domain = fit_changes(times, y - wander, sigma, domains)
        wander = smooth_wander(y - changes, sigma)[0]
    return changes + wander, kinds, domain


def short_sigma(times: Sequence[float] | np.ndarray, levels: np.ndarray, sigma: float, domains: Sequence[str] = DOMAIN_NAMES) -> float:
    """The jitter of a series shorter than `SHORT_SERIES` frames, measured again: the RMS (per
    degree of freedom) of what the constant plus the single strongest change leaves. The MAD
    of 20-odd second differences (`jitter_sigma`) is off by 25% either way from one flicker
    draw to the next, and where it reads low the flicker buys knots (a step inside a 1-s
    shot's fade) or the wrong domain; what one change leaves is a steadier measure, a little
    high where the shot holds two changes (a short shot then needs stronger evidence for
    the second). Longer series keep `sigma` (the MAD of 60 or more is steady enough)."""
    y = np.asarray(levels, dtype=np.float64)
    n = y.size
    if n >= SHORT_SERIES or n < 2 * MARGIN + 2:
        return sigma
    fit, kinds, _ = fit_changes(times, y, sigma, domains, max_terms=1)
    dof = n - 1 - sum(2 if k[0] == "ramp" else 1 for k in kinds)
    return max(float(np.sqrt(((y - fit) ** 2).sum() / max(dof, 1))), SIGMA_FLOOR)


def _fit_in(
    y: np.ndarray, t: np.ndarray, table: tuple[np.ndarray, tuple[Kind, ...], np.ndarray], s2: float, domain: str, start: tuple[np.ndarray, list[Kind], float],
    max_terms: int = MAX_TERMS,
) -> tuple[float, np.ndarray, list[Kind]]:
    """(score, fitted log2 levels, changes) of the fit in one domain (`DOMAINS`); `start`: the fit in stops."""
    cols, kinds, pens = table
    power, jitter = DOMAINS[domain]
    f, ch, pen = start
    if power == 0.0:
        return float(((y - f) ** 2).sum()) / s2 + pen, f, ch
    n = y.size
    z = np.exp2(power * y)
    zref = float(np.median(z))
    s2z = s2 * (power * np.log(2.0)) ** 2
    for _ in range(3 if jitter == "gain" else 1):  # a gain's jitter: weights 1 / level^2, from the previous fit
        w = 1.0 / np.maximum(np.exp2(power * f), 1e-6) ** 2 if jitter == "gain" else np.full(n, 1.0 / zref**2)
        fz, ch, pen = _select(z, w, t, cols, kinds, pens, s2z, max_terms)
        f = np.log2(np.maximum(fz, 1e-6)) / power
    if jitter == "gain":  # to first order the same jitter in stops: the same score
        return float(((y - f) ** 2).sum()) / s2 + pen, f, ch
    # jitter of the values themselves (an offset): darker frames jitter more in stops; the
    # likelihood of the levels under it, with the change of variable's Jacobian
    score = float((((z - np.exp2(power * f)) / zref) ** 2).sum()) / s2z + pen + 2.0 * float(np.log(zref / np.maximum(z, 1e-9)).sum())
    return score, f, ch


def fit_changes(
    times: Sequence[float] | np.ndarray, levels: np.ndarray, sigma: float, domains: Sequence[str] = DOMAIN_NAMES, max_terms: int = MAX_TERMS
) -> tuple[np.ndarray, list[Kind], str]:
    """The constant plus the changes a series clearly holds, fitted in each of `domains` and
    the best by score (residual plus penalty) kept (see the module docstring)."""
    y = np.asarray(levels, dtype=np.float64)
    n = y.size
    if n < 3:
        return np.full(n, y.mean() if n else 0.0), [], "stops"
    table = dictionary(tuple(float(t) for t in times))
    s2 = max(float(sigma), SIGMA_FLOOR) ** 2
    t = np.asarray(times, dtype=np.float64)
    start = _select(y, np.ones(n), t, *table, s2, max_terms)
    if not start[1]:
        return start[0], [], "stops"
    fits = [(*_fit_in(y, t, table, s2, name, start, max_terms), name) for name in domains]
    best = min(fits, key=lambda f: f[0])
    return best[1], best[2], best[3]


@lru_cache(maxsize=8)
def _second_difference_eigen(n: int) -> tuple[np.ndarray, np.ndarray]:
    d = np.diff(np.eye(n), n=2, axis=0)
    e, u = np.linalg.eigh(d.T @ d)
    return np.maximum(e, 0.0), u


def smooth_wander(residual: np.ndarray, sigma: float, penalty: float = 4.0) -> tuple[np.ndarray, float]:
    """(smooth part of `residual`, its degrees of freedom): a Whittaker smoother (least squares
    with a penalty on second differences) whose strength is chosen by Mallows' Cp with the
    jitter `sigma` known, each degree of freedom costing `penalty` x sigma^2 (2 would be
    plain Cp, which follows pure jitter half the time); nothing at all is a candidate too.
    Pure jitter gets nothing to follow; a slow wander of the light (a camera's exposure
    drifting, clouds, a lamp warming up) is followed."""
    r = np.asarray(residual, dtype=np.float64)
    n = r.size
    if n < 8:
        return np.zeros(n), 0.0
    e, u = _second_difference_eigen(n)
    coef = u.T @ r
    s2 = max(float(sigma), SIGMA_FLOOR) ** 2
    best: tuple[float, np.ndarray, float] | None = (float((r**2).sum()), np.zeros(n), 0.0)
    for lam in np.logspace(-1, 9, 41):
        shrink = 1.0 / (1.0 + lam * e)
        df = float(shrink.sum())
        fitted = u @ (shrink * coef)
        score = float(((r - fitted) ** 2).sum()) + penalty * s2 * df
        if best is None or score < best[0]:
            best = (score, fitted, df)
    assert best is not None
    return best[1], best[2]
