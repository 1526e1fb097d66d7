"""Fixtures for the Resolve adapter: the plugin package on sys.path, a fake `reelfix`, a fake Resolve scene."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import pytest

ROOT = Path(__file__).resolve().parents[2]
# REELFIX_RESOLVE_PLUGIN: test another copy of the plugin (e.g. an older commit's, to see a test fail before a fix)
PLUGIN = Path(os.environ.get("REELFIX_RESOLVE_PLUGIN") or ROOT / "resolve_plugin")
if str(PLUGIN) not in sys.path:
    sys.path.insert(0, str(PLUGIN))

from tests.resolve.fake_resolve import TL_START, World, build_scene  # noqa: E402,F401



@pytest.fixture
def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An executable `reelfix` that runs tests/resolve/fake_reelfix.py; its calls go to reelfix.log."""
    script = tmp_path / "bin" / "reelfix"
    script.parent.mkdir()
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).parent / "fake_reelfix.py"}" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("FAKE_REELFIX_LOG", str(tmp_path / "reelfix.log"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("REELFIX_RESOLVE_CONVENTIONS", raising=False)
    return script


@pytest.fixture
def pipeline_json(tmp_path: Path) -> Path:
    path = tmp_path / "p.json"
    path.write_text('{"pipeline": [{"node": "upscale", "params": {"scale": 2}}]}')
    return path


def touch_media(tmp_path: Path) -> tuple[str, str]:
    """Placeholder media for the fake core: clip.mov and A001.1001-1030.exr (empty files)."""
    media = tmp_path / "media"
    media.mkdir(exist_ok=True)
    (media / "clip.mov").write_bytes(b"")
    for n in range(1001, 1031):
        (media / f"A001.{n:04d}.exr").write_bytes(b"")
    return str(media / "clip.mov"), str(media / "A001.####.exr")


@pytest.fixture
def scene(tmp_path: Path) -> Callable[..., SimpleNamespace]:
    def make(**switches: Any) -> SimpleNamespace:
        movie, plate = touch_media(tmp_path)
        return build_scene(World(**switches), movie, plate, str(tmp_path / "gone" / "B.mov"))

    return make


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
