"""Open report on a reelfix node (the button, with nuke.thisNode() = the node, and Restore > Open
report on the selected node): the real core writes the review page of the node's last render beside
its manifest and the browser is asked to open it (recorded, not launched); a node never rendered,
or no reelfix node selected, is a message."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.nuke.conftest import gui_render, read_plate
from tests.nuke.test_plugin import _menu_create

import reelfix_nuke  # noqa: E402  (on sys.path via conftest)


def joined(nk) -> None:
    from reelfix_nuke import host  # imports nuke: the fake, once the nk fixture installed it

    while host.REPORTS:
        thread = host.REPORTS.pop()
        thread.join(300)
        assert not thread.is_alive(), "the report's worker thread did not end"
    nk._run_main_calls()


def test_open_report_button_and_menu_entry(nk, core_env, plate, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    group = _menu_create(nk, "Upscale", read_plate(nk, plate))
    assert [i.name() for i in nk.menu("Nodes").findItem("Restore").items()][-2:] == ["Open report", "Refresh node list"]
    button = group["rf_report"]
    assert button.Class() == "PyScript_Knob" and button.label() == "Open report"

    button.execute()  # never rendered: a message, no core run
    joined(nk)
    assert opened == [] and "has not been rendered yet: press Render" in nk._state.messages.pop()

    group["upscale_model"].setValue("tiny-x2")
    group["rf_cache_dir"].setValue(str(tmp_path / "cache"))
    assert gui_render(nk, group) is not None and nk._state.messages == []
    status = group["rf_status"].value()

    button.execute()  # the button: nuke.thisNode() is the group
    joined(nk)
    output = Path(group.node("reelfix_out")["file"].value())
    page = output.parent / "review" / "index.html"
    assert nk._state.messages == [] and opened == [page.as_uri()]
    html = page.read_text()
    assert "reelfix review" in html and "upscale" in html and "tiny-x2" in html
    assert (output.parent / "upscale.reelfix.json").name in html
    assert group["rf_status"].value() == status  # not a change: the render stays current
    from reelfix_nuke import state

    assert state.stale_reason(group) == ""

    # Restore > Open report acts on the selected node (thisNode() is the root in a menu command); the core's
    # part is the same as above, so here only the manifest it is given is recorded
    asked: list[str] = []
    monkeypatch.setattr(reelfix_nuke.report, "open_report", lambda manifest, bin_path: asked.append(manifest))
    for n in nk.allNodes():
        n.setSelected(False)
    nk.menu("Nodes").findItem("Restore/Open report").invoke()
    joined(nk)
    assert asked == [] and "select a reelfix node" in nk._state.messages.pop()
    group.setSelected(True)
    nk.menu("Nodes").findItem("Restore/Open report").invoke()
    joined(nk)
    assert asked == [str(output.parent / "upscale.reelfix.json")] and nk._state.messages == []


def test_a_farm_renders_chunk_manifests_count_as_a_run(tmp_path: Path) -> None:
    from reelfix_nuke import report

    manifest = str(tmp_path / "upscale.reelfix.json")
    assert report.manifest_for(str(tmp_path / "upscale.####.exr")) == manifest
    assert not report.has_run(manifest)
    (tmp_path / "upscale.reelfix.json.lock").write_text("")
    assert not report.has_run(manifest)
    (tmp_path / "upscale.reelfix.1001-1010.json").write_text("{}")
    assert report.has_run(manifest) and reelfix_nuke.open_report is not None
