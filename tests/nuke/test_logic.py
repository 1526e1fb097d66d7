"""The plugin's pure logic, without Nuke: core discovery, declarations and their cache, knob
specs, jobs and cache keys, EXR digests, progress parsing, farm submission choices."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.nuke.conftest import CORE_BIN, PLUGIN

from reelfix_nuke import core, farm, jobs, knobs, paths, runner  # noqa: E402

UPSCALE = {
    "name": "upscale", "label": "Upscale", "help": "x", "category": "Restore",
    "params": [
        {"name": "scale", "type": "int", "default": 2, "help": "upscale factor", "choices": [2, 3, 4]},
        {"name": "model", "type": "str", "default": "", "help": "model name"},
        {"name": "tile", "type": "int", "default": 0, "help": "tile size", "min": 0},
        {"name": "strength", "type": "float", "default": 0.5, "help": "how much", "min": 0.0, "max": 2.0},
        {"name": "range_map", "type": "bool", "default": True, "help": "map the range"},
        {"name": "mode", "type": "str", "default": "fast", "help": "speed", "choices": ["fast", "best"]},
        {"name": "note", "type": "str", "default": "hi", "help": "free text"},
    ],
}


def _exe(path: Path, text: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


# ---------------------------------------------------------------- finding the core


def test_core_is_found_in_config_then_env_then_path(user_dirs, tmp_path, monkeypatch):
    configured, from_env, on_path = _exe(tmp_path / "a" / "reelfix"), _exe(tmp_path / "b" / "reelfix"), _exe(tmp_path / "c" / "reelfix")
    monkeypatch.setenv("PATH", str(on_path.parent))
    assert core.find_core() == str(on_path)
    monkeypatch.setenv("REELFIX_BIN", str(from_env))
    assert core.find_core() == str(from_env)
    cfg = Path(paths.config_file())
    cfg.parent.mkdir(parents=True)
    cfg.write_text(json.dumps({"reelfix_bin": str(configured), "other": 1}))
    assert core.find_core() == str(configured)
    cfg.write_text(json.dumps({"reelfix_bin": str(tmp_path / "gone" / "reelfix")}))
    assert core.find_core() == str(from_env)  # a stale config falls through


def test_missing_core_message_names_all_three_places(user_dirs, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("REELFIX_BIN", str(tmp_path / "nothing"))
    cfg = Path(paths.config_file())
    cfg.parent.mkdir(parents=True)
    cfg.write_text(json.dumps({"reelfix_bin": "/old/venv/bin/reelfix"}))
    with pytest.raises(core.CoreNotFound) as err:
        core.find_core()
    text = str(err.value)
    assert str(cfg) in text and "/old/venv/bin/reelfix" in text
    assert "REELFIX_BIN is {}".format(tmp_path / "nothing") in text and "no `reelfix` on PATH" in text
    cfg.write_text("{broken")
    with pytest.raises(core.CoreNotFound, match="cannot be read"):
        core.find_core()


def test_child_env_drops_nukes_python_settings(monkeypatch):
    monkeypatch.setenv("PYTHONHOME", "/nuke/python")
    monkeypatch.setenv("PYTHONPATH", "/nuke/site")
    monkeypatch.delenv("REELFIX_PYTHONPATH", raising=False)
    env = core.child_env()
    assert "PYTHONHOME" not in env and "PYTHONPATH" not in env and env["COLUMNS"] == "400"
    monkeypatch.setenv("REELFIX_PYTHONPATH", "/studio/nodes")
    assert core.child_env()["PYTHONPATH"] == "/studio/nodes"


# ---------------------------------------------------------------- declarations


COUNTING_CORE = """#!{python}
import json, sys
open({log!r}, "a").write(" ".join(sys.argv[1:]) + "\\n")
if sys.argv[1:3] == ["nodes", "--json"]:
    print({decls!r})
elif sys.argv[1:2] == ["devices"]:
    print("auto       yes  CPUExecutionProvider  tries CPUExecutionProvider")
    print("cpu        yes  CPUExecutionProvider  onnxruntime (CPU), 2 intra-op")
    print("threads (2 logical CPUs)")
    print("cuda       no   CUDAExecutionProvider  install the GPU build")
