"""The adapter's small parts: File Path forms, conventions, finding the core, the dialog's answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reelfix_resolve import conventions, core, dialog, media
from reelfix_resolve.restore import RestoreError


@pytest.mark.parametrize("text, expected", [
    ("/m/A001.[1001-1100].dpx", ("/m/A001.####.dpx", 1001, 1100)),
    ("/m/A001_[0001-0100].exr", ("/m/A001_####.exr", 1, 100)),
    ("/m/A001.[998-1100].exr", ("/m/A001.#.exr", 998, 1100)),
    ("/m/A001.%04d.dpx", ("/m/A001.####.dpx", None, None)),
    ("/m/A001.%d.dpx", ("/m/A001.#.dpx", None, None)),
    ("/m/A001.####.dpx", ("/m/A001.####.dpx", None, None)),
    ("/m/clip.mov", ("/m/clip.mov", None, None)),
])
def test_file_path_forms(text: str, expected: tuple) -> None:
    assert media.parse_file_path(text) == expected


def test_sequence_scan_printf_and_timecode(tmp_path: Path) -> None:
    for n in (9, 10, 11, 1000):
        (tmp_path / f"s.{n:04d}.exr").write_bytes(b"")
    (tmp_path / "s.12.exr").write_bytes(b"")  # not 4-digit padded: not part of s.####.exr
    assert media.scan_sequence(str(tmp_path / "s.####.exr")) == [9, 10, 11, 1000]
    assert media.printf_pattern("/o/A.####.exr") == "/o/A.%04d.exr"
    assert media.timecode_frames("01:00:00:00", 24.0) == 86400
    assert media.timecode_frames("00:10:00;00", 29.97) == 17982


@pytest.mark.parametrize("style", ["brackets", "printf", "hashes"])
def test_source_media_reads_each_file_path_style(tmp_path: Path, style: str) -> None:
    from tests.resolve.fake_resolve import MediaPoolItem, World

    for n in range(1001, 1011):
        (tmp_path / f"A.{n:04d}.exr").write_bytes(b"")
    mpi = MediaPoolItem(World(file_path_style=style), str(tmp_path / "A.####.exr"), 10, kind="sequence", first=1001)
    src = media.source_media(mpi)
    assert (src.kind, src.path, src.first, src.last, src.core_frame(3)) == ("sequence", str(tmp_path / "A.####.exr"), 1001, 1010, 1004)


def test_conventions_precedence_and_errors() -> None:
    config = {"resolve_conventions": {"source_origin": "file", "take_end_inclusive": "true"}}
    conv = conventions.load(config, environ={conventions.ENV_VAR: '{"append_end_inclusive": true}'}, assignments=["source_origin=clip"])
    assert (conv.source_origin, conv.append_end_inclusive, conv.take_end_inclusive) == ("clip", True, True)
    assert conventions.Conventions().as_dict() == {
        "source_origin": "auto", "mark_origin": "auto", "marker_frame": "source", "take_end_inclusive": False,
        "append_end_inclusive": False, "free_external_scripting": False, "source_frames_min_version": [19, 0, 2],
        "marks_min_version": [19, 1, 0]}
    with pytest.raises(conventions.ConventionError, match="unknown convention 'origin'"):
        conventions.load({"resolve_conventions": {"origin": "clip"}}, environ={})
    with pytest.raises(conventions.ConventionError, match="not valid JSON"):
        conventions.load({}, environ={conventions.ENV_VAR: "{"})
    with pytest.raises(conventions.ConventionError, match="marks_min_version='x'"):
        conventions.load({}, environ={}, assignments=["marks_min_version=x"])
    c = conventions.Conventions()
    assert c.has_source_frames([19, 0, 2, 1, ""]) and not c.has_source_frames([19, 0, 1]) and not c.has_source_frames(None)
    assert c.has_mark_in_out([19, 1, 0]) and not c.has_mark_in_out([19, 0, 2, 1])
    # exact answers first, then GetSourceStartFrame's one frame of slack; otherwise the fallback
    assert (c.origin(10, 10, 1001), c.origin(1011, 10, 1001), c.origin(None, 10, 1001), c.origin(7, 10, 1001)) == ("clip", "file", "clip", "clip")
    assert (c.origin(11, 10, 1001), c.origin(1012, 10, 1001)) == ("clip", "file")
    assert (c.end_frame(5, 10, True), c.end_frame(5, 10, False)) == (14, 15)
    assert (c.marks_to_record(10, 86400), c.marks_to_record(86410, 86400)) == (86410, 86410)
    assert conventions.Conventions(mark_origin="timeline").marks_to_record(86410, 86400) == 172810


def test_find_reelfix_config_then_env_then_path(tmp_path: Path) -> None:
    exe = tmp_path / "venv" / "reelfix"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "HOME": str(tmp_path), "PATH": str(tmp_path / "nothing")}
    with pytest.raises(core.CoreError) as err:
        core.find_reelfix(environ=env)
    assert all(word in str(err.value) for word in ("config.json", "REELFIX_BIN", "PATH"))
    assert core.find_reelfix(environ={**env, "PATH": str(exe.parent)}) == str(exe)
    assert core.find_reelfix(environ={**env, "REELFIX_BIN": str(exe)}) == str(exe)
    cfg = Path(core.config_dir(env, "linux"))
    cfg.mkdir(parents=True)
    (cfg / "config.json").write_text(json.dumps({"reelfix_bin": str(exe)}))
    assert core.find_reelfix(environ={**env, "REELFIX_BIN": "/nope"}) == str(exe)
    (cfg / "config.json").write_text(json.dumps({"reelfix_bin": "/moved/reelfix"}))
    with pytest.raises(core.CoreError, match="no such file"):
        core.find_reelfix(environ=env)


def test_config_dir_agrees_with_the_installer(tmp_path: Path) -> None:
    paths = pytest.importorskip("installers._paths")
    from tests.resolve.test_installer import installer

    for env in ({"HOME": "/h"}, {"HOME": "/h", "XDG_CONFIG_HOME": "rel"}, {"HOME": "/h", "XDG_CONFIG_HOME": "/x"},
                {"HOME": "/h", "USERPROFILE": "C:/u"}, {"HOME": "/h", "APPDATA": "C:/u/r"}):
        for platform in ("linux", "darwin", "win32"):
            assert Path(core.config_dir(env, platform)) == paths.config_dir(env, platform), (env, platform)
            assert Path(installer().config_path(platform, env)) == paths.config_file(env, platform)


def test_config_dir_per_os() -> None:
    env = {"HOME": "/home/u", "APPDATA": r"C:\Users\u\AppData\Roaming"}
    assert core.config_dir(env, "linux") == "/home/u/.config/reelfix"
    assert core.config_dir({**env, "XDG_CONFIG_HOME": "/x"}, "linux") == "/x/reelfix"
    assert core.config_dir(env, "darwin") == "/home/u/Library/Application Support/reelfix"
    assert core.config_dir(env, "win32").startswith(r"C:\Users\u\AppData\Roaming")


NODES = [{"name": "upscale", "help": "SR", "params": [{"name": "scale", "type": "int", "default": 2},
                                                      {"name": "range_map", "type": "bool", "default": True}]}]


def test_dialog_answers_make_options(tmp_path: Path) -> None:
    options = dialog.options_from_answers({"select": "track", "which": "V2", "pipeline": "upscale", "params": "scale=4, range_map=false",
                                           "handles": 3, "mode": "track", "where": "openjd"}, NODES, str(tmp_path / "p"))
    assert (options.track, options.clip_color, options.handles, options.mode, options.farm) == (2, None, 3, "track", "openjd")
    assert json.loads(Path(options.pipeline).read_text()) == {"pipeline": [{"node": "upscale", "params": {"scale": 4, "range_map": False}}]}
    with pytest.raises(RestoreError, match="one of range_map, scale"):
        dialog.options_from_answers({"select": "marks", "pipeline": "upscale", "params": "sclae=4"}, NODES, str(tmp_path))
    with pytest.raises(RestoreError, match="not found"):
        dialog.options_from_answers({"select": "marks", "pipeline": "file", "params": "/no/p.yaml"}, NODES, str(tmp_path))


def test_manifest_rule_matches_the_core(tmp_path: Path) -> None:
    from reelfix.jobs.manifest import manifest_path

    for pattern in ("/o/A001.####.exr", "/o/A_b-c_####.dpx", "/o/####.exr"):
        assert core.manifest_for(pattern) == str(manifest_path(pattern)), pattern


def test_uimanager_dialog_and_the_menu_entry(tmp_path: Path, scene, fake_bin: Path) -> None:
    """The menu entry with a (fake) Fusion UIManager: the dialog's answers drive a restore, progress shows in a window."""
    from reelfix_resolve import menu
    from tests.resolve.fake_ui import Bmd, Fusion

    def user(win) -> None:
        items = win.GetItems()
        assert items["Pipeline"].items == ["upscale", "Pipeline file..."] and len(items["Select"].items) == 3
        items["Select"].CurrentIndex, items["Which"].Text = 0, "Orange"
        items["Params"].Text, items["Handles"].Value = "scale=4", 2
        items["Mode"].CurrentIndex, items["Where"].CurrentIndex = 1, 0
        win.On.Run.Clicked(None)

    out = tmp_path / "resolve_out"
    cfg = Path(core.config_dir())
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "config.json").write_text(json.dumps({"reelfix_bin": str(fake_bin), "resolve_output_dir": str(out)}))
    s = scene()
    bmd = Bmd(user)
    reports = menu.main({"resolve": s.resolve, "fusion": Fusion(), "bmd": bmd})
    assert reports is not None and [r.status for r in reports].count("restored") == 3
    assert s.timeline.GetTrackCount("video") == 2  # "Place on a new track above"
    progress = bmd.windows[-1].GetItems()["Status"]
    assert "frames" in progress.Text and not bmd.windows[-1].shown
    assert json.loads((out / "Film" / "pipelines" / "upscale.json").read_text())["pipeline"][0]["params"]["scale"] == 4

    cancelled = Bmd(lambda win: win.On.Cancel.Clicked(None))
    assert menu.main({"resolve": s.resolve, "fusion": Fusion(), "bmd": cancelled}) is None


