"""`scratch`: vertical line scratches that persist over many frames.

Detection works on the perceptual luma (`reelfix.motion`) in horizontal bands of rows. In
each band, the column profile of the difference from a horizontally smoothed frame (a grey
top-hat for bright scratches, a black-hat for dark ones, over `max_width` + 2 px) is its
median over the band's rows: texture averages out, a line running down the band does not.
A column stands out when its profile exceeds the threshold and the profile's own spread.
Runs of such columns at most `max_width` (+1 for anti-aliasing) wide are chained from band
to band into tracks (pieces of one straight line hidden in places by the picture are one
track). A scratch is a track that

- runs over a long part of the frame (`MIN_LENGTH` of its bands): a narrow bump or dip with
  like surroundings on both sides, over a long vertical run;
- is found again, within a couple of pixels, in at least half the other frames of the
  window (it persists, and drifts only slowly across the frame);
- moves against the picture: its shift to each other frame, minus the picture's shift
  beside it (from the flow), has a slope of at least `MIN_DRIFT` px per frame beyond `SURE`
  standard errors (flow on flat grain is noise). Picture detail (a pole, an edge) moves
  exactly with the picture, whether the camera pans or stands still; a scratch stays put
  while the camera moves, and on a static shot it drifts on its own. On static pictures the
  drift is measured on band means (sub-pixel shifts, no locking to whole pixels);
- or, on a still picture, stands still with the shape of a scratch fixed in the gate and lets
  the still picture's detail, or the film's grain, through as a veil does, where a pole or a
  wire of the scene hides what is behind it and carries grain of its own (`scratch_gate`;
  `static` takes all such lines but those with grain of their own; a 1-frame range, shape
  alone). Tracks are carried over the bands between and beyond their pieces where the line shows.

Repair (`scratch_repair`), row by row across the scratch: interpolation between both sides along the
picture's own slant (`across`), then the scratch taken off as a veil (`unblend`: what is
observed is a gain and offset of the picture that change slowly along the scratch, so the
detail crossing it is kept); replaced by the median of the motion-compensated neighbours
where those show clean picture there (the camera moved, the scratch did not: the sample
lands neither on a line of theirs nor within `ZONE` px of this frame's scratch) and agree
with that estimate within the scratch's own contrast. Every other pixel stays
bit-identical; the repaired pixels are the node's matte.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .. import motion
from ..frames.frame import Frame, picture_indices
from .dustbust import set_matte
from .scratch_gate import Lumas, gate_runs, gate_scratch, is_gate_line, line_strength
from .scratch_repair import repair
from .spec import NodeContext, NodeSpec, Param, Window

NAME = "scratch"
BAND = 64  # rows per band
BASELINE = 15  # columns each side for the profile's local baseline
DRIFT = 2  # px a scratch may move between neighbouring frames
MIN_LENGTH = 0.3  # share of the frame's bands a scratch runs over
MIN_DRIFT = 0.08  # px per frame a scratch moves relative to the picture
SURE = 2.0  # standard errors the measured drift is taken down by
STILL = 0.5  # px: a picture shift below this is measured on the band means
PICTURE_SPAN = 20  # columns each side of a line whose flow is the picture's motion
GAP_LEVEL = 0.0  # share of the threshold a track's profile keeps where it is carried over a gap


@dataclass(frozen=True)
class Settings:
    threshold: float
    max_width: int
    static: bool = False  # also lines that do not move at all while the picture stands still


def settings(params: dict[str, Any]) -> Settings:
    return Settings(threshold=0.012 + 0.06 * (1.0 - float(params["sensitivity"])), max_width=int(params["max_width"]),
                    static=bool(params.get("static", False)))


def _bands(height: int) -> list[tuple[int, int]]:
    n = max(1, round(height / BAND))
    edges = np.linspace(0, height, n + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def _running_median(profile: np.ndarray, half: int) -> np.ndarray:
    padded = np.pad(profile, ((0, 0), (half, half)), mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1, axis=1)
    return np.median(windows, axis=2)


def column_scores(q: np.ndarray, st: Settings) -> np.ndarray:
    """(2, bands, W) signed-free scores: how far each column's band profile stands above its
    local baseline, for bright (0) and dark (1) lines, in perceptual units."""
    kernel = np.ones((1, st.max_width + 2), np.uint8)
    residuals = (q - cv2.morphologyEx(q, cv2.MORPH_OPEN, kernel), cv2.morphologyEx(q, cv2.MORPH_CLOSE, kernel) - q)
    out = []
    for r in residuals:
        prof = np.stack([np.median(r[a:b], axis=0) for a, b in _bands(q.shape[0])])
        out.append(prof - _running_median(prof, BASELINE))
    return np.stack(out).astype(np.float32)


def candidates(scores: np.ndarray, st: Settings) -> np.ndarray:
    """(2, bands, W) bool: columns standing out from the profile's own spread."""
    spread = 1.4826 * np.median(np.abs(scores - np.median(scores, axis=2, keepdims=True)), axis=2, keepdims=True)
    return scores > np.maximum(st.threshold, 5.0 * spread)