elif sys.argv[1:3] == ["models", "list"]:
    print("tiny-x2          upscale  x2  fp32  srgb_tx    CC0-1.0        REELFIX_MODEL_PATH")
    print("dn-1             degrain  x1  fp16  acescg     MIT            built-in")
else:
    sys.exit(2)
"""


def test_declarations_are_cached_per_core_and_refreshed_when_it_changes(user_dirs, tmp_path):
    log = tmp_path / "calls.log"
    binary = _exe(tmp_path / "venv" / "bin" / "reelfix", COUNTING_CORE.format(python=sys.executable, log=str(log), decls=json.dumps([UPSCALE])))
    decls, note = core.declarations(str(binary))
    assert note == "" and decls[0]["name"] == "upscale"
    assert core.declarations(str(binary))[0] == decls
    assert log.read_text().count("nodes --json") == 1  # second time from the cache
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)  # a package installed into the core's venv
    core.declarations(str(binary))
    assert log.read_text().count("nodes --json") == 2
    core.clear_cache()
    core.declarations(str(binary))
    assert log.read_text().count("nodes --json") == 3

    names, available = core.devices(str(binary))
    assert names == ["auto", "cpu", "cuda"] and available == ["auto", "cpu"]
    assert core.models(str(binary), "upscale") == ["tiny-x2"]
    assert core.models(str(binary), "stabilize") == ["tiny-x2", "dn-1"]  # none for the task: all of them


def test_snapshot_is_used_only_when_the_core_cannot_run(user_dirs, tmp_path):
    decls, note = core.declarations(None)
    assert [d["name"] for d in decls] == [d["name"] for d in core.load_snapshot()] and "bundled" in note
    broken = _exe(tmp_path / "broken" / "reelfix", "#!/bin/sh\necho 'error: cannot import onnxruntime' >&2\nexit 2\n")
    decls, note = core.declarations(str(broken))
    assert "cannot import onnxruntime" in note and decls == core.load_snapshot()


def test_the_bundled_snapshot_is_the_cores_declarations():
    """The snapshot is only a fallback, but a stale one gives knobs the core no longer has or
    misses new ones: it must equal what the core declares (refresh it with
    nuke_plugin/tools/update_snapshot.py when the core's nodes change)."""
    if not CORE_BIN.exists():
        pytest.skip("no core")
    env = dict(os.environ)
    env.pop("REELFIX_PLUGINS", None)
    current = json.loads(subprocess.run([str(CORE_BIN), "nodes", "--json"], capture_output=True, text=True, env=env, check=True).stdout)
    snapshot = core.load_snapshot()
    assert snapshot == current, "stale: run nuke_plugin/tools/update_snapshot.py .venv/bin/reelfix"
    assert all(knobs.node_knobs(d) for d in snapshot if d["params"])  # and it makes knobs


# ---------------------------------------------------------------- knobs


def test_knob_specs_follow_the_declaration():
    specs = {s.param: s for s in knobs.node_knobs(UPSCALE, ["tiny-x2", "span-x2"])}
    assert (specs["scale"].knob_class, specs["scale"].values, specs["scale"].default) == ("Enumeration_Knob", ["2", "3", "4"], "2")
    assert specs["scale"].name == "upscale_scale" and "one of 2, 3, 4" in specs["scale"].tooltip
    assert (specs["model"].knob_class, specs["model"].values[0], specs["model"].default) == ("Enumeration_Knob", knobs.DEFAULT_MODEL, knobs.DEFAULT_MODEL)
    assert (specs["tile"].knob_class, specs["tile"].default, specs["tile"].slider) == ("Int_Knob", 0, None)
    assert "min 0" in specs["tile"].tooltip and specs["tile"].tooltip.startswith("tile size")
    assert (specs["strength"].knob_class, specs["strength"].slider) == ("Double_Knob", (0.0, 2.0))
    assert (specs["range_map"].knob_class, specs["range_map"].default) == ("Boolean_Knob", True)
    assert (specs["mode"].knob_class, specs["mode"].values) == ("Enumeration_Knob", ["fast", "best"])
    assert (specs["note"].knob_class, specs["note"].default) == ("String_Knob", "hi")
    assert knobs.param_knob("upscale", UPSCALE["params"][1], []).knob_class == "String_Knob"  # no model list: free text


def test_knob_values_become_typed_params_and_missing_knobs_use_defaults():
    values = {"upscale_scale": "4", "upscale_model": knobs.DEFAULT_MODEL, "upscale_tile": 64.0,
              "upscale_strength": 1, "upscale_range_map": False, "upscale_mode": "best"}
    assert knobs.params_from_values(UPSCALE, values) == {
        "scale": 4, "model": "", "tile": 64, "strength": 1.0, "range_map": False, "mode": "best", "note": "hi"}


# ---------------------------------------------------------------- jobs, keys, colour


def test_job_and_cache_key():
    steps = [{"node": "upscale", "params": {"scale": 2}}]
    job = jobs.build_job("/c/in.####.exr", "/c/out.####.exr", 1001, 1010, "lin_srgb", steps, "cpu", "float", "1GB")
    assert job == {
        "input": {"path": "/c/in.####.exr", "frames": "1001-1010", "colorspace": "lin_srgb"},
        "output": {"path": "/c/out.####.exr", "compression": "zip", "bit_depth": "float"},
        "pipeline": steps, "device": "cpu", "max_memory": "1GB",
    }
    key = jobs.cache_key(job, "digest")
    moved = jobs.build_job("/elsewhere/in.####.exr", "/x/o.####.exr", 1001, 1010, "lin_srgb", steps, "cpu", "float", "1GB")
    assert jobs.cache_key(moved, "digest") == key and len(key) == 12  # paths do not count
    other_range = jobs.build_job("", "", 1011, 1020, "lin_srgb", steps, "cpu", "float", "1GB")
    assert jobs.cache_key(other_range, "digest") == key  # nor the range: partial renders accumulate under one key
    for changed in (jobs.build_job("", "", 1001, 1010, "acescg", steps, "cpu", "float", "1GB"),
                    jobs.build_job("", "", 1001, 1010, "lin_srgb", [{"node": "upscale", "params": {"scale": 4}}], "cpu", "float", "1GB"),
                    jobs.build_job("", "", 1001, 1010, "lin_srgb", steps, "cpu", "half", "1GB")):
        assert jobs.cache_key(changed, "digest") != key
    assert jobs.cache_key(job, "other pixels") != key
    with pytest.raises(core.PluginError, match="empty"):
        jobs.build_job("", "", 10, 9, "lin_srgb", steps)


def test_frame_paths_and_pipeline_text(tmp_path):
    assert jobs.frame_path("/a/b.####.exr", 7) == "/a/b.0007.exr"
    assert jobs.frame_path("/a/b.%04d.exr", 1001) == "/a/b.1001.exr"
    assert jobs.frame_path("/a/b.%d.exr", 5) == "/a/b.5.exr"
    assert jobs.split_names("dustbust > upscale, regrain\nscratch") == ["dustbust", "upscale", "regrain", "scratch"]
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"pipeline": [{"node": "tmean", "params": {"radius": 2}}, {"node": "upscale"}]}))
    assert jobs.load_pipeline_file(str(f)) == [{"node": "tmean", "params": {"radius": 2}}, {"node": "upscale", "params": {}}]
    with pytest.raises(core.PluginError, match="use a .json file"):
        jobs.load_pipeline_file(str(tmp_path / "p.yaml"))


