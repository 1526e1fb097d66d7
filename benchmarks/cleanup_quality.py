"""Cleanup nodes on film-like clips with kept truth: dustbust and scratch quality, and their
speed (and the shared flow's cost) at 2K. Writes docs/bench/cleanup.md.

Dust clips come from two generators:

- independent (tests/nodes/dirt_clips.py, made after the node and not the one it was tuned
  on): faint dirt as issue 13 describes it, a dozen one-frame irregular soft-edged blobs a
  frame, 2-12 px, a fifth mid-grey (faint on mid-tones), most near-black or near-white,
  composited on display-encoded values, clean and damaged frames through 10-bit DPX written
  and read by OpenImageIO; on a slow pan across a photo with light grain, the same with
  another seed and other parameters (a night picture, more specks, more of them mid-grey,
  more grain, a faster pan), and on real footage;
- the project's own (tests/nodes/clips.py `add_dust`), which the node was developed on.

The peer is the classic spike detector (SDIp: the centre outside both motion-compensated
neighbours by more than 0.06, on the same flows) with the neighbours' mean as the repair.
Scratch clips: slowly drifting scratches, and scratches fixed in the gate on static shots
(coffee with grain, astronaut, a real photo, real footage; with the default and with
`static: true`), plus static shots without a scratch where things of the scene stand still
over the whole height: a thin dark pole, a mast, a wire and a door's edge drawn before the
grain, thin poles against a flat sky under coarse grain, and a real photo of door frames and siding (lomiri-wallpapers' friends_by_Aitzol_
Berasategi.jpg). `photo_sweep` runs every installed wallpaper photo as a static shot, clean
and with gate scratches. Real footage: opencv-doc's vtest.avi (static camera, people
walking) when installed. Photos and footage are read where installed, never committed;
their rows are skipped when absent. Figures, per clip:

- repaired: share of defect pixels (damage > 0.02 on a display-like scale) whose error
  against the truth is at least halved;
- false_changes: share of all pixels changed outside the defects dilated by 3 px (dust) /
  2 px (scratches);
- object_changed: the largest share of a small real object's pixels (a cat's face, 14 px,
  crossing at 17 px/frame; own-generator dust clips) changed in any frame;
- identical: every pixel outside the node's matte is bit-identical to the input.

Command: `python -m benchmarks.cleanup_quality [--quick]`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reelfix import motion  # noqa: E402
from reelfix.frames.frame import Frame  # noqa: E402
from reelfix.nodes.dustbust import SPEC as DUSTBUST  # noqa: E402
from reelfix.nodes.dustbust import choose_neighbours  # noqa: E402
from reelfix.nodes.scratch import SPEC as SCRATCH  # noqa: E402
from tests.nodes import clips, dirt_clips  # noqa: E402

GOALS = {"dust_repaired": 0.90, "dust_false": 0.002, "scratch_repaired": 0.80, "scratch_false": 0.002, "gate_repaired": 0.90}
GATE = "fixed in the gate"  # rows with this in their name have the gate goal (issue 13)
OUT = Path(__file__).resolve().parents[1] / "docs" / "bench" / "cleanup.md"
WALLPAPERS = Path("/usr/share/backgrounds")
INDEPENDENT, OWN = "independent (dirt_clips)", "own (clips.add_dust)"
PHOTO = "friends_by_Aitzol_Berasategi.jpg"  # lomiri-wallpapers-16.04, CC-BY-SA-4.0: read where installed, never committed


def _dust_clips(h: int, w: int, n: int) -> dict[str, tuple[str, clips.Clip]]:
    out = {
        "slow pan, chelsea, 12 specks/frame, 10-bit DPX": (INDEPENDENT, dirt_clips.dirt_clip(n, h, w, count=12, seed=11, name="chelsea")),
        "other seed and parameters: night pan (rocket), 16 specks, 35% mid-grey, more grain, faster": (
            INDEPENDENT,
            dirt_clips.dirt_clip(n, h, w, count=16, seed=23, mid_share=0.35, name="rocket", velocity=(-0.8, 0.35), grain=0.012),
        ),
    }
    real = dirt_clips.footage_dirt_clip(n, count=12, seed=11)
    if real is not None:
        out["vtest.avi (real footage, people walking), 10-bit DPX"] = (INDEPENDENT, real)
        other = dirt_clips.footage_dirt_clip(n, count=16, seed=31, start=400)
        out["vtest.avi, other frames (from 400) and seed, 16 specks"] = (INDEPENDENT, other)  # type: ignore[assignment]
    astro = clips.dust_clip(n, h, w, count=30, max_size=20)
    out["pan, astronaut"] = (OWN, astro)
    out["pan, coffee, grain"] = (OWN, clips.dust_clip(
        n, h, w, count=30, max_size=20, source=clips.pan(n, h, w, name="coffee", velocity=(1.3, -0.6), grain=0.03)))
    out["pan, astronaut, scene-linear"] = (OWN, clips.to_linear(astro))
    footage = clips.footage(n, start=200)
    if footage is not None:
        out["vtest.avi (real footage, people walking)"] = (OWN, clips.dust_clip(n, count=40, max_size=20, source=footage))
    return out


def _scratch_clips(h: int, w: int, n: int) -> dict[str, tuple[clips.Clip, dict[str, Any]]]:
    static = clips.pan(n, h, w, velocity=(0.0, 0.0))
    grainy = clips.pan(n, h, w, name="coffee", velocity=(0.0, 0.0), grain=0.02)
    gate = clips.scratch_clip(n, h, w, source=grainy, gate=True)
    pole = clips.pan(1, h, w, name="coffee", velocity=(0.0, 0.0))[0]
    pole[:, w // 3 : w // 3 + 2] = 0.05  # a thin dark pole of the picture over the whole height, no scratch
    poles = clips.add_grain(pole, n, 0.02)  # drawn before the grain (`grainy`'s), as a camera records it
    none = [np.zeros((h, w), np.float32)] * n
    sky = clips.sky_with_poles(n, h, w)
    scene = clips.add_grain(clips.scene_lines(clips.pan(1, h, w, name="coffee", velocity=(0.0, 0.0))[0]), n, 0.02, seed=3)
    out = {
        "pan, astronaut": (clips.scratch_clip(n, h, w, source=clips.pan(n, h, w, velocity=(1.2, 0.3))), {}),
        "pan, coffee, grain": (clips.scratch_clip(n, h, w, source=clips.pan(n, h, w, name="coffee", velocity=(1.3, -0.6), grain=0.03)), {}),
        "static shot, astronaut, drifting scratches": (clips.scratch_clip(n, h, w, source=static), {}),
        "static shot, coffee, grain, scratches fixed in the gate": (gate, {}),
        "static shot, astronaut, no grain, scratches fixed in the gate": (clips.scratch_clip(n, h, w, source=static, gate=True), {}),
        "static shot, coffee, grain, scratches fixed in the gate, `static: true`": (gate, {"static": True}),
        "static shot, coffee, grain, a full-height pole and no scratch": (clips.Clip(poles, poles, scratch=none), {}),
        "static shot, coffee, grain, a full-height pole and no scratch, `static: true`": (
            clips.Clip(poles, poles, scratch=none), {"static": True}),
        "static shot, coffee, grain, scratches fixed in the gate and the full-height pole": (
            clips.scratch_clip(n, h, w, source=poles, gate=True), {}),
        "static shot, coffee, a mast, a wire and a door's edge over the whole height, grain over them, no scratch": (
            clips.Clip(scene, scene, scratch=none), {}),
        "static shot, flat sky, two thin poles under coarse grain, no scratch": (
            clips.Clip(sky, sky, scratch=none), {}),
    }
    photo = clips.wallpaper(PHOTO, h, w)
    if photo is not None:
        shot = clips.add_grain(photo, n, 0.02, seed=4)
        out[f"real photo ({PHOTO}: door frames, siding), static, grain, no scratch"] = (clips.Clip(shot, shot, scratch=none), {})
        out["the same photo with scratches fixed in the gate"] = (clips.scratch_clip(n, source=shot, gate=True), {})
    footage = clips.footage(n, start=200)
    if footage is not None:
        out["vtest.avi (real footage, static camera)"] = (clips.scratch_clip(n, source=footage), {})
        out["vtest.avi, scratches fixed in the gate"] = (clips.scratch_clip(n, source=footage, gate=True), {})
    return out


def _centre_only(clip: clips.Clip, params: dict[str, Any]) -> tuple[np.ndarray, Any]:
    """The node's output pixels and matte for the middle frame of a short clip."""
    from reelfix.nodes.spec import NodeContext, Window

    runner = SCRATCH.factory(SCRATCH.validate(params, "bench"), NodeContext())
    frames = {i: Frame(d, ("R", "G", "B"), clip.colorspace, i) for i, d in enumerate(clip.damaged)}
    out = runner.process(Window(len(clip) // 2, frames))
    return out.pixels, out.mattes.get(SCRATCH.name)


def photo_sweep(h: int, w: int, frames: int = 5) -> dict[str, float] | None:
    """Every installed wallpaper photo (lomiri-wallpapers-16.04, mate-backgrounds; read where
    installed, never committed), cut from its middle, as a static grainy shot: the middle
    frame through `scratch` with defaults, once clean (changed pixels: all false) and once
    with the benchmark's three scratches fixed in the gate (repaired, false, identity)."""
    names = sorted(str(p.relative_to(WALLPAPERS)) for p in [*WALLPAPERS.glob("*.jpg"), *WALLPAPERS.glob("mate/nature/*.jpg")])
    pictures = [p for p in (clips.wallpaper(n, h, w, top=0.5) for n in names) if p is not None]
    if not pictures:
        return None
    changed = lines_changed = 0
    clean_c, damaged_c, truth_c, outs, mattes = [], [], [], [], []
    for i, picture in enumerate(pictures):
        shot = clips.add_grain(picture, frames, 0.02, seed=i)
        motion.clear_cache()
        out, _ = _centre_only(clips.Clip(shot, shot), {})
        n_changed = int((out != shot[frames // 2]).any(axis=2).sum())
        changed += n_changed
        lines_changed += n_changed > 0
        gate = clips.scratch_clip(frames, source=shot, gate=True)
        motion.clear_cache()
        out, matte = _centre_only(gate, {})
        c = frames // 2
        clean_c.append(gate.clean[c])
        damaged_c.append(gate.damaged[c])
        truth_c.append(gate.scratch[c])
        outs.append(out)
        mattes.append(matte)
    figures = clips.score(clips.Clip(clean_c, damaged_c, scratch=truth_c), outs, truth_c, mattes, dilate=2)
    return {"photos": len(pictures), "clean_changed": changed / (len(pictures) * h * w),
            "clean_photos_changed": lines_changed, **figures}


def peer_sdi(clip: clips.Clip, threshold: float = 0.06) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The classic spike detector (SDIp) on the node's own flows: a pixel whose luma lies
    outside both aligned neighbours' by more than `threshold`, grown by 1 px, replaced by the
    neighbours' mean. Returns the outputs and mattes."""
    frames = [Frame(d, ("R", "G", "B"), clip.colorspace, i) for i, d in enumerate(clip.damaged)]
    outs, mattes = [], []
    for i, centre in enumerate(frames):
        nb = [frames[n] for n in choose_neighbours(i, list(range(len(frames))), 1)]
        flows = [motion.flow(centre, f) for f in nb]
        q = motion.perceptual_luma(centre)
        al = [motion.warp(motion.perceptual_luma(f), fl) for f, fl in zip(nb, flows)]
        flag = (q - np.max(al, axis=0) > threshold) | (np.min(al, axis=0) - q > threshold)
        flag = cv2.dilate(flag.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        out = centre.pixels.copy()
        out[flag] = np.mean([motion.warp(f.pixels, fl) for f, fl in zip(nb, flows)], axis=0)[flag]
        outs.append(out)
        mattes.append(flag.astype(np.float32))
    return outs, mattes


def _measure(spec: Any, clip: clips.Clip, truth: list, params: dict[str, Any], dilate: int) -> dict[str, float]:
    motion.clear_cache()
    t0 = time.perf_counter()
    outs, mattes = clips.run_node(spec, clip, params)
    figures = clips.score(clip, outs, truth, mattes, dilate=dilate)
    figures["seconds_per_frame"] = (time.perf_counter() - t0) / len(clip)
    return figures


def _speed(h: int, w: int, n: int) -> dict[str, float]:
    """Seconds per frame of each node at h x w, and of one flow estimate (shared)."""
    dust = clips.dust_clip(n, h, w, count=60, max_size=24, obj=False, source=clips.pan(n, h, w, velocity=(1.1, 0.4)))
    scr = clips.scratch_clip(n, h, w, source=clips.pan(n, h, w, velocity=(1.1, 0.4)))
    out: dict[str, float] = {"load_before": os.getloadavg()[0]}
    for name, spec, clip in (("dustbust", DUSTBUST, dust), ("scratch", SCRATCH, scr)):
        motion.clear_cache()
        t0, c0 = time.perf_counter(), time.process_time()
        clips.run_node(spec, clip, {})
        out[f"{name}_s"] = (time.perf_counter() - t0) / n
        out[f"{name}_cpu_s"] = (time.process_time() - c0) / n
        out[f"{name}_flows_per_frame"] = motion.stats["estimated"] / n
        out[f"{name}_flow_share"] = motion.stats["seconds"] / max(out[f"{name}_s"] * n, 1e-9)
        out["flow_s"] = motion.stats["seconds"] / max(motion.stats["estimated"], 1)
    out["load_after"] = os.getloadavg()[0]
    return out


def _dust(name: str, generator: str, clip: clips.Clip) -> dict[str, Any]:
    figures: dict[str, Any] = {"generator": generator, **_measure(DUSTBUST, clip, clip.dust, {}, 3)}
    motion.clear_cache()
    outs, mattes = peer_sdi(clip)
    figures["peer"] = clips.score(clip, outs, clip.dust, mattes, dilate=3)
    return figures


def main(height: int = 540, width: int = 960, frames: int = 7, speed: tuple[int, int] = (1080, 1920)) -> dict[str, Any]:
    t0 = time.perf_counter()
    dust = {name: _dust(name, gen, c) for name, (gen, c) in _dust_clips(height, width, frames).items()}
    scratch = {name: {**_measure(SCRATCH, c, c.scratch, params, 2), "params": params}
               for name, (c, params) in _scratch_clips(height, width, frames).items()}
    sweep = photo_sweep(height, width)
    return {
        "photo_sweep": sweep,
        "size": [height, width],
        "frames": frames,
        "dust": dust,
        "scratch": scratch,
        "speed_size": list(speed),
        "speed": _speed(speed[0], speed[1], 4),
        "goals": GOALS,
        "seconds": time.perf_counter() - t0,
    }


def _ok(flag: bool) -> str:
    return "met" if flag else "NOT met"


def markdown(r: dict[str, Any]) -> list[str]:
    """The benchmark's section (docs/bench/cleanup.md; the lead may restyle it)."""
    g = r["goals"]
    quick = " --quick" if r["size"][0] < 540 else ""
    lines = [
        f"## Dust and scratch repair ({r['size'][1]}x{r['size'][0]} clips, {r['frames']} frames, kept truth)",
        "",
        f"Command: `python -m benchmarks.cleanup_quality{quick}` ({r['seconds']:.0f} s on this machine). Dust generators: "
        "*independent* = tests/nodes/dirt_clips.py (faint dirt as issue 13 describes it: irregular soft-edged blobs of 2-12 px, "
        "a fifth mid-grey, through 10-bit DPX written and read by OpenImageIO; not the generator the node was designed "
        "around, but this version's changes were made while measuring its first seed on the first clip and vtest.avi, so the "
        "rows with other seeds, parameters and frames are the check against fitting it); "
        "*own* = tests/nodes/clips.py `add_dust` (the node was developed on it). Peer: the classic spike detector SDIp "
        "(centre outside both motion-compensated neighbours by > 0.06, same flows, neighbours' mean as repair). "
        "Repaired: share of defect pixels (damage > 0.02) whose error against the truth is at least halved; false: share of "
        "all pixels changed outside the defects dilated by 3 px. Goals: "
        f">= {g['dust_repaired']:.0%} repaired, <= {g['dust_false']:.1%} false, every pixel outside the matte bit-identical.",
        "",
        "| clip | dust generator | repaired | goal | false changes | goal | identical outside matte | fast real object changed | "
        "peer SDIp repaired / false |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, f in r["dust"].items():
        obj = f"{f['object_changed']:.1%}" if f["generator"] == OWN else "-"
        p = f["peer"]
        lines.append(
            f"| {name} | {f['generator']} | {f['repaired']:.1%} | {_ok(f['repaired'] >= g['dust_repaired'])} | "
            f"{f['false_changes']:.3%} | {_ok(f['false_changes'] <= g['dust_false'])} | "
            f"{'yes' if f['identical_outside_matte'] else 'NO'} | {obj} | {p['repaired']:.1%} / {p['false_changes']:.3%} |"
        )
    lines += [
        "",
        "Before this change (commit 1357d09, same independent clips): 84.0% (slow pan), 84.1% (other seed) and 86.1% "
        "(vtest.avi) repaired, false 0.000% / 0.000% / 0.019%: the luma alone hid mid-grey dirt on coloured picture; "
        "now each colour channel is tested too and the threshold is lower on flat picture. That costs CPU: about 1.0 "
        "against 0.5 CPU s per 1920x1080 frame for the node itself (measured on this machine with both versions).",
        "",
        f"Scratch: goals >= {g['scratch_repaired']:.0%} repaired ({g.get('gate_repaired', 0.9):.0%} for scratches {GATE} on a static "
        f"shot, issue 13), <= {g['scratch_false']:.1%} false (outside the scratches + 2 px; on clips without a scratch every "
        "changed pixel), every pixel outside the matte bit-identical. Scratches drift 0.15-0.3 px/frame, or are fixed in the "
        "gate (no drift, no weave); 1, 2 and 3 px, bright and dark. Things of the scene (pole, mast, wire, door edge) are drawn "
        "before the grain, as a camera would record them.",
        "",
        "| clip | params | repaired | goal | false changes | goal | identical outside matte |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, f in r["scratch"].items():
        params = ", ".join(f"{k}: {v}" for k, v in f["params"].items()) or "defaults"
        has = f["defect_pixels"] > 0
        rep = f"{f['repaired']:.1%}" if has else "- (no scratch)"
        goal = _ok(f["repaired"] >= g.get("gate_repaired", 0.9) if GATE in name else f["repaired"] >= g["scratch_repaired"]) if has else "-"
        lines.append(
            f"| {name} | {params} | {rep} | {goal} | {f['false_changes']:.3%} | {_ok(f['false_changes'] <= g['scratch_false'])} | "
            f"{'yes' if f['identical_outside_matte'] else 'NO'} |"
        )
    s = r["speed"]
    if not clips.VTEST.exists():
        lines += ["", f"Real footage rows skipped: {clips.VTEST} is absent (Debian package `opencv-doc`)."]
    sw = r.get("photo_sweep")
    if sw:
        lines += [
            "",
            f"All {sw['photos']} installed wallpaper photos (Debian lomiri-wallpapers-16.04 and mate-backgrounds, cut from their "
            "middle, read where installed and never committed), each a static grainy shot of 5 frames, the middle frame through "
            f"the node with defaults: clean, {sw['clean_changed']:.3%} of the pixels changed ({sw['clean_photos_changed']} photos "
            f"with any change; goal <= {g['scratch_false']:.1%}: {_ok(sw['clean_changed'] <= g['scratch_false'])}); with the three "
            f"scratches {GATE}: {sw['repaired']:.4%} of {sw['defect_pixels']:.0f} damaged pixels repaired (goal {g.get('gate_repaired', 0.9):.0%}: "
            f"{_ok(sw['repaired'] >= g.get('gate_repaired', 0.9))}), {sw['false_changes']:.3%} false, identical outside the matte: "
            f"{'yes' if sw['identical_outside_matte'] else 'NO'}.",
        ]
    lines += [
        "",
        "A scratch fixed in the gate on a static shot does not move against the picture, exactly like a pole of the picture, "
        "so the picture and the film decide (core/reelfix/nodes/scratch_gate.py): a still line with the shape of a gate "
        "scratch (dead straight over at least 80% of the height) is repaired when it acts as a veil. Either the picture's "
        "vertical detail continues through every column of it (each column's detail correlates >= 0.6 with the detail "
        "interpolated from both sides, at a gain >= 0.25), measured on the mean of the shot's frames (grain is independent "
        "per frame; the picture and a gate scratch stay), rows counting where that detail has 8x the energy of the grain "
        "left in the mean (from the frames' own spread there), and no line touching it hides the picture; or, where the "
        "picture cannot tell (too flat or blurred beside the line, or an edge or texture that does not continue across it), "
        "the film's grain goes through it as through a veil: each frame's grain passes at the veil's gain, at most what the "
        "levels allow (a dark line's level over the level beside it, a bright line's from white), and the line may carry "
        "at most 1.15x the grain that gain passes of the grain beside it; a pole, a wire or a door's gap recorded under the "
        "grain carries grain of its own (1.8-5.8x on these clips; the sweep's gate scratches 0.95-1.06x). Grain tells only "
        "where the line dims or lifts the picture by a fifth at least. A line whose grain shows it is a veil is taken "
        "whatever touches it; a line that hides what is behind it is kept. Before commit ccf70c8 grain was not used: "
        "84.9461% repaired in the sweep and 84.9% on the real photo (every scratch on a flat or blurred picture kept: "
        "umang, TwoWings, Garden, Aqua, GreenMeadow; the real photo's 1-px scratch vetoed in 6 of its 7 frames by the dark "
        "side of the detector joining it to a door frame's slanted edge). Still missed in the sweep: free_by_Peter_Nerlich's "
        "two bright scratches across white lamps (a bright veil cannot show over white, so the line spans too little of the "
        "height to have a gate line's shape), Picture_1A's dark scratch among bristles (not found in the lowest quarter), "
        "and pixels of taken scratches whose error the spatial repair does not halve on textured pictures (life, Dragonfly). "
        "Before commit 3b6e5a8 the test used the centre frame alone, the grain's level taken from its flattest 5%: 74.1% "
        "repaired in the sweep and 49.5% on the real photo. The drift test takes twice its standard error off the measured "
        "drift (the flow on flat grain is noise: the flat-sky row). An opaque scratch is kept by default (it hides the "
        "picture); `static: true` takes every still line of that shape, opaque ones too, but not one whose grain shows it "
        "was recorded with the scene (the full-height pole). Up to commit ccf70c8 that pole was drawn over the grain, with "
        "no grain of its own: an opaque line that no cue tells from an opaque scratch, so `static: true` removed it (0.208% "
        "false; it still does so with such a line); it is drawn before the grain now, as this section says things of the "
        "scene are. Before commit b636379 a gate scratch on a static shot was repaired only with "
        "`static: true` (by default 0.0% on the coffee gate row).",
        "",
        f"Speed at {r['speed_size'][1]}x{r['speed_size'][0]} on this CPU: dustbust {s['dustbust_s']:.2f} s/frame "
        f"({s.get('dustbust_cpu_s', 0):.2f} CPU s), scratch {s['scratch_s']:.2f} s/frame ({s.get('scratch_cpu_s', 0):.2f} CPU s); "
        f"one flow estimate {s['flow_s']:.3f} s "
        f"(each pair of frames is estimated once and the reverse flow is its inverse: in a long shot that is 1 new "
        f"estimate per frame for dustbust at radius 1 and 2 for scratch at radius 2; measured here on 4 frames: "
        f"{s['dustbust_flows_per_frame']:.2f} and {s['scratch_flows_per_frame']:.2f}; flow is "
        f"{s['dustbust_flow_share']:.0%} / {s['scratch_flow_share']:.0%} of each node's time). "
        f"Load average during the run {s['load_before']:.1f} / {s['load_after']:.1f} on {os.cpu_count()} cores: "
        "other jobs shared the CPU, so read the ratios (node / flow estimate, scratch / dustbust).",
        "",
    ]
    return lines


def write(r: dict[str, Any], path: Path = OUT) -> list[str]:
    """Write the section to docs/bench/cleanup.md; returns its lines."""
    lines = markdown(r)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return lines


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    result = main(270, 480, 5, (540, 960)) if quick else main()
    print(json.dumps(result, indent=1, default=float))
    print("\n".join(write(result)))
