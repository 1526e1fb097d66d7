"""Question: does `stabilize` remove gate weave made apart from its own clips, and keep camera
moves it was not built around?

    python -m benchmarks.stabilize_independent [--quick]

Clips (tests/nodes/weave_independent.py): scikit-image's `coffee` (CC0) held still, in an
eased pan (slow at both ends) or a slow push-in (a zoom, which a rigid model of motion does
not describe), and real footage (opencv-doc's vtest.avi: static camera, people walking), each
shaken by film-like weave: a lateral wander (AR(1), 1.2 px RMS), a vertical bounce (0.5 px
RMS) with a 4-frame perforation part (0.3 px RMS), a small rotation; drawn as registration
jitter (neighbouring frames correlate 0.3) or as a slow wander (0.85). `stabilize`'s own clips
(docs/bench/temporal.md) draw a new shift every frame and pan at a constant speed.

Scores, px, RMS over frames and draws with each clip's constant offset taken out (a stabiliser
locks to the window's mean path): reelfix's residual from the corrections it reports in each
frame's metadata against the weave drawn (exact), and for every route a pixel check: the
translation of each output frame against its intended frame (scikit-image phase correlation,
central 60%). Routes in the same run: no stabilisation (the input), reelfix `stabilize` with
its defaults (radius 24), FFmpeg's `deshake` filter (PyAV, defaults, fed the sRGB-encoded
frames in 8 bits). Floor: an oracle that knows the shape of the camera path over reelfix's
window and fits only its amounts to the weave: a constant for the still shots and the push-in
(a zoom about the centre does not move the centre), a parabola for the eased pan (its path
curves): what averaging a window leaves of a weave, more where it wanders slowly (neighbouring
frames' weave then averages out less).
Goal (as for the node's own clips): residual under 0.25 px on still shots; camera moves kept
(the moving shots' residual under 0.25 px too). Writes docs/bench/stabilize.md.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np

from benchmarks.common import ffmpeg_filter_frames, write_section
from benchmarks.temporal_quality import pixel_residual, run_node, weave_floor, weave_residual
from reelfix import colour
from reelfix.frames.frame import Frame
from reelfix.nodes.stabilize import SPEC as STABILIZE
from tests.nodes import flicker_clips as fc
from tests.nodes import weave_independent as wi

GOAL_PX = 0.25
RADIUS = int(STABILIZE.param("radius").default)
SHOTS = ("static", "eased pan", "push-in", "footage")
# the floor's fit of each shot's path over a window: its shape, known to the oracle (a push-in about the centre does
# not move the centre; an eased pan's path curves: a parabola over a window)
FLOOR_DEGREE = {"static": 0, "footage": 0, "push-in": 0, "eased pan": 2}


def clip_for(shot: str, weave: str, frames: int, height: int, width: int, seed: int) -> fc.WeaveClip | None:
    if shot == "footage":
        return wi.footage_clip(frames, 256, seed, weave)
    return wi.photo_clip(shot, frames, height, width, seed, weave)


def deshake(frames: list[np.ndarray]) -> list[Frame]:
    """FFmpeg's `deshake` with its defaults, on the frames sRGB-encoded in 8 bits; back to linear floats."""
    enc = [np.clip(np.rint(colour.convert(np.clip(f, 0.0, 1.0), "lin_srgb", "srgb_tx") * 255), 0, 255).astype(np.uint8) for f in frames]
    outs = ffmpeg_filter_frames(enc, "rgb24", [("format", "yuv444p"), ("deshake", ""), ("format", "rgb24")])
    return [Frame(colour.convert(o.astype(np.float32) / 255, "srgb_tx", "lin_srgb"), ("R", "G", "B"), "lin_srgb", i) for i, o in enumerate(outs)]


def centred_rms(parts: list[np.ndarray]) -> float:
    """RMS length of 2-D offsets, each clip's mean taken out."""
    c = np.concatenate([p[:, :2] - p[:, :2].mean(0) for p in parts])
    return float(np.sqrt((c**2).sum(1).mean()))