@pytest.mark.parametrize("management, config, space, expected", [
    ("Nuke", "nuke-default", "linear", "lin_srgb"),
    ("OCIO", "nuke-default", "linear", "lin_srgb"),
    ("OCIO", "aces_1.2", "ACES - ACEScg", "ACES - ACEScg"),
    ("OCIO", "fn-nuke_cg-config-v1.0.0_aces-v1.3_ocio-v2.1", "scene_linear", "ACEScg"),
    ("OCIO", "aces_1.2", "", "ACES - ACEScg"),
    ("OCIO", "aces_1.2", "compositing_linear", "ACES - ACEScg"),
    ("", "", "", "lin_srgb"),
    # a role means what Nuke's config says: in nuke-default, scene_linear is linear sRGB (the core's
    # studio config would read it as ACEScg: a gamut shift on every restored pixel)
    ("OCIO", "nuke-default", "scene_linear", "lin_srgb"),
    ("Nuke", "nuke-default", "compositing_linear", "lin_srgb"),
])
def test_working_space(management, config, space, expected):
    assert jobs.working_space(management, config, space) == expected


def test_working_space_role_of_a_custom_config_is_read_from_its_file(tmp_path):
    config = tmp_path / "studio.ocio"
    config.write_text("ocio_profile_version: 2\n\nroles:\n  scene_linear: ACEScg  # the working space\n"
                      "  compositing_log: ACEScct\n  'data': Raw\n\ncolorspaces:\n  - !<ColorSpace>\n    name: ACEScg\n")
    assert jobs.working_space("OCIO", "custom", "scene_linear", str(config)) == "ACEScg"
    assert jobs.config_roles(str(config)) == {"scene_linear": "ACEScg", "compositing_log": "ACEScct", "data": "Raw"}
    with pytest.raises(core.PluginError, match="cannot tell what it means"):
        jobs.working_space("OCIO", "custom", "scene_linear", str(tmp_path / "missing.ocio"))
    with pytest.raises(core.PluginError, match="has no role 'color_timing'"):
        jobs.working_space("OCIO", "aces_1.2", "color_timing")


