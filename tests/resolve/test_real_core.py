"""The Resolve route end to end with the real core: `reelfix check-pipeline` reads a YAML pipeline,
`reelfix run JOB --progress json` restores real EXR and movie frames with a tiny model, and every
frame a restored take shows is the restored copy of the frame the original showed."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import yaml

from reelfix.frames.frame import Frame
from reelfix.frames.image_io import read_header
from reelfix.frames.movie_io import MovieWriter
from reelfix_resolve import conventions, restore
from tests.resolve.conftest import build_scene
from tests.resolve.fake_resolve import World, shown_frames


def test_real_core_restores_what_the_takes_show(tmp_path: Path, model_dir: Path, make_plate) -> None:
    reelfix = Path(sys.executable).parent / "reelfix"
    plate = make_plate(frames=range(1001, 1031), height=12, width=16)
    movie = tmp_path / "media" / "clip.mov"
    with MovieWriter(movie, fps=Fraction(24), width=16, height=12, alpha=False, timecode="01:00:00:00") as writer:
        for i in range(30):
            writer.write(Frame(np.full((12, 16, 3), i / 30, np.float32), ("R", "G", "B"), "lin_srgb", i))
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(yaml.safe_dump({"pipeline": [{"node": "upscale", "params": {"scale": 2, "model": "tiny-x2"}}],
                                        "colorspace": "lin_srgb", "device": "cpu"}))
    s = build_scene(World(), str(movie), plate, str(tmp_path / "gone" / "B.mov"))
    progress: list[tuple[str, int, int]] = []

    class Record(restore.Reporter):
        def progress(self, label: str, done: int, total: int) -> None:
            progress.append((label, done, total))

    opts = restore.Options(str(pipeline), clip_color="Orange", handles=2, out_dir=str(tmp_path / "out"))
    reports = restore.restore(s.resolve, opts, conventions.Conventions(), str(reelfix), Record())
    assert [r.status for r in reports] == ["restored", "restored", "restored", "skipped", "skipped"], [r.line() for r in reports]
    assert ("clip 3-16", 14, 14) in progress and ("A001 1009-1021", 13, 13) in progress
    for name, source in (("movie", str(movie)), ("seq", plate), ("seq again", plate)):
        item = s.items[name]
        restored = item.GetTakeByIndex(item.GetSelectedTakeIndex())["mediaPoolItem"]
        original_frames = list(range(item._in, item._in + item._duration))
        if name != "movie":
            original_frames = [1001 + f for f in original_frames]
        for shown, original in zip(shown_frames(item), original_frames):
            header = read_header(restored._path.replace("####", f"{shown:04d}"))
            assert header["reelfix:source"] == f"{source}#{original}"
        [marker] = item.GetMarkers().values()
        assert Path(marker["note"].split("manifest: ")[1].split("\n")[0]).is_file()