def main(quick: bool = False) -> dict[str, Any]:
    frames, height, width, seeds = (48, 180, 320, 1) if quick else (96, 270, 480, 3)
    rows: dict[str, dict[str, Any]] = {}
    for weave in wi.WEAVES:
        for shot in SHOTS:
            acc: dict[str, list[np.ndarray]] = {}
            seconds: list[float] = []
            for seed in range(seeds):
                clip = clip_for(shot, weave, frames, height, width, seed)
                if clip is None:
                    break
                t0 = time.perf_counter()
                outs = run_node(STABILIZE, {}, clip.damaged)
                seconds.append((time.perf_counter() - t0) / len(clip))
                still = [Frame(d, ("R", "G", "B"), "lin_srgb", i) for i, d in enumerate(clip.damaged)]
                acc.setdefault("input", []).append(clip.weave)
                acc.setdefault("input_pixel", []).append(pixel_residual(still, clip))
                acc.setdefault("reelfix", []).append(weave_residual(outs, clip))
                acc.setdefault("reelfix_pixel", []).append(pixel_residual(outs, clip))
                acc.setdefault("deshake_pixel", []).append(pixel_residual(deshake(clip.damaged), clip))
                acc.setdefault("floor", []).append(weave_floor(clip.weave[:, :2], RADIUS, FLOOR_DEGREE[shot]))
            if acc:
                row: dict[str, Any] = {k: centred_rms(v) for k, v in acc.items()}
                rows[f"{weave}|{shot}"] = {**row, "draws": len(acc["input"]), "seconds": float(np.mean(seconds))}
    return {"rows": rows, "frames": frames, "load": os.getloadavg()[0]}


def markdown(r: dict[str, Any], command: str = "python -m benchmarks.stabilize_independent") -> list[str]:
    lines = [
        "## Stabilize on weave and camera moves made apart from the project (issue 13, part 5)",
        "",
        f"Command: `{command}`. Clips: tests/nodes/weave_independent.py ({r['frames']} frames each; `coffee` at 480x270, "
        "vtest.avi at 256x192); see benchmarks/stabilize_independent.py for the weave and the scores. Residual weave in px "
        "(RMS over frames and draws, each clip's constant offset taken out): 'reported' from the corrections reelfix writes "
        "in each frame's metadata against the weave drawn; 'pixels' from each output frame against its intended frame.",
        "",
        "| weave | shot | draws | input | reelfix, reported | reelfix, pixels | FFmpeg deshake, pixels | floor: the path's shape known, its amounts fitted over the window | goal (<= 0.25 px) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, row in r["rows"].items():
        weave, shot = key.split("|")
        verdict = "met" if row["reelfix"] <= GOAL_PX else "NOT met"
        if row["floor"] > GOAL_PX:
            verdict += " (the floor is above it)"
        lines.append(f"| {weave} | {shot} | {row['draws']} | {row['input']:.3f} | {row['reelfix']:.3f} | {row['reelfix_pixel']:.3f} | "
                     f"{row['deshake_pixel']:.3f} | {row['floor']:.3f} | {verdict} |")  # fmt: skip
    met = [k.split("|")[1] for k, row in r["rows"].items() if k.startswith("registration") and row["reelfix"] <= GOAL_PX]
    slow = r["rows"].get("slow wander|static")
    lines += [
        "",
        "Reading: registration jitter is what the node was built for, drawn another way; within the goal on: "
        f"{', '.join(met) or 'no shot'}. A slow wander (neighbouring frames correlate 0.85) looks, within a window, like a small camera "
        "move: its level is read from second differences, which a slow wander hardly changes, so the trend follows part of it"
        + (f" ({slow['reelfix']:.2f} px left on the still photo where the floor leaves {slow['floor']:.2f})" if slow else "")
        + ". Estimating that correlation from first differences too halved "
        "the gap on still shots but ate part of every eased pan (tried, not adopted: a camera move kept matters more). "
        "Before commit 8337f1c the trend could also jump between two frames (a model made for a light switched on), and two "
        "or three large offsets the same way were followed as a move: registration jitter on the still photo 0.284 px, eased "
        "pan 0.412, push-in 0.281, footage 0.316, slow wander 0.66-0.67 (same clips, commit e305770). Until commit ba2ddd7 "
        "the path was chained from neighbour pairs (n-1 -> n), whose errors add up over the window: on the footage people "
        "walking pull each pair a little the same way, and that drift left 0.269 px (pixels 0.278); the path is now fitted "
        "to neighbour pairs and pairs 8 frames apart by least squares, and a zoom is measured with each pair so a push-in "
        "pulls nothing (at fb8cf69: still photo 0.191, eased pan 0.317, push-in 0.194, slow wander 0.60-0.61). What the "
        "eased pan keeps above its floor is not the motion: fed the true path, the trend leaves the same (0.315 px on these "
        "draws); it is the trend's averaging over its models (a line, a pan starting or stopping, beside the parabola). "
        "FFmpeg's deshake with its defaults leaves nearly all of this weave.",
        "",
        f"Seconds per frame (reelfix, at these sizes, load {r['load']:.1f} on this machine): "
        + ", ".join(f"{k.replace('|', ', ')} {v['seconds']:.3f}" for k, v in r["rows"].items())
        + ".",
        "",
    ]
    return lines


def write(r: dict[str, Any], command: str = "python -m benchmarks.stabilize_independent") -> list[str]:
    return write_section("stabilize", markdown(r, command))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one draw of 48 frames at 320x180")
    a = ap.parse_args()
    print("\n".join(write(main(a.quick), "python -m benchmarks.stabilize_independent" + (" --quick" if a.quick else ""))))
