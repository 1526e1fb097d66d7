"""Cleanup nodes on film-like clips with kept truth: dustbust and scratch quality, and their
speed (and the shared flow's cost) at 2K.

Clips (tests/nodes/clips.py): slow pans across scikit-image's CC0 photos (one with film
grain, one converted to scene-linear light with highlights above 1), a static shot, and
real footage (opencv-doc's vtest.avi: static camera, people walking) when installed.
Dust clips also carry a small real object (a cat's face, 14 px) crossing the shot at
17 px/frame, which must not be removed. Figures, per clip:

- repaired: share of defect pixels (damage > 0.02 on a display-like scale) whose error
  against the truth is at least halved;
- false_changes: share of all pixels changed outside the defects dilated by 3 px (dust) /
  2 px (scratches);
- object_changed: the largest share of the moving object's pixels changed in any frame;
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reelfix import motion  # noqa: E402
from reelfix.nodes.dustbust import SPEC as DUSTBUST  # noqa: E402
from reelfix.nodes.scratch import SPEC as SCRATCH  # noqa: E402
from tests.nodes import clips  # noqa: E402

GOALS = {"dust_repaired": 0.90, "dust_false": 0.002, "scratch_repaired": 0.80, "scratch_false": 0.002}


def _dust_clips(h: int, w: int, n: int) -> dict[str, clips.Clip]:
    out = {
        "pan, astronaut": clips.dust_clip(n, h, w, count=30, max_size=20),
        "pan, coffee, grain": clips.dust_clip(
            n, h, w, count=30, max_size=20, source=clips.pan(n, h, w, name="coffee", velocity=(1.3, -0.6), grain=0.03)
        ),
    }
    out["pan, astronaut, scene-linear"] = clips.to_linear(out["pan, astronaut"])
    footage = clips.footage(n, start=200)
    if footage is not None:
        out["vtest.avi (real footage, people walking)"] = clips.dust_clip(n, count=40, max_size=20, source=footage)
    return out


def _scratch_clips(h: int, w: int, n: int) -> dict[str, clips.Clip]:
    out = {
        "pan, astronaut": clips.scratch_clip(n, h, w, source=clips.pan(n, h, w, velocity=(1.2, 0.3))),
        "pan, coffee, grain": clips.scratch_clip(n, h, w, source=clips.pan(n, h, w, name="coffee", velocity=(1.3, -0.6), grain=0.03)),
        "static shot, astronaut": clips.scratch_clip(n, h, w, source=clips.pan(n, h, w, velocity=(0.0, 0.0))),
    }
    footage = clips.footage(n, start=200)
    if footage is not None:
        out["vtest.avi (real footage, static camera)"] = clips.scratch_clip(n, source=footage)
    return out


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
        t0 = time.perf_counter()
        clips.run_node(spec, clip, {})
        out[f"{name}_s"] = (time.perf_counter() - t0) / n
        out[f"{name}_flows_per_frame"] = motion.stats["estimated"] / n
        out[f"{name}_flow_share"] = motion.stats["seconds"] / max(out[f"{name}_s"] * n, 1e-9)
        out["flow_s"] = motion.stats["seconds"] / max(motion.stats["estimated"], 1)
    out["load_after"] = os.getloadavg()[0]
    return out


def main(height: int = 540, width: int = 960, frames: int = 7, speed: tuple[int, int] = (1080, 1920)) -> dict[str, Any]:
    dust = {name: _measure(DUSTBUST, c, c.dust, {}, 3) for name, c in _dust_clips(height, width, frames).items()}
    scratch = {name: _measure(SCRATCH, c, c.scratch, {}, 2) for name, c in _scratch_clips(height, width, frames).items()}
    return {
        "size": [height, width],
        "frames": frames,
        "dust": dust,
        "scratch": scratch,
        "speed_size": list(speed),
        "speed": _speed(speed[0], speed[1], 4),
        "goals": GOALS,
    }


def markdown(r: dict[str, Any]) -> list[str]:
    """A BENCHMARKS.md section (the lead may restyle it)."""
    lines = [
        f"## Dust and scratch repair ({r['size'][1]}x{r['size'][0]} clips, {r['frames']} frames, kept truth)",
        "",
        "Command: `python -m benchmarks.cleanup_quality`. Goals: dustbust >= 90% of defect pixels repaired (error halved), "
        "< 0.2% of pixels changed outside the dilated defects, the fast real object kept; scratch >= 80% repaired, < 0.2% false.",
        "",
        "| node | clip | repaired | false changes | moving object changed | identical outside matte |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for node in ("dust", "scratch"):
        for name, f in r[node].items():
            obj = f"{f['object_changed']:.1%}" if node == "dust" else "-"
            lines.append(
                f"| {'dustbust' if node == 'dust' else 'scratch'} | {name} | {f['repaired']:.1%} | {f['false_changes']:.3%} | {obj} | "
                f"{'yes' if f['identical_outside_matte'] else 'NO'} |"
            )
    s = r["speed"]
    lines += [
        "",
        f"Speed at {r['speed_size'][1]}x{r['speed_size'][0]} on this CPU: dustbust {s['dustbust_s']:.2f} s/frame, "
        f"scratch {s['scratch_s']:.2f} s/frame; one flow estimate {s['flow_s']:.3f} s "
        f"(each pair of frames is estimated once and the reverse flow is its inverse: in a long shot that is 1 new "
        f"estimate per frame for dustbust at radius 1 and 2 for scratch at radius 2; measured here on 4 frames: "
        f"{s['dustbust_flows_per_frame']:.2f} and {s['scratch_flows_per_frame']:.2f}; flow is "
        f"{s['dustbust_flow_share']:.0%} / {s['scratch_flow_share']:.0%} of each node's time). "
        + (f"Load average during the run {s['load_before']:.1f} / {s['load_after']:.1f} on {os.cpu_count()} cores: "
           "other jobs shared the CPU, so read the ratios (node / flow estimate, scratch / dustbust)." if "load_before" in s else ""),
        "",
    ]
    return lines


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    result = main(270, 480, 5, (540, 960)) if quick else main()
    print(json.dumps(result, indent=1, default=float))
    print("\n".join(markdown(result)))
