"""Whether a line that stands still on a still picture is a scratch fixed in the gate
(`scratch` finds the lines; core/reelfix/nodes/scratch.py).

On a static shot a scratch fixed in the gate and a pole of the picture both sit at one column
in every frame: motion cannot tell them apart, the picture itself has to. Two cues, measured on
the benchmark's clips and on real photos (docs/bench/cleanup.md):

- shape: the film slides past the gate, so the line spans (nearly) the whole frame, shows in
  at least half of its bands and is dead straight (`is_gate_line`);
- the picture continues through it: a scratch is a veil over the picture (observed = gain x
  picture + offset, both changing slowly along it), so the picture's vertical detail (what
  is left after a running mean over `DETAIL_ROWS` rows each side) shows through every column
  of the line, following the detail interpolated from the columns just outside it
  (`continues_across`). An object of the scene in front of the background (a pole, a mast, a
  wire, a door's gap) hides the background's detail and shows its own: its columns do not
  follow. A line's faint other side (a dark line shows a faint bright one beside it in the
  detector's profiles) is judged with the lines it touches: all must pass (`group`). Measured on
  the benchmark's and the tests' clips: the columns of gate scratches correlate 0.87-0.99
  with the detail beside them at a gain of 0.53-0.79; an opaque pole 0, a mast about 0.1 at
  a gain under 0.1, a nearly opaque wire and a door's gap 0.7-0.9 but at a gain of 0.11-0.15
  (what shows through them); of the gate-shaped picture lines in 27 real photos (cut from
  their middle), a door frame about 0 and a border column at the frame's side (never taken).

Grain clumps over a pixel or two, so against a flat picture (sky) the grain beside a thin
pole seems to continue through it as well as through a scratch (measured: with clumps of
1.3 px every thin pole on a flat sky passed). Rows count only where the detail beside the
line has `ABOVE_GRAIN` times the energy of grain's, taken as the flattest `GRAIN_PERCENTILE`
of the frame's local detail energy (`grain_energy`; a frame without flat areas reads higher,
so fewer rows count), and at least `MIN_ROWS` must.

A line the test cannot judge is kept: too little detail beside it above the grain (flat
sky, a plain wall, a blurred background), or picture that does not continue across it (fine texture, an edge or
a line of the picture right beside it). So is a scratch that hides the picture completely (an
opaque one): the `static` option takes those too, together with any still line of that shape.
"""

from __future__ import annotations

import cv2
import numpy as np

GATE_LENGTH = 0.8  # share of the frame's height a line fixed in the gate spans
DETAIL_ROWS = 8  # rows each side of the running mean the vertical detail is taken against
CONTINUITY = 0.6  # least correlation of every column of the line with the detail beside it
MIN_GAIN = 0.25  # least share of that detail that shows through each column
TEXTURE = 0.004  # least spread (perceptual units) of the detail beside the line to judge it
AGREE_ROWS = 16  # rows each side over which the columns beside the line are compared
REACH = 1  # px from the line to the columns it is compared with
ABOVE_GRAIN = 8.0  # a row counts where the detail beside the line has this many times grain's energy
MIN_ROWS = 16.0  # least (weighted) rows that count
GRAIN_PERCENTILE = 5.0  # percentile of the frame's local detail energy taken as grain's (the flattest 5%)

Runs = dict[int, tuple[int, int]]  # band -> [x0, x1) of a line, as `scratch.Track.runs`


def is_gate_line(runs: Runs, n_bands: int) -> bool:
    """Whether a track has the shape of a scratch fixed in the gate: it spans (nearly) the
    whole frame (`GATE_LENGTH` of the bands from its first to its last), shows in at least
    half the bands (the picture hides it in places), and is dead straight (its centre within
    a pixel from band to band)."""
    bands = sorted(runs)
    centres = [(runs[b][0] + runs[b][1] - 1) / 2 for b in bands]
    return (bands[-1] - bands[0] + 1 >= GATE_LENGTH * n_bands and 2 * len(bands) >= n_bands
            and max(centres) - min(centres) <= 1.0)


def span(runs: Runs) -> tuple[int, int]:
    """[x0, x1) of a straight line: the median of its runs' ends."""
    return int(np.median([a for a, _ in runs.values()])), int(np.median([b for _, b in runs.values()]))


