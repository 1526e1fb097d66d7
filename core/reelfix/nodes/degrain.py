"""`degrain`: film grain removed by motion-compensated temporal averaging plus a spatial stage.

Grain is independent from frame to frame while the picture is not, so the best evidence
of what lies under the grain is the same point in the neighbouring frames. Spatial
denoisers alone cannot tell grain from fine texture (they gain well under 1 dB on grainy
plates); a temporal mean of aligned frames gains several dB. All of it runs on the
perceptual encoding (`reelfix.motion.perceptual`), where grain is described, and goes back
through the exact inverse; alpha and non-picture channels are untouched.

1. Each neighbour within `radius` is aligned to the centre frame (`reelfix.motion`: one
   flow per pair, shared with the other temporal nodes).
2. The grain is measured from the frames themselves, per luminance band: the difference
   between the centre and its nearest aligned neighbour holds both frames' grain, the
   difference between the two nearest aligned neighbours holds theirs (interpolation
   smooths it); together they give the centre's grain variance (`reelfix.grain.stats`).
   It is measured again, with its spectrum, from the centre minus the plain mean of all
   neighbours aligned by a more smoothed flow (the aligning flow still follows the grain a
   little, which would hide some of it), leaving out pixels where one is misaligned.
3. Each aligned neighbour gets a weight per pixel from its local mean squared difference to
   the centre against the difference grain alone would make: where it is much larger (an
   occlusion, a fast object, a wrong flow) the neighbour is left out, so nothing ghosts.
4. Weighted mean of the centre and its neighbours; the noise left there is known per pixel
   (larger where neighbours were left out: near moving objects, at cuts, at range ends).
5. A spatial stage removes that remaining noise: a classic one (spectral subtraction in
   overlapping 8x8 DCT blocks, with the noise spectrum of grain of the measured size and
   colour correlation; the default, as it measured better than the learned model installed
   when this was written) or the learned denoiser (`reelfix.grain.learned`).

The removed grain (centre minus result, perceptual, at source resolution), the luma it sat
on and its measured `GrainProfile` travel with the frame (`Frame.layers`, metadata
`reelfix:grain`) to a later `regrain`.
"""

from __future__ import annotations

import json
import weakref
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from .. import motion
from ..errors import ModelError
from ..frames.frame import Frame, picture_indices
from ..grain import stats
from ..grain.synth import BANDS, GrainProfile, from_perceptual, luma, unit_field
from .dustbust import choose_neighbours
from .spec import NodeContext, NodeSpec, Param, Window

NAME = "degrain"
LAYER = "grain"  # the removed grain, HxWxC perceptual
LAYER_LUMA = "grain.luma"  # the smoothed perceptual luma of the degrained picture it sat on, HxW
META = "reelfix:grain"  # the measured GrainProfile (JSON) and the source size
REJECT = 4.0  # a neighbour is left out where its local difference is this many times grain's
WINDOW = 2.0  # px: Gaussian over which differences are judged (grain alone must not reject)
BLOCK, STEP = 8, 4  # classic spatial stage: DCT block and stride
SHRINK = 1.5  # spectral over-subtraction factor of the classic stage
SIGMA_FLOOR = 1e-4
WARP = cv2.INTER_CUBIC  # interpolation of the aligned neighbours
FLOW_SMOOTH = 8.0  # px at the flow's estimation resolution: Gaussian over the flow before aligning
MEASURE_SMOOTH = 32.0  # the same, for the neighbours the grain is measured against (see Degrain._measure)
_OPPONENT = np.array([[1, 1, 1], [1, 0, -1], [1, -2, 1]], np.float32) / np.sqrt(np.array([3, 2, 6], np.float32))[:, None]


def _dct_matrix(n: int = BLOCK) -> np.ndarray:
    k = np.arange(n)
    d = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n)) * np.sqrt(2.0 / n)
    d[0] /= np.sqrt(2.0)
    return d.astype(np.float32)


_DCT = _dct_matrix()


