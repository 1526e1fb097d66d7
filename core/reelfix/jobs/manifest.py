"""The run manifest: a JSON file beside the output listing frames, timings and failures.

Several processes (farm chunks of one job) may update the same manifest: each update is
a read-merge-write under an exclusive lock, written atomically.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .. import faults
from ..errors import ProcessingError
from ..frames.sequence import SequencePattern


def manifest_path(output: str, part: str | None = None) -> Path:
    """`out/A001.####.exr` -> `out/A001.reelfix.json`; `out/film.mov` -> `out/film.reelfix.json`.
    With `part` (a farm chunk's frames, "1001-1010"): `out/A001.reelfix.1001-1010.json`, one file per
    chunk, for farms that sync each task's outputs back separately (job attachments)."""
    pattern = SequencePattern.parse(output)
    name = Path(output).name
    if pattern.is_sequence:
        stem = name.split("#")[0].split("%")[0].rstrip("._-") or "output"
    else:
        stem = Path(name).stem
    label = "".join(c if c.isalnum() or c in "-_" else "_" for c in part) if part else ""
    return Path(output).parent / (f"{stem}.reelfix.{label}.json" if label else f"{stem}.reelfix.json")


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    lock_path = path.with_suffix(path.suffix + ".lock")
    with open(lock_path, "a+") as fh:
        try:
            import fcntl

            fcntl.flock(fh, fcntl.LOCK_EX)
        except ImportError:  # Windows: msvcrt locks a byte range
            import msvcrt

            msvcrt.locking(fh.fileno(), msvcrt.LK_LOCK, 1)
        yield


def update_manifest(path: Path, run: dict[str, Any], frames: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Merge this run's frames (by number) and summary into the manifest at `path`; ProcessingError
    (exit 1: the frames are on disk, a rerun skips them) when it cannot be written (disk full, permissions)."""
    try:
        return _update(path, run, frames)
    except OSError as exc:
        raise ProcessingError(
            f"cannot write the manifest {path}: {exc.strerror or exc}",
            hint="free some disk space or check permissions, then rerun: finished frames are skipped",
        ) from None


def _update(path: Path, run: dict[str, Any], frames: dict[int, dict[str, Any]]) -> dict[str, Any]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):  # a killed writer's: every writer holds the lock
            with contextlib.suppress(OSError):
                stale.unlink()
        try:
            data = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            data = {}
        merged = {str(k): v for k, v in data.get("frames", {}).items()}
        for number, record in frames.items():
            merged[str(number)] = record
        data["frames"] = dict(sorted(merged.items(), key=lambda kv: int(kv[0])))
        runs = data.get("runs", [])
        runs.append({**run, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        data["runs"] = runs[-50:]
        data["job"] = run.get("job")
        data["job_hash"] = run.get("job_hash")
        counts: dict[str, int] = {}
        for record in data["frames"].values():
            counts[record["status"]] = counts.get(record["status"], 0) + 1
        data["summary"] = counts
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(data, fh, indent=2, default=str)
            faults.point("manifest")
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise
    return data