def test_frame_sets_as_text():
    assert jobs.frames_text([1003, 1001, 1002, 1010, 1012, 1013]) == "1001-1003 1010 1012-1013"
    assert jobs.parse_frames("1001-1003 1010 1012-1013") == [1001, 1002, 1003, 1010, 1012, 1013]
    assert jobs.parse_frames(jobs.frames_text([-3, -2, 0])) == [-3, -2, 0] and jobs.frames_text([]) == ""


def test_exr_digest_ignores_volatile_header_entries_but_not_pixels(tmp_path):
    oiio = pytest.importorskip("OpenImageIO")

    def write(path: Path, pixels: np.ndarray, date: str) -> None:
        spec = oiio.ImageSpec(4, 3, 3, oiio.FLOAT)
        spec.attribute("capDate", date)
        spec.attribute("nuke/node_hash", date[-4:])
        spec.attribute("timeCode", "01:00:00:00")
        out = oiio.ImageOutput.create(str(path))
        out.open(str(path), spec)
        out.write_image(pixels)
        out.close()

    pix = np.arange(36, dtype=np.float32).reshape(3, 4, 3)
    write(tmp_path / "a.1.exr", pix, "2024:01:01 10:00:00")
    write(tmp_path / "b.1.exr", pix, "2025:06:30 23:59:59")
    write(tmp_path / "c.1.exr", pix + 1e-3, "2024:01:01 10:00:00")
    a, b, c = (jobs.sequence_digest(str(tmp_path / (n + ".#.exr")), [1]) for n in "abc")
    assert a == b and a != c
    (tmp_path / "d.1.exr").write_bytes(b"not an exr")
    assert jobs.sequence_digest(str(tmp_path / "d.#.exr"), [1])
    with pytest.raises(core.PluginError, match="no frame 2"):
        jobs.sequence_digest(str(tmp_path / "a.#.exr"), [1, 2])


# ---------------------------------------------------------------- progress


def test_progress_lines_and_summary_are_parsed():
    event = runner.parse_progress('{"event": "frame", "frame": 1001, "status": "done", "done": 1, "total": 8, "path": "/o.exr", "seconds": 0.1}')
    assert event is not None and event["frame"] == 1001
    assert runner.parse_progress("error: the job is bad") is None and runner.parse_progress("{not json") is None
    assert runner.parse_providers("reelfix: 8 done, 0 skipped, 0 failed in 0.1s; provider: CUDAExecutionProvider, CPUExecutionProvider\n"
                                  "manifest: /x") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert runner.parse_providers("reelfix: 0 done; provider: none") == []


