"""The adapter under a real Python 3.6 (the oldest Python Resolve runs scripts with), when one is
installed: the automation CLI end to end against the fake Resolve, and exit 2 when unreachable."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.resolve.conftest import PLUGIN, touch_media

HERE = Path(__file__).resolve().parent


def python36() -> str:
    found = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.6*/bin/python3.6"))) + [shutil.which("python3.6") or ""]
    for exe in filter(None, found):
        if subprocess.run([exe, "-c", "import sys; assert sys.version_info[:2] == (3, 6)"], capture_output=True).returncode == 0:
            return exe
    pytest.skip("no Python 3.6 here")


def test_restore_and_unreachable_under_python_3_6(tmp_path: Path, fake_bin: Path, pipeline_json: Path) -> None:
    exe = python36()
    movie, plate = touch_media(tmp_path)
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "DaVinciResolveScript.py").write_text(
        "import os, sys\n"
        f"sys.path.insert(0, {str(HERE)!r})\n"
        "from fake_resolve import World, build_scene\n"
        "def scriptapp(name):\n"
        "    if os.environ.get('FAKE_OFF'):\n"
        "        return None\n"
        "    return build_scene(World(), os.environ['FAKE_MOVIE'], os.environ['FAKE_PLATE'], os.environ['FAKE_GONE']).resolve\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGIN), str(mods)]), "FAKE_MOVIE": movie, "FAKE_PLATE": plate,
           "FAKE_GONE": str(tmp_path / "gone.mov")}
    args = [exe, "-m", "reelfix_resolve", "restore", "--clip-color", "Orange", "--pipeline", str(pipeline_json),
            "--out", str(tmp_path / "out"), "--reelfix", str(fake_bin)]
    r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [line for line in r.stdout.splitlines() if not line.startswith("reelfix:")]
    assert [line.split()[0] for line in lines] == ["restored"] * 3 + ["skipped"] * 2
    r = subprocess.run(args, capture_output=True, text=True, env={**env, "FAKE_OFF": "1"}, timeout=60)
    assert r.returncode == 2 and "not running" in r.stderr
