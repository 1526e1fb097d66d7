"""Whether a line that stands still on a still picture is a scratch fixed in the gate
(`scratch` finds the lines; core/reelfix/nodes/scratch.py).

On a static shot a scratch fixed in the gate and a pole of the picture both sit at one column
in every frame: motion cannot tell them apart, the picture and the film have to. Three cues,
measured on the benchmark's clips and on real photos (docs/bench/cleanup.md):

- shape: the film slides past the gate, so the line spans (nearly) the whole frame, shows in
  at least half of its bands and is dead straight (`is_gate_line`; picture touching it
  widens a run on one side, and that part is not repaired: `gate_runs`);
- the picture continues through it: a scratch is a veil over the picture (observed = gain x
  picture + offset, both changing slowly along it), so the picture's vertical detail (what
  is left after a running mean over `DETAIL_ROWS` rows each side) shows through every column
  of the line, following the detail interpolated from the columns just outside it
  (`judge`). An object of the scene in front of the background (a pole, a mast, a
  wire, a door's gap) hides the background's detail and shows its own: its columns do not
  follow. A line's faint other side (a dark line shows a faint bright one beside it in the
  detector's profiles) is judged with the lines it touches: the line itself must pass and
  none of them hide the picture (`group`, `judge`: a column that carries the detail beside
  it at a fair gain but correlates less, having detail of its own too, and a line with too
  few rows to judge, say nothing). Measured on
  the benchmark's and the tests' clips: the columns of gate scratches correlate 0.87-0.99
  with the detail beside them at a gain of 0.53-0.79; an opaque pole 0, a mast about 0.1 at
  a gain under 0.1, a nearly opaque wire and a door's gap 0.7-0.9 but at a gain of 0.11-0.15
  (what shows through them); of the gate-shaped picture lines in 27 real photos (cut from
  their middle), a door frame about 0 and a border column at the frame's side (never taken);
- the film's grain goes through it as through a veil (`grain_through`): the grain of each
  frame is part of the picture a scratch dims or lifts, so it passes at the veil's gain, at
  most what the levels allow (a dark line's level over the level beside it; a bright
  line's, from white); a thing of the scene was recorded on the film under the grain and
  carries grain of its own, more than a veil of its shade could pass. This tells where the
  picture is flat or blurred. Measured on the 27 photos' gate scratches: their grain's
  amplitude over what that largest gain passes 0.95-1.06 (the benchmark's scratches blend
  towards black or white: the largest gain), at a gain of 0.62-0.71; the benchmark's poles,
  wire and door's gap recorded under the grain 1.8-5.8 (at 0.17-0.39), its mast 1.3 (at
  0.79; lit in the middle, dark at its sides). A line dimming or lifting the picture
  by under a fifth (`VEIL_GAIN`: a mast, a faint door frame, the picture column beside a
  scratch) is not told by grain: how much grain a faint line of the scene carries depends on
  how the film's grain grows with the level. A line whose grain shows it is a veil is taken
  whatever touches it (it lies on the film; a scratch right beside an edge of the picture,
  whose other side of the detector joins that edge, the real photo's 1-px one): 27-photo
  sweep 84.9% -> 93.6% repaired, real photo 84.9% -> 99.2%, no more false repairs.

Grain clumps over a pixel or two, so against a flat picture (sky) the grain beside a thin
pole seems to continue through it as well as through a scratch (measured: with clumps of
1.3 px every thin pole on a flat sky passed). The test is made on the still picture: the
mean of the shot's frames, where grain (independent per frame) is down by the number of
frames and the picture and a gate scratch stay (`still_picture`). Rows count only where the
detail beside the line has `ABOVE_GRAIN` times the energy of the grain left in that mean,
measured there from the frames' own spread about it (whatever moves counts as grain too).
At least `MIN_ROWS` must count. Before (one frame, grain's energy taken as the flattest
`GRAIN_PERCENTILE` of the frame's: `grain_energy`, still used for a frame alone) a picture
without flat areas read as all grain, and grain in the frame itself took the correlation
of fine picture below `CONTINUITY`: on 27 real photos with three gate scratches each, 74%
of the damaged pixels were repaired, 84% now, with no more false repairs (docs/bench/cleanup.md).

A line neither cue can judge is kept: too little detail beside it above the grain, or picture
that does not continue across it, and a line too faint for the grain to tell, or a shot
without grain. So is a scratch that hides the picture completely (an opaque one): the `static`
option takes those too, with any still line of that shape but those that carry grain of their
own (`gate_scratch`); a pole laid over the grain (none of its own) is an opaque line to it.
"""

from __future__ import annotations

from typing import Sequence, Union

import cv2
import numpy as np

from .. import motion
from ..frames.frame import Frame

