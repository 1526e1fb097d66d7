"""How much brighter one frame is than another, and every frame's level over a segment.

Measured on a small copy of each frame's luminance in linear light (display- or
log-encoded frames are converted first), so a brightness change is a ratio of light.
Two frames are compared after aligning their content (phase correlation: a pan does not
read as a brightness change), over the pixels both show; pixels whose log ratio is far
from the median (a small moving object, a reflection) are left out. The ratio of the
light the two pictures hold is what the frame-mean luminance sees change, and it is
taken over the whole frame and in each cell of a coarse grid (uneven flicker).

Levels over a segment come from many such pairs at once: every frame is compared with
the frames 1, 2, 4 ... 64 places later, and the levels are the least-squares solution of
all those differences (one robust pass drops pairs that disagree with the rest). Chained
neighbours alone would add up their small errors into a slow drift that reads as an
exposure ramp; the long links hold the chain straight, the short ones follow a pan.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import colour
from . import global_motion as gm
from .frames.frame import Frame, picture_indices
from .motion import is_scene_linear

WORK_SIDE = 192  # long side of the picture brightness is measured on
LINKS = (1, 2, 4, 8, 16, 32, 64)  # each frame is compared with the frames this many places later
MIN_PEAK = 0.05  # below this phase-correlation peak neighbours are compared without alignment
LINK_PEAK = 0.2  # frames further apart are not compared below this peak (a wrong alignment compares other pictures)
DARK = 0.02  # pixels darker than this fraction of the frame mean are not measured
OUTLIER = 3.0  # pixels whose log ratio is this many spreads from the median are not measured
LINEAR_SPACE = "ACEScg"  # a gain is the same in every linear space: any will do


@dataclass(frozen=True)
class FrameLight:
    """A frame's small linear luminance and what it needs for comparisons."""

    luma: np.ndarray  # (h, w) float32, linear light
    log: np.ndarray  # its log2 (with a floor), for alignment
    dark: float  # log2 of the darkness threshold


def linear_rgb_small(frame: Frame, long_side: int) -> np.ndarray:
    """(h, w, c) block means of the picture channels, converted to linear light."""
    idx = picture_indices(frame.channels)
    small = gm.block_mean(frame.pixels[:, :, idx], gm.factor_for(frame.height, frame.width, long_side))
    if not is_scene_linear(frame.colorspace) and frame.colorspace:
        rgb = small if len(idx) == 3 else np.repeat(small[:, :, :1], 3, axis=2)
        small = colour.convert(np.ascontiguousarray(rgb), frame.colorspace, colour.canonical_name(LINEAR_SPACE))
    return np.ascontiguousarray(small, dtype=np.float32)


def measure(frame: Frame) -> FrameLight:
    """A frame's `FrameLight` (a few tens of kB whatever the frame size)."""
    small = linear_rgb_small(frame, WORK_SIDE)
    if small.shape[2] == 3:
        w = gm.LUMA_WEIGHTS
        y = small[:, :, 0] * np.float32(w[0]) + small[:, :, 1] * np.float32(w[1]) + small[:, :, 2] * np.float32(w[2])
    else:
        y = small.mean(axis=2)
    y = np.ascontiguousarray(y, dtype=np.float32)
    dark = float(np.log2((DARK + gm.LOG_FLOOR) * max(float(np.mean(y, dtype=np.float64)), 1e-6)))
    return from_luma(y, dark)


def from_luma(luma: np.ndarray, dark: float) -> FrameLight:
    """The `FrameLight` of a measured luminance (what the analysis store keeps)."""
    return FrameLight(luma, gm.log_luma(luma), dark)


def light_ratio(diff: np.ndarray, ya: np.ndarray, yb: np.ndarray, valid: np.ndarray) -> float:
    """log2 of how much more light b holds than a over the valid pixels (ratio of their
    sums); pixels whose log ratio is far from the median are left out of both sums."""
    d = diff[valid]
    med = float(np.median(d))
    spread = 1.4826 * float(np.median(np.abs(d - med)))
    keep = np.abs(d - med) <= max(OUTLIER * spread, 0.05)
    num, den = float(yb[valid][keep].sum(dtype=np.float64)), float(ya[valid][keep].sum(dtype=np.float64))
    return float(np.log2(num / den)) if num > 0 and den > 0 else med


