"""`denoise`: learned spatial grain removal for single images and frames without neighbours.

The picture channels go into the model's colour space (its card says which: the
sRGB-encoded, perceptual scale it was trained on) with OpenColorIO, exactly as `upscale`
does, and come back the same way; alpha and other channels are never touched. The grain's
standard deviation per luminance band is measured from the frame itself
(`estimate_sigma`: in each block, the residual's change across its least-changing direction,
so oriented detail such as fur hardly reads as grain; at full and at half resolution, so the
picture's own fine detail, which does not fall at half resolution as grain does, is taken
out), or given (`sigma`), and scaled by
`strength`; the model is told it at every pixel (the band curve at the pixel's smoothed luma)
and removes that much. Where the sigma is measured, a method-noise guard (`guarded`) then
blends the input back where what the model removed looks like the picture's own detail
rather than grain: a light grain on a detailed picture must not cost the picture its detail;
and caps what is removed where it is locally far stronger than elsewhere in its luminance band (`cap_weight`:
grain is removed about evenly, a picture's texture taken with it is not).
How much the grain is shared between R, G and B is measured too (`estimate_colour`, or given
as `colour`): grain that differs between the channels (sensor noise, dye clouds) goes through
the model as luma and two opposite-colour channels, each as a grey picture with its own share
of the grain, because the model removes grain shared by the channels far better than grain
that is not (`remove_grain`; docs/bench/denoiser.md). Grain nearly the same in all three
channels (monochrome stock) goes through as one colour picture, as before.
For moving pictures with usable neighbours, `degrain` does better (it averages
motion-compensated frames first and uses this model as its spatial stage).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from .. import colour
from ..frames.frame import Frame, picture_indices
from ..grain import stats
from ..grain.learned import MODEL, Denoiser
from ..grain.synth import BANDS, GrainProfile, luma, unit_field
from .spec import NodeContext, NodeSpec, Param, Window

NAME = "denoise"
FINE, COARSE = 1.0, 2.0  # Gaussian sigmas of the two high-pass residuals the estimate compares
BLOCK = 8  # px: blocks whose std is measured
QUANTILE = 0.1  # of block levels per band: the flattest tenth
MIN_BLOCKS = 16  # a band with fewer blocks borrows from its neighbours
# `estimate_sigma` trusts the one-scale level where it is heavy (LIGHT..HEAVY) and the two scales
# agree that most of it is grain (two-scale / one-scale from AGREE_LOW to AGREE_HIGH): chosen on the
# training photos (benchmarks/denoiser_quality.py, last table), never on the held-out ones.
LIGHT, HEAVY = 0.015, 0.04
AGREE_LOW, AGREE_HIGH = 0.3, 0.6
_SIZES = np.array([0.0, 0.3, 0.5, 0.7, 0.9, 1.1, 1.3, 1.5, 1.8, 2.1, 2.5])
FLAT_SHARE = 0.2  # of all blocks: the flattest, where the channel correlation of the residual is the grain's
COLOUR_JOINT = 0.95  # grain at least this correlated between R, G and B goes through the model as one picture
CHROMA_HALF = 0.3  # grain less correlated than this (sensor-like): colour differences denoised at half resolution
# Luma and two opposite-colour channels: orthogonal rows, each scaled and offset so that 0..1 maps into 0..1.
_OPP = np.array([[1 / 3, 1 / 3, 1 / 3], [1 / 2, 0.0, -1 / 2], [1 / 4, -1 / 2, 1 / 4]], np.float32)
_OPP_OFFSET = np.array([0.0, 0.5, 0.5], np.float32)
_OPP_INVERSE = np.linalg.inv(_OPP.astype(np.float64)).astype(np.float32)
GUARD_WINDOW = 4.0  # px: Gaussian window of the guard's local statistics and of its weight's smoothing
GUARD_GAIN = 20.0  # how fast the removed part is given back where it looks like the picture's detail
GUARD_CHANCE = 0.09  # squared correlation that removing grain alone reaches against the output's detail
# `cap_weight`: the removed part's local power (GUARD_WINDOW) may reach CAP_RATIO times its CAP_QUANTILE within the
# same luminance band, measured again CAP_PASSES times: chosen on the training photos (benchmarks/denoiser_quality.py).
CAP_QUANTILE, CAP_RATIO, CAP_PASSES = 0.3, 1.5, 2


def _highpass(picture: np.ndarray, blur: float) -> np.ndarray:
    return picture - cv2.GaussianBlur(picture, (0, 0), blur, borderType=cv2.BORDER_REFLECT_101).reshape(picture.shape)


def _block_std(residual: np.ndarray, lum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the level of the residual in each BLOCK x BLOCK block, channels pooled; the block's mean
    luma). The level is the square root of the smaller eigenvalue of the block's structure
    tensor (the mean outer product of the residual's horizontal and vertical central differences):
    grain changes as much across every direction, while picture detail (hair, fur, edges,
    foliage) changes mostly across one, which the larger eigenvalue takes (Liu, Tanaka and
    Okutomi's weak-texture idea, per block). Calibrated on synthetic grain like the rest."""
    r = residual if residual.ndim == 3 else residual[:, :, None]
    dx, dy = np.zeros_like(r), np.zeros_like(r)  # central differences: on a straight pattern both are in phase
    dx[:, 1:-1] = (r[:, 2:] - r[:, :-2]) / 2
    dy[1:-1] = (r[2:] - r[:-2]) / 2
    h, w = (r.shape[0] // BLOCK) * BLOCK, (r.shape[1] // BLOCK) * BLOCK

    def mean(a: np.ndarray) -> np.ndarray:
        return a[:h, :w].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK, -1).astype(np.float64).mean(axis=(1, 3, 4))

    xx, xy, yy = mean(dx * dx), mean(dx * dy), mean(dy * dy)
    small = (xx + yy) / 2 - np.sqrt(((xx - yy) / 2) ** 2 + xy * xy)
    std = np.sqrt(np.maximum(small, 0.0))
    return std.ravel(), lum[:h, :w].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK).mean(axis=(1, 3)).ravel()


