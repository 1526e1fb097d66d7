"""What the reliability tests share: the real CLI in-process (typer's runner) or in a subprocess,
byte digests of folders (to prove sources untouched), small damaged plates and job files."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from typer.testing import CliRunner

from reelfix.cli import app
from reelfix.frames.frame import Frame
from reelfix.frames.image_io import read_image, write_image

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> tuple[int, str]:
    """`reelfix ARGS` in this process: (exit code, stdout + stderr)."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def cli_subprocess(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess[str]:
    """`python -m reelfix ARGS` in a child process."""
    full = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "reelfix", *map(str, args)], capture_output=True, text=True, env=full, cwd=cwd, timeout=timeout, **kw)


def digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder` (symlinks followed), by relative path."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def plate_pixels(height: int, width: int, seed: int, channels: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 0.3 + 0.2 * np.sin(x / 4 + seed * 0.7) * np.cos(y / 5) + 0.02 * rng.standard_normal((height, width)).astype(np.float32)
    return np.ascontiguousarray(np.repeat(base[:, :, None], channels, axis=2), np.float32)


def write_plate(folder: Path, name: str = "A001", frames: range = range(1001, 1006), height: int = 24, width: int = 32, ext: str = "exr") -> str:
    """An image sequence `folder/name.####.ext` (a slow pan with some dirt) and its pattern."""
    for i, n in enumerate(frames):
        pix = plate_pixels(height, width, i)
        pix[(3 * i) % height, (5 * i) % width] = 1.0  # a speck in one frame only
        write_image(str(folder / f"{name}.{n:04d}.{ext}"), Frame(pix, ("R", "G", "B"), "lin_srgb", n), bit_depth="float" if ext == "exr" else None)
    return str(folder / f"{name}.####.{ext}")


def write_job(path: Path, input_path: str, output_path: str, pipeline: list[dict[str, Any]] | None = None, **extra: Any) -> Path:
    job = {
        "input": {"path": input_path, "colorspace": "lin_srgb", **extra.pop("input", {})},
        "output": {"path": output_path, **extra.pop("output", {})},
        "pipeline": pipeline or [{"node": "deflicker", "params": {}}],
        "device": "cpu",
        **extra,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(job) if path.suffix == ".json" else yaml.safe_dump(job))
    return path


# the small temporal job every fault test runs, and what it wrote
FRAMES = range(1001, 1006)
PIPELINE = [{"node": "dustbust", "params": {}}, {"node": "deflicker", "params": {"span": 8}}]


def make_job(folder: Path) -> Path:
    """The plate and the job file every fault test runs (output out/A.####.exr)."""
    write_plate(folder / "plates", frames=FRAMES)
    return write_job(folder / "job.yaml", "plates/A001.####.exr", "out/A.####.exr", PIPELINE)


def outputs(folder: Path) -> dict[int, np.ndarray]:
    """The output frames present under their names, as pixels."""
    return {n: read_image(str(p)).pixels for n in FRAMES if (p := folder / "out" / f"A.{n}.exr").exists()}


def write_edit(path: Path, plates: Path, frames: int, start: int, duration: int) -> Any:
    """A one-clip OTIO edit (24 fps) of plates/A001.####.exr from 1001 holding `frames` frames, using
    `duration` frames from `start`; returns the clip's ImageSequenceReference."""
    import opentimelineio as otio

    RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
    ref = otio.schema.ImageSequenceReference(
        target_url_base=str(plates) + "/", name_prefix="A001.", name_suffix=".exr", start_frame=1001,
        frame_step=1, rate=24, frame_zero_padding=4, available_range=TR(RT(0, 24), RT(frames, 24)),
    )
    timeline = otio.schema.Timeline(name="reel")
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    track.append(otio.schema.Clip(name="shot", media_reference=ref, source_range=TR(RT(start, 24), RT(duration, 24))))
    timeline.tracks.append(track)
    otio.adapters.write_to_file(timeline, str(path))
    return ref