def pair_ratios(a: FrameLight, b: FrameLight, shape: tuple[int, int], neighbours: bool = True) -> np.ndarray:
    """log2 brightness of b over a: [whole frame, cell by cell (row-major)]; NaN where
    unmeasured. `neighbours` (consecutive frames): an alignment too weak to trust means
    compare in place (a static, featureless picture); frames further apart are then not
    compared at all, nor when less than half of each picture would overlap."""
    out = np.full(1 + shape[0] * shape[1], np.nan)
    la, lb = a.log, b.log
    if la.shape != lb.shape:
        return out
    h, w = la.shape
    dx, dy, peak = gm.phase_correlation(la, lb) if min(la.shape) >= 4 else (0.0, 0.0, 0.0)
    if not neighbours and (peak < LINK_PEAK or abs(dx) > w / 2 or abs(dy) > h / 2):
        return out
    if peak < MIN_PEAK:
        dx = dy = 0.0
    move = gm.rigid(dx, dy, 0.0, (0.0, 0.0))
    aligned = gm.warp_plane(lb, move, cv2.INTER_LINEAR)
    lit = gm.warp_plane(b.luma, move, cv2.INTER_LINEAR)
    diff = aligned - la
    valid = (la > a.dark) & (aligned > b.dark)
    my, mx = int(np.ceil(abs(dy))) + 1, int(np.ceil(abs(dx))) + 1
    border = np.zeros_like(valid)
    border[my : h - my, mx : w - mx] = True
    valid &= border
    if valid.sum() < 16:
        return out
    out[0] = light_ratio(diff, a.luma, lit, valid)
    rows = np.linspace(0, h, shape[0] + 1).astype(int)
    cols = np.linspace(0, w, shape[1] + 1).astype(int)
    for i in range(shape[0]):
        for j in range(shape[1]):
            cell = (slice(rows[i], rows[i + 1]), slice(cols[j], cols[j + 1]))
            cell_valid = valid[cell]
            if cell_valid.sum() >= max(16, 0.1 * cell_valid.size):
                out[1 + i * shape[1] + j] = light_ratio(diff[cell], a.luma[cell], lit[cell], cell_valid)
    return out


def solve_levels(n: int, links: list[tuple[int, int, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(levels (n, k), measured (n,) bool) from links (i, j, level_j - level_i) between the
    positions of a segment; levels are relative to the segment's mean, frames with no link
    are not measured (their levels are 0)."""
    k = links[0][2].size if links else 1
    levels = np.zeros((n, k))
    measured = np.zeros(n, dtype=bool)
    if not links:
        return levels, measured
    ii = np.array([a for a, _, _ in links])
    jj = np.array([b for _, b, _ in links])
    r = np.array([v for _, _, v in links])
    keep = np.ones(len(links), dtype=bool)
    for _ in range(3):  # least squares, then again without the links that disagree
        m = np.zeros((n, n))
        rhs = np.zeros((n, k))
        np.add.at(m, (ii[keep], ii[keep]), 1.0)
        np.add.at(m, (jj[keep], jj[keep]), 1.0)
        np.add.at(m, (ii[keep], jj[keep]), -1.0)
        np.add.at(m, (jj[keep], ii[keep]), -1.0)
        np.add.at(rhs, jj[keep], r[keep])
        np.add.at(rhs, ii[keep], -r[keep])
        measured = np.diag(m) > 0
        use = np.flatnonzero(measured)
        sub = m[np.ix_(use, use)] + 1.0 / max(use.size, 1)  # fixes the free constant: the levels sum to zero
        levels = np.zeros((n, k))
        levels[use] = np.linalg.lstsq(sub, rhs[use], rcond=None)[0]
        res = levels[jj, 0] - levels[ii, 0] - r[:, 0]
        spread = 1.4826 * float(np.median(np.abs(res[keep]))) + 1e-4
        new_keep = np.abs(res) <= 4.0 * spread
        if (new_keep == keep).all() or new_keep.sum() < 0.8 * len(links):
            break
        keep = new_keep
    return levels, measured
