"""Question: do `deflicker` and `stabilize` remove flicker and gate weave while keeping what
was intended (fades, exposure ramps, a light switched on, a slow pan), and at what speed?

Clips (tests/nodes/flicker_clips.py): slow pans across scikit-image's CC0 photos in linear
light, the clean truth kept.
- deflicker: every frame off by 4-8% (random sign) times an uneven 3x3 field (3% sd), light
  grain; with a fade over the last 12 frames (to 20%, linear in light), a +1 stop exposure
  ramp, a light switched on over 40% of the frame, or nothing intended. Error per frame:
  frame-mean luminance of the output over the truth's, minus 1 (%). Figures: RMS over the
  frames (the literal "residual flicker"), frame-to-frame (RMS of the change of that error
  between consecutive frames / sqrt 2: what the eye sees as flicker), the fade frames
  (RMS, and the mean: a flattened fade shows as a large mean), and 3x3 regions (uneven).
  Clips of 96 and 240 frames (4 and 10 s at 24 fps). Peers in the same run: FFmpeg's
  `deflicker` filter through PyAV's filter graph, fed the same luminance as 16-bit linear
  grey (its best case), with its default window (5) and 31 frames; and a floor: an oracle
  that knows the intended change's shape and place (`model_floor`) and fits only its
  amounts to the flickered frame means. Random flicker of s per frame leaves about
  s / sqrt(frames) in any amount measured through it, so the floor falls with the clip's
  length. The flicker gains of each clip are centred (they average to 1 over the clip,
  `flicker_clips.centring`): an uncentred draw leaves the whole clip off the truth's
  exposure by an amount no method can see.
- stabilize: random shifts of about 1.5 px RMS and rotations (0.03 deg sd) on a static
  shot and on a slow pan (0.8, 0.3 px/frame). Residual: what is left of the weave after the
  node's correction (from the corrections it reports, checked against a pixel
  registration of output against truth), 2-D RMS in px at the frame centre.
- speed: seconds per frame at 1920x1080 RGB float, amortised over a sequence (each frame
  measured once, each pair once), on this CPU.

Goals: deflicker residual under 0.5% where the input had 4-8%, fade kept within 2%;
stabilize residual under 0.25 px RMS on the static shot, the pan kept within ~0.25 px.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from benchmarks.common import ffmpeg_filter_frames
from typing import Any, Sequence

import numpy as np

from reelfix.frames.frame import Frame
from reelfix.global_motion import rigid
from reelfix.nodes.deflicker import SPEC as DEFLICKER
from reelfix.nodes.deflicker import Segment
from reelfix.graph import run_frames
from reelfix.nodes.spec import NodeContext, NodeSpec
from reelfix.nodes.stabilize import SPEC as STABILIZE
from tests.nodes import flicker_clips as fc

CHANGES = ("none", "fade", "ramp", "light")
FOOTAGE = ("footage", "footage_fade")  # real footage (vtest.avi), when installed


def run_node(spec: NodeSpec, params: dict[str, Any], frames: Sequence[np.ndarray]) -> list[Frame]:
    """The node over a clip with the windows and analysis segments a job gives."""
    p = spec.validate(params, "benchmark")
    fr = [Frame(f, ("R", "G", "B"), "lin_srgb", i) for i, f in enumerate(frames)]
    return run_frames([spec.factory(p, NodeContext())], [spec.radius(p)], [spec.span(p)], fr)


def luma_error(means: Sequence[float], truth: Sequence[np.ndarray]) -> np.ndarray:
    return np.array([m / fc.mean_luma(t) - 1.0 for m, t in zip(means, truth)]) * 100.0


def flicker_scores(err: np.ndarray, fade: Sequence[int]) -> dict[str, float]:
    d = np.diff(np.log1p(err / 100.0)) * 100.0
    out = {"rms": float(np.sqrt(np.mean(err**2))), "f2f": float(np.sqrt(np.mean(d**2) / 2))}
    if fade:
        steady = np.delete(err, list(fade))
        out["steady_rms"] = float(np.sqrt(np.mean(steady**2)))
        out["fade_rms"] = float(np.sqrt(np.mean(err[list(fade)] ** 2)))
        out["fade_mean"] = float(np.mean(err[list(fade)]))
    return out


def region_rms(outs: Sequence[np.ndarray], truth: Sequence[np.ndarray]) -> float:
    errs = []
    for o, t in zip(outs, truth):
        h, w = t.shape[:2]
        for i in range(3):
            for j in range(3):
                sl = (slice(i * h // 3, (i + 1) * h // 3), slice(j * w // 3, (j + 1) * w // 3))
                errs.append(fc.mean_luma(o[sl]) / fc.mean_luma(t[sl]) - 1.0)
    return float(np.sqrt(np.mean(np.square(errs))) * 100.0)


def ffmpeg_deflicker(frames: Sequence[np.ndarray], size: int) -> list[float]:
    """Frame-mean luminance after FFmpeg's `deflicker` (mode am), fed 16-bit linear luminance."""
    lum = [f[:, :, :3] @ fc.LUMA for f in frames]
    scale = 20000.0 / max(float(np.percentile(y, 99.9)) for y in lum)
    u16 = [np.clip(np.rint(y * scale), 0, 65535).astype(np.uint16) for y in lum]
    outs = ffmpeg_filter_frames(u16, "gray16le", [("deflicker", f"size={size}:mode=am")])
    return [float(o.astype(np.float64).mean()) / scale for o in outs]


