"""The plugin against real Nuke behaviour (../shared/docs/hosts.md, "Real behaviour ... Nuke"),
as the fake models it: batch renders, bbox vs format, held frames, the internal Write on the
farm, nested Groups, proxy and views. Each test failed on the plugin before issue 15."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.nuke.conftest import gui_render, read_plate

import reelfix_nuke  # noqa: E402  (on sys.path via conftest)
from reelfix_nuke import core  # noqa: E402  (host and state import nuke: inside the tests)


def _node(nk, kind: str, upstream, **values):
    """A reelfix Group as render_all / `nuke -t` code makes it (bare, from the bundled declarations)."""
    from reelfix_nuke import host

    group = nk.nodes.Group()
    decls = core.declarations(str(core.find_core()))[0]
    host.build_group(group, kind, decls, ["tiny-x2"])
    group.setInput(0, upstream)
    for name, value in values.items():
        group[name].setValue(value)
    return group


def _user_write(nk, upstream, path: Path):
    write = nk.nodes.Write(file=str(path / "final.####.exr"), file_type="exr")
    write["datatype"].setValue("32 bit float")
    write["create_directories"].setValue(True)
    write.setInput(0, upstream)
    return write


def test_batch_render_fails_until_rendered_writes_restored_frames_then_fails_after_a_change(nk, core_env, plate, tmp_path):
    read = read_plate(nk, plate)
    group = _node(nk, "upscale", read, upscale_model="tiny-x2")
    final = _user_write(nk, group, tmp_path / "final")
    nk._batch()  # nuke -x script.nk

    with pytest.raises(RuntimeError, match="has not been rendered") as err:
        nk.execute(final, 1001, 1002)
    assert "press Render" in str(err.value) and "never passes its input through" in str(err.value)
    assert not (tmp_path / "final").exists()  # not one frame of the plate

    (result,) = reelfix_nuke.render_all(1001, 1002)  # nuke -t: the node is rendered
    assert result.status == "done"
    nk.execute(final, 1001, 1002)
    for frame in (1001, 1002):
        written = nk._image_at(nk.nodes.Read(file=str(tmp_path / "final" / "final.####.exr"), first=1001, last=1002), frame)
        assert written.shape == (48, 64, 3)  # the restored frames, x2
        np.testing.assert_array_equal(written, nk._image_at(group, frame))

    group["upscale_tile"].setValue(16)  # a knob change: stale until rendered again
    with pytest.raises(RuntimeError, match="changed since its render"):
        nk.execute(final, 1001, 1002)
    group["upscale_tile"].setValue(0)
    nk.execute(final, 1001, 1002)  # back to what was rendered

    replaced = Path(read["file"].value().replace("####", "1002"))  # the plate re-rendered under the same name
    replaced.write_bytes(Path(read["file"].value().replace("####", "1001")).read_bytes())
    os.utime(replaced, ns=(replaced.stat().st_atime_ns, replaced.stat().st_mtime_ns + 10**9))
    with pytest.raises(RuntimeError, match="changed since its render"):
        nk.execute(final, 1001, 1002)
    assert reelfix_nuke.render_all(1001, 1002)[0].status == "done"
    nk.execute(final, 1001, 1002)


def test_gui_marks_a_changed_node_stale_and_shows_the_input_only_before_the_first_render(nk, core_env, plate):
    reelfix_nuke.build_menu()  # registers the knobChanged callback
    group = _node(nk, "upscale", read_plate(nk, plate), upscale_model="tiny-x2")
    switch = group.node("reelfix_switch")
    assert switch["which"].value() == 0  # GUI preview of the input before any render
    assert gui_render(nk, group).status == "done" and switch["which"].value() == 1
    rendered = group["rf_status"].value()
    from reelfix_nuke import state

    group["upscale_tile"].setValue(16)
    assert group["rf_status"].value().startswith(state.STALE) and switch["which"].value() == 1  # the old result, marked
    group["upscale_tile"].setValue(0)
    assert group["rf_status"].value() == rendered


def _windowed_plate(folder: Path, data: tuple, display: tuple, frames=(1001, 1002)) -> str:
    """EXRs whose data window (x, y, w, h) differs from the display window (x, y, w, h), as Nuke writes a bbox."""
    oiio = pytest.importorskip("OpenImageIO")
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    for n in frames:
        x, y, w, h = data
        spec = oiio.ImageSpec(w, h, 3, oiio.FLOAT)
        spec.x, spec.y = x, y
        spec.full_x, spec.full_y, spec.full_width, spec.full_height = display
        out = oiio.ImageOutput.create(str(folder / "W.{}.exr".format(n)))
        out.open(str(folder / "W.{}.exr".format(n)), spec)
        out.write_image(rng.uniform(0.0, 2.0, (h, w, 3)).astype(np.float32))
        out.close()
    return str(folder / "W.####.exr")


WINDOWS = {  # data window vs the 32x24 format
    "larger (overscan)": (-6, -4, 44, 32),
    "smaller": (5, 3, 12, 10),
    "offset": (10, 8, 32, 24),
}


@pytest.mark.parametrize("data", WINDOWS.values(), ids=list(WINDOWS))
def test_results_register_with_the_input_pixel_for_pixel_whatever_the_bbox(nk, core_env, tmp_path, data, monkeypatch):
    monkeypatch.setenv("REELFIX_PLUGINS", "tests.nuke.slow_node")
    pattern = _windowed_plate(tmp_path / "plates", data, (0, 0, 32, 24))
    read = read_plate(nk, pattern, 1001, 1002)
    group = _node(nk, "slowcopy", read, rf_bit_depth="float")  # an identity node: the result must be the input, in place
    assert reelfix_nuke.render_all(1001, 1002)[0].status == "done"
    for frame in (1001, 1002):
        expected = nk._image_at(read, frame)
        assert expected.shape == (24, 32, 3)
        np.testing.assert_array_equal(nk._image_at(group, frame), expected)


def test_an_upscaled_result_keeps_the_format_scaled(nk, core_env, tmp_path):
    pattern = _windowed_plate(tmp_path / "plates", WINDOWS["offset"], (0, 0, 32, 24), frames=(1001,))
    read = read_plate(nk, pattern, 1001, 1001)
    group = _node(nk, "upscale", read, upscale_model="tiny-x2")
    (result,) = reelfix_nuke.render_all(1001, 1001)
    image = nk._load(result.output.replace("####", "1001"))
    assert image.format == (0, 0, 64, 48) and image.bbox == (0, 0) and image.pixels.shape == (48, 64, 3)
    # the same as the core on the plate as Nuke shows it (format, black outside the bbox)
    from reelfix.frames.frame import Frame
    from reelfix.frames.image_io import read_image, write_image

    shown = tmp_path / "shown.1001.exr"
    write_image(str(shown), Frame(nk._image_at(read, 1001), ("R", "G", "B"), "lin_srgb", 1001), bit_depth="float")
    np.testing.assert_array_equal(read_image(str(shown)).pixels, nk._image_at(read, 1001))
    import subprocess
    from tests.nuke.conftest import CORE_BIN

    subprocess.run([str(CORE_BIN), "upscale", str(shown).replace("1001", "####"), str(tmp_path / "cli.####.exr"),
                    "--model", "tiny-x2", "--frames", "1001", "--in-colorspace", "lin_srgb", "--bit-depth", "half"],
                   check=True, capture_output=True)
    np.testing.assert_array_equal(nk._image_at(group, 1001), read_image(str(tmp_path / "cli.1001.exr")).pixels)


def test_the_core_reads_an_exr_as_its_display_window(tmp_path):
    from reelfix.frames.image_io import read_image

    for name, data in WINDOWS.items():
        pattern = _windowed_plate(tmp_path / name.split()[0], data, (0, 0, 32, 24), frames=(1,))
        frame = read_image(pattern.replace("####", "1"))
        assert frame.pixels.shape == (24, 32, 3), name
        oiio = pytest.importorskip("OpenImageIO")
        buf = oiio.ImageBuf(pattern.replace("####", "1"))
        x, y, w, h = data
        stored = buf.get_pixels(oiio.FLOAT)
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, 32), min(y + h, 24)
        np.testing.assert_array_equal(frame.pixels[y0:y1, x0:x1], stored[y0 - y:y1 - y, x0 - x:x1 - x])
        outside = np.ones((24, 32), bool)
        outside[y0:y1, x0:x1] = False
        assert not frame.pixels[outside].any()  # black where the bbox does not reach


def test_outside_the_rendered_frames_the_node_errors_or_is_black_and_partial_renders_accumulate(nk, core_env, plate, tmp_path):
    read = read_plate(nk, plate)
    group = _node(nk, "upscale", read, upscale_model="tiny-x2")
    final = _user_write(nk, group, tmp_path / "final")
    first = reelfix_nuke.render_all(1001, 1002)[0]
    nk._batch()
    with pytest.raises(RuntimeError, match="frame 1003 is outside 1001-1002"):
        nk.execute(final, 1003, 1003)  # never the held frame 1002
    second = reelfix_nuke.render_all(1003, 1004)[0]
    assert second.key == first.key and second.outcome.frames("done") == [1003, 1004]  # only the new frames ran
    out = group.node("reelfix_out")
    assert (out["first"].value(), out["last"].value()) == (1001, 1004)
    assert group["rf_frames"].value() == "1001-1004"
    nk.execute(final, 1001, 1004)  # both ranges
    assert reelfix_nuke.render_all(1001, 1004)[0].status == "cached"

    group["rf_outside"].setValue("black")
    reelfix_nuke.render_all(1001, 1004)
    assert nk._image_at(group, 1005).shape == (48, 64, 3) and not nk._image_at(group, 1005).any()


def test_internal_writes_stay_disabled_so_farm_submitters_render_only_the_users(nk, core_env, plate, tmp_path):
    group = _node(nk, "upscale", read_plate(nk, plate), upscale_model="tiny-x2")
    final = _user_write(nk, group, tmp_path / "final")

    def enabled_writes():  # what a submitter that recurses into Groups would render
        return [w.fullName() for w in nk.allNodes("Write", recurseGroups=True) if not w["disable"].value()]

    assert enabled_writes() == [final.fullName()]
    assert gui_render(nk, group).status == "done"
    assert enabled_writes() == [final.fullName()]
    nk._SWITCHES.cancel_execute = True
    assert gui_render(nk, group).status == "cancelled"
    assert enabled_writes() == [final.fullName()]  # also after a cancelled input render


def test_render_all_renders_upstream_first_across_nested_groups(nk, core_env, plate):
    read = read_plate(nk, plate)
    shot = nk.nodes.Group()  # a user Group made first, so allNodes lists its reelfix node first
    shot.setName("Shot")
    with shot:
        inner_in = nk.nodes.Input()
        inner = _node(nk, "upscale", inner_in, upscale_model="tiny-x2")
        nk.nodes.Output().setInput(0, inner)
    outer = _node(nk, "upscale", read, upscale_model="tiny-x2")
    shot.setInput(0, outer)
    nk._batch()
    results = reelfix_nuke.render_all(1001, 1001)
    assert [Path(r.output).parts[-4] for r in results] == [  # CACHE/upscale_<rf_id>/<key>/output/...
        "upscale_" + outer["rf_id"].value(), "upscale_" + inner["rf_id"].value()]
    assert nk._image_at(shot, 1001).shape == (96, 128, 3)  # x2 of x2, not x2 of the plate


def test_proxy_mode_renders_at_full_resolution_and_is_restored(nk, core_env, plate):
    nk.root()["proxy"].setValue(True)
    group = _node(nk, "upscale", read_plate(nk, plate), upscale_model="tiny-x2")
    result = gui_render(nk, group)
    assert result.status == "done", nk._state.messages
    assert nk._load(result.output.replace("####", "1001")).pixels.shape == (48, 64, 3)  # not the proxy's 24x32
    assert nk.root()["proxy"].value() is True


def test_a_stereo_script_is_refused_clearly(nk, core_env, plate):
    nk._state.views = ["left", "right"]
    group = _node(nk, "upscale", read_plate(nk, plate), upscale_model="tiny-x2")
    assert gui_render(nk, group) is None
    (text,) = nk._state.messages
    assert "2 views (left, right)" in text and "one view per node" in text


def test_a_role_as_working_space_means_what_nukes_config_says(nk, core_env, plate):
    nk.root()["colorManagement"].setValue("OCIO")
    nk.root()["OCIO_config"].setValue("nuke-default")
    nk.root()["workingSpaceLUT"].setValue("scene_linear")
    group = _node(nk, "upscale", read_plate(nk, plate), upscale_model="tiny-x2")
    result = gui_render(nk, group)
    assert result.status == "done", nk._state.messages
    assert json.loads(Path(result.job_path).read_text())["input"]["colorspace"] == "lin_srgb"  # not the core's ACEScg


def _until(condition, seconds: float = 120.0) -> None:
    """Wait for a condition another process brings about (a handshake, not a timing guess)."""
    import time

    give_up = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < give_up, "gave up waiting"
        time.sleep(0.01)


def test_gui_render_runs_the_core_in_a_worker_thread_and_applies_results_on_the_main_thread(nk, core_env, make_plate, tmp_path, monkeypatch):
    monkeypatch.setenv("REELFIX_PLUGINS", "tests.nuke.slow_node")
    gate = tmp_path / "gate"
    read = read_plate(nk, make_plate(frames=range(1001, 1004), name="C001"), 1001, 1003)
    group = _node(nk, "slowcopy", read, slowcopy_gate=str(gate), slowcopy_max_wait=10.0)

    result = reelfix_nuke.render_node(group)  # the button returns while the core runs: Nuke stays responsive

    assert result.status == "running" and nk._state.executed  # the input was rendered (on the main thread: the fake checks)
    _until((tmp_path / "gate.waiting").exists)  # the core is mid-run, holding frame 1002
    out = group.node("reelfix_out")
    assert out["file"].value() == "" and nk._state.reloads == [] and group["rf_status"].value() == "not rendered yet"
    gate.write_text("")
    assert result.wait(120)
    assert out["file"].value() == "" and result.status == "running"  # nothing touched Nuke from the worker thread
    assert nk._run_main_calls() >= 4  # progress of 3 frames + the result, queued with executeInMainThread
    assert result.status == "done" and nk._state.reloads == [out.fullName()]
    assert group.node("reelfix_switch")["which"].value() == 1 and nk._state.tasks[-1]._progress[-1] == 100
    assert "3/3 frames" in group["rf_status"].value() and reelfix_nuke.render.RUNNING == {}


def test_start_up_and_node_creation_run_no_core_subprocess_on_the_main_thread(nk, core_env, plate, tmp_path, monkeypatch):
    import subprocess
    import threading

    from tests.nuke.conftest import settle

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "fresh_cache"))  # nothing cached: a first start
    calls = []
    real_run = subprocess.run
    monkeypatch.setattr(core.subprocess, "run", lambda argv, **kw: calls.append(
        (threading.current_thread() is threading.main_thread(), list(argv[1:3]))) or real_run(argv, **kw))

    restore = reelfix_nuke.build_menu()  # menu.py at start-up
    assert [i.name() for i in restore.items()][0] == "Upscale"  # from the bundled snapshot, at once
    assert [c for c in calls if c[0]] == []  # nothing ran on the main thread
    settle(nk)
    assert sorted(c[1][0] for c in calls) == ["devices", "models", "nodes"]  # asked in the background

    calls.clear()
    read_plate(nk, plate).setSelected(True)
    nk.menu("Nodes").findItem("Restore/Upscale").invoke()  # a node: the model list from the cache
    group = nk.selectedNode()
    assert [c for c in calls if c[0]] == [] and "tiny-x2" in group["upscale_model"].values()
    settle(nk)
    assert [c[1] for c in calls] == [["models", "list"]]  # refreshed behind, for the next node


def test_a_node_from_an_older_plugin_is_made_safe_when_the_script_loads(nk, core_env, plate, tmp_path):
    from reelfix_nuke import state

    group = _node(nk, "upscale", read_plate(nk, plate), upscale_model="tiny-x2")
    switch, write, read = (group.node(n) for n in (state.SWITCH, state.WRITE, state.READ))
    switch["which"]._expression = None  # as the plugin before issue 15 made it: a static Switch on the input,
    switch["which"].setValue(0)
    write["disable"].setValue(False)  # an enabled internal Write, a holding Read, no record knobs
    read["before"].setValue("hold")
    for name in state.HIDDEN:
        group.removeKnob(group[name])
    final = _user_write(nk, group, tmp_path / "final")

    exec(compile((Path(reelfix_nuke.__file__).parents[1] / "init.py").read_text(), "init.py", "exec"), {})  # Nuke's start
    nk._batch()
    nk._load_script()  # nuke -x shot.nk: the script loads, onScriptLoad runs
    assert switch["which"].hasExpression() and write["disable"].value() and read["before"].value() == "error"
    with pytest.raises(RuntimeError, match="has not been rendered"):
        nk.execute(final, 1001, 1001)  # not the plate