GATE_LENGTH = 0.8  # share of the frame's height a line fixed in the gate spans
DETAIL_ROWS = 8  # rows each side of the running mean the vertical detail is taken against
CONTINUITY = 0.6  # least correlation of every column of the line with the detail beside it
MIN_GAIN = 0.25  # least share of that detail that shows through each column
AGREE_ROWS = 16  # rows each side over which the columns beside the line are compared
REACH = 1  # px from the line to the columns it is compared with
ABOVE_GRAIN = 8.0  # a row counts where the detail beside the line has this many times grain's energy
MIN_ROWS = 16.0  # least (weighted) rows that count
GRAIN_PERCENTILE = 5.0  # percentile of one frame's local detail energy taken as grain's (the flattest 5%)
VEIL_GAIN = 0.8  # grain tells a veil only where the line dims or lifts the picture this far at least (a veil's gain below it)
GRAIN_SLACK = 1.15  # a veil's grain at most this times what its gain passes of the grain beside it (the measurement's spread)
QUANT = 1.0 / 255 / np.sqrt(12.0)  # rounding noise of an 8-bit step: detail below it is no picture

Runs = dict[int, tuple[int, int]]  # band -> [x0, x1) of a line, as `scratch.Track.runs`
# a still shot's perceptual luma: one frame (HxW), or its frames, centre first (arrays, or `Frame`s read where kept)
Lumas = Union[np.ndarray, Sequence[Union[np.ndarray, Frame]]]


def is_gate_line(runs: Runs, n_bands: int) -> bool:
    """Whether a track has the shape of a scratch fixed in the gate: it spans (nearly) the
    whole frame (`GATE_LENGTH` of the bands from its first to its last), shows in at least
    half the bands (the picture hides it in places), and is dead straight: from band to band
    within a pixel, measured at each run's edge nearer the line's (the median edges; picture
    touching the line widens a run on that side only, a slanted or bent line moves both)."""
    bands = sorted(runs)
    x0, x1 = span(runs)
    shifts = [a - x0 if abs(a - x0) <= abs(b - x1) else b - x1 for a, b in runs.values()]
    return (bands[-1] - bands[0] + 1 >= GATE_LENGTH * n_bands and 2 * len(bands) >= n_bands
            and max(shifts) - min(shifts) <= 1)


def span(runs: Runs) -> tuple[int, int]:
    """[x0, x1) of a straight line: the median of its runs' ends."""
    return int(np.median([a for a, _ in runs.values()])), int(np.median([b for _, b in runs.values()]))


def line_strength(scores: np.ndarray, runs: Runs) -> float:
    """How strongly a line stands out in the detector's scores of its kind (bands x columns):
    the median over its bands of its run's peak score."""
    return float(np.median([scores[b, x0:x1].max() for b, (x0, x1) in runs.items()]))


def gate_runs(runs: Runs) -> Runs:
    """A gate line's runs cut to within a pixel of its edges (`span`): the line lies at the
    same columns over the whole height; where picture touching it widened a run, that part
    is picture."""
    x0, x1 = span(runs)
    return {band: (max(a, x0 - 1), min(b, x1 + 1)) for band, (a, b) in runs.items()}


def gate_scratch(lumas: Lumas | None, runs: Runs, others: list[Runs], strengths: Sequence[float] = (), n_bands: int = 0,
                 static: bool = False) -> bool:
    """Whether a still line of a gate scratch's shape is repaired (the arguments as
    `fixed_in_gate`'s; without `lumas`, only with `static`, on the shape alone). By default
    where it is one (`fixed_in_gate`). With `static` (the shot is
    static and every such line is wanted, opaque ones too) unless the film's grain shows
    that it was recorded with the scene (`grain_through` False: it carries grain of its own,
    more than a veil of its shade could pass), as a pole is."""
    if lumas is None:
        return static
    if static:
        return grain_through(lumas, *span(runs)) is not False
    return fixed_in_gate(lumas, runs, others, strengths, n_bands)


