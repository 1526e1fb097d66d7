"""The review report's content: the run manifest (provenance, timings, failures) joined with what
the collector kept from the frames (curves, previews, shots), written as one folder."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ReelfixError
from .charts import Chart, Series
from .merge import read_manifest

WEAVE_WINDOW = 15  # frames: slower motion than this is camera work, kept; faster is weave
BEFORE, AFTER, THIRD = "#8a8f98", "#e0672b", "#2b8ae0"
NODE_COLOURS = ("#e0672b", "#2b8ae0", "#2bb673", "#b62bb6", "#c9a227")


def load_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The run manifest at `path`; after a farm run, the job's chunk manifests merged (merge.py)."""
    return read_manifest(path)


def _licence(name: str) -> str:
    from ..models.catalog import find_model

    try:
        return str(find_model(name).card.licence)
    except (ReelfixError, OSError, ValueError):
        return "unknown (model not installed here)"


def provenance(manifest: dict[str, Any]) -> dict[str, Any]:
    """Node chain with parameters, models (licence, sha256), providers, timings, failures, warnings."""
    run = manifest["runs"][-1]
    frames = manifest["frames"]
    seconds = [float(r.get("seconds", 0.0)) for r in frames.values() if r.get("status") == "done"]
    models = []
    for node in run.get("chain", []):
        model = node.get("model")
        if isinstance(model, dict) and model.get("name"):
            models.append({**model, "node": node.get("node"), "licence": _licence(str(model["name"])), "provider": node.get("provider", "")})
    return {
        "version": run.get("version", ""),
        "job_hash": manifest.get("job_hash", ""),
        "finished": run.get("finished", ""),
        "chain": [{"node": n.get("node"), "params": n.get("params", {}), "provider": n.get("provider", "")} for n in run.get("chain", [])],
        "models": models,
        "providers": sorted({str(n["provider"]) for n in run.get("chain", []) if n.get("provider")}),
        "colorspaces": run.get("colorspaces", {}),
        "summary": manifest.get("summary", {}),
        "run_seconds": run.get("seconds"),
        "frame_seconds": {
            "count": len(seconds),
            "mean": round(float(np.mean(seconds)), 4) if seconds else None,
            "max": round(float(np.max(seconds)), 4) if seconds else None,
        },
        "failures": [{"frame": int(n), "path": r.get("path", ""), "error": r.get("error", "")} for n, r in frames.items() if r.get("status") == "failed"],
        "warnings": list(run.get("warnings", [])),
        "input": (manifest.get("job") or {}).get("input", {}).get("path", ""),
        "output": (manifest.get("job") or {}).get("output", {}).get("path", ""),
    }


def residual_weave(motions: list[tuple[int, list[float] | None]]) -> list[tuple[int, float]]:
    """Per frame, how far the picture sits from its smoothed path (pixels): the camera's own
    slow moves are kept in the smoothing, so what is left is weave and jitter."""
    if not motions:
        return []
    path = np.zeros((len(motions), 2))
    for i, (_, m) in enumerate(motions[1:], start=1):
        path[i] = path[i - 1] + (np.asarray(m, float) if m is not None else 0.0)
    half = WEAVE_WINDOW // 2
    out = []
    for i, (n, _) in enumerate(motions):
        lo, hi = max(0, i - half), min(len(motions), i + half + 1)
        t = np.arange(lo, hi, dtype=float)
        if hi - lo >= 3:  # a local straight line: a steady pan or tilt leaves nothing
            fit = np.polyfit(t, path[lo:hi], 1)
            d = path[i] - (fit[0] * i + fit[1])
        else:
            d = path[i] - path[lo:hi].mean(axis=0)
        out.append((n, round(float(math.hypot(d[0], d[1])), 4)))
    return out


def _rms_stops(values: list[float]) -> float | None:
    v = np.log2(np.maximum(np.asarray(values, float), 1e-9))
    return round(float(np.sqrt(np.mean(np.diff(v) ** 2))), 5) if len(v) > 1 else None


