"""A job's manifest as one, also after a farm run: OpenJD tasks write one manifest per chunk
(`NAME.reelfix.1001-1010.json`, see jobs/manifest.py) and no `NAME.reelfix.json`. Reading
`NAME.reelfix.json` gives that file merged with every chunk manifest beside it: frames by number
(the record of the latest run wins), runs listed in the order they finished. Read-only: nothing
is written back (a farm may still be writing chunks)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from ..errors import UserError

SUFFIX = ".reelfix.json"
_CHUNK = re.compile(r"\.reelfix\.([A-Za-z0-9_-]+)\.json$")  # the labels manifest_path(output, part) writes


def chunk_manifests(path: str | os.PathLike[str]) -> list[Path]:
    """The chunk manifests beside the job manifest `path` (`out/A001.reelfix.json` ->
    `out/A001.reelfix.1001-1010.json`, ...), sorted by name; none for a chunk manifest itself."""
    p = Path(path)
    if not p.name.endswith(SUFFIX) or not p.parent.is_dir():
        return []
    stem = p.name[: -len(SUFFIX)]
    found = []
    for candidate in p.parent.iterdir():
        m = _CHUNK.search(candidate.name)
        if m and candidate.name == f"{stem}.reelfix.{m.group(1)}.json" and candidate.is_file():
            found.append(candidate)
    return sorted(found)


def _read(p: Path) -> dict[str, Any]:
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise UserError(f"manifest {p} does not exist", hint="a run writes <name>.reelfix.json beside its output "
                        "(a farm task <name>.reelfix.FRAMES.json)") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"manifest {p} cannot be read: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("frames"), dict) or not data.get("runs"):
        raise UserError(f"{p} is not a reelfix run manifest (no frames or runs)", hint="pass the <name>.reelfix.json a run wrote")
    return data


def _finished(data: dict[str, Any]) -> str:
    return str(data["runs"][-1].get("finished", ""))


def merge_manifests(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One manifest from several of the same job: frames by number (a later run's record wins),
    runs in the order they finished, job and job_hash of the latest, the summary counted again."""
    ordered = sorted(parts, key=_finished)
    frames: dict[str, Any] = {}
    for data in ordered:
        frames.update({str(k): v for k, v in data["frames"].items()})
    runs = sorted((r for data in ordered for r in data["runs"]), key=lambda r: str(r.get("finished", "")))
    counts: dict[str, int] = {}
    for record in frames.values():
        counts[str(record.get("status"))] = counts.get(str(record.get("status")), 0) + 1
    latest = ordered[-1]
    return {
        "frames": dict(sorted(frames.items(), key=lambda kv: int(kv[0]))),
        "runs": runs,
        "job": latest.get("job"),
        "job_hash": latest.get("job_hash"),
        "summary": counts,
    }


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest at `path`, merged with the chunk manifests beside it when there are any (then
    `path` itself may be absent: a farm run's). UserError when there is nothing to read."""
    p = Path(path)
    chunks = chunk_manifests(p)
    if not chunks:
        return _read(p)
    parts = [_read(c) for c in chunks] + ([_read(p)] if p.is_file() else [])
    merged = merge_manifests(parts)
    merged["merged_from"] = [c.name for c in chunks] + ([p.name] if p.is_file() else [])
    return merged