def fixed_in_gate(lumas: Lumas, runs: Runs, others: list[Runs], strengths: Sequence[float] = (), n_bands: int = 0) -> bool:
    """Whether a still line of a gate scratch's shape is one. Never where it hides the
    picture (`judge` False). Where the film's grain goes through it as through a veil
    (`grain_through`), it lies on the film: it is one, whatever lies beside it. Else the
    picture must continue through it (`judge` True) and no line touching it (`group`) hide
    the picture, each judged on its own columns (True, False where it hides the picture,
    None where it cannot tell; where the picture cannot tell, the grain may: True where it
    goes through as through a veil); a touching line that cannot be told must be weaker
    than the line (`strengths`: the detector's, of the line and of each of `others`;
    without them, none is): a line's faint other side may be unclear, the line itself and
    anything as strong beside it must not (else a scratch's faint side would be taken alone
    where the scratch cannot be told). With `n_bands` (the frame's), a touching line as
    strong as the line must have a gate line's shape too (`is_gate_line`), else the line is
    the faint side of something not fixed in the gate. Never where the group touches the
    frame's side (nothing beyond to compare with)."""
    lines = [runs, *others]
    members = group(runs, others)
    spans = [span(lines[i]) for i in members]
    if min(a for a, _ in spans) < 1 or max(b for _, b in spans) >= _width(lumas):
        return False
    own = judge(lumas, *spans[0])
    if own is False:
        return False
    if grain_through(lumas, *spans[0]):
        return True
    strength = list(strengths) or [0.0] * len(lines)
    if own is None or (n_bands and any(strength[i] >= strength[0] and not is_gate_line(lines[i], n_bands) for i in members[1:])):
        return False
    verdicts = [judge(lumas, a, b) for a, b in spans[1:]]
    verdicts = [True if v is None and grain_through(lumas, a, b) else v for v, (a, b) in zip(verdicts, spans[1:])]
    return all(v is True or (v is None and strength[i] < strength[0]) for i, v in zip(members[1:], verdicts))


def group(runs: Runs, others: list[Runs]) -> list[int]:
    """The line (0) and every other line (1 + its index in `others`; of either kind)
    touching it, directly or through others, one per span. A line's bright and dark sides
    come together (the edge of a dark pole or wire shows as a faint bright line beside it,
    sometimes stronger in the detector's profiles than the line itself): the faint side
    alone would pass for a veil, the line beside it does not."""
    out, spans = [0], [span(runs)]
    grown = True
    while grown:
        grown = False
        for i, other in enumerate(others, 1):
            a, b = span(other)
            if (a, b) not in spans and any(a <= y1 and b >= y0 for y0, y1 in spans):
                out.append(i)
                spans.append((a, b))
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
    d = _detail(luma[:, ::8])
    return float(np.percentile(cv2.blur(d * d, (1, 2 * AGREE_ROWS + 1), borderType=cv2.BORDER_REFLECT), GRAIN_PERCENTILE))


def _width(lumas: Lumas) -> int:
    first = lumas if isinstance(lumas, np.ndarray) and lumas.ndim == 2 else lumas[0]
    return int(first.shape[1]) if isinstance(first, np.ndarray) else first.width


def _columns(src: np.ndarray | Frame, x0: int, x1: int) -> np.ndarray:
    """Columns [x0, x1) of a frame's perceptual luma (an array, or a `Frame` read where kept)."""
    if isinstance(src, np.ndarray):
        return np.asarray(src[:, x0:x1], np.float32)
    return motion.luma_rows(src, 0, src.height, x0, x1)


def _detail(a: np.ndarray) -> np.ndarray:
    """Vertical detail of each column of `a`: what is left after the running mean over
    +- `DETAIL_ROWS` rows."""
    a = np.ascontiguousarray(a, np.float32)
    return a - cv2.blur(a, (1, 2 * DETAIL_ROWS + 1), borderType=cv2.BORDER_REFLECT)


def still_picture(lumas: Lumas, x0: int, x1: int) -> tuple[np.ndarray, np.ndarray]:
    """(picture, grain) over the columns [x0, x1) of a still shot: the mean of its frames
    (centre first; grain is independent per frame, a gate scratch and the picture stay),
    and the energy of the grain left in that picture's vertical detail, per row over
    +- `AGREE_ROWS` rows: the frames' own spread about their mean, over N (N - 1). What
    moves (a passing object, a speck of dust) counts as spread too, so rows there count
    less. Of one frame alone: that frame, and `grain_energy`."""
    frames = [lumas] if isinstance(lumas, np.ndarray) and lumas.ndim == 2 else list(lumas)
    stack = np.stack([_columns(f, x0, x1) for f in frames])
    if len(frames) == 1:
        luma = frames[0] if isinstance(frames[0], np.ndarray) else motion.luma_rows(frames[0], 0, frames[0].height)
        return stack[0], np.full(stack.shape[1:], grain_energy(luma), np.float32)
    picture = stack.mean(axis=0)
    spread = np.mean([_detail(f - picture) ** 2 for f in stack], axis=0)
    grain = cv2.blur(spread, (1, 2 * AGREE_ROWS + 1), borderType=cv2.BORDER_REFLECT) / (len(frames) - 1)
    return picture, grain