def grain_spectrum(size: float) -> np.ndarray:
    """Variance of each 8x8 DCT coefficient of unit-variance grain of `size` (exact for the
    sampled Gaussian kernel of `reelfix.grain.synth.unit_field`)."""
    if size <= 0:
        return np.ones((BLOCK, BLOCK), np.float32)
    k = cv2.getGaussianKernel(int(2 * np.ceil(3 * size) + 1), size).astype(np.float64)[:, 0]
    ac = np.array([np.sum(k[m:] * k[: len(k) - m]) for m in range(len(k))]) / np.sum(k**2)
    ac = np.pad(ac, (0, max(0, BLOCK - len(ac))))[:BLOCK]
    cov = ac[np.abs(np.subtract.outer(np.arange(BLOCK), np.arange(BLOCK)))]
    t1 = np.diag(_DCT.astype(np.float64) @ cov @ _DCT.T.astype(np.float64))
    return np.outer(t1, t1).astype(np.float32)


def dct_denoise(img: np.ndarray, sigma: np.ndarray, spectrum: np.ndarray) -> np.ndarray:
    """One channel (HxW) with noise of std `sigma` (HxW map) and DCT `spectrum` removed by
    spectral subtraction in overlapping 8x8 blocks (stride 4), averaged back; DC kept."""
    h, w = img.shape
    p = BLOCK - STEP
    ph, pw = -(-(h + 2 * p) // STEP) * STEP, -(-(w + 2 * p) // STEP) * STEP
    pad = cv2.copyMakeBorder(np.ascontiguousarray(img, np.float32), p, ph - h - p, p, pw - w - p, cv2.BORDER_REFLECT_101)
    sig = cv2.copyMakeBorder(np.ascontiguousarray(sigma, np.float32), p, ph - h - p, p, pw - w - p, cv2.BORDER_REFLECT_101)
    nby, nbx = (ph - BLOCK) // STEP + 1, (pw - BLOCK) // STEP + 1
    s0, s1 = pad.strides
    blocks = np.lib.stride_tricks.as_strided(pad, (nby, nbx, BLOCK, BLOCK), (s0 * STEP, s1 * STEP, s0, s1))
    coef = _DCT @ blocks @ _DCT.T
    var = sig[STEP : STEP + nby * STEP : STEP, STEP : STEP + nbx * STEP : STEP][:nby, :nbx, None, None] ** 2 * spectrum
    power = coef * coef
    gain = np.maximum(1.0 - np.float32(SHRINK) * var / np.maximum(power, 1e-20), 0.0)
    gain[:, :, 0, 0] = 1.0
    rec = _DCT.T @ (coef * gain) @ _DCT
    out = np.zeros((ph // STEP, STEP, pw // STEP, STEP), np.float32)
    cnt = np.zeros((ph // STEP, 1, pw // STEP, 1), np.float32)
    r = rec.reshape(nby, nbx, 2, STEP, 2, STEP).transpose(2, 4, 0, 3, 1, 5)
    for dy in range(2):
        for dx in range(2):
            out[dy : dy + nby, :, dx : dx + nbx, :] += r[dy, dx]
            cnt[dy : dy + nby, :, dx : dx + nbx, :] += 1.0
    return (out / cnt).reshape(ph, pw)[p : p + h, p : p + w]


def classic_spatial(picture: np.ndarray, sigma: np.ndarray, profile: GrainProfile) -> np.ndarray:
    """The classic spatial stage: colour picture decorrelated into luma and two opponent
    channels (grain is partly shared between R, G and B: stronger in luma than in chroma),
    each shrunk with its own share of the noise."""
    spec = grain_spectrum(profile.size)
    if picture.shape[2] == 1:
        return dct_denoise(picture[:, :, 0], sigma, spec)[:, :, None]
    opp = picture @ _OPPONENT.T
    c = profile.colour
    shares = (np.sqrt(1 + 2 * c), np.sqrt(max(1 - c, 0.0)), np.sqrt(max(1 - c, 0.0)))
    out = np.stack(
        [dct_denoise(opp[:, :, k], sigma * np.float32(f), spec) if f > 0.05 else opp[:, :, k] for k, f in enumerate(shares)], axis=2
    )
    return out @ _OPPONENT


def _learned_module() -> Any:
    """The learned denoiser's module, imported on first use (tests put a stand-in in its place)."""
    from ..grain import learned

    return learned


def is_mono(picture: np.ndarray) -> bool:
    """One channel, or R, G and B exactly equal (a monochrome scan stored as RGB)."""
    return picture.shape[2] == 1 or bool(np.array_equal(picture[:, :, 0], picture[:, :, 1]) and np.array_equal(picture[:, :, 0], picture[:, :, 2]))


def smooth_luma(picture: np.ndarray) -> np.ndarray:
    """Luma for choosing luminance bands, smoothed so grain itself does not pick the band."""
    return cv2.GaussianBlur(luma(picture), (0, 0), 2.0)


def detail(picture: np.ndarray) -> np.ndarray:
    """The picture's local detail (squared luma gradient), HxW: where a residual also holds
    some of the picture (edges that a flow or an interpolation misplaces)."""
    lum = luma(picture)
    return (cv2.Sobel(lum, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(lum, cv2.CV_32F, 0, 1) ** 2).astype(np.float32)


def _highpass(plane: np.ndarray) -> np.ndarray:
    return plane - cv2.GaussianBlur(plane, (0, 0), 1.5, borderType=cv2.BORDER_REFLECT_101)


@lru_cache(maxsize=1)
def _highpass_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grain sizes, adjacent-pixel correlation of their high-pass, std of it) for unit grain:
    how a one-frame measurement is read back into grain size and strength."""
    sizes = np.linspace(0.0, 2.0, 21)
    rng = np.random.default_rng(0)
    rho, std = [], []
    for s in sizes:
        r = _highpass(unit_field((256, 256, 1), float(s), 1.0, rng)[:, :, 0])
        rho.append(stats.lag1_correlation(r))
        std.append(stats.robust_std(r))
    return sizes, np.array(rho), np.array(std)


def one_frame_profile(picture: np.ndarray) -> GrainProfile:
    """The grain of one frame alone (1-frame ranges and shots): from a fine high-pass, which
    holds mostly grain, read back through the grain size its correlation implies. Texture
    makes it less exact than the measurement from neighbours."""
    res = np.stack([_highpass(picture[:, :, c]) for c in range(picture.shape[2])], axis=2)
    sizes, rho, std = _highpass_table()
    size = float(np.interp(stats.lag1_correlation(res), rho, sizes))
    found = stats.std_per_band(res, smooth_luma(picture))
    sigma = np.zeros(BANDS) if found is None else found / float(np.interp(size, sizes, std))
    return GrainProfile(sigma=tuple(float(v) for v in sigma), size=round(size, 3), colour=round(stats.colour_correlation(res), 3))


class Degrain:
    """The per-job degrain runner."""

    def __init__(self, params: dict[str, Any], ctx: NodeContext) -> None:
        self.params = params
        self.ctx = ctx
        self.radius = int(params["radius"])
        self.strength = float(params["strength"])
        self.denoiser: Any | None = None
        mode = params["spatial"]
        learned = _learned_module() if mode in ("auto", "learned") else None
        if mode == "learned" and (learned is None or not learned.available()):
            raise ModelError(
                "degrain: spatial 'learned' asked, but the learned grain denoiser is not installed",
                hint="its model 'grain-denoise' is built by `make train-denoiser` (docs/training.md); or set spatial: classic",
            )
        if learned is not None and learned.available():
            self.denoiser = learned.Denoiser(ctx)
        self.spatial = "off" if mode == "off" else ("learned" if self.denoiser is not None else "classic")
        self._warned = False
        self._memo: dict[int, tuple[weakref.ref[np.ndarray], tuple[int, ...], np.ndarray]] = {}

    def provenance(self) -> dict[str, Any]:
        out = {"node": NAME, "params": dict(self.params), "spatial": self.spatial, "flow": "OpenCV DIS (reelfix.motion)"}
        if self.denoiser is not None and hasattr(self.denoiser, "provenance"):
            out["denoiser"] = self.denoiser.provenance()
        return out

    def process(self, window: Window) -> Frame:
        centre = window.centre
        idx = picture_indices(centre.channels)
        linear = motion.is_scene_linear(centre.colorspace)
        full = self._perceptual(centre, idx, linear)
        mono = is_mono(full)
        work = full[:, :, :1] if mono else full
        numbers = choose_neighbours(window.number, list(window.frames), self.radius)
        if numbers:
            clean, noise, sigma, residual = self._temporal(centre, work, [window.frames[n] for n in numbers], idx, linear, mono)
            profile = stats.measure(residual, smooth_luma(clean), sigma, np.any(residual != 0, axis=2), detail(clean))
        else:
            if not self._warned:
                self._warned = True
                self.ctx.warn(f"{NAME}: frame {centre.number} has no neighbouring frame (1-frame range or shot); spatial stage only, from a one-frame grain estimate")
            profile = one_frame_profile(work)
            clean, noise = work, profile.sigma_at(smooth_luma(work))
        if self.spatial != "off":
            clean = self._spatial(clean, noise, profile)
        removed = np.float32(self.strength) * (work - clean)
        result = work - removed
        if mono:
            result = np.repeat(result, full.shape[2], axis=2)
            removed = np.repeat(removed, full.shape[2], axis=2)
        pixels = centre.pixels.copy()
        # back by the exact inverse, as a change: where nothing was removed, bits are kept
        pixels[:, :, idx] += from_perceptual(result, linear) - from_perceptual(full, linear)
        out = centre.with_pixels(pixels)
        out.layers[LAYER] = removed.astype(np.float32)
        out.layers[LAYER_LUMA] = smooth_luma(result)
        info = profile.to_dict() | {"width": centre.width, "height": centre.height, "mono": mono, "frames": len(numbers) + 1}
        out.metadata[META] = json.dumps(info, separators=(",", ":"))
        return out

    def _temporal(
        self, centre: Frame, work: np.ndarray, frames: list[Frame], idx: list[int], linear: bool, mono: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(weighted temporal mean, its remaining noise std per pixel, the centre's grain std
        per band, the centre minus the neighbours' weighted mean: grain for measuring it)."""
        aligned = []
        for f in frames:
            pic = self._perceptual(f, idx[:1] if mono else idx, linear)
            aligned.append(motion.warp(pic, self._flow(centre, f), WARP).reshape(work.shape))
        lum = smooth_luma(work)
        sub = (slice(None, None, 2), slice(None, None, 2))
        diff_c = work[sub] - aligned[0][sub]
        # for the weights: what grain alone would make, read from the median absolute deviation,
        # which picture misaligned in a few places cannot inflate
        robust = stats.robust_std
        diff_n = aligned[0][sub] - aligned[1][sub] if len(aligned) >= 2 else None
        if diff_n is not None:
            va = stats.std_per_band(diff_n, lum[sub], estimator=robust)
            vc = stats.std_per_band(diff_c, lum[sub], estimator=robust)
            var_n = (va**2) / 2 if va is not None else None
            var_c = np.maximum(vc**2 - var_n, 0.25 * vc**2) if vc is not None and var_n is not None else None
        else:
            vc = stats.std_per_band(diff_c, lum[sub], estimator=robust)
            var_c = var_n = vc**2 / 2 if vc is not None else None
        if var_c is None or var_n is None:
            var_c = var_n = np.full(BANDS, SIGMA_FLOOR**2)
        sigma_c = np.sqrt(np.maximum(var_c, SIGMA_FLOOR**2))
        pix_var_c = np.interp(lum, stats.BAND_CENTRES, var_c).astype(np.float32)
        pix_var_n = np.interp(lum, stats.BAND_CENTRES, var_n).astype(np.float32)
        expected = pix_var_c + pix_var_n + np.float32(SIGMA_FLOOR**2)
        weight_sum = np.ones(lum.shape, np.float32)
        weight_sq = np.zeros(lum.shape, np.float32)
        neighbours = np.zeros_like(work)
        inv = np.float32(1.0 / work.shape[2]) / expected
        residual, measurable, diff_m = self._measure(centre, work, frames, idx, linear, mono, inv)
        for a in aligned:
            d = a - work
            msd = cv2.GaussianBlur(np.einsum("ijk,ijk->ij", d, d), (0, 0), WINDOW) * inv
            w = np.clip((REJECT - msd) / np.float32(REJECT - 1.5), 0.0, 1.0)
            w *= w
            a *= w[:, :, None]  # the aligned copy is not needed afterwards
            neighbours += a
            weight_sum += w
            weight_sq += w * w
        mean = (work + neighbours) / weight_sum[:, :, None]
        # measured again from all neighbours: the centre minus their plain mean holds the
        # centre's grain and 1/N of theirs. Only pixels where a neighbour is misaligned are
        # ignored: selecting by the weights would favour pixels whose grain happens to be
        # small. There the std itself (`grain_std`) is read, which the median absolute
        # deviation is not for grain that is not Gaussian
        kept = measurable[sub]
        if int(kept.sum()) >= 16 * stats.MIN_SAMPLES:
            refined = stats.std_per_band(residual[sub][kept][:, None, :], lum[sub][kept][:, None])
            std_n = stats.std_per_band(diff_m[sub][kept][:, None, :], lum[sub][kept][:, None]) if diff_m is not None else None
            var_m = std_n**2 / 2 if std_n is not None else var_n
            if refined is not None:
                var_c = np.maximum(refined**2 - var_m / len(aligned), 0.25 * refined**2)
                sigma_c = np.sqrt(np.maximum(var_c, SIGMA_FLOOR**2))
                pix_var_c = np.interp(lum, stats.BAND_CENTRES, var_c).astype(np.float32)
        noise = np.sqrt(pix_var_c + weight_sq * pix_var_n) / weight_sum
        return mean, noise.astype(np.float32), sigma_c, residual

    def _measure(
        self, centre: Frame, work: np.ndarray, frames: list[Frame], idx: list[int], linear: bool, mono: bool, inv: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(the centre minus the plain mean of its neighbours aligned by the flow smoothed
        MEASURE_SMOOTH, zero where one of them is misaligned even so; where none is; the
        difference of the two nearest of them). The flow that aligns for the average still
        follows the grain a little, aligning part of it, which a measurement against it
        misses (5-8% of the std on a pan, most of it coarse grain); `inv`: 1 / (channels x
        the difference grain alone makes), per pixel."""
        total = np.zeros_like(work)
        ok = np.ones(work.shape[:2], bool)
        near = []
        for f in frames:
            pic = self._perceptual(f, idx[:1] if mono else idx, linear)
            a = motion.warp(pic, self._flow(centre, f, MEASURE_SMOOTH), WARP).reshape(work.shape)
            d = a - work
            ok &= cv2.GaussianBlur(np.einsum("ijk,ijk->ij", d, d), (0, 0), WINDOW) * inv < REJECT
            total += a
            if len(near) < 2:
                near.append(a)
        residual = work - total / np.float32(len(frames))
        residual[~ok] = 0.0
        return residual, ok, (near[0] - near[1] if len(near) == 2 else None)

    def _perceptual(self, frame: Frame, idx: list[int], linear: bool) -> np.ndarray:
        """A neighbour's picture on the perceptual scale, converted once for all the windows
        it appears in (kept while its pixel array lives)."""
        hit = self._memo.get(id(frame.pixels))
        if hit is not None and hit[0]() is frame.pixels and hit[1] == tuple(idx):
            return hit[2]
        pic = motion.perceptual(frame.pixels[:, :, idx], linear)
        self._memo = {k: v for k, v in self._memo.items() if v[0]() is not None}
        self._memo[id(frame.pixels)] = (weakref.ref(frame.pixels), tuple(idx), pic)
        return pic

    @staticmethod
    def _flow(centre: Frame, other: Frame, smooth: float = FLOW_SMOOTH) -> np.ndarray:
        """The shared flow, smoothed: on grainy frames its finest detail follows the grain
        (aligning grain to grain, which hides it from the average and from the measurement)."""
        if smooth <= 0:
            return motion.flow(centre, other)
        low = cv2.GaussianBlur(motion.flow_lowres(centre, other), (0, 0), smooth)
        s = motion.flow_scale(centre.height, centre.width)
        if s == 1.0:
            return low
        return np.multiply(cv2.resize(low, (centre.width, centre.height), interpolation=cv2.INTER_LINEAR), 1.0 / s, dtype=np.float32)

    def _spatial(self, picture: np.ndarray, noise: np.ndarray, profile: GrainProfile) -> np.ndarray:
        if self.denoiser is not None:
            return np.asarray(self.denoiser.run(np.ascontiguousarray(picture, np.float32), noise), np.float32).reshape(picture.shape)
        return classic_spatial(picture, noise, profile)


SPEC = NodeSpec(
    name=NAME,
    label="Degrain",
    help="Removes film grain: motion-compensated temporal averaging with robust weights (no ghosting on motion), "
    "then a spatial stage; the grain is measured per luminance band from the plate and handed to a later regrain.",
    params=(
        Param("strength", float, 1.0, "0..1: share of the measured grain removed (1 = all of it)", min=0.0, max=1.0),
        Param("radius", int, 3, "neighbouring frames averaged each side (3 = 7 frames)", min=1, max=7),
        Param(
            "spatial",
            str,
            "classic",
            "spatial stage on what the temporal average leaves: 'classic' (DCT shrinkage), 'learned' (the built-in "
            "grain-denoise model), 'auto' (learned when installed, else classic), 'off'",
            choices=("auto", "learned", "classic", "off"),
        ),
    ),
    keeps_brightness=True,
    factory=lambda params, ctx: Degrain(params, ctx),
    radius=lambda params: int(params["radius"]) + 1,  # one spare each side for the ends of a shot
    category="Cleanup",
)
