"""The Nuke plugin against the fake `nuke` (tests/nuke/fake_nuke.py) and the real core.

Each test goes the way a compositor does: menu -> node -> knobs -> Render, and checks what
Nuke would show (the internal Read's frames) and what the core did.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.nuke.conftest import CORE_BIN, PLUGIN, ROOT, finish, gui_render, read_plate, settle

import reelfix_nuke  # noqa: E402  (on sys.path via conftest)
from reelfix_nuke import knobs, runner  # noqa: E402


def _declaration(name: str) -> dict:
    """The declaration the plugin used (cached per core binary: an editable core being edited may differ)."""
    return knobs.find_declaration(reelfix_nuke.core.declarations(str(CORE_BIN))[0], name)


def _menu_create(nk, label: str, upstream=None):
    reelfix_nuke.build_menu()
    settle(nk)  # the menu is refreshed in the background
    restore = nk.menu("Nodes").findItem("Restore")
    if upstream is not None:
        upstream.setSelected(True)
    item = nk.menu("Nodes").findItem("Restore/" + label)
    assert item is not None, [i.name() for i in restore.items()]
    item.invoke()
    return nk.selectedNode()


def test_menu_is_built_from_the_declarations_including_plugin_nodes(nk, user_dirs, monkeypatch):
    monkeypatch.setenv("REELFIX_BIN", str(CORE_BIN))
    monkeypatch.setenv("REELFIX_PLUGINS", "tests.plugins.temporal_mean")
    reelfix_nuke.build_menu()
    settle(nk)  # a new plugin list: the core is asked in the background, the menu rebuilt on the main thread
    restore = nk.menu("Nodes").findItem("Restore")
    names = [i.name() for i in restore.items()]
    from reelfix.nodes import _all

    declared = [spec.label for spec in _all("tests.plugins.temporal_mean")]  # what the core declares, in order
    assert names == [*declared, "Restore Pipeline", "Open report", "Refresh node list"]
    assert names[0] == "Upscale" and "Temporal Mean" in names
    for item in restore.items():
        assert os.path.isfile(item.icon()) and item.icon().endswith(".png")
    assert restore.findItem("Upscale").icon().endswith("reelfix_upscale.png")
    assert restore.findItem("Temporal Mean").icon().endswith("reelfix_node.png")  # no own icon: the generic one
    assert restore.findItem("Temporal Mean")._tooltip.startswith("mean of the frames")
    assert nk._state.warnings == []

    group = _menu_create(nk, "Temporal Mean")
    radius = group["tmean_radius"]
    assert radius.Class() == "Int_Knob" and radius.value() == 1 and radius._range == (0, 5)
    assert "frames each side" in radius.tooltip() and "max 5" in radius.tooltip()
    assert group["rf_kind"].value() == "tmean" and not group["rf_kind"].visible()

    # declarations are cached per core binary and plugin list: a refresh is only needed after installs
    from reelfix_nuke import core

    cached = Path(core._cached(str(CORE_BIN), "nodes"))
    assert any(d["name"] == "tmean" for d in json.loads(cached.read_text()))
    monkeypatch.delenv("REELFIX_PLUGINS")
    assert Path(core._cached(str(CORE_BIN), "nodes")) != cached


def test_upscale_group_has_knobs_from_the_declaration(nk, core_env, plate):
    read = read_plate(nk, plate)
    group = _menu_create(nk, "Upscale", read)
    assert group.Class() == "Group" and group.input(0) is read and group.name() == "Upscale"
    assert nk._state.panels == [group.fullName()]
    declared = {p["name"]: p for p in _declaration("upscale")["params"]}
    for name, p in declared.items():  # every parameter of the live declaration is a knob
        knob = group["upscale_" + name]
        expected = "Enumeration_Knob" if p.get("choices") or name == "model" else \
            {"int": "Int_Knob", "float": "Double_Knob", "bool": "Boolean_Knob", "str": "String_Knob"}[p["type"]]
        assert knob.Class() == expected and knob.tooltip().startswith(p["help"][:20])
        if name != "model":
            assert knobs.param_value(p, knob.value()) == p["default"]
    scale = group["upscale_scale"]
    assert scale.Class() == "Enumeration_Knob" and scale.values() == ["2", "3", "4"] and scale.value() == "2"
    model = group["upscale_model"]
    assert model.Class() == "Enumeration_Knob" and model.values()[0] == knobs.DEFAULT_MODEL and "tiny-x2" in model.values()
    assert group["upscale_tile"].Class() == "Int_Knob" and group["upscale_tile"].value() == 0
    assert group["rf_device"].values()[:2] == ["auto", "cpu"] and "cuda" in group["rf_device"].values()
    assert group["rf_bit_depth"].values() == ["half", "float"]
    assert (group["rf_first"].value(), group["rf_last"].value()) == (1001, 1004)
    assert group["rf_render"].Class() == "PyScript_Knob" and group["rf_farm"].Class() == "PyScript_Knob"
    assert group["rf_status"].Class() == "Text_Knob"
    write, read_out = group.node("reelfix_in"), group.node("reelfix_out")
    assert write["file_type"].value() == "exr" and write["datatype"].value() == "32 bit float" and write["raw"].value()
    assert read_out["raw"].value()
    assert group.node("reelfix_switch")["which"].value() == 0  # passes the input through until rendered


def test_render_shows_restored_frames_identical_to_the_cli(nk, core_env, plate, tmp_path):
    read = read_plate(nk, plate)
    group = _menu_create(nk, "Upscale", read)
    group["upscale_model"].setValue("tiny-x2")
    group["rf_bit_depth"].setValue("float")
    group["rf_range_from_input"].setValue(False)
    group["rf_first"].setValue(1002)
    group["rf_last"].setValue(1004)
    group["rf_cache_dir"].setValue(str(tmp_path / "cache"))

    group["rf_render"].execute()  # the button, with nuke.thisNode() = the group
    finish(nk, reelfix_nuke.render.RUNNING[group.fullName()])  # the core ran in a worker thread

    assert nk._state.messages == []
    out = group.node("reelfix_out")
    pattern = out["file"].value()
    assert pattern.startswith(str(tmp_path / "cache")) and pattern.endswith("/output/upscale.####.exr")
    assert (out["first"].value(), out["last"].value()) == (1002, 1004)
    assert nk._state.reloads == [out.fullName()]
    assert group.node("reelfix_switch")["which"].value() == 1
    for frame in (1002, 1003, 1004):
        assert nk._image_at(group, frame).shape == (48, 64, 3)  # the Group's output: restored, x2
    status = group["rf_status"].value()
    assert "3/3 frames" in status and "CPUExecutionProvider" in status
    task = nk._state.tasks[-1]
    assert task._progress[-1] == 100 and any("frame 1004 done" in m for m in task._messages)
    job = json.loads((Path(pattern).parents[1] / "job.json").read_text())
    assert job["input"]["colorspace"] == "lin_srgb"  # Nuke's default working space, by its core name
    defaults = {p["name"]: p["default"] for p in _declaration("upscale")["params"]}
    assert job["pipeline"] == [{"node": "upscale", "params": dict(defaults, model="tiny-x2")}]

    # no colour shift: the same frames as the CLI on the original plate
    cli_out = tmp_path / "cli" / "B.####.exr"
    subprocess.run([str(CORE_BIN), "upscale", plate, str(cli_out), "--model", "tiny-x2", "--frames", "1002-1004",
                    "--in-colorspace", "lin_srgb", "--bit-depth", "float"], check=True, capture_output=True)
    nk_cli = nk.nodes.Read(file=str(cli_out), first=1002, last=1004)
    for frame in (1002, 1003, 1004):
        np.testing.assert_array_equal(nk._image_at(group, frame), nk._image_at(nk_cli, frame))


def test_an_unchanged_rerun_reuses_the_cache_and_a_change_reruns(nk, core_env, plate, monkeypatch):
    group = _menu_create(nk, "Upscale", read_plate(nk, plate))
    group["upscale_model"].setValue("tiny-x2")
    first = gui_render(nk, group)
    assert first.status == "done" and first.ran_core

    calls = []
    real_popen = runner.subprocess.Popen
    monkeypatch.setattr(runner.subprocess, "Popen", lambda *a, **k: calls.append(a) or real_popen(*a, **k))
    again = gui_render(nk, group)
    assert again.status == "cached" and not again.ran_core and calls == []
    assert again.key == first.key and group["rf_status"].value().startswith("cached")
    assert len(nk._state.executed) == 2  # the input is rendered each time: that is how a change upstream is seen

    group["upscale_tile"].setValue(16)  # a knob change: a new key, the core runs
    changed = gui_render(nk, group)
    assert changed.status == "done" and changed.key != first.key and len(calls) == 1


def test_cancel_stops_the_core_keeps_finished_frames_and_a_rerun_resumes(
    nk, core_env, plate, make_plate, tmp_path, plugin_cache, monkeypatch
):
    """Deterministic on a loaded machine: frame 1001 goes through at once, every later frame says
    it is waiting (a file) for a gate file that only exists after the cancel, and Cancel comes once
    1001 is on disk and 1002 is waiting (files, not timing), so the core is always mid-run."""
    monkeypatch.setenv("REELFIX_PLUGINS", "tests.nuke.slow_node")
    long_plate = make_plate(frames=range(1001, 1009), name="B001")
    group = _menu_create(nk, "Slow Copy", read_plate(nk, long_plate, 1001, 1008))
    gate = tmp_path / "gate"
    group["slowcopy_gate"].setValue(str(gate))
    group["slowcopy_free"].setValue(1001)
    waiting = tmp_path / "gate.waiting"
    earlier = set(plugin_cache.rglob("slowcopy.1001.exr"))  # the cache is the session's: other tests' renders
    nk._SWITCHES.cancel_when = lambda task: waiting.exists() and bool(set(plugin_cache.rglob("slowcopy.1001.exr")) - earlier)

    result = gui_render(nk, group)

    assert result.status == "cancelled" and nk._state.messages == []
    outcome = result.outcome
    assert outcome.cancelled and outcome.returncode != 0
    with pytest.raises(ProcessLookupError):
        os.kill(outcome.pid, 0)  # the core is gone
    files = sorted(p.name for p in Path(result.output).parent.iterdir() if not p.name.startswith("slowcopy.reelfix"))
    assert files == ["slowcopy.1001.exr"]  # the finished frame, whole; nothing else
    assert outcome.frames("done") == [1001], (outcome.events, outcome.messages, outcome.stdout, outcome.returncode, waiting.read_text())
    assert "1/8 frames kept" in group["rf_status"].value() and "Render again to resume" in group["rf_status"].value()
    assert group.node("reelfix_switch")["which"].value() == 0  # the partial result is not shown

    nk._SWITCHES.cancel_when = None
    gate.write_text("")
    resumed = gui_render(nk, group)
    assert resumed.status == "done" and resumed.key == result.key
    assert resumed.outcome.frames("skipped") == [1001]  # the core's resume skipped it
    assert "8/8 frames (1 resumed)" in group["rf_status"].value()


def test_cancel_while_nuke_renders_the_input(nk, core_env, plate):
    group = _menu_create(nk, "Upscale", read_plate(nk, plate))
    for convention in ("RuntimeError", "CancelledError"):
        nk._SWITCHES.cancel_execute, nk._SWITCHES.cancel_raises = True, convention
        result = gui_render(nk, group)
        assert result.status == "cancelled" and not result.ran_core and nk._state.messages == []


def test_missing_core_gives_a_clear_message(nk, user_dirs, plate, monkeypatch):
    monkeypatch.setenv("PATH", str(user_dirs))  # no reelfix anywhere
    group = _menu_create(nk, "Upscale", read_plate(nk, plate))  # from the bundled snapshot
    assert any("bundled" in w for w in nk._state.warnings)
    assert "core not found" in group["rf_status"].value()

    assert gui_render(nk, group) is None
    (text,) = nk._state.messages
    assert "core was not found" in text and "config.json" in text and "REELFIX_BIN" in text and "PATH" in text
    assert "installers/install.py core" in text
    assert "Traceback" not in text


def test_core_errors_are_shown_with_the_cores_text(nk, core_env, plate):
    group = _menu_create(nk, "Upscale", read_plate(nk, plate))
    group["upscale_tile"].setValue(-3)  # the core validates: 'tile' must be >= 0
    assert gui_render(nk, group) is None
    (text,) = nk._state.messages
    assert "'tile' must be >= 0, got -3" in text and "Traceback" not in text
    assert group["rf_status"].value().startswith("error")

    nk._state.messages.clear()
    nk.root()["colorManagement"].setValue("OCIO")
    nk.root()["OCIO_config"].setValue("custom")
    nk.root()["workingSpaceLUT"].setValue("bogus_space")
    group["upscale_tile"].setValue(0)
    assert gui_render(nk, group) is None
    assert "unknown colour space 'bogus_space'" in nk._state.messages[0]


def test_failed_frames_are_named_the_others_shown_and_a_rerun_completes(nk, core_env, plate, monkeypatch):
    from reelfix_nuke import jobs, render

    group = _menu_create(nk, "Upscale", read_plate(nk, plate))
    group["upscale_model"].setValue("tiny-x2")
    real_run = runner.run_job

    def damage_one_input(argv, *args, **kwargs):
        job = json.loads(Path(argv[2]).read_text())
        Path(jobs.frame_path(job["input"]["path"], 1003)).write_bytes(b"not an exr")
        return real_run(argv, *args, **kwargs)

    monkeypatch.setattr(render.runner, "run_job", damage_one_input)
    assert gui_render(nk, group) is None
    (text,) = nk._state.messages
    assert "restored 3 of 4 frames" in text and "frame 1003:" in text and "Traceback" not in text
    assert group.node("reelfix_switch")["which"].value() == 1 and nk._image_at(group, 1004).shape == (48, 64, 3)
    assert group["rf_status"].value().startswith("failed")

    monkeypatch.setattr(render.runner, "run_job", real_run)
    again = gui_render(nk, group)  # a fresh input render replaces the damaged frame
    assert again.status == "done" and again.outcome.frames("done") == [1003]


def test_an_unwritable_cache_folder_is_a_message(nk, core_env, plate, tmp_path):
    group = _menu_create(nk, "Upscale", read_plate(nk, plate))
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    group["rf_cache_dir"].setValue(str(blocker / "cache"))
    assert gui_render(nk, group) is None
    assert "cannot write the cache folder" in nk._state.messages[0] and "Traceback" not in nk._state.messages[0]


def test_aces_working_space_is_passed_to_the_core(nk, core_env, plate):
    nk.root()["colorManagement"].setValue("OCIO")
    nk.root()["OCIO_config"].setValue("aces_1.2")
    nk.root()["workingSpaceLUT"].setValue("ACES - ACEScg")
    group = _menu_create(nk, "Upscale", read_plate(nk, plate))
    group["upscale_model"].setValue("tiny-x2")
    result = gui_render(nk, group)
    assert result.status == "done", nk._state.messages
    assert json.loads(Path(result.job_path).read_text())["input"]["colorspace"] == "ACES - ACEScg"


def test_pipeline_node_runs_several_nodes_in_one_pass(nk, core_env, plate, monkeypatch):
    monkeypatch.setenv("REELFIX_PLUGINS", "tests.plugins.temporal_mean")
    group = _menu_create(nk, "Restore Pipeline", read_plate(nk, plate))
    assert group["rf_kind"].value() == "pipeline"
    assert group["tmean_radius"].value() == 1 and group["upscale_scale"].value() == "2"  # one tab per node
    assert gui_render(nk, group) is None and "list the nodes" in nk._state.messages.pop()

    group["rf_pipeline"].setValue("tmean > upscale")
    group["upscale_model"].setValue("tiny-x2")
    group["tmean_radius"].setValue(2)
    result = gui_render(nk, group)
    assert result.status == "done", nk._state.messages
    job = json.loads(Path(result.job_path).read_text())
    assert [s["node"] for s in job["pipeline"]] == ["tmean", "upscale"] and job["pipeline"][0]["params"] == {"radius": 2}
    assert nk._image_at(group, 1002).shape == (48, 64, 3)

    steps = Path(result.job_path).parent / "steps.json"
    steps.write_text(json.dumps([{"node": "nosuch"}]))
    group["rf_pipeline_file"].setValue(str(steps))
    assert gui_render(nk, group) is None and "reelfix has no node 'nosuch'" in nk._state.messages[-1]


def test_render_all_headless_renders_every_node_upstream_first(nk, core_env, plate, tmp_path, capsys):
    nk.GUI = False  # nuke -t
    nk.root()["name"].setValue(str(tmp_path / "shots" / "sh010.nk"))
    read = read_plate(nk, plate)
    from reelfix_nuke import host

    second = nk.nodes.Group()
    first = nk.nodes.Group()
    for group in (second, first):
        host.build_group(group, "upscale", reelfix_nuke.core.load_snapshot(), ["tiny-x2"])
        group["upscale_model"].setValue("tiny-x2")
    first.setInput(0, read)
    second.setInput(0, first)  # 2x of 2x
    disabled = nk.nodes.Group()
    host.build_group(disabled, "upscale", reelfix_nuke.core.load_snapshot())
    disabled["disable"].setValue(True)

    results = reelfix_nuke.render_all(1001, 1002)

    assert [r.node for r in results] == [first.name(), second.name()] and all(r.status == "done" for r in results)
    assert nk._image_at(second, 1002).shape == (96, 128, 3)
    assert results[0].output.startswith(str(tmp_path / "shots" / "reelfix_cache"))  # beside the script
    assert nk._state.tasks == [] and nk._state.panels == []  # no UI
    assert "frame 1002 done" in capsys.readouterr().out

    first["upscale_tile"].setValue(-1)
    with pytest.raises(RuntimeError, match="must be >= 0"):
        reelfix_nuke.render_all(1001, 1002)


FAILING_FARM = """#!{python}
import os, sys
if sys.argv[1:2] == ["farm"]:
    print("error: the farm cannot reach /mnt/shots", file=sys.stderr)
    sys.exit(2)
