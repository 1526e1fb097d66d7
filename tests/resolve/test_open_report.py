"""Workspace > Scripts > reelfix Open Report against the fake Resolve and the fake core: the newest
run among the timeline's restored clips, a farm run's chunk manifests, the project's folder when the
timeline has none, a message (never a traceback) when there is no run."""

from __future__ import annotations

import json
import os
from pathlib import Path

from reelfix_resolve import core, report
from tests.resolve.test_restore import run


def configure(fake_bin: Path, out: Path) -> None:
    cfg = Path(core.config_dir())
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "config.json").write_text(json.dumps({"reelfix_bin": str(fake_bin), "resolve_output_dir": str(out)}))


def test_the_newest_run_of_the_timeline_and_a_farm_runs_chunks(tmp_path: Path, scene, fake_bin: Path, pipeline_json: Path, capsys) -> None:
    s = scene()
    out = tmp_path / "out"
    run(s, fake_bin, pipeline_json, out / "Film", handles=8)
    configure(fake_bin, out)
    manifests = sorted(report.timeline_manifests(s.resolve))
    assert len(set(manifests)) == 2 and all(os.path.isfile(m) for m in manifests)  # the movie's and the sequence's runs
    older, newer = sorted(set(manifests))
    os.utime(older, (2_000_000_000, 2_000_000_000))
    os.utime(newer, (1_000_000_000, 1_000_000_000))
    assert report.latest_manifest(s.resolve, {"resolve_output_dir": str(out)}) == older

    # the other span went to the farm: its tasks wrote NAME.reelfix.FRAMES.json, the job's manifest is gone
    os.remove(newer)
    for i, frames in enumerate(("1003-1012", "1013-1027")):
        chunk = newer[: -len(".json")] + ".{}.json".format(frames)
        Path(chunk).write_text("{}")
        os.utime(chunk, (3_000_000_000 + i, 3_000_000_000 + i))
    opened: list[str] = []
    page = report.main({"resolve": s.resolve, "fusion": None, "bmd": None}, opener=opened.append)
    assert page == os.path.join(os.path.dirname(newer), "review", "index.html")
    assert opened == [Path(page).as_uri()] and "1013-1027" in Path(page).read_text()
    said = capsys.readouterr().out
    assert "reelfix: writing the review page of {}".format(newer) in said and "reelfix: opened " + page in said


def test_the_projects_folder_when_the_timeline_has_no_restored_clip_else_a_message(tmp_path: Path, scene, fake_bin: Path, capsys) -> None:
    s = scene()
    out = tmp_path / "out"
    configure(fake_bin, out)
    opened: list[str] = []
    assert report.main({"resolve": s.resolve}, opener=opened.append) is None and opened == []
    said = capsys.readouterr().out
    assert "reelfix: no report: no restored clip with a finished run on this timeline" in said and "Traceback" not in said

    kept = out / "Film" / "A001_0a1b2c" / "p0a1b2c3d" / "A001.reelfix.json"
    kept.parent.mkdir(parents=True)
    kept.write_text("{}")
    page = report.main({"resolve": s.resolve}, opener=opened.append)
    assert page == str(kept.parent / "review" / "index.html") and opened == [Path(page).as_uri()]
    assert report.main({}) is None and "runs from DaVinci Resolve's Workspace > Scripts menu" in capsys.readouterr().out
