"""`dustbust`: dirt and sparkle present in one frame but not in its motion-compensated neighbours.

Detection (in the spirit of Kokaram's spike detection index, in its rank-order form) runs
on the perceptual luma (`reelfix.motion`): each neighbour is aligned to the centre frame
by optical flow, and a pixel is a spike when the centre is brighter than every aligned
neighbour's local 3x3 maximum (or darker than every local minimum) by more than the
threshold, while the aligned neighbours agree with each other. The local extremum makes
the test immune to sub-pixel alignment error and to texture. Seeds grow by hysteresis into
connected specks; a speck is kept only if it is no larger than `max_size`, if the
neighbours match its surroundings (where they do not, the flow failed: a limb, a turning
head), and if its content cannot be found displaced in the two nearest neighbours along
one velocity: a real object moving too fast for the flow is present, displaced, in the
other frames; dirt is present in one frame only. The flow inside a large speck may follow
the dirt, so detection runs a second time with the flow filled in from each candidate's
surroundings. At the ends of a range or shot, both witnesses come from the one side.

Repair replaces only the kept specks (dilated a little) with the per-channel median of the
aligned neighbours; every other pixel (and alpha, and any non-picture channel) is
bit-identical to the input. The repaired area is the node's matte.

Memory: the work runs a band of rows at a time, the bands sized from the job's `max_memory`
(`dustbust_bands`); the result does not depend on them, bit for bit. The window's frames of a
half-float file stay half (`Window`: half the bytes) and are cast to float32 (exact) only for
the rows and points the work reads, so no float32 copy of a whole neighbour exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

from ..frames.frame import Frame, picture_indices
from ..frames.half import from_half, widened
from . import dustbust_bands as bands
from .spec import NodeContext, NodeSpec, Param, Window

NAME = "dustbust"
GROW = 0.4  # hysteresis: a speck grows over pixels with at least this fraction of the threshold
DILATE = 2  # px added around each kept speck for the repair (soft edges)
MIN_OBJECT_AREA = 3  # specks smaller than this (sparkle) are never taken for moving objects
FLAT = 0.6  # share of the threshold that applies on flat picture ...
TEXTURE = 0.08  # ... rising to all of it where the neighbours' local 3x3 range reaches this


def set_matte(frame: Frame, name: str, matte: np.ndarray) -> None:
    """Attach a node's matte (HxW float32 in [0, 1]) without touching the input frame's mattes."""
    mattes = dict(getattr(frame, "mattes", None) or {})
    mattes[name] = matte.astype(np.float32, copy=False)
    try:
        frame.mattes = mattes  # type: ignore[attr-defined]
    except AttributeError:  # a Frame type that cannot take mattes: nothing to attach to
        pass


@dataclass(frozen=True)
class Settings:
    threshold: float  # perceptual units (about 0..1 for display-referred pictures)
    max_size: int
    agreement: float  # the two nearest aligned neighbours may differ by at most this fraction of the spike (inf: off)
    search: int  # px searched around the compensated position for a displaced real object
    object_ratio: float  # a displaced match this much better than the aligned one is a real object
    object_ratio_pair: float  # ... or this much better in both nearest neighbours, with one velocity
    ring_limit: float  # specks with more than this share of their surroundings misaligned are left alone


def settings(params: dict[str, Any]) -> Settings:
    s = float(params["sensitivity"])
    mp = float(params["motion_protection"])
    return Settings(
        threshold=0.03 + 0.12 * (1.0 - s),
        max_size=int(params["max_size"]),
        agreement=1.5 - 1.2 * mp if mp > 0 else float("inf"),
        search=int(round(8 + 40 * mp)) if mp > 0 else 0,
        object_ratio=0.05 + 0.15 * mp,
        object_ratio_pair=0.1 + 0.3 * mp,
        ring_limit=0.3 - 0.25 * mp if mp > 0 else 0.0,
    )


class View(Protocol):
    """What the speck decisions read of a frame's planes (see `dustbust_bands.Pass`): the
    centre's perceptual luma, each neighbour's (as it is, and aligned to the centre by the
    pass's flow) and that flow, in boxes or at points, the values whole planes would hold."""

    height: int
    width: int
    count: int  # neighbours, nearest first

    def q_box(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray: ...

    def q_at(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray: ...

    def aligned_box(self, i: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray: ...

    def aligned_at(self, i: int, ys: np.ndarray, xs: np.ndarray) -> np.ndarray: ...

    def neighbour_box(self, i: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray: ...

    def flow_at(self, i: int, y: int, x: int) -> np.ndarray: ...


def sigma_of(d: np.ndarray) -> float:
    """Robust noise level of a difference of two frames' planes (sampled on a 3-pixel grid)."""
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2.0))


def noise_sigma(q: np.ndarray, aligned: np.ndarray) -> float:
    """Robust noise (grain) level of the centre-minus-aligned-neighbour difference."""
    return sigma_of((q[::3, ::3] - aligned[::3, ::3]).ravel())


def _object_match(view: View, i: int, box: tuple[int, int, int, int], mask: np.ndarray, search: int) -> tuple[float, float, float]:
    """Where the speck's content (`mask`, float32 over `box` = x, y, w, h) is best found
    displaced in neighbour i: (SSD there / SSD at the flow's position, dx, dy of that match)."""
    h, w = view.height, view.width
    x0, y0, bw, bh = box
    x1, y1 = x0 + bw, y0 + bh
    tmpl = np.ascontiguousarray(view.q_box(y0, y1, x0, x1))
    aligned_err = float((((tmpl - view.aligned_box(i, y0, y1, x0, x1)) ** 2) * mask).sum())
    cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
    dx, dy = (int(round(float(v))) for v in view.flow_at(i, cy, cx))
    sx0, sy0 = max(x0 + dx - search, 0), max(y0 + dy - search, 0)
    sx1, sy1 = min(x1 + dx + search, w), min(y1 + dy + search, h)
    if aligned_err <= 0 or sx1 - sx0 < tmpl.shape[1] or sy1 - sy0 < tmpl.shape[0]:
        return float("inf"), 0.0, 0.0
    region = np.ascontiguousarray(view.neighbour_box(i, sy0, sy1, sx0, sx1))
    ssd = cv2.matchTemplate(region, tmpl, cv2.TM_SQDIFF, mask=mask)
    # displacements within 2 px of the flow's own position are where the flow already looked
    ay, ax = y0 + dy - sy0, x0 + dx - sx0
    ssd[max(ay - 2, 0) : ay + 3, max(ax - 2, 0) : ax + 3] = np.inf
    if not np.isfinite(ssd).any():
        return float("inf"), 0.0, 0.0
    my, mx = np.unravel_index(int(np.argmin(ssd)), ssd.shape)
    return float(ssd[my, mx]) / aligned_err, float(sx0 + mx - x0), float(sy0 + my - y0)


def is_moving_object(matches: list[tuple[float, float, float]], steps: list[int], st: Settings) -> bool:
    """A speck is a real object when it is found displaced in the two nearest neighbours with
    one consistent velocity (dirt may resemble something nearby in one frame by chance, hardly
    in two along one line): well in both, or almost exactly in one (as a single neighbour
    would have to show it) and fairly well in the other (an object's soft edge over a moving
    background matches less well in one frame); with a single neighbour, when it is found
    there almost exactly."""
    if len(matches) < 2:
        return bool(matches) and matches[0][0] < st.object_ratio
    (ra, xa, ya), (rb, xb, yb) = matches[:2]
    if max(ra, rb) >= st.object_ratio_pair and not (min(ra, rb) < st.object_ratio and max(ra, rb) < 2 * st.object_ratio_pair):
        return False
    va = np.array([xa, ya]) / steps[0]
    vb = np.array([xb, yb]) / steps[1]
    return bool(np.hypot(*(va - vb)) <= max(1.5, 0.15 * float(np.hypot(*(va + vb))) / 2))


def spike_score(
    planes: list[tuple[np.ndarray, list[np.ndarray]]], st: Settings, sigmas: list[float]
) -> np.ndarray:
    """How far each pixel is a one-frame spike, in units of the threshold (1 = at it), the
    largest over the planes given as (centre, aligned neighbours): the luma and each colour
    channel, so a speck that barely changes the luma (mid-grey dirt on a coloured picture)
    still counts. A plane's threshold is the setting's, lowered on flat picture (where the
    neighbours' local 3x3 range is small, a faint speck is plain to see and nothing else can
    pose as one) but never below 4x that plane's noise; a spike counts only where the two
    nearest aligned neighbours agree with each other."""
    kernel = np.ones((3, 3), np.uint8)
    score: np.ndarray | None = None
    boost = 1.5 if len(planes[0][1]) == 1 else 1.0
    for (c, aligned), sigma in zip(planes, sigmas):
        dilated = [cv2.dilate(a, kernel) for a in aligned]
        eroded = [cv2.erode(a, kernel) for a in aligned]
        hi = cv2.subtract(c, dilated[0])  # bright spike size
        lo = cv2.subtract(eroded[0], c)  # dark spike size
        for d, e in zip(dilated[1:], eroded[1:]):
            hi = cv2.min(hi, cv2.subtract(c, d))
            lo = cv2.min(lo, cv2.subtract(e, c))
        spike = cv2.max(hi, lo)
        t = cv2.subtract(dilated[0], eroded[0])  # the picture's local 3x3 range
        t *= np.float32((1.0 - FLAT) / TEXTURE)
        t += np.float32(FLAT)
        np.minimum(t, np.float32(1.0), out=t)
        t *= np.float32(st.threshold * boost)
        np.maximum(t, np.float32(4.0 * sigma * boost), out=t)
        z = cv2.divide(spike, t)
        if np.isfinite(st.agreement) and len(aligned) >= 2:
            bound = np.maximum(spike * np.float32(st.agreement), np.float32(2.0 * sigma))
            z[cv2.absdiff(aligned[0], aligned[1]) >= bound] = 0.0
        score = z if score is None else cv2.max(score, z)
    assert score is not None
    return score


def detect(weak: np.ndarray, strong: np.ndarray, view: View, st: Settings, sigma: float, steps: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(speck mask, candidate mask, moving-object mask), HxW bool, before dilation, given where
    the spike score (`spike_score`, luma noise level `sigma`) exceeds GROW (`weak`) and 1
    (`strong`), and the planes in `view`: seeds grown into specks no larger than max_size,
    those whose surroundings no neighbour matches dropped, and specks found displaced in
    the neighbours (`steps` frames away) left alone as moving objects."""
    t = max(st.threshold, 4.0 * sigma) * (1.5 if view.count == 1 else 1.0)
    moving = np.zeros_like(weak)
    if not weak.any():
        return weak, weak, moving
    n, labels, stats_, _ = cv2.connectedComponentsWithStats(weak.astype(np.uint8), connectivity=8)
    strong = strong & weak
    seeded = np.zeros(n, bool)
    seeded[np.unique(labels[strong])] = True
    seeded[0] = False
    size_ok = np.maximum(stats_[:, cv2.CC_STAT_WIDTH], stats_[:, cv2.CC_STAT_HEIGHT]) <= st.max_size
    keep = seeded & size_ok
    kept = keep[labels]
    del labels
    if st.ring_limit > 0 and kept.any():
        _reject_poorly_aligned(view, kept, weak, max(t / 3.0, 3.0 * sigma), st.ring_limit)
    if st.search > 0:
        moving = _protect_moving_objects(view, kept, steps, st, max(0.5 * t, 3.0 * sigma))
    return kept, weak, moving


def _touching(mask: np.ndarray, other: np.ndarray) -> np.ndarray:
    """The connected parts of `mask` that touch `other`."""
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    hit = np.zeros(n, bool)
    hit[np.unique(labels[other & mask])] = True
    hit[0] = False
    return hit[labels]


def _reject_poorly_aligned(view: View, kept: np.ndarray, weak: np.ndarray, level: float, limit: float) -> None:
    """Clear from `kept` the specks whose surroundings (a ring 4-6 px out, other specks left
    out) no neighbour matches: where more than `limit` of the ring is off by more than
    `level` in every neighbour, the flow failed there (a limb, a turning head) and a spike is
    more likely unfollowed motion than dirt."""
    near = cv2.dilate(weak.astype(np.uint8), np.ones((7, 7), np.uint8))
    far = cv2.dilate(kept.astype(np.uint8), np.ones((13, 13), np.uint8))
    n, groups = cv2.connectedComponents(far, connectivity=8)
    ring = (far > 0) & (near == 0)
    del near, far
    ys, xs = np.nonzero(ring)
    g = groups[ys, xs]
    del groups, ring
    count = np.maximum(np.bincount(g, minlength=n), 1)
    q = view.q_at(ys, xs)
    off = [np.bincount(g, (np.abs(q - view.aligned_at(i, ys, xs)) > level).astype(np.float64), minlength=n) / count for i in range(min(view.count, 2))]
    bad = np.min(off, axis=0) > limit
    bad[0] = False
    if bad.any():
        _, groups = cv2.connectedComponents(cv2.dilate(kept.astype(np.uint8), np.ones((13, 13), np.uint8)), connectivity=8)
        kept &= ~bad[groups]


def _protect_moving_objects(view: View, kept: np.ndarray, steps: list[int], st: Settings, flat: float) -> np.ndarray:
    """Clear from `kept` the specks found displaced in the neighbours (real moving objects),
    and return where they were. Nearby fragments are judged together, as the one object they
    usually are."""
    moving = np.zeros_like(kept)
    k5 = np.ones((5, 5), np.uint8)
    n, groups, stats_, _ = cv2.connectedComponentsWithStats(cv2.dilate(kept.astype(np.uint8), k5), connectivity=8)
    area = np.bincount(groups[kept], minlength=n)
    for g in np.flatnonzero(area >= MIN_OBJECT_AREA):
        x, y, bw, bh = (int(v) for v in stats_[g, :4])
        local = (groups[y : y + bh, x : x + bw] == g) & kept[y : y + bh, x : x + bw]
        mask = cv2.morphologyEx(local.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
        if float(view.q_box(y, y + bh, x, x + bw)[mask > 0].std()) < flat:
            # a featureless speck matches any patch of its shade: judge it with its surroundings
            mask = cv2.dilate(mask, np.ones((5, 5), np.uint8))
        mask = mask.astype(np.float32)
        matches = [_object_match(view, i, (x, y, bw, bh), mask, st.search * abs(k)) for i, k in enumerate(steps[:2])]
        if is_moving_object(matches, steps[:2], st):
            kept[y : y + bh, x : x + bw] &= ~local
            moving[y : y + bh, x : x + bw] |= local
    return moving


class DustBust:
    reads_held = True  # frames of a half-float file come as float16 (`Window`): cast a band at a time

    def __init__(self, params: dict[str, Any], ctx: NodeContext) -> None:
        self.params = params
        self.ctx = ctx
        self.settings = settings(params)
        self._warned = False

    def provenance(self) -> dict[str, Any]:
        return {"node": NAME, "params": dict(self.params), "flow": "OpenCV DIS (reelfix.motion)"}

    def process(self, window: Window) -> Frame:
        centre = window.centre
        h, w = centre.height, centre.width
        numbers = choose_neighbours(window.number, list(window.frames), int(self.params["radius"]))
        if not numbers:
            if not self._warned:
                self._warned = True
                self.ctx.warn(f"{NAME}: frame {centre.number} has no neighbouring frame (1-frame range or shot); left unchanged")
            out = centre.with_pixels(widened(centre).pixels)
            set_matte(out, NAME, np.zeros((h, w), np.float32))
            return out
        frames = [window.frames[n] for n in numbers]
        steps = [n - window.number for n in numbers]
        held = sum(f.pixels.nbytes for f in window.frames.values())
        specks, repaired = bands.find_specks(centre, frames, steps, self.settings, self.ctx.max_memory, held)
        pixels = from_half(centre.pixels) if centre.pixels.dtype == np.float16 else centre.pixels.copy()
        if repaired is not None:
            ys, xs, values = repaired
            pic = np.asarray(picture_indices(centre.channels))
            pixels[ys[:, None], xs[:, None], pic[None, :]] = values[:, pic]
        out = centre.with_pixels(pixels)
        set_matte(out, NAME, specks.astype(np.float32))
        return out


def choose_neighbours(number: int, available: list[int], radius: int) -> list[int]:
    """Up to `radius` frames each side, nearest first; a side that has none (the ends of a
    range or shot) is made up from the other side, so the test still has two witnesses."""
    before = sorted((n for n in available if n < number), reverse=True)
    after = sorted(n for n in available if n > number)
    take_b, take_a = before[:radius], after[:radius]
    want = 2 * radius
    if len(take_b) + len(take_a) < want:
        take_a = after[: want - len(take_b)]
        take_b = before[: want - len(take_a)]
    return sorted(take_b + take_a, key=lambda n: (abs(n - number), n))


SPEC = NodeSpec(
    name=NAME,
    label="Dust Bust",
    help="Removes dust, dirt and sparkle present in one frame but not in its motion-compensated neighbours; "
    "every other pixel stays bit-identical. Matte: the repaired pixels.",
    params=(
        Param("sensitivity", float, 0.5, "0..1: higher finds fainter specks (and risks more false repairs)", min=0.0, max=1.0),
        Param("max_size", int, 24, "largest defect, in pixels across; larger spots are left alone", min=1, max=512),
        Param(
            "motion_protection",
            float,
            0.5,
            "0..1: how strictly real motion is protected (neighbours must agree; a speck found displaced in a "
            "neighbour is a moving object, searched up to 8 + 40 x this px away); 0 = off",
            min=0.0,
            max=1.0,
        ),
        Param("radius", int, 1, "neighbouring frames used each side (1 or 2)", min=1, max=2),
    ),
    keeps_brightness=True,
    factory=lambda params, ctx: DustBust(params, ctx),
    radius=lambda params: int(params["radius"]) + 1,  # one spare each side for the ends of a shot
    category="Cleanup",
)
