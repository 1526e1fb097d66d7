"""`python -m reelfix_resolve`: exit 2 with reasons when Resolve cannot be reached, a summary per clip otherwise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reelfix_resolve import cli
from tests.resolve.conftest import PLUGIN


def run_module(args: list[str], tmp_path: Path, modules: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    paths = [str(PLUGIN)] + ([str(modules)] if modules else [])
    full = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "RESOLVE_SCRIPT_API": str(tmp_path / "no-resolve"), **env}
    return subprocess.run([sys.executable, "-m", "reelfix_resolve", *args], capture_output=True, text=True, env=full, timeout=60)


@pytest.fixture
def dvr_returning_none(tmp_path: Path) -> Path:
    folder = tmp_path / "fake_modules"
    folder.mkdir()
    (folder / "DaVinciResolveScript.py").write_text("def scriptapp(name):\n    return None\n")
    return folder


ARGS = ["restore", "--clip-color", "Orange", "--pipeline", "p.yaml"]


def test_exit_2_with_reasons_when_scriptapp_returns_none(tmp_path: Path, dvr_returning_none: Path) -> None:
    r = run_module(ARGS, tmp_path, dvr_returning_none)
    assert r.returncode == 2
    assert 'scriptapp("Resolve") returned None' in r.stderr
    assert "not running" in r.stderr and "External scripting using" in r.stderr and "free version" in r.stderr
    assert "needs DaVinci Resolve Studio" in r.stderr and "reelfix conform EDIT.otio" in r.stderr  # the route that works
    assert "Traceback" not in r.stderr


def test_the_free_version_reason_follows_its_switch(tmp_path: Path, dvr_returning_none: Path) -> None:
    r = run_module(ARGS, tmp_path, dvr_returning_none, REELFIX_RESOLVE_CONVENTIONS='{"free_external_scripting": true}')
    assert r.returncode == 2 and "not running" in r.stderr and "free version" not in r.stderr


def test_exit_2_when_the_scripting_module_is_missing(tmp_path: Path) -> None:
    r = run_module(ARGS, tmp_path)
    assert r.returncode == 2
    assert "DaVinciResolveScript" in r.stderr and "RESOLVE_SCRIPT_API" in r.stderr and "Traceback" not in r.stderr


def test_conventions_command_and_bad_values(tmp_path: Path) -> None:
    r = run_module(["conventions", "--convention", "source_origin=file"], tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["source_origin"] == "file"
    r = run_module(["conventions", "--convention", "source_origin=middle"], tmp_path)
    assert r.returncode == 2 and "choose one of auto, clip, file" in r.stderr


def test_restore_prints_a_line_per_clip(tmp_path: Path, scene, fake_bin: Path, pipeline_json: Path, capsys, monkeypatch) -> None:
    s = scene()
    argv = ["restore", "--clip-color", "Orange", "--pipeline", str(pipeline_json), "--out", str(tmp_path / "out"),
            "--reelfix", str(fake_bin), "--handles", "4"]
    assert cli.main(argv, resolve=s.resolve) == 0
    out = capsys.readouterr().out.splitlines()
    lines = [line for line in out if not line.startswith("reelfix:")]
    assert [line.split(":")[0].split()[0] for line in lines] == ["restored", "restored", "restored", "skipped", "skipped"]
    assert any("V1 'movie': frames 5-14 (handles 1-18), take 2 selected" in line for line in lines)

    monkeypatch.setenv("FAKE_REELFIX_FAIL", "1012")  # a failed frame: exit 1 (fresh output folder: nothing to resume)
    assert cli.main(argv[:5] + ["--out", str(tmp_path / "out2"), "--reelfix", str(fake_bin)], resolve=scene().resolve) == 1


def test_restore_twice_restores_nothing_twice(tmp_path: Path, scene, fake_bin: Path, pipeline_json: Path, capsys) -> None:
    """The acceptance of issue 14: the same command twice on one timeline: the second run plans from the
    original media (take 1), writes no frame, and reuses each take and marker."""
    s = scene()
    argv = ["restore", "--clip-color", "Orange", "--pipeline", str(pipeline_json), "--out", str(tmp_path / "out"),
            "--reelfix", str(fake_bin)]
    assert cli.main(argv, resolve=s.resolve) == 0
    frames = {str(p): (p.read_text(), p.stat().st_mtime_ns) for p in (tmp_path / "out").rglob("*.exr")}
    capsys.readouterr()
    assert cli.main(argv, resolve=s.resolve) == 0
    out = capsys.readouterr().out
    assert out.count("take 2 reused (original: take 1)") == 3 and "/3 frames" not in out
    assert {str(p): (p.read_text(), p.stat().st_mtime_ns) for p in (tmp_path / "out").rglob("*.exr")} == frames
    runs = [json.loads(line) for line in (tmp_path / "reelfix.log").read_text().splitlines() if line.startswith('["run"')]
    inputs = [json.loads(Path(r[1]).read_text())["input"]["path"] for r in runs]
    assert len(inputs) == 4 and inputs[:2] == inputs[2:] and all("/media/" in p for p in inputs)
    for name in ("movie", "seq", "seq again"):
        item = s.items[name]
        assert item.GetTakesCount() == 2 and item.GetSelectedTakeIndex() == 2
        assert [m["name"] for m in item.GetMarkers().values()] == ["reelfix"]


def test_restore_through_the_scripting_module(tmp_path: Path, scene, fake_bin: Path, pipeline_json: Path, monkeypatch) -> None:
    """The connection path: DaVinciResolveScript.scriptapp("Resolve") gives the (fake) Resolve."""
    s = scene()

    class Dvr:
        @staticmethod
        def scriptapp(name: str):
            assert name == "Resolve"
            return s.resolve

    monkeypatch.setenv("REELFIX_BIN", str(fake_bin))
    argv = ["restore", "--track", "1", "--pipeline", str(pipeline_json), "--out", str(tmp_path / "o"), "--as", "track"]
    assert cli.main(argv, dvr=Dvr()) == 0
    assert s.timeline.GetTrackCount("video") == 2


def test_no_reelfix_core_is_exit_2_naming_the_three_places(tmp_path: Path, scene, pipeline_json: Path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("REELFIX_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert cli.main(["restore", "--track", "1", "--pipeline", str(pipeline_json)], resolve=scene().resolve) == 2
    err = capsys.readouterr().err
    assert "config.json" in err and "REELFIX_BIN" in err and "PATH" in err