SCRIPTED_CORE = """#!{python}
import json, sys, time
for n in range(1, 4):
    print(json.dumps({{"event": "frame", "frame": n, "status": "done", "done": n, "total": 3}}), file=sys.stderr, flush=True)
print("error: something went wrong", file=sys.stderr)
print("reelfix: 3 done, 0 skipped, 0 failed in 0.1s; provider: CPUExecutionProvider")
sys.exit({code})
"""


def test_run_job_collects_events_text_and_exit_code(tmp_path):
    script = _exe(tmp_path / "core", SCRIPTED_CORE.format(python=sys.executable, code=2))
    seen = []
    outcome = runner.run_job([str(script)], on_event=seen.append)
    assert outcome.returncode == 2 and [e["frame"] for e in seen] == [1, 2, 3] == outcome.frames("done")
    assert outcome.error_text == "error: something went wrong" and outcome.providers == ["CPUExecutionProvider"]


def test_run_job_cancel_interrupts_then_kills(tmp_path):
    """A core that ignores SIGINT is terminated after the grace period. Handshake: Cancel is
    pressed only once the script has set SIG_IGN (it creates `ready`), never by timing."""
    ready = tmp_path / "ready"
    stubborn = _exe(tmp_path / "stubborn", "#!{}\nimport signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                    "open({!r}, 'w').close()\n"
                    "time.sleep(600)\n".format(sys.executable, str(ready)))
    outcome = runner.run_job([str(stubborn)], is_cancelled=ready.exists, grace=0.5)
    assert outcome.cancelled and outcome.returncode == -15  # SIGINT ignored: ended by terminate, not by itself
    assert outcome.seconds < 300  # not the 600 s sleep


# ---------------------------------------------------------------- farm


def test_farm_submitter_choice(tmp_path, monkeypatch):
    monkeypatch.delenv("DEADLINECOMMAND", raising=False)
    monkeypatch.delenv("DEADLINE_PATH", raising=False)
    d = tmp_path / "deadline"
    d.mkdir()
    (d / "job_info.job").write_text("Plugin=CommandLine\nFrames=1-10\n")
    (d / "plugin_info.job").write_text("Executable=/v/bin/reelfix\nArguments=run job.yaml\n")
    files = {"openjd": str(tmp_path / "openjd" / "template.yaml"), "bundle": str(tmp_path / "openjd"), "deadline": str(d)}
    calls = []

    def capture(argv):
        calls.append(list(argv))
        return 0, "JobID=42\n", ""

    tools = {"deadline": "/bin/deadline", "openjd": "/bin/openjd"}
    text = farm.submit(files, "auto", which=tools.get, capture=capture)
    assert text.startswith("Submitted to Deadline Cloud") and calls[-1] == ["/bin/deadline", "bundle", "submit", "--yes", str(tmp_path / "openjd")]
    tools["deadlinecommand"] = "/bin/deadlinecommand"
    assert farm.submit(files, "auto", which=tools.get, capture=capture).startswith("Submitted to Deadline 10 as job 42")
    assert calls[-1] == ["/bin/deadlinecommand", str(d / "job_info.job"), str(d / "plugin_info.job")]
    assert farm.submit(files, "files only", which=tools.get, capture=capture).startswith("Not submitted")
    assert calls[-1] == ["/bin/openjd", "check", files["openjd"]]
    assert "not on PATH" in farm.submit(files, "Deadline 10", which={}.get, capture=capture)
    monkeypatch.setenv("DEADLINE_PATH", str(tmp_path))
    _exe(tmp_path / "deadlinecommand")
    assert farm.find_deadlinecommand(which={}.get) == str(tmp_path / "deadlinecommand")
    with pytest.raises(core.PluginError, match="refused"):
        farm.submit(files, "Deadline 10", which=tools.get, capture=lambda argv: (1, "", "license error"))


def test_plugin_paths_module_is_where_the_plugin_expects(user_dirs):
    assert paths.plugin_cache_dir().startswith(os.environ["XDG_CACHE_HOME"])
    assert Path(core.SNAPSHOT).parent == PLUGIN / "reelfix_nuke"
