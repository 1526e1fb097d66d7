"""The Resolve route against the fake Resolve and a fake core: ranges with handles, takes with the
original kept, the bin, markers, offline clips skipped, and every unverified convention both ways."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reelfix_resolve import conventions, restore
from reelfix_resolve.restore import BIN_NAME, Options
from tests.resolve.conftest import TL_START
from tests.resolve.fake_resolve import shown_frames

EXPECTED = {"movie": list(range(5, 15)), "seq": list(range(1011, 1019)), "seq again": list(range(1015, 1020))}


def run(scene, fake_bin: Path, pipeline: Path, out: Path, conv: conventions.Conventions | None = None, **options):
    opts = Options(str(pipeline), **{"clip_color": "Orange", "out_dir": str(out), **options})
    return restore.restore(scene.resolve, opts, conv or conventions.Conventions(), str(fake_bin))


def calls(tmp_path: Path, command: str) -> list[list[str]]:
    log = tmp_path / "reelfix.log"
    return [c for c in map(json.loads, log.read_text().splitlines()) if c[0] == command] if log.exists() else []


def bin_folder(scene):
    root = scene.project.GetMediaPool().GetRootFolder()
    return next(f for f in root.GetSubFolderList() if f.GetName() == BIN_NAME)


def test_restore_as_takes(tmp_path: Path, scene, fake_bin: Path, pipeline_json: Path) -> None:
    s = scene()
    out = tmp_path / "out"
    reports = run(s, fake_bin, pipeline_json, out, handles=8)
    status = {r.label: r.status for r in reports}
    assert status == {"V1 'movie'": "restored", "V1 'seq'": "restored", "V1 'seq again'": "restored",
                      "V1 'offline'": "skipped", "V1 'title'": "skipped"}
    messages = {r.label: r.message for r in reports}
    assert "offline" in messages["V1 'offline'"] and "B.mov" in messages["V1 'offline'"]
    assert "no media pool clip" in messages["V1 'title'"]

    # one core run per source span: handles clamped at the movie's head; the two seq clips share one run
    jobs = [json.loads(Path(c[1]).read_text()) for c in calls(tmp_path, "run")]
    spans = sorted((Path(j["input"]["path"]).name, j["input"]["frames"]) for j in jobs)
    assert spans == [("A001.####.exr", "1003-1027"), ("clip.mov", "0-22")]
    assert all(j["pipeline"] == [{"node": "upscale", "params": {"scale": 2}}] and j["output"]["path"].startswith(str(out)) for j in jobs)

    # takes: the original stays take 1, the restored take is selected and shows the same source frames
    for name, frames in EXPECTED.items():
        item = s.items[name]
        assert item.GetTakesCount() == 2 and item.GetSelectedTakeIndex() == 2
        assert item.GetTakeByIndex(1)["mediaPoolItem"] is item.GetMediaPoolItem()
        restored = item.GetTakeByIndex(2)["mediaPoolItem"]
        assert restored.GetClipProperty("File Path").startswith(str(out))
        assert shown_frames(item) == frames
        for n in frames:  # the fake core wrote "<source>#<frame>" into each restored frame
            path = restored._path.replace("####", f"{n:04d}")
            assert Path(path).read_text().endswith(f"#{n}")
        [marker] = item.GetMarkers().values()
        assert marker["name"] == "reelfix" and "upscale(scale=2)" in marker["note"] and str(pipeline_json) in marker["note"]
        manifest = marker["note"].split("manifest: ")[1].split("\n")[0]
        assert Path(manifest).is_file()
    for name in ("offline", "title", "blue"):
        assert s.items[name].GetTakesCount() == 0 and not s.items[name].GetMarkers()

    clips = bin_folder(s).GetClipList()
    assert sorted(c.GetClipProperty("File Path").rsplit("/", 1)[1] for c in clips) == ["A001.[1003-1027].exr", "clip.[0000-0022].exr"]
    assert s.project.GetMediaPool().GetCurrentFolder() is s.project.GetMediaPool().GetRootFolder()  # put back

    # a rerun reuses the bin clips and takes, and does not pile up markers
    run(s, fake_bin, pipeline_json, out, handles=8)
    assert len(bin_folder(s).GetClipList()) == 2
    assert all(s.items[n].GetTakesCount() == 2 and len(s.items[n].GetMarkers()) == 1 for n in EXPECTED)


def test_restore_on_a_new_track(tmp_path: Path, scene, fake_bin: Path, pipeline_json: Path) -> None:
    s = scene()
    reports = run(s, fake_bin, pipeline_json, tmp_path / "out", handles=2, mode="track")
    assert [r.status for r in reports].count("restored") == 3
    assert s.timeline.GetTrackCount("video") == 2 and s.timeline.GetTrackName("video", 2) == restore.TRACK_NAME
    placed = s.timeline.GetItemListInTrack("video", 2)
    assert [i.GetStart() for i in placed] == [s.items[n].GetStart() for n in EXPECTED]
    assert [shown_frames(i) for i in placed] == list(EXPECTED.values())
    assert all(i.GetMarkers() for i in placed)
    assert all(s.items[n].GetTakesCount() == 0 for n in EXPECTED)  # the originals are untouched
    run(s, fake_bin, pipeline_json, tmp_path / "out", handles=2, mode="track")
    assert s.timeline.GetTrackCount("video") == 2  # the reelfix track is reused


@pytest.mark.parametrize("origin", ["clip", "file"])
@pytest.mark.parametrize("source_end_inclusive", [True, False])
@pytest.mark.parametrize("take_end_inclusive", [True, False])
def test_conventions_auto_detected_or_set(tmp_path: Path, scene, fake_bin: Path, pipeline_json: Path, origin: str,
                                          source_end_inclusive: bool, take_end_inclusive: bool) -> None:
    """A Resolve that counts source frames either way: "auto" works it out; explicit settings agree."""
    for i, explicit in enumerate((False, True)):
        s = scene(source_origin=origin, source_end_inclusive=source_end_inclusive, take_end_inclusive=take_end_inclusive)
        conv = conventions.Conventions(take_end_inclusive=take_end_inclusive)
        if explicit:
            conv.update({"source_origin": origin, "source_end": "inclusive" if source_end_inclusive else "exclusive"}, "test")
        reports = run(s, fake_bin, pipeline_json, tmp_path / f"out{i}", conv, handles=3)
        assert [r.status for r in reports].count("restored") == 3, [r.line() for r in reports]
        for name, frames in EXPECTED.items():
            assert shown_frames(s.items[name]) == frames, (name, explicit)


@pytest.mark.parametrize("origin", ["clip", "file"])
def test_before_19_0_2_offsets_are_used_and_the_origin_switch_decides_takes(tmp_path: Path, scene, fake_bin: Path,
                                                                            pipeline_json: Path, origin: str) -> None:
    s = scene(version=[18, 6, 6, 7, ""], source_origin=origin)
    conv = conventions.Conventions(source_origin=origin)
    run(s, fake_bin, pipeline_json, tmp_path / "out", conv, handles=8)
    assert all(shown_frames(s.items[n]) == f for n, f in EXPECTED.items())
    jobs = sorted(json.loads(Path(c[1]).read_text())["input"]["frames"] for c in calls(tmp_path, "run"))
    assert jobs == ["0-22", "1003-1027"]


def test_a_wrong_origin_setting_shows_up(tmp_path: Path, scene, fake_bin: Path, pipeline_json: Path) -> None:
    """The switch matters: told "clip" while Resolve counts from the file number, the frames fall
    outside the media and the clips are skipped, saying so (nothing wrong lands on the timeline)."""
    s = scene(source_origin="file")
    reports = run(s, fake_bin, pipeline_json, tmp_path / "out", conventions.Conventions(source_origin="clip"), handles=8)
    wrong = {r.label: r for r in reports if r.label in ("V1 'movie'", "V1 'seq'", "V1 'seq again'")}
    assert all(r.status == "skipped" and "it uses frames" in r.message for r in wrong.values())
    assert all(s.items[n].GetTakesCount() == 0 for n in EXPECTED)


@pytest.mark.parametrize("mark_origin", ["timeline", "record"])
@pytest.mark.parametrize("marker_frame", ["item", "source"])
def test_in_out_marks_and_markers_either_way(tmp_path: Path, scene, fake_bin: Path, pipeline_json: Path, mark_origin: str,
                                             marker_frame: str) -> None:
    s = scene(mark_origin=mark_origin, marker_frame=marker_frame)
    s.timeline.SetMarkInOut(TL_START + 10, TL_START + 22)  # covers "seq" and part of "seq again"
    conv = conventions.Conventions(marker_frame=marker_frame)
    reports = run(s, fake_bin, pipeline_json, tmp_path / "out", conv, clip_color=None, marks=True)
    assert sorted(r.label for r in reports) == ["V1 'seq again'", "V1 'seq'"]
    assert all(len(s.items[n].GetMarkers()) == 1 for n in ("seq", "seq again"))
    conv = conventions.Conventions(mark_origin=mark_origin, marker_frame="item" if marker_frame == "source" else "source")
    reports = run(s, fake_bin, pipeline_json, tmp_path / "out", conv, clip_color=None, marks=True)
    assert all("marker refused" not in r.message for r in reports)  # the other reading is tried too


def test_track_selection_and_failed_frames(tmp_path: Path, scene, fake_bin: Path, pipeline_json: Path, monkeypatch) -> None:
    s = scene()
    monkeypatch.setenv("FAKE_REELFIX_FAIL", "1015")
    reports = run(s, fake_bin, pipeline_json, tmp_path / "out", clip_color=None, track=1, handles=0)
    status = {r.label: r.status for r in reports}
    assert status["V1 'blue'"] == "restored" and status["V1 'movie'"] == "restored"
    assert status["V1 'seq'"] == status["V1 'seq again'"] == "failed"
    failed = next(r for r in reports if r.label == "V1 'seq'")
    assert "frame 1015" in failed.message
    assert s.items["seq"].GetTakesCount() == 0  # nothing half-done on the timeline


def test_farm_writes_jobs_and_farm_files_and_leaves_the_timeline(tmp_path: Path, scene, fake_bin: Path, pipeline_json: Path) -> None:
    s = scene()
    reports = run(s, fake_bin, pipeline_json, tmp_path / "out", farm="openjd", chunk=5)
    assert {r.status for r in reports} == {"farm", "skipped"}
    farm = calls(tmp_path, "farm")
    assert len(farm) == 2 and all(c[1] == "openjd" and c[3:5] == ["--chunk", "5"] for c in farm)
    assert all(Path(c[-1]).is_file() for c in farm) and not calls(tmp_path, "run")
    assert all(s.items[n].GetTakesCount() == 0 for n in EXPECTED)


def test_options_need_a_selection_and_valid_choices(pipeline_json: Path) -> None:
    with pytest.raises(restore.RestoreError, match="choose the clips"):
        Options(str(pipeline_json))
    with pytest.raises(restore.RestoreError, match="take or track"):
        Options(str(pipeline_json), clip_color="Orange", mode="version")