os.execv("{core}", ["{core}"] + sys.argv[1:])
"""

FAKE_DEADLINE = """#!{python}
import sys
open("{log}", "a").write(repr(sys.argv[1:]) + "\\n")
print("Result=Success")
print("JobID=6512ab34")
"""


def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_send_to_farm_writes_the_files_and_submits_with_deadlinecommand(nk, core_env, plate, tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", os.pathsep.join([str(bindir), str(CORE_BIN.parent), "/usr/bin", "/bin"]))  # openjd, no Deadline
    group = _menu_create(nk, "Upscale", read_plate(nk, plate))
    group["rf_chunk"].setValue(2)

    text = reelfix_nuke.send_to_farm(group)  # no submitter: the files, checked, and how to run them
    assert text.startswith("Not submitted") and "openjd check: ok" in text and "deadline bundle submit" in text
    assert nk._state.messages[-1] == text
    farm = Path(re.search(r"Job: (.+)", text).group(1)).parent / "farm"
    assert (farm / "openjd" / "template.yaml").is_file()
    job_info = (farm / "deadline" / "job_info.job").read_text()
    assert "ChunkSize=2" in job_info and "Frames=1001-1004" in job_info

    log = tmp_path / "deadline.log"
    _script(bindir / "deadlinecommand", FAKE_DEADLINE.format(python=sys.executable, log=log))
    text = reelfix_nuke.send_to_farm(group)
    assert text.startswith("Submitted to Deadline 10 as job 6512ab34")
    job_file, plugin_file = eval(log.read_text().splitlines()[-1])
    assert job_file == str(farm / "deadline" / "job_info.job") and plugin_file == str(farm / "deadline" / "plugin_info.job")
    assert group["rf_status"].value().startswith("sent to farm")


def test_send_to_farm_shows_the_cores_error(nk, core_env, plate, tmp_path, monkeypatch):
    failing = _script(tmp_path / "reelfix-failing", FAILING_FARM.format(python=sys.executable, core=CORE_BIN))
    monkeypatch.setenv("REELFIX_BIN", str(failing))
    group = _menu_create(nk, "Upscale", read_plate(nk, plate))
    assert reelfix_nuke.send_to_farm(group) is None
    assert "could not write the farm files" in nk._state.messages[-1]
    assert "the farm cannot reach /mnt/shots" in nk._state.messages[-1]
def test_init_py_creates_no_ui_and_the_installer_line_loads_the_plugin(nk, tmp_path, monkeypatch):
    from installers import nuke as nuke_installer

    monkeypatch.setattr(sys, "path", list(sys.path))
    lines = nuke_installer.install(plugin_dir=PLUGIN, nuke_home=tmp_path / ".nuke")
    init = (tmp_path / ".nuke" / "init.py").read_text()
    exec(compile(init, "init.py", "exec"), {})  # what Nuke does at start
    assert nk._state.plugin_paths == [str(PLUGIN)] and str(PLUGIN) in sys.path
    assert nk._state.menus == {} and nk._state.panels == [] and nk._state.messages == []
    assert lines