def test_free_resolve_menu_entry_without_uimanager(tmp_path: Path, scene, fake_bin: Path, monkeypatch) -> None:
    """Free Resolve 19.1+: `fusion.UIManager` is None and the Console gives no stdin. The real menu script
    (run as Resolve runs it) writes a settings file beside itself and says where; edited, it restores;
    the last-used options of a dialog run are used when that file is gone. Never a traceback."""
    import contextlib
    import io
    import runpy
    import shutil

    from reelfix_resolve import settings
    from tests.resolve.conftest import PLUGIN
    from tests.resolve.fake_ui import Bmd, Fusion

    scripts = tmp_path / "Scripts" / "Utility"
    scripts.mkdir(parents=True)
    script = scripts / "reelfix Restore.py"
    shutil.copy(PLUGIN / "Utility" / "reelfix Restore.py", script)
    script.write_text(script.read_text().replace("PLUGIN_DIR = None", f"PLUGIN_DIR = {str(PLUGIN)!r}"))
    cfg = Path(core.config_dir())
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "config.json").write_text(json.dumps({"reelfix_bin": str(fake_bin), "resolve_output_dir": str(tmp_path / "o")}))
    free = Fusion()
    free.UIManager = None

    def no_stdin(prompt: str = "") -> str:
        raise EOFError  # what input() does in Resolve's Console

    monkeypatch.setattr("builtins.input", no_stdin)
    s = scene()

    def menu_run() -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            runpy.run_path(str(script), init_globals={"resolve": s.resolve, "fusion": free, "bmd": Bmd(lambda w: None)})
        return out.getvalue()

    said = menu_run()
    settings_file = scripts / settings.FILE_NAME
    assert settings_file.is_file() and str(settings_file) in said and "no UIManager" in said
    assert s.items["movie"].GetTakesCount() == 0  # nothing done before the options were chosen
    data = json.loads(settings_file.read_text())
    data.update({"which": "Orange", "params": "scale=2", "handles": 1})
    settings_file.write_text(json.dumps(data))
    said = menu_run()
    assert f"options from {settings_file}" in said and said.count("restored  V1") == 3 and "Traceback" not in said

    settings_file.unlink()  # a dialog run elsewhere leaves its answers as the last-used options
    settings.save_last_used({"select": "track", "which": "1", "pipeline": "upscale", "params": "", "handles": 0,
                             "mode": "take", "where": "local"})
    said = menu_run()
    assert settings.LAST_USED in said and "restored  V1 'blue'" in said

    (cfg / "config.json").write_text(json.dumps({"reelfix_bin": str(tmp_path / "nowhere")}))
    said = menu_run()  # a problem is a message, not a traceback
    assert "stopped: cannot find the reelfix core" in said