def fixed_in_gate(luma: np.ndarray, runs: Runs, others: list[Runs]) -> bool:
    """Whether a still line of a gate scratch's shape is one: the picture continues through
    it and through every line touching it (`group`), each judged on its own columns; never
    where the group touches the frame's side (nothing beyond to compare with)."""
    spans = group(runs, others)
    if min(a for a, _ in spans) < 1 or max(b for _, b in spans) >= luma.shape[1]:
        return False
    return all(continues_across(luma, a, b) for a, b in spans)


def group(runs: Runs, others: list[Runs]) -> list[tuple[int, int]]:
    """The spans of the line and of every other line (of either kind) touching it, directly
    or through others. A line's bright and dark sides come together (the edge of a dark pole
    or wire shows as a faint bright line beside it, sometimes stronger in the detector's
    profiles than the line itself): the faint side alone would pass for a veil, the line
    beside it does not."""
    out = [span(runs)]
    grown = True
    while grown:
        grown = False
        for other in others:
            a, b = span(other)
            if (a, b) not in out and any(a <= y1 and b >= y0 for y0, y1 in out):
                out.append((a, b))
                grown = True
    return out


def _rows(v: np.ndarray, half: int) -> np.ndarray:
    """Running mean over +- `half` rows (reflected at the ends) of a column."""
    v = np.ascontiguousarray(v, np.float32).reshape(-1, 1)
    return cv2.blur(v, (1, 2 * half + 1), borderType=cv2.BORDER_REFLECT).ravel()


def grain_energy(luma: np.ndarray) -> float:
    """The energy of the vertical detail that grain alone gives: the median over the frame
    (every 8th column) of the detail's energy over +- `AGREE_ROWS` rows. A picture with
    few flat areas reads higher (fewer rows then count)."""
    cols = np.ascontiguousarray(luma[:, ::8], np.float32)
    d = cols - cv2.blur(cols, (1, 2 * DETAIL_ROWS + 1), borderType=cv2.BORDER_REFLECT)
    return float(np.percentile(cv2.blur(d * d, (1, 2 * AGREE_ROWS + 1), borderType=cv2.BORDER_REFLECT), GRAIN_PERCENTILE))


def continues_across(luma: np.ndarray, x0: int, x1: int) -> bool:
    """Whether the picture's vertical detail continues through every column of [x0, x1):
    each column's detail correlates at least `CONTINUITY` with the detail interpolated
    between the columns just outside the line, at a gain of at least `MIN_GAIN`. Rows
    count as far as the two outside columns agree with each other over +- `AGREE_ROWS`
    rows (where they do not, as beside an edge or in fine texture, nothing says what the
    line hides) and the detail there stands above the grain's (`grain_energy`). False
    where the line touches the frame's side, the detail beside it is too faint to tell
    (below `TEXTURE`) or too few rows count (`MIN_ROWS`)."""
    xl, xr = x0 - REACH, x1 - 1 + REACH
    if xl < 0 or xr >= luma.shape[1] or x1 <= x0:
        return False

    def detail(x: int) -> np.ndarray:
        return luma[:, x] - _rows(luma[:, x], DETAIL_ROWS)

    left, right = detail(xl), detail(xr)
    if float(np.std((left + right) / 2)) < TEXTURE:
        return False
    e_left, e_right = _rows(left * left, AGREE_ROWS), _rows(right * right, AGREE_ROWS)
    agree = _rows(left * right, AGREE_ROWS) / np.sqrt(e_left * e_right + 1e-12)
    floor = ABOVE_GRAIN * grain_energy(luma)  # rows whose detail is mostly grain say nothing
    weight = np.maximum(agree, 0.0) * ((e_left > floor) & (e_right > floor))
    if float(weight.sum()) < MIN_ROWS:
        return False
    for x in range(x0, x1):
        t = (x - xl) / (xr - xl)
        beside = (1 - t) * left + t * right
        inside = detail(x)
        cov = float((weight * inside * beside).sum())
        var_b, var_i = float((weight * beside * beside).sum()), float((weight * inside * inside).sum())
        if var_b <= 0 or var_i <= 0 or cov < CONTINUITY * np.sqrt(var_b * var_i) or cov < MIN_GAIN * var_b:
            return False
    return True