def _flat_level(residual: np.ndarray, lum: np.ndarray) -> np.ndarray | None:
    """Per luminance band, the QUANTILE of the block levels: the flattest blocks, where the
    residual is grain rather than picture. Bands with too few blocks are interpolated."""
    if min(residual.shape[:2]) < BLOCK:  # smaller than one block: nothing to measure
        return None
    std, block_lum = _block_std(residual, lum)
    bands = stats.band_of(block_lum)
    out = np.full(BANDS, np.nan)
    for b in range(BANDS):
        sel = std[bands == b]
        if sel.size >= MIN_BLOCKS:
            out[b] = np.quantile(sel, QUANTILE)
    ok = np.isfinite(out)
    if not ok.any():
        return None
    return np.interp(np.arange(BANDS), np.flatnonzero(ok), out[ok])


def _measured(picture: np.ndarray) -> np.ndarray:
    """Per luminance band, whether `_flat_level` measures it itself (MIN_BLOCKS blocks or more)
    rather than borrowing its neighbours' level."""
    lum = cv2.GaussianBlur(luma(picture), (0, 0), 2.0)
    h, w = (lum.shape[0] // BLOCK) * BLOCK, (lum.shape[1] // BLOCK) * BLOCK
    block_lum = lum[:h, :w].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK).mean(axis=(1, 3)).ravel()
    return np.bincount(stats.band_of(block_lum), minlength=BANDS)[:BANDS] >= MIN_BLOCKS


def _half(picture: np.ndarray) -> np.ndarray:
    """`picture` at half resolution: the next level of its Gaussian pyramid (`cv2.pyrDown`, a
    5-tap binomial low-pass before every other pixel is taken, so detail finer than the new
    pixels is removed rather than folded into coarser patterns)."""
    h, w = picture.shape[0] // 2, picture.shape[1] // 2
    return cv2.pyrDown(np.ascontiguousarray(picture[: 2 * h, : 2 * w]), borderType=cv2.BORDER_REFLECT_101).reshape(h, w, -1)


