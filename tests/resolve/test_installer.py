"""installers/resolve.py: install/uninstall into a Scripts folder; the installed menu script runs
(options from its settings file, as in the free version) against the fake Resolve and finds the core through config.json."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import runpy
import sys
from pathlib import Path

from tests.resolve.conftest import ROOT


def installer():
    spec = importlib.util.spec_from_file_location("reelfix_installer_resolve", ROOT / "installers" / "resolve.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader
    spec.loader.exec_module(module)
    return module


def test_scripts_folders_per_os() -> None:
    inst = installer()
    env = {"HOME": "/home/u", "APPDATA": r"C:\Users\u\AppData\Roaming"}
    assert inst.scripts_dir_for("linux", env) == "/home/u/.local/share/DaVinciResolve/Fusion/Scripts"
    assert inst.scripts_dir_for("darwin", env) == "/home/u/Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts"
    assert inst.scripts_dir_for("win32", env).endswith("Blackmagic Design/DaVinci Resolve/Support/Fusion/Scripts".replace("/", "\\")) or \
        "Support" in inst.scripts_dir_for("win32", env)


def test_install_then_run_the_menu_script_then_uninstall(tmp_path: Path, scene, fake_bin: Path, monkeypatch) -> None:
    inst = installer()
    scripts = tmp_path / "Scripts"
    config = tmp_path / "config" / "reelfix" / "config.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"nuke": {"keep": True}}))
    written = inst.install(bin_path=str(fake_bin), scripts_dir=str(scripts))
    menu = scripts / "Utility" / "reelfix Restore.py"
    opener = scripts / "Utility" / "reelfix Open Report.py"
    assert written == [str(menu), str(opener), str(scripts / "Modules" / "reelfix_resolve"), str(config)]
    for script in (menu, opener):
        assert "PLUGIN_DIR = None" not in script.read_text() and str(scripts / "Modules") in script.read_text()
    assert json.loads(config.read_text()) == {"nuke": {"keep": True}, "reelfix_bin": str(fake_bin)}
    assert not list((scripts / "Modules").rglob("__pycache__"))

    # run the installed script as Resolve would (globals resolve/fusion/bmd; no UIManager): options from its settings file
    s = scene()
    settings = menu.parent / "reelfix Restore.json"
    settings.write_text(json.dumps({"select": "color", "which": "Orange", "pipeline": "upscale", "params": "scale=4",
                                    "handles": 3, "mode": "take", "where": "local"}))
    monkeypatch.setattr(sys, "path", [p for p in sys.path if not p.endswith("resolve_plugin")])
    for name in [m for m in sys.modules if m.startswith("reelfix_resolve")]:
        monkeypatch.delitem(sys.modules, name)
    out = tmp_path / "resolve_out"
    monkeypatch.setattr(Path, "home", lambda: tmp_path)
    config.write_text(json.dumps({"reelfix_bin": str(fake_bin), "resolve_output_dir": str(out)}))
    runpy.run_path(str(menu), init_globals={"resolve": s.resolve, "fusion": None, "bmd": None}, run_name="__main__")
    assert sys.modules["reelfix_resolve"].__file__.startswith(str(scripts / "Modules"))
    assert s.items["movie"].GetTakesCount() == 2 and s.items["seq"].GetSelectedTakeIndex() == 2
    pipeline = json.loads((out / "Film" / "pipelines" / "upscale.json").read_text())
    assert pipeline["pipeline"][0]["params"]["scale"] == 4
    jobs = sorted(json.loads(p.read_text())["input"]["frames"] for p in (out / "Film" / "jobs").glob("*.json"))
    assert jobs == ["1008-1022", "2-17"]  # handles 3

    # Workspace > Scripts > reelfix Open Report (free Resolve: no UIManager): the newest run of the timeline's restored clips
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    newest = max(out.glob("Film/*/*/*.reelfix.json"), key=lambda p: (p.stat().st_mtime, str(p)))
    said = io.StringIO()
    with contextlib.redirect_stdout(said):
        runpy.run_path(str(opener), init_globals={"resolve": s.resolve, "fusion": None, "bmd": None}, run_name="__main__")
    page = newest.parent / "review" / "index.html"
    assert opened == [page.as_uri()] and str(newest) in page.read_text()
    assert f"reelfix: opened {page}" in said.getvalue() and "Traceback" not in said.getvalue()

    removed = inst.uninstall(scripts_dir=str(scripts))
    assert removed == [str(menu), str(opener), str(scripts / "Modules" / "reelfix_resolve")]
    assert not (scripts / "Modules").exists() and [p.name for p in (scripts / "Utility").iterdir()] == [settings.name]  # the user's
    assert config.exists()  # shared with other hosts: left alone
    assert inst.uninstall(scripts_dir=str(scripts)) == []