def test_reelfix_output_is_the_adapters_own_layout_only(tmp_path: Path) -> None:
    """A sequence restored with the reelfix CLI and edited in is a source like any other; the
    adapter's own results are recognised by metadata, or by their folders and manifest."""
    from tests.resolve.fake_resolve import MediaPoolItem, World

    def sequence(folder: Path) -> MediaPoolItem:
        folder.mkdir(parents=True)
        for n in (1, 2):
            (folder / f"A001.{n:04d}.exr").write_bytes(b"")
        (folder / "A001.reelfix.json").write_text("{}")
        return MediaPoolItem(World(), str(folder / "A001.####.exr"), 2, kind="sequence", first=1)

    by_cli = sequence(tmp_path / "graded" / "x2")
    ours = sequence(tmp_path / "out" / "A001_0a1b2c" / "p0123abcd")
    assert media.reelfix_output(by_cli) == "" and media.reelfix_output(ours).endswith("A001.[0001-0002].exr")
    by_cli.SetThirdPartyMetadata(media.METADATA_KEY, "{}")
    assert media.reelfix_output(by_cli)
    # restored on the farm: no A001.reelfix.json, one manifest per task (a lock file is none)
    farm = tmp_path / "out" / "A001_0a1b2c" / "p0123abcd"
    (farm / "A001.reelfix.json").rename(farm / "A001.reelfix.json.lock")
    assert media.reelfix_output(ours) == ""
    (farm / "A001.reelfix.1-2.json").write_text("{}")
    assert media.reelfix_output(ours).endswith("A001.[0001-0002].exr")