@lru_cache(maxsize=1)
def _size_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For unit-variance grain of each size in _SIZES, measured once on a seeded field with the
    same statistics as `estimate_sigma`: (fine level / coarse level, fine level, the calibrated
    level at half resolution over the one at full resolution)."""
    fields = [unit_field((512, 512, 1), float(s), 1.0, np.random.default_rng(0)) for s in _SIZES]
    flat = np.full((512, 512), 0.5, np.float32)
    fine = np.array([float(_flat_level(_highpass(f, FINE), flat)[0]) for f in fields])  # type: ignore[index]
    coarse = np.array([float(_flat_level(_highpass(f, COARSE), flat)[0]) for f in fields])  # type: ignore[index]
    levels = (fine / coarse, fine)
    halving = []
    for f in fields:  # the calibrated estimate at half resolution over the one at full, through the two columns above
        full, half = _calibrated_level(f, levels)[0], _calibrated_level(_half(f), levels)[0]
        halving.append(float(np.median(half / full)) if full is not None and half is not None else 0.5)
    return fine / coarse, fine, np.array(halving)


def _calibrated_level(picture: np.ndarray, table: tuple[np.ndarray, ...] | None = None) -> tuple[np.ndarray | None, float]:
    """(the grain std per luminance band that the fine residual of the flattest blocks reads,
    undone for the grain's size; None where nothing is measurable, the fine / coarse ratio the
    size was read from)."""
    lum = cv2.GaussianBlur(luma(picture), (0, 0), 2.0)
    fine = _flat_level(_highpass(picture, FINE), lum)
    coarse = _flat_level(_highpass(picture, COARSE), lum)
    if fine is None or coarse is None:
        return None, 1.0
    ok = coarse > 1e-6
    ratio = float(np.median(fine[ok] / coarse[ok])) if ok.any() else 1.0
    table_ratio, table_gain = (table or _size_table())[:2]
    order = np.argsort(table_ratio)  # the ratio falls as grain grows
    gain = float(np.interp(ratio, table_ratio[order], table_gain[order]))
    return np.asarray(fine / max(gain, 1e-3)), ratio


def read_level(picture: np.ndarray) -> np.ndarray:
    """What the one-scale estimate reads per luminance band (BANDS values): the grain and the
    picture's own fine detail together (`estimate_sigma` separates them)."""
    level, _ = _calibrated_level(picture)
    return np.zeros(BANDS) if level is None else level


def estimate_sigma(picture: np.ndarray) -> np.ndarray:
    """Grain std per luminance band (BANDS values, perceptual scale) from one picture.

    A fine high-pass residual is measured in the flattest 8x8 blocks of each band (a low
    quantile of the block levels: the residual's change across the block's least-changing
    direction, so oriented detail hardly counts), where grain dominates picture detail; the grain's size, read
    from how much more of it a coarser residual holds, undoes the share of correlated grain
    the fine residual misses and the quantile's bias (both calibrated on synthetic grain).

    That level still holds the picture's own fine detail (fur, foliage, stone, a photo's own
    noise): on a detailed picture with light grain it read up to 10x the grain (issue 13). The
    two differ in how they scale: one Gaussian-pyramid step down (`_half`) grain falls to a known
    share `g` of its level (from its size: 0.27 for white noise, about 0.6 at size 0.8), while a
    picture's detail reads at least as strong (a lens blurs the picture, not the grain on the film;
    taken as exactly as strong). The same estimate at half resolution separates them, per band:
    grain^2 = (full^2 - half^2) / (1 - g^2), between 0 and full^2 (a band with too few blocks at
    either scale, its level borrowed from its neighbours there, takes its neighbours' grain share
    rather than comparing a borrowed level with a measured one: that read a dark band of clumped
    grain as no grain at all). Where the detail
    grows less than assumed (a photo's own sensor noise), its share is taken as grain, as before.

    `g` comes from a grain model (blurred white noise); coarser, clumped grain falls less at half
    resolution, so the two-scale level reads it 10-30% low, and the model removes much less of it
    (-2 dB on clumped grain). Heavy levels (one-scale reading LIGHT..HEAVY) where the two scales
    agree that most of it is grain (two-scale / one-scale AGREE_LOW..AGREE_HIGH) therefore keep
    the one-scale level; light ones, or heavy ones the half scale says are mostly the picture's
    (a stone wall, rock and water: a one-scale reading of 0.03-0.05 with no grain at all), take
    the two-scale level. Blended smoothly, per band."""
    full, ratio = _calibrated_level(picture)
    if full is None:
        return np.zeros(BANDS)
    small = _half(picture)
    half = _calibrated_level(small)[0] if min(picture.shape[:2]) >= 4 * BLOCK else None
    if half is None:
        return full
    table_ratio, _gain, halving = _size_table()
    order = np.argsort(table_ratio)
    g2 = float(np.interp(ratio, table_ratio[order], halving[order])) ** 2
    agree = np.sqrt(np.clip((full**2 - half**2) / max(1.0 - g2, 1e-3), 0.0, full**2)) / np.maximum(full, 1e-12)
    both = _measured(picture) & _measured(small)
    if both.any():  # a band borrowed at either scale has no two-scale reading of its own: its neighbours' share
        agree = np.interp(np.arange(BANDS), np.flatnonzero(both), agree[both])
    grain2 = (agree * full) ** 2
    trust = np.clip((full - LIGHT) / (HEAVY - LIGHT), 0.0, 1.0) * np.clip((agree - AGREE_LOW) / (AGREE_HIGH - AGREE_LOW), 0.0, 1.0)
    return np.sqrt(grain2 + trust * (full**2 - grain2))