def judge(lumas: Lumas, x0: int, x1: int) -> bool | None:
    """Whether the picture's vertical detail continues through every column of [x0, x1):
    each column's detail correlates at least `CONTINUITY` with the detail interpolated
    between the columns just outside the line, at a gain of at least `MIN_GAIN`. Judged on
    the still picture (`still_picture`: the mean of the shot's frames, `lumas`, or one
    frame's luma). Rows count as far as the two outside columns agree with each other over
    +- `AGREE_ROWS` rows (where they do not, as beside an edge or in fine texture, nothing
    says what the line hides) and the detail there has `ABOVE_GRAIN` times the energy of
    the grain left in that picture (and of an 8-bit step's rounding, `QUANT`). False where
    a column hides that detail (gain below `MIN_GAIN`: an object of the scene); None (it
    cannot tell) where a column carries it but correlates less (detail of its own besides),
    the line touches the frame's side or too few rows count (`MIN_ROWS`)."""
    xl, xr = x0 - REACH, x1 - 1 + REACH
    if xl < 0 or xr >= _width(lumas) or x1 <= x0:
        return None
    picture, grain = still_picture(lumas, xl, xr + 1)
    detail = _detail(picture)
    left, right = detail[:, 0], detail[:, -1]
    e_left, e_right = _rows(left * left, AGREE_ROWS), _rows(right * right, AGREE_ROWS)
    agree = _rows(left * right, AGREE_ROWS) / np.sqrt(e_left * e_right + 1e-12)
    floor = ABOVE_GRAIN * (grain + QUANT**2)  # rows whose detail is mostly grain say nothing
    weight = np.maximum(agree, 0.0) * ((e_left > floor[:, 0]) & (e_right > floor[:, -1]))
    if float(weight.sum()) < MIN_ROWS:
        return None
    verdict: bool | None = True
    for x in range(x0, x1):
        t = (x - xl) / (xr - xl)
        beside = (1 - t) * left + t * right
        inside = detail[:, x - xl]
        cov = float((weight * inside * beside).sum())
        var_b, var_i = float((weight * beside * beside).sum()), float((weight * inside * inside).sum())
        if var_b <= 0 or cov < MIN_GAIN * var_b:
            return False  # the column hides the detail beside it (or shows its own instead)
        if cov < CONTINUITY * np.sqrt(var_b * var_i):
            verdict = None  # it carries that detail, and more of its own: nothing says which
    return verdict


def grain_through(lumas: Lumas, x0: int, x1: int) -> bool | None:
    """Whether the film's grain goes through the columns [x0, x1) as through a veil, where the
    picture cannot tell (`judge`: flat or blurred beside the line). A scratch is a veil over
    the film: the grain of each frame is part of the picture it dims or lifts, so it passes
    at the veil's gain, and that gain is at most what the levels allow (a dark line: its
    level over the level beside it, the veil going towards black; a bright one: the same
    from white). A thing of the scene was recorded on the film and carries grain of its own,
    more than a veil of its shade could pass (a pole on a flat sky: all of it). Measured on
    the frames' spread about the still picture (`still_picture`), beside the line from the
    columns just outside it: True where the line carries at most `GRAIN_SLACK` times the
    grain its largest possible gain passes, False where it carries more; None where grain
    cannot tell: one frame, no grain above an 8-bit step's rounding, a line that dims or
    lifts the picture by less than a fifth (`VEIL_GAIN`: how much grain a faint line of the
    scene carries depends on how the film's grain grows with the level), or a picture too
    near black or white beside it."""
    xl, xr = x0 - REACH, x1 - 1 + REACH
    if isinstance(lumas, np.ndarray) and lumas.ndim == 2 or len(lumas) < 2 or xl < 0 or xr >= _width(lumas) or x1 <= x0:
        return None
    picture, grain = still_picture(lumas, xl, xr + 1)
    t = (np.arange(x0, x1) - xl) / (xr - xl)
    level = picture[:, :1] * (1 - t) + picture[:, -1:] * t  # the picture beside, at each column of the line
    energy = grain[:, :1] * (1 - t) + grain[:, -1:] * t
    inside, through = picture[:, 1:-1], grain[:, 1:-1]
    dark = inside <= level
    room = np.where(dark, level, 1.0 - level)  # how far a veil may take the picture beside (to black or to white)
    ok = room > 0.05
    if 2 * int(ok.sum()) < ok.size or float(energy[ok].mean()) * (len(lumas) - 1) < (2 * QUANT) ** 2:
        return None
    gain = np.clip(np.where(dark, inside, 1.0 - inside) / np.maximum(room, 1e-6), 0.0, 1.0)[ok]  # the largest a veil's
    if float(np.sqrt(np.mean(gain * gain))) > VEIL_GAIN:
        return None
    return float(through[ok].sum()) <= GRAIN_SLACK**2 * float((gain * gain * energy[ok]).sum())