def _floor_fit(x: np.ndarray, flicker: np.ndarray, intended: np.ndarray, light: bool) -> np.ndarray:
    """log error of fitting design x to the flickered levels (in linear light for a fade)."""
    if light:
        seen = np.exp(flicker) * intended
        beta = np.linalg.lstsq(x / intended[:, None], seen / intended, rcond=None)[0]
        return np.log(np.maximum(x @ beta, 1e-6)) - np.log(seen) + flicker
    y = flicker + np.log(intended)
    return x @ np.linalg.lstsq(x, y, rcond=None)[0] - y + flicker


def model_floor(clip: fc.FlickerClip, change: str, searched: bool = False) -> np.ndarray:
    """Per-frame error (%) of an oracle that knows the shape of the intended change
    (constant; a fade linear in light; a ramp linear in stops; the light as a step of the
    whole frame's level) and its place (or, `searched`, finds its place by least squares
    like any method must: the fade's first frame, the ramp's two ends, the step's frame),
    and fits only its amounts to the flickered frame means: the floor for a method that has
    to measure them through the flicker."""
    n = len(clip)
    t = np.arange(n, dtype=np.float64)
    flicker = np.log([fc.mean_luma(d) / fc.mean_luma(tr) for d, tr in zip(clip.damaged, clip.truth)])
    intended = np.asarray(clip.intended, dtype=np.float64)
    one = np.ones(n)
    if change == "fade":
        places = [clip.fade[0] - 1] if not searched else list(range(n // 2, n - 3))
        designs = [np.stack([one, np.maximum(t - k, 0.0)], axis=1) for k in places]
    elif change == "ramp":
        ends = [(n // 4, 3 * n // 4)] if not searched else [(a, b) for a in range(n // 8, 3 * n // 8) for b in range(5 * n // 8, 7 * n // 8)]
        designs = [np.stack([one, np.clip((t - a) / (b - a), 0.0, 1.0)], axis=1) for a, b in ends]
    elif change == "light":
        places = [n // 2] if not searched else list(range(n // 4, 3 * n // 4))
        designs = [np.stack([one, (t >= k).astype(np.float64)], axis=1) for k in places]
    else:
        designs = [one[:, None]]
    if change == "light":  # the step's size is the whole frame's: in the levels, not in `intended`
        intended = np.array([fc.mean_luma(tr) for tr in clip.truth]) / np.array([fc.mean_luma(tr) for tr in clip.truth[: n // 2]]).mean()
        intended = np.where(t >= n // 2, intended[n // 2 :].mean(), 1.0)
    errs = [_floor_fit(x, flicker, intended, change == "fade") for x in designs]
    fit_err = [float(((e - flicker) ** 2).sum()) for e in errs]  # how well each place explains the levels it saw
    return np.expm1(errs[int(np.argmin(fit_err))]) * 100.0


def deflicker_quality(seeds: int, frames: int, height: int, width: int, span: int, grid: int) -> dict[str, float]:
    res: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        res.setdefault(key, []).append(value)

    footage = fc.footage_linear(frames, width)
    for change in CHANGES + (FOOTAGE if footage is not None else ()):
        for seed in range(seeds):
            if change.startswith("footage"):
                clip = fc.flicker_clip(frames, change="fade" if change.endswith("fade") else "none", seed=seed, base=footage)
            else:
                clip = fc.flicker_clip(frames, height, width, change=change, seed=seed)
            outs = [o.pixels for o in run_node(DEFLICKER, {"span": span, "grid": grid}, clip.damaged)]
            routes = {
                "input": luma_error([fc.mean_luma(d) for d in clip.damaged], clip.truth),
                "reelfix": luma_error([fc.mean_luma(o) for o in outs], clip.truth),
                "ffmpeg5": luma_error(ffmpeg_deflicker(clip.damaged, 5), clip.truth),
                "ffmpeg31": luma_error(ffmpeg_deflicker(clip.damaged, 31), clip.truth),
                "floor": model_floor(clip, change.replace("footage_", "").replace("footage", "none")),
                "searched": model_floor(clip, change.replace("footage_", "").replace("footage", "none"), searched=True),
            }
            for route, err in routes.items():
                for k, v in flicker_scores(err, clip.fade).items():
                    add(f"{change}.{route}.{k}", v)
            add(f"{change}.input.regions", region_rms(clip.damaged, clip.truth))
            add(f"{change}.reelfix.regions", region_rms(outs, clip.truth))
    return {k: float(np.mean(v)) for k, v in res.items()}


def weave_residual(outs: Sequence[Frame], clip: fc.WeaveClip) -> np.ndarray:
    h, w = clip.truth[0].shape[:2]
    centre = ((w - 1) / 2, (h - 1) / 2)
    applied = []
    for o in outs:
        md = json.loads(o.metadata["reelfix:stabilize"])
        applied.append(rigid(md["shift"][0], md["shift"][1], np.radians(md["angle"]), centre))
    return fc.residual_motion(applied, clip.weave, h, w)


def pixel_residual(outs: Sequence[Frame], clip: fc.WeaveClip) -> np.ndarray:
    """Independent check: translation of each output against its truth frame (central 60%)."""
    from skimage.registration import phase_cross_correlation

    h, w = clip.truth[0].shape[:2]
    sl = (slice(h // 5, h - h // 5), slice(w // 5, w - w // 5))
    shifts = []
    for o, t in zip(outs, clip.truth):
        shift, _, _ = phase_cross_correlation(t[sl].mean(axis=2), o.pixels[sl].mean(axis=2), upsample_factor=50)
        shifts.append((-shift[1], -shift[0]))
    return np.array(shifts)


def weave_floor(weave: np.ndarray, radius: int, degree: int) -> np.ndarray:
    """Residual (n, 2) of an oracle that knows the path is constant (degree 0), a straight pan
    (1) or a curving one (2) over each window and fits it to the weave: the floor for this window."""
    n = len(weave)
    out = []
    for t in range(n):
        idx = np.arange(max(0, t - radius), min(n, t + radius + 1))
        deg = min(degree, len(idx) - 1)
        out.append([np.polyval(np.polyfit(idx - t, weave[idx, k], deg), 0.0) for k in range(2)])
    return np.array(out)


def stabilize_quality(seeds: int, frames: int, height: int, width: int, radius: int) -> dict[str, float]:
    res: dict[str, list[np.ndarray]] = {}
    for name, velocity in (("static", (0.0, 0.0)), ("pan", (0.8, 0.3))):
        for seed in range(seeds):
            clip = fc.weave_clip(frames, height, width, velocity=velocity, seed=seed)
            outs = run_node(STABILIZE, {"radius": radius}, clip.damaged)
            r = weave_residual(outs, clip)
            res.setdefault(f"{name}.input", []).append(clip.weave)
            res.setdefault(f"{name}.residual", []).append(r)
            res.setdefault(f"{name}.pixel", []).append(pixel_residual(outs, clip))
            res.setdefault(f"{name}.floor", []).append(weave_floor(clip.weave[:, :2], radius, degree=0 if name == "static" else 1))
    out: dict[str, float] = {}
    for name in ("static", "pan"):
        inp = np.concatenate(res[f"{name}.input"])
        out[f"{name}.input_px"] = float(np.sqrt((inp[:, :2] ** 2).sum(1).mean()))
        out[f"{name}.input_deg"] = float(np.degrees(np.sqrt((inp[:, 2] ** 2).mean())))
        per_clip = res[f"{name}.residual"]
        allr = np.concatenate(per_clip)
        out[f"{name}.residual_px"] = float(np.sqrt((allr[:, :2] ** 2).sum(1).mean()))
        centred = np.concatenate([r[:, :2] - r[:, :2].mean(0) for r in per_clip])
        out[f"{name}.residual_centred_px"] = float(np.sqrt((centred**2).sum(1).mean()))
        steps = np.concatenate([np.diff(r[:, :2], axis=0) for r in per_clip])
        out[f"{name}.f2f_px"] = float(np.sqrt((steps**2).sum(1).mean() / 2))
        out[f"{name}.residual_deg"] = float(np.degrees(np.sqrt((allr[:, 2] ** 2).mean())))
        floor = np.concatenate(res[f"{name}.floor"])
        out[f"{name}.floor_px"] = float(np.sqrt((floor**2).sum(1).mean()))
        pix = np.concatenate([p - p.mean(0) for p in res[f"{name}.pixel"]])
        out[f"{name}.pixel_centred_px"] = float(np.sqrt((pix**2).sum(1).mean()))
    return out


def speed(height: int, width: int, frames: int) -> dict[str, float]:
    """Seconds per frame for each node at height x width, amortised over `frames` frames."""
    clip = fc.weave_clip(frames, height, width, velocity=(0.8, 0.3), seed=0, grain=0.0)
    damaged, _ = fc.add_flicker(clip.damaged, seed=0)
    out: dict[str, float] = {"load_before": os.getloadavg()[0]}
    for key, spec, params in (("deflicker", DEFLICKER, {}), ("stabilize", STABILIZE, {}), ("stabilize_neighbours", STABILIZE, {"fill": "neighbours"})):
        t0 = time.perf_counter()
        run_node(spec, params, damaged)
        out[f"{key}_s"] = (time.perf_counter() - t0) / frames
    t0 = time.perf_counter()
    ffmpeg_deflicker(damaged, 5)
    out["ffmpeg_deflicker_gray16_s"] = (time.perf_counter() - t0) / frames
    span = int(DEFLICKER.param("span").default)
    levels = np.random.default_rng(0).normal(0.0, 0.08, (2 * span, 9))
    levels[span:, :3] += 0.5  # a light switched on in a few cells
    t0 = time.perf_counter()
    Segment(tuple(range(2 * span)), levels, np.ones(2 * span, dtype=bool), True)
    out["deflicker_segment_s"] = time.perf_counter() - t0  # shared by 2 x span frames, each frame blends two
    out["load_after"] = os.getloadavg()[0]
    return out


def main(quick: bool = False, lengths: Sequence[int] = (96, 240), stab_radius: int | None = None, deflicker_only: bool = False) -> dict[str, float]:
    """All figures as one flat dict (see `section` for the tables): deflicker on clips of each
    length (4 s and 10 s at 24 fps by default); `deflicker_only` skips stabilize and speed."""
    seeds = 2 if quick else 6
    span = int(DEFLICKER.param("span").default)
    result: dict[str, float] = {"span": span, "stab_radius": stab_radius or STABILIZE.param("radius").default, "seeds": seeds}
    for n in ((48,) if quick else lengths):
        result[f"deflicker{n}.frames"] = n
        result.update({f"deflicker{n}.{k}": v for k, v in deflicker_quality(seeds, n, 144, 256, span, 4).items()})
    if deflicker_only:
        return result
    result.update({f"stabilize.{k}": v for k, v in stabilize_quality(min(seeds, 4), 48 if quick else 96, 270, 480, int(result["stab_radius"])).items()})
    result.update({f"speed.{k}": v for k, v in speed(1080, 1920, 8 if quick else 16).items()})
    return result


def lengths_in(r: dict[str, float]) -> list[int]:
    """The deflicker clip lengths a result holds."""
    return sorted(int(v) for k, v in r.items() if k.startswith("deflicker") and k.endswith(".frames"))


def deflicker_table(r: dict[str, float], n: int) -> list[str]:
    """Markdown lines: the deflicker table for clips of n frames."""
    d = f"deflicker{n}."
    lines = [
        f"Clips of {n} frames ({n / 24:.0f} s at 24 fps), {int(r['seeds'])} draws each, default span {int(r['span'])} (the whole clip is analysed).",
        "",
        "| clip | input | reelfix | f2f in / out | FFmpeg deflicker size 5 / 31 | floor: change's shape and place known | floor: shape known, place searched |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in CHANGES + tuple(c for c in FOOTAGE if d + c + ".input.rms" in r):
        lines.append(
            f"| {c} | {r[d + c + '.input.rms']:.2f} | {r[d + c + '.reelfix.rms']:.2f} | {r[d + c + '.input.f2f']:.2f} / {r[d + c + '.reelfix.f2f']:.2f} "
            f"| {r[d + c + '.ffmpeg5.rms']:.2f} / {r[d + c + '.ffmpeg31.rms']:.2f} | "
            + (f"{r[d + c + '.floor.rms']:.2f} | {r[d + c + '.searched.rms']:.2f} |" if c in CHANGES else "- | - |")
        )
    f = d + "fade."
    lines += [
        "",
        f"Fade clip: outside the fade (the steady frames) input {r[f + 'input.steady_rms']:.2f}%, reelfix {r[f + 'reelfix.steady_rms']:.2f}% "
        f"(floor {r[f + 'floor.steady_rms']:.2f}%); the fade's 12 frames: reelfix RMS {r[f + 'reelfix.fade_rms']:.2f}% (mean {r[f + 'reelfix.fade_mean']:+.2f}%), "
        f"floor {r[f + 'floor.fade_rms']:.2f}% (place searched: {r[f + 'searched.fade_rms']:.2f}%), FFmpeg size 5 {r[f + 'ffmpeg5.fade_rms']:.2f}% (mean {r[f + 'ffmpeg5.fade_mean']:+.2f}%), "
        f"size 31 {r[f + 'ffmpeg31.fade_rms']:.2f}% (mean {r[f + 'ffmpeg31.fade_mean']:+.2f}%). "
        f"Uneven flicker, 3x3 regions: input {r[d + 'none.input.regions']:.2f}%, reelfix {r[d + 'none.reelfix.regions']:.2f}%."
        + (" Footage rows: vtest.avi (static camera, people walking), whose own light wanders by about +-4% over 10 s (the "
           "camera's exposure control); that wander is in the truth, and the trend follows it only partly, so no floor is "
           "given: the frame-to-frame part is what to read there." if d + "footage.input.rms" in r else ""),
        "",
        "Goal (residual < 0.5% where the input had 4-8%, a fade over the last frames kept within 2%): "
        f"no change {'met' if r[d + 'none.reelfix.rms'] < 0.5 else 'NOT met'} ({r[d + 'none.reelfix.rms']:.2f}%); "
        f"fade clip outside the fade {'met' if r[f + 'reelfix.steady_rms'] < 0.5 else 'NOT met'} ({r[f + 'reelfix.steady_rms']:.2f}%), "
        f"whole fade clip {'met' if r[f + 'reelfix.rms'] < 0.5 else 'NOT met'} ({r[f + 'reelfix.rms']:.2f}%), "
        f"fade frames {'met' if r[f + 'reelfix.fade_rms'] < 2.0 else 'NOT met'} ({r[f + 'reelfix.fade_rms']:.2f}%); "
        + "; ".join(f"{c} {'met' if r[d + c + '.reelfix.rms'] < 0.5 else 'NOT met'} ({r[d + c + '.reelfix.rms']:.2f}%, floor {r[d + c + '.floor.rms']:.2f}%)" for c in ("ramp", "light"))
        + ".",
        "",
    ]
    return lines


def section(r: dict[str, float]) -> list[str]:
    """Markdown lines for docs/BENCHMARKS.md."""
    s = "stabilize."
    lines = [
        "## Deflicker and stabilize (temporal quality)",
        "",
        "Command: `python -m benchmarks.temporal_quality`. Frame-mean luminance error against the clean truth, % (RMS over "
        "frames); f2f = frame-to-frame part (what the eye sees as flicker). Each clip's flicker is centred (its gains average "
        "to 1 over the clip: tests/nodes/flicker_clips.py `centring`). The floor is an oracle that knows the intended "
        "change's shape and place and fits only its amounts to the flickered frame means: what any method that must "
        "measure those amounts through the flicker is left with (for the light, a whole-frame step: the per-cell "
        "analysis can beat it). See the module docstring for the clips.",
        "",
    ]
    for n in lengths_in(r):
        lines += deflicker_table(r, n)
    lines += [
        f"| stabilize (radius {int(r['stab_radius'])}) | input weave px (deg) | residual px | constant offset removed | f2f px | pixel check px | floor for this window px | residual deg |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in ("static", "pan"):
        lines.append(
            f"| {c} | {r[s + c + '.input_px']:.2f} ({r[s + c + '.input_deg']:.3f}) | {r[s + c + '.residual_px']:.3f} | {r[s + c + '.residual_centred_px']:.3f} "
            f"| {r[s + c + '.f2f_px']:.3f} | {r[s + c + '.pixel_centred_px']:.3f} | {r[s + c + '.floor_px']:.3f} | {r[s + c + '.residual_deg']:.4f} |"
        )
    sp = "speed."
    lines += [
        "",
        f"Speed at 1920x1080 RGB float, seconds per frame: deflicker {r[sp + 'deflicker_s']:.3f} (measuring and pairs; the trend of a "
        f"{2 * int(r['span'])}-frame segment, {r[sp + 'deflicker_segment_s']:.2f} s, is shared by its frames: "
        f"{r[sp + 'deflicker_segment_s'] / int(r['span']) * 1000:.1f} ms per frame), stabilize {r[sp + 'stabilize_s']:.3f} "
        f"(fill from neighbours {r[sp + 'stabilize_neighbours_s']:.3f}); FFmpeg deflicker on 16-bit grey {r[sp + 'ffmpeg_deflicker_gray16_s']:.3f}."
        + (f" Load average during the run {r[sp + 'load_before']:.1f} / {r[sp + 'load_after']:.1f} on {os.cpu_count()} cores: read the ratios."
           if sp + "load_before" in r else ""),
        "",
    ]
    return lines


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--lengths", type=int, nargs="+", default=[96, 240], help="deflicker clip lengths in frames")
    ap.add_argument("--stab-radius", type=int, default=None)
    ap.add_argument("--deflicker-only", action="store_true", help="only the deflicker figures")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    res = main(a.quick, a.lengths, a.stab_radius, a.deflicker_only)
    if a.json:
        print(json.dumps(res, indent=1))  # noqa: T201 - a command-line tool
    elif a.deflicker_only:
        print("\n".join(line for n in lengths_in(res) for line in deflicker_table(res, n)))  # noqa: T201
    else:
        print("\n".join(section(res)))  # noqa: T201