def _frame_json(record: dict[str, Any], key: str) -> dict[str, Any] | None:
    raw = record.get(key)
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def shots(manifest: dict[str, Any], collected: dict[str, Any]) -> list[dict[str, Any]]:
    """Per shot: its frames, previews, curves and headline numbers."""
    numbers = sorted(int(n) for n in manifest["frames"])
    starts = sorted(set(collected.get("shot_starts", [])) | set((manifest.get("job") or {}).get("input", {}).get("cuts") or []))
    starts = [s for s in starts if numbers and numbers[0] < s <= numbers[-1]]
    bounds = [numbers[0]] + starts if numbers else []
    stats: dict[int, dict[str, Any]] = {int(k): v for k, v in collected.get("frames", {}).items()}
    previews = {int(k): v for k, v in collected.get("previews", {}).items()}
    out = []
    for i, first in enumerate(bounds):
        end = bounds[i + 1] if i + 1 < len(bounds) else numbers[-1] + 1
        frames = [n for n in numbers if first <= n < end]
        measured = [n for n in frames if n in stats]
        luma_b = [(n, stats[n]["luma_before"]) for n in measured]
        luma_a = [(n, stats[n]["luma_after"]) for n in measured]
        charts = [Chart("Frame-mean luminance", "linear light, Rec.709 Y", [Series("before", BEFORE, luma_b), Series("after", AFTER, luma_a)])]
        stops = [(n, float(d["stops"])) for n in frames if (d := _frame_json(manifest["frames"][str(n)], "reelfix:deflicker")) and "stops" in d]
        if stops:
            charts.append(Chart("Deflicker correction", "stops", [Series("gain applied", THIRD, stops)]))
        nodes = sorted({k for n in measured for k in stats[n].get("defects", {})})
        defect_series = [
            Series(node, NODE_COLOURS[j % len(NODE_COLOURS)], [(n, float(stats[n].get("defects", {}).get(node, 0))) for n in measured])
            for j, node in enumerate(nodes)
        ]
        if defect_series:
            charts.append(Chart("Defects repaired per frame", "separate areas in the matte", defect_series))
        weave: dict[str, list[tuple[int, float]]] = {}
        if measured and any("motion_before" in stats[n] for n in measured):
            for side in ("before", "after"):
                weave[side] = residual_weave([(n, stats[n].get(f"motion_{side}")) for n in measured])
            charts.append(Chart("Residual weave", "pixels from the smoothed path", [Series("before", BEFORE, weave["before"]), Series("after", AFTER, weave["after"])]))
        failed = [n for n in frames if manifest["frames"][str(n)].get("status") == "failed"]
        for c in charts:
            c.marks = failed
        out.append(
            {
                "index": i + 1,
                "first": frames[0],
                "last": frames[-1],
                "count": len(frames),
                "failed": failed,
                "previews": [{"frame": n, **previews[n]} for n in frames if n in previews],
                "charts": charts,
                "figures": {
                    "flicker_before": _rms_stops([v for _, v in luma_b]),
                    "flicker_after": _rms_stops([v for _, v in luma_a]),
                    "defects": int(sum(sum(stats[n].get("defects", {}).values()) for n in measured)),
                    "weave_before": round(float(np.sqrt(np.mean(np.square([v for _, v in weave["before"]])))), 4) if weave else None,
                    "weave_after": round(float(np.sqrt(np.mean(np.square([v for _, v in weave["after"]])))), 4) if weave else None,
                    "measured": len(measured),
                },
            }
        )
    return out


def write_report(folder: str | os.PathLike[str], manifest_file: str | os.PathLike[str], collected: dict[str, Any], title: str = "") -> Path:
    """Write `folder/index.html` from the manifest and the collector's data; returns its path."""
    from .page import render_page

    manifest = load_manifest(manifest_file)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    prov = provenance(manifest)
    prov["warnings"] += list(collected.get("notes", []))
    page = render_page(
        title=title or Path(str(manifest_file)).name.replace(".reelfix.json", ""),
        manifest_name=str(manifest_file),
        prov=prov,
        shots=shots(manifest, collected),
        display=collected.get("display", {}),
        cost=collected.get("cost", {}),
    )
    target = out / "index.html"
    fd, tmp = tempfile.mkstemp(dir=out, prefix=".index.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(page)
    os.replace(tmp, target)
    return target