_memo_lock = threading.Lock()
_memo: dict[tuple[int, Settings], tuple[weakref.ref[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}


Found = tuple[np.ndarray, np.ndarray, np.ndarray]  # a frame's scores, candidates and band means


def frame_candidates(frame: Frame, st: Settings) -> Found:
    """(`column_scores`, `candidates`, band means (2, bands, W): the perceptual luma averaged
    over each band's rows, signed so bright lines (0) and dark ones (1) are bumps) of a
    frame, memoised while its pixel array lives (a frame is a neighbour of several centres)."""
    key = (id(frame.pixels), st)
    with _memo_lock:
        hit = _memo.get(key)
        if hit is not None and hit[0]() is frame.pixels:
            return hit[1]
    q = motion.perceptual_luma(frame)
    scores = column_scores(q, st)
    means = np.stack([q[a:b].mean(axis=0) for a, b in _bands(q.shape[0])]).astype(np.float32)
    found = (scores, candidates(scores, st), np.stack([means, -means]))
    with _memo_lock:
        for k in [k for k, v in _memo.items() if v[0]() is None]:
            del _memo[k]
        _memo[key] = (weakref.ref(frame.pixels), found)
    return found


def _runs(row: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of the runs of True in a 1-D bool array."""
    d = np.diff(np.concatenate([[0], row.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


@dataclass
class Track:
    """One line in the centre frame: its kind (0 bright, 1 dark) and, per band where it was
    found, the run of columns [x0, x1) it covers."""

    kind: int
    runs: dict[int, tuple[int, int]]

    def centre(self, band: int) -> float:
        x0, x1 = self.runs[band]
        return (x0 + x1 - 1) / 2


def tracks(scores: np.ndarray, cands: np.ndarray, st: Settings) -> list[Track]:
    """Candidate runs (at most `max_width` + 1 wide, anti-aliased edges added) chained from
    band to band (one band may be skipped) where their centres are within `DRIFT` px: one
    track per chain."""
    kinds, n_bands, width = cands.shape
    out: list[Track] = []
    for kind in range(kinds):
        nodes: list[tuple[int, int, int]] = []
        for band in range(n_bands):
            for x0, x1 in _runs(cands[kind, band]):
                if x1 - x0 > st.max_width + 1:
                    continue
                peak = float(scores[kind, band, x0:x1].max())
                if x0 > 0 and scores[kind, band, x0 - 1] > 0.2 * peak:  # anti-aliased edges
                    x0 -= 1
                if x1 < width and scores[kind, band, x1] > 0.2 * peak:
                    x1 += 1
                nodes.append((band, x0, x1))
        parent = list(range(len(nodes)))

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for i, (bi, a0, a1) in enumerate(nodes):
            for j in range(i + 1, len(nodes)):
                bj, b0, b1 = nodes[j]
                if bj - bi > 2:
                    break
                if bj > bi and abs((a0 + a1) - (b0 + b1)) <= 2 * DRIFT:
                    parent[root(j)] = root(i)
        groups: dict[int, dict[int, tuple[int, int]]] = {}
        for i, (band, x0, x1) in enumerate(nodes):
            runs = groups.setdefault(root(i), {})
            if band in runs:  # two runs of one band in a chain: keep their span
                x0, x1 = min(x0, runs[band][0]), max(x1, runs[band][1])
            runs[band] = (x0, x1)
        chains = sorted(groups.values(), key=len, reverse=True)
        merged: list[dict[int, tuple[int, int]]] = []
        for runs in chains:  # pieces of one straight line broken where the picture hides it
            centre = np.median([(a + b - 1) / 2 for a, b in runs.values()])
            for m in merged:
                if not set(m) & set(runs) and abs(np.median([(a + b - 1) / 2 for a, b in m.values()]) - centre) <= DRIFT:
                    m.update(runs)
                    break
            else:
                merged.append(dict(runs))
        out += [Track(kind, runs) for runs in merged]
    return out


def peak_position(profile: np.ndarray, start: float, half: float, floor: float) -> float | None:
    """Sub-pixel position of the line nearest `start` in a band's score profile: the
    centroid of the profile above a tenth of its peak within +- `half` px, re-centred until
    it settles (the same line gives the same position whatever the start); None below
    `floor`. Scores suppress the picture around the line, so this finds the line among
    texture that moves; it locks somewhat to whole pixels."""
    pos = start
    for _ in range(5):
        a, b = max(int(np.floor(pos - half)), 0), min(int(np.ceil(pos + half)) + 1, profile.shape[0])
        if b - a < 1:
            return None
        seg = profile[a:b]
        peak = float(seg.max())
        if peak <= floor or peak <= 0:
            return None
        w = np.maximum(seg - 0.1 * peak, 0.0)
        new = float((np.arange(a, b) * w).sum() / w.sum())
        if abs(new - pos) < 0.005:
            return new
        pos = new
    return pos


def position(profile: np.ndarray, start: float, half: float, floor: float) -> float | None:
    """Sub-pixel position of the line nearest `start` in a band's mean profile (signed so the
    line is a bump): the centroid of the profile above the straight line through two
    columns on each side, over +- `half` px, re-centred until it settles. Means and a
    plain centroid move linearly with the line (no locking to whole pixels); picture
    texture that stays put only scales the movement down. None when the bump is below `floor`."""
    pos, n = start, profile.shape[0]
    for _ in range(5):
        lo, hi = int(np.floor(pos - half)), int(np.ceil(pos + half)) + 1
        if lo < 2 or hi + 2 > n:
            return None
        xl, xr = lo - 1.5, hi + 0.5
        yl, yr = float(profile[lo - 2 : lo].mean()), float(profile[hi : hi + 2].mean())
        xs = np.arange(lo, hi)
        bump = profile[lo:hi] - (yl + (yr - yl) * (xs - xl) / (xr - xl))
        w = np.maximum(bump, 0.0)
        if float(w.max()) <= floor or w.sum() <= 0:
            return None
        new = float((xs * w).sum() / w.sum())
        if abs(new - pos) < 0.005:
            return new
        pos = new
    return pos


def picture_shift(flow: np.ndarray, track: Track, edges: list[tuple[int, int]]) -> tuple[float, float]:
    """How far the picture beside a track moves to the other frame (px, horizontal): the
    median flow over the track's bands, `PICTURE_SPAN` columns each side of the line, the
    line's own columns left out (a scratch drags the flow at its columns along with it); and
    its error, from the flow's spread there over the track's bands (on flat, grainy picture
    the flow is noise of a few tenths of a pixel)."""
    width = flow.shape[1]
    parts = []
    for band, (x0, x1) in track.runs.items():
        a, b = edges[band]
        for lo, hi in ((max(x0 - 2 - PICTURE_SPAN, 0), max(x0 - 2, 0)), (min(x1 + 2, width), min(x1 + 2 + PICTURE_SPAN, width))):
            if hi > lo:
                parts.append(flow[a:b:4, lo:hi, 0].ravel())
    if not parts:
        return 0.0, 0.0
    v = np.concatenate(parts)
    return float(np.median(v)), 1.4826 * float(np.median(np.abs(v - np.median(v)))) / np.sqrt(len(track.runs))


def relative_motion(track: Track, centre: Found, others: list[Found], offsets: list[int], shifts: list[float],
                    st: Settings, errors: list[float] | None = None) -> tuple[int, float]:
    """(frames where the line is found again, its drift relative to the picture in px per
    frame). The line's shift to each other frame is the median over its bands; the
    picture's (`shifts`) comes from the flow beside the line. Where the picture moved, the
    line is found on the score profiles (near where it was, or where the picture went);
    where it did not, on the band means, which measure a slow drift without locking to
    pixels. The drift is the slope of line minus picture against the frame offset: about 0
    for picture detail; a scratch stays put while the camera moves, or drifts on its own."""
    bands = sorted(track.runs)
    half = max(x1 - x0 for x0, x1 in track.runs.values()) / 2 + 1
    rel, found = [], 0
    for other, d, pic, pic_error in zip(others, offsets, shifts, errors or [0.0] * len(shifts)):
        still = abs(pic) < STILL
        k = 2 if still else 0
        locate = position if still else peak_position
        tol = DRIFT + abs(d) // 2  # a scratch drifts slowly across the frame, whatever the picture does
        moves = []
        for b in bands:
            p0 = locate(centre[k][track.kind, b], track.centre(b), half, 0.0)
            if p0 is None:
                continue
            best = None
            for guess in {p0, p0 + pic}:  # where the line would be if it stayed, or moved with the picture
                p = locate(other[k][track.kind, b], guess, half, 0.5 * st.threshold)
                if p is not None and abs(p - p0) <= tol and (best is None or abs(p - guess) < abs(best - guess)):
                    best = p
            if best is not None:
                moves.append(best - p0)
        if 2 * len(moves) >= len(bands):
            found += 1
            m = np.asarray(moves)
            spread = 1.4826 * float(np.median(np.abs(m - np.median(m)))) * 1.2533 / np.sqrt(len(m))  # the median's error
            rel.append((d, float(np.median(m)) - pic, float(np.hypot(spread, pic_error))))
    if not rel:
        return found, 0.0
    ds, rs, es = np.array(rel).T
    slope, error = abs((ds * rs).sum() / (ds * ds).sum()), np.sqrt((ds * ds * es * es).sum()) / (ds * ds).sum()
    return found, float(max(slope - SURE * error, 0.0))  # a drift the measurements' errors cannot explain


def detect(
    centre: Found,
    others: list[Found],
    offsets: list[int],
    flows: list[np.ndarray],
    st: Settings,
    height: int,
    lumas: Lumas | None = None,
) -> np.ndarray:
    """The scratch mask (HxW bool) from the centre's and the other frames' (scores,
    candidates) and the flows from the centre to the others. A scratch is a track over at
    least `MIN_LENGTH` of the frame's bands (two at least), found again in at least half the
    other frames, that drifts relative to the picture by at least `MIN_DRIFT` px per frame
    (it stays put while the camera moves, or drifts on a static shot: picture detail moves
    exactly with the picture). A line that stands still on a still picture is taken where it
    has a gate scratch's shape and the picture or the film's grain goes through it as through
    a veil (`scratch_gate`, on the shot's perceptual `lumas`, centre first); with `static`,
    unless it carries grain of its own. With no other frame, the shape alone decides."""
    scores, cands, _ = centre
    kinds, n_bands, width = cands.shape
    need = max(2, int(np.ceil(MIN_LENGTH * n_bands))) if n_bands > 1 else 1
    mask = np.zeros((height, width), bool)
    edges = _bands(height)
    long = [tr for tr in tracks(scores, cands, st) if len(tr.runs) >= need]
    for tr in long:
        if others:
            pic, errors = (list(v) for v in zip(*[picture_shift(f, tr, edges) for f in flows]))
            found, drift = relative_motion(tr, centre, others, offsets, pic, st, errors)
            if 2 * found < len(others):
                continue
            if drift < MIN_DRIFT and not (all(abs(p) < STILL for p in pic) and is_gate_line(tr.runs, n_bands)):
                continue
            if drift < MIN_DRIFT:  # fixed in the gate: the picture and the film's grain decide (`scratch_gate`)
                rest = [t for t in long if t is not tr]
                strengths = [line_strength(scores[t.kind], t.runs) for t in [tr, *rest]]
                if not gate_scratch(lumas, tr.runs, [t.runs for t in rest], strengths, n_bands, st.static):
                    continue
                tr = Track(tr.kind, gate_runs(tr.runs))  # at the same columns all the way: where a run is wider, that is picture
        for band, (x0, x1) in fill_gaps(tr, scores, st).items():
            a, b = edges[band]
            mask[a:b, x0:x1] = True
    return mask


def fill_gaps(track: Track, scores: np.ndarray, st: Settings) -> dict[int, tuple[int, int]]:
    """The track's runs plus the bands between and beyond them where the profile at the
    track's position still shows a line of the same kind (a scratch fades along its length
    and over some picture; it does not stop)."""
    runs = dict(track.runs)
    bands = sorted(runs)
    n_bands, width = scores.shape[1], scores.shape[2]
    for band in range(n_bands):
        if band in runs:
            continue
        nearest = min(bands, key=lambda b: (abs(b - band), b))  # the nearest band the track was found in
        x0, x1 = runs[nearest]
        prof = scores[track.kind, band, max(x0 - 1, 0) : min(x1 + 1, width)]
        if prof.size and float(prof.max()) > GAP_LEVEL * st.threshold:
            runs[band] = (max(x0 - 1, 0), min(x1 + 1, width))  # the position is carried over: a pixel of margin
    return runs


def line_columns(cands: np.ndarray, st: Settings, height: int) -> np.ndarray:
    """(H, W) bool: every candidate line of a frame (any kind, at most `max_width` + 1 wide),
    dilated 1 px: where a neighbour's own scratches may be."""
    kinds, n_bands, width = cands.shape
    out = np.zeros((height, width), bool)
    for (a, b), band in zip(_bands(height), range(n_bands)):
        row = np.zeros(width, bool)
        for kind in range(kinds):
            for x0, x1 in _runs(cands[kind, band]):
                if x1 - x0 <= st.max_width + 1:
                    row[max(x0 - 1, 0) : x1 + 1] = True
        out[a:b] = row
    return out


class Scratch:
    def __init__(self, params: dict[str, Any], ctx: NodeContext) -> None:
        self.params = params
        self.ctx = ctx
        self.settings = settings(params)

    def provenance(self) -> dict[str, Any]:
        return {"node": NAME, "params": dict(self.params), "flow": "OpenCV DIS (reelfix.motion)"}

    def process(self, window: Window) -> Frame:
        centre = window.centre
        others = sorted((n for n in window.frames if n != window.number), key=lambda n: (abs(n - window.number), n))
        frames = [window.frames[n] for n in others]
        flows = [motion.flow(centre, f) for f in frames]
        found_nb = [frame_candidates(f, self.settings) for f in frames]
        mask = detect(
            frame_candidates(centre, self.settings),
            found_nb,
            [n - window.number for n in others],
            flows,
            self.settings,
            centre.height,
            [motion.perceptual_luma(centre), *frames],
        )
        pixels = centre.pixels.copy()
        if mask.any():
            pic = np.asarray(picture_indices(centre.channels))
            lines = [line_columns(c, self.settings, centre.height) for _, c, _ in found_nb]
            ys, xs, values = repair(centre, mask, frames, flows, lines)
            pixels[ys[:, None], xs[:, None], pic[None, :]] = values[:, pic]
        out = centre.with_pixels(pixels)
        set_matte(out, NAME, mask.astype(np.float32))
        return out


SPEC = NodeSpec(
    name=NAME,
    label="Scratch Repair",
    help="Repairs vertical line scratches (bright or dark, 1-4 px, drifting slowly or fixed in the gate) that persist over frames: "
    "interpolated across, or taken from the motion-compensated neighbours where the camera moved. Matte: repaired pixels.",
    params=(
        Param("sensitivity", float, 0.5, "0..1: higher finds fainter scratches (and risks more false repairs)", min=0.0, max=1.0),
        Param("max_width", int, 4, "widest scratch, in pixels", min=1, max=16),
        Param("radius", int, 2, "frames each side in which a scratch must persist", min=1, max=4),
        Param(
            "static",
            bool,
            False,
            "on a static shot, repair every line that does not move at all and has the shape of a scratch fixed in the gate "
            "(dead straight, over nearly the whole height), also opaque ones, but those that carry film grain of their own "
            "(a pole or a wire recorded with the scene); by default only those the picture or the grain shows through are",
        ),
    ),
    keeps_brightness=True,
    factory=lambda params, ctx: Scratch(params, ctx),
    radius=lambda params: int(params["radius"]),
    category="Cleanup",
)