def estimate_colour(picture: np.ndarray) -> float:
    """Correlation of the grain between R, G and B (0..1; 1 for fewer than three channels or a
    picture smaller than a block), measured on the fine high-pass residual in the FLAT_SHARE of
    the blocks whose eight neighbours hold the least residual, where grain dominates picture
    detail (detail left there reads as shared grain: the estimate errs towards the one-picture
    route); 1 where nothing is measurable.

    The blocks are chosen by their neighbours' residual, not their own: choosing blocks for their
    own low residual favours those where the grain shared by the channels happens to be weak, and
    read film grain of correlation 0.7 as 0.58-0.66 (grain does not continue past a few pixels,
    a picture's detail does). Each block's channels are scaled to unit level before they are
    pooled: grain follows each channel's own density, so at one luma the channels' levels differ
    from block to block, and pooled unscaled that difference read as grain not shared (clumped
    grain of correlation 0.8: 0.43-0.76)."""
    if picture.ndim < 3 or picture.shape[2] < 3 or min(picture.shape[:2]) < BLOCK:
        return 1.0
    residual = _highpass(np.ascontiguousarray(picture[:, :, :3]), FINE)
    h, w = (residual.shape[0] // BLOCK) * BLOCK, (residual.shape[1] // BLOCK) * BLOCK
    blocks = residual[:h, :w].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK, 3).transpose(0, 2, 1, 3, 4).reshape(h // BLOCK, w // BLOCK, -1, 3)
    energy = np.pad(np.mean(blocks.astype(np.float64) ** 2, axis=(2, 3)), 1, mode="edge")
    ring = cv2.boxFilter(energy, -1, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT)[1:-1, 1:-1] - energy[1:-1, 1:-1]
    flat = blocks.reshape(-1, BLOCK * BLOCK, 3)[ring.ravel() <= np.quantile(ring, FLAT_SHARE)].astype(np.float64)
    level = np.sqrt(np.mean(flat**2, axis=1, keepdims=True))  # per block and channel
    live = np.all(level[:, 0] > 1e-7, axis=1)  # a block with a channel without any residual has nothing to correlate
    flat = flat[live] / level[live]
    if flat.shape[0] == 0:
        return 1.0
    rho = stats.colour_correlation(flat.reshape(-1, 1, 3))
    return rho if np.isfinite(rho) else 1.0


def remove_grain(denoiser: Denoiser, picture: np.ndarray, sigma: np.ndarray, colour: float) -> np.ndarray:
    """`picture` (HxWxC, the model's scale) without grain of std `sigma` (HxW) whose channels
    correlate by `colour`: one model run when the grain is nearly shared (colour >=
    COLOUR_JOINT) or the picture has one channel; otherwise three, on luma and two
    opposite-colour channels, each a grey picture told its share of the grain (for channel
    correlation c: sqrt((1 + 2c) / 3), sqrt((1 - c) / 2), sqrt(6 (1 - c)) / 4 of sigma). As in
    `Denoiser.run`, what lies outside 0..1 comes back untouched.

    Grain much less shared than film grain (colour < CHROMA_HALF: a sensor's independent
    noise) is strong in the colour differences, where pictures have little fine detail: those
    two go through the model at half resolution (2x2 area mean, sigma scaled by how much the
    node's own estimate falls at that size) and come back bilinearly; a quarter of the work each."""
    if picture.shape[2] != 3 or colour >= COLOUR_JOINT or not np.any(sigma > 0):
        return denoiser.run(picture, sigma)
    pic = np.asarray(picture, dtype=np.float32)
    clipped = np.clip(pic, 0.0, 1.0)
    opp = clipped @ _OPP.T + _OPP_OFFSET
    c = float(np.clip(colour, 0.0, 1.0))
    shares = (np.sqrt((1 + 2 * c) / 3), np.sqrt((1 - c) / 2), np.sqrt(6 * (1 - c)) / 4)
    h, w = pic.shape[:2]
    half = c < CHROMA_HALF and min(h, w) >= 4 * BLOCK
    if half:
        small = cv2.resize(clipped, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)
        small_opp = small @ _OPP.T + _OPP_OFFSET
        full_level, half_level = float(np.mean(read_level(clipped))), float(np.mean(read_level(small)))
        small_sigma = cv2.resize(sigma, small.shape[1::-1], interpolation=cv2.INTER_AREA) * np.float32(
            half_level / full_level if full_level > 0 else 0.5
        )
    for k, share in enumerate(shares):
        if half and k > 0:
            plane = denoiser.run(np.ascontiguousarray(small_opp[:, :, k : k + 1]), small_sigma * np.float32(share))
            opp[:, :, k] = cv2.resize(plane[:, :, 0], (w, h), interpolation=cv2.INTER_LINEAR)
        else:
            opp[:, :, k] = denoiser.run(np.ascontiguousarray(opp[:, :, k : k + 1]), sigma * np.float32(share))[:, :, 0]
    return (opp - _OPP_OFFSET) @ _OPP_INVERSE.T + (pic - clipped)


def _local(values: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(values, (0, 0), GUARD_WINDOW, borderType=cv2.BORDER_REFLECT_101)


def guard_weight(picture: np.ndarray, clean: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """How much of the removed part (`picture` - `clean`) to keep removing at each pixel (HxW,
    0..1, smooth). Grain removed alone is unrelated to the picture left behind; detail that
    went with it is not: where the removed part correlates with the output's fine detail
    (squared local correlation above the GUARD_CHANCE that grain removal reaches by itself)
    and that detail is strong against the grain level told to the model (`sigma`, HxW), the
    weight falls, smoothly (Gaussian windows), so no seams. Where the model removed nothing
    the weight is 1."""
    removed = np.asarray(picture, np.float32) - clean
    detail = _highpass(np.ascontiguousarray(clean, dtype=np.float32), FINE).reshape(removed.shape)
    rr, dd = _local(np.sum(removed * removed, axis=2)), _local(np.sum(detail * detail, axis=2))
    rd = np.maximum(_local(np.sum(removed * detail, axis=2)), 0.0)
    rho2 = rd * rd / np.maximum(rr * dd, 1e-20)
    strong = dd / (removed.shape[2] * np.square(sigma, dtype=np.float32) + 1e-12)  # detail power over grain power
    weight = 1.0 / (1.0 + GUARD_GAIN * np.maximum(rho2 - GUARD_CHANCE, 0.0) * strong)
    return np.clip(_local(weight.astype(np.float32)), 0.0, 1.0)


def cap_weight(picture: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """How much of `removed` (HxWxC, what the route takes from `picture`) to keep removing at
    each pixel (HxW, 0..1, smooth), from the removed part alone. Grain of one brightness is
    removed about evenly over the picture, so the removed part's local power is even within a
    luminance band; where it is far above the band's low quantile (CAP_RATIO times its
    CAP_QUANTILE), the excess is the picture's own detail: stone, wood, hair, a photo's own noise
    taken with the grain where the grain level was over-estimated (the detail left in the output
    may be too weak there for `guard_weight` to see it). Its amplitude is scaled down to that
    ceiling; then the levels are measured again on what is left (texture had raised them), and
    again scaled (CAP_PASSES in all). Nothing removed: weight 0, and nothing changes."""
    bands = stats.band_of(cv2.GaussianBlur(luma(picture), (0, 0), 2.0))
    sample_bands = bands[::4, ::4]  # the local power is smooth over GUARD_WINDOW: every 4th pixel tells its quantile
    found = np.unique(sample_bands)
    energy, total = np.sum(removed * removed, axis=2, dtype=np.float32), np.ones(bands.shape, np.float32)
    for _ in range(CAP_PASSES):
        power = _local(energy * total * total)
        sample = power[::4, ::4]
        levels = [np.quantile(sample[sample_bands == b], CAP_QUANTILE) for b in found]
        ceiling = CAP_RATIO * np.interp(np.arange(BANDS), found, levels).astype(np.float32)  # a band not sampled: its neighbours'
        weight = np.clip(_local(np.sqrt(np.minimum(1.0, ceiling[bands] / np.maximum(power, 1e-20))).astype(np.float32)), 0.0, 1.0)
        total *= weight
    return total


def guarded(picture: np.ndarray, clean: np.ndarray, sigma: np.ndarray, cap: bool = True) -> np.ndarray:
    """`clean` blended back towards `picture` by `guard_weight` (the method-noise guard), then
    (`cap`) by `cap_weight`, where the removed part is locally far stronger than grain is."""
    pic = np.asarray(picture, np.float32)
    removed = guard_weight(pic, clean, sigma)[:, :, None] * (pic - clean)
    if cap:
        removed *= cap_weight(pic, removed)[:, :, None]
    return pic - removed


def denoise_picture(denoiser: Denoiser, work: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """The node's whole route on a picture on the model's scale: sigma (given or estimated) times
    strength, colour (given or estimated), `remove_grain`, then the guard where it is on
    (`guard` 1; -1 = on only where sigma is estimated, so a given sigma keeps the plain route)."""
    given = params["sigma"] > 0
    per_band = np.full(BANDS, float(params["sigma"])) if given else estimate_sigma(work)
    sigma = sigma_map(work, per_band * float(params["strength"]))
    colour_share = float(params["colour"]) if params["colour"] >= 0 else estimate_colour(work)
    clean = remove_grain(denoiser, work, sigma, colour_share)
    guard = params.get("guard", -1)
    if guard > 0 or (guard < 0 and not given):
        clean = guarded(work, clean, sigma)
    return clean


def sigma_map(picture: np.ndarray, per_band: np.ndarray) -> np.ndarray:
    """The per-pixel grain std: the band curve at each pixel's smoothed luma (HxW float32)."""
    lum = cv2.GaussianBlur(luma(picture), (0, 0), 2.0)
    return GrainProfile(sigma=tuple(float(s) for s in per_band)).sigma_at(lum)


class DenoiseNode:
    """The per-job denoise runner: the model is found, verified and loaded once."""

    def __init__(self, params: dict[str, Any], ctx: NodeContext) -> None:
        self.params = params
        self.denoiser = Denoiser(ctx, params["model"] or MODEL, tile=params["tile"])

    def provenance(self) -> dict[str, Any]:
        card = self.denoiser.card
        return {
            "node": NAME,
            "params": dict(self.params),
            "model": {"name": card.name, "sha256": card.sha256, "colorspace": card.colorspace},
            "provider": self.denoiser.provider,
        }

    def process(self, window: Window) -> Frame:
        frame = window.centre
        idx = picture_indices(frame.channels)
        space, model_space = frame.colorspace, self.denoiser.card.colorspace
        rgb = frame.pixels[:, :, idx]
        work = colour.convert(rgb, space, model_space) if space else np.array(rgb, dtype=np.float32)
        clean = denoise_picture(self.denoiser, work, self.params)
        if space:
            clean = colour.convert(clean, model_space, space, in_place=clean.shape[2] == 3)
        out = frame.pixels.copy()
        out[:, :, idx] = clean
        return frame.with_pixels(out)


SPEC = NodeSpec(
    name=NAME,
    label="Denoise",
    help="Learned spatial film-grain removal (built-in model grain-denoise) for single images and frames "
    "without usable neighbours; colour-managed, alpha untouched. For shots, degrain does better.",
    params=(
        Param("strength", float, 1.0, "multiplies the grain level told to the model: < 1 keeps more grain, > 1 removes more", min=0.0, max=4.0),
        Param(
            "sigma",
            float,
            0.0,
            "grain standard deviation on the perceptual 0..1 scale (e.g. 0.03); 0 = measure it per luminance band "
            "from the frame",
            min=0.0,
            max=0.5,
        ),
        Param(
            "colour",
            float,
            -1.0,
            "correlation of the grain between R, G and B (1 = the same grain in all three, as on monochrome stock; "
            f"0 = independent, as sensor noise); -1 = measure it from the frame. Below {COLOUR_JOINT} the frame goes "
            "through the model as luma and two colour-difference channels (three runs: slower, and much cleaner on "
            "grain that differs between channels)",
            min=-1.0,
            max=1.0,
        ),
        Param(
            "guard",
            int,
            -1,
            "method-noise guard: where what the model removes looks like the picture's own detail rather than "
            "grain, or is locally far stronger than elsewhere at that brightness, the input is blended back "
            "(smoothly); 1 = on, 0 = off, -1 = on where sigma is measured "
            "(a given sigma is trusted)",
            min=-1,
            max=1,
        ),
        Param("model", str, "", f"denoise model name or .onnx path; empty = the built-in '{MODEL}'"),
        Param("tile", int, 0, "tile size in pixels; 0 = from the memory budget", min=0),
    ),
    keeps_brightness=True,
    factory=lambda params, ctx: DenoiseNode(params, ctx),
    category="Cleanup",
)
