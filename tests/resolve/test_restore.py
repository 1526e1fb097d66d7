"""The Resolve route against the fake Resolve (which models hosts.md's measured behaviour) and a fake core:
ranges with handles, takes with the original kept, the bin, markers, offline clips skipped, and every
unverified convention both ways."""

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


def jobs(tmp_path: Path) -> list[dict]:
    return [json.loads(Path(c[1]).read_text()) for c in calls(tmp_path, "run")]


def bin_folder(scene):
    root = scene.project.GetMediaPool().GetRootFolder()
    return next(f for f in root.GetSubFolderList() if f.GetName() == BIN_NAME)


def ours(item) -> list[dict]:
    return [m for m in item.GetMarkers().values() if m["name"] == "reelfix"]


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
    spans = sorted((Path(j["input"]["path"]).name, j["input"]["frames"]) for j in jobs(tmp_path))
    assert spans == [("A001.####.exr", "1003-1027"), ("clip.mov", "0-22")]
    assert all(j["pipeline"] == [{"node": "upscale", "params": {"scale": 2}}] and j["output"]["path"].startswith(str(out)) for j in jobs(tmp_path))

    # takes: the original stays take 1, the restored take is selected and shows the same source frames
    for name, frames in EXPECTED.items():
        item = s.items[name]
        assert item.GetTakesCount() == 2 and item.GetSelectedTakeIndex() == 2
        assert item.GetTakeByIndex(1)["mediaPoolItem"] in (s.movie, s.seq)
        restored = item.GetTakeByIndex(2)["mediaPoolItem"]
        assert item.GetMediaPoolItem() is restored  # what real Resolve answers once a take is selected
        assert restored.GetClipProperty("File Path").startswith(str(out))
        assert shown_frames(item) == frames
        for n in frames:  # the fake core wrote "<source>#<frame>" into each restored frame
            path = restored._path.replace("####", f"{n:04d}")
            assert Path(path).read_text().endswith(f"#{n}")
        [marker] = ours(item)
        assert "upscale(scale=2)" in marker["note"] and str(pipeline_json) in marker["note"]
        assert Path(marker["note"].split("manifest: ")[1].split("\n")[0]).is_file()
        [frame] = [f for f, m in item.GetMarkers().items() if m["name"] == "reelfix"]
        assert item.GetLeftOffset() <= frame < item.GetLeftOffset() + item.GetDuration()  # counted from the media head
    for name in ("offline", "title", "blue"):
        assert s.items[name].GetTakesCount() == 0 and not s.items[name].GetMarkers()

    clips = bin_folder(s).GetClipList()
    assert sorted(c.GetClipProperty("File Path").rsplit("/", 1)[1] for c in clips) == ["A001.[1003-1027].exr", "clip.[0000-0022].exr"]
    assert all(c.GetClipProperty("FPS") == "24.000" and c.GetClipProperty("Input Color Space") == "Rec.709 Gamma 2.4" for c in clips)
    assert s.project.GetMediaPool().GetCurrentFolder() is s.project.GetMediaPool().GetRootFolder()  # put back


def frames_on_disk(out: Path) -> dict[str, str]:
    return {str(p): p.read_text() for p in sorted(out.rglob("*.exr"))}


def test_a_rerun_restores_nothing_twice_and_a_new_pipeline_makes_a_new_take(tmp_path: Path, scene, fake_bin: Path,
                                                                          pipeline_json: Path) -> None:
    """Issue 14 item 1: after the first run, GetMediaPoolItem() answers the restored take; the rerun must
    plan from the original (take 1), resume (no frame written again), reuse the take and replace the marker."""
    s = scene()
    out = tmp_path / "out"
    run(s, fake_bin, pipeline_json, out, handles=4)
    first_jobs, first_frames = jobs(tmp_path), frames_on_disk(out)
    again = run(s, fake_bin, pipeline_json, out, handles=4)
    assert [r.status for r in again].count("restored") == 3 and all("reused" in r.message for r in again if r.status == "restored")
    second = jobs(tmp_path)[len(first_jobs):]
    assert [j["input"] for j in second] == [j["input"] for j in first_jobs]  # the original media, the same frames
    assert frames_on_disk(out) == first_frames  # nothing restored twice, nothing restored from restored frames
    for name, frames in EXPECTED.items():
        item = s.items[name]
        assert item.GetTakesCount() == 2 and item.GetSelectedTakeIndex() == 2, name
        assert shown_frames(item) == frames and len(ours(item)) == 1
    assert len(bin_folder(s).GetClipList()) == 2

    changed = tmp_path / "p4.json"
    changed.write_text('{"pipeline": [{"node": "upscale", "params": {"scale": 4}}]}')
    run(s, fake_bin, changed, out, handles=4)
    third = jobs(tmp_path)[len(first_jobs) + len(second):]
    assert [j["input"] for j in third] == [j["input"] for j in first_jobs]
    assert all(j["output"]["path"] not in {k["output"]["path"] for k in first_jobs} for j in third)
    for name, frames in EXPECTED.items():
        item = s.items[name]
        assert item.GetTakesCount() == 3 and item.GetSelectedTakeIndex() == 3 and shown_frames(item) == frames
        assert len(ours(item)) == 1 and "scale=4" in ours(item)[0]["note"]
    run(s, fake_bin, changed, out, handles=4)
    assert all(s.items[n].GetTakesCount() == 3 for n in EXPECTED)


def test_reelfix_output_on_the_timeline_is_not_restored_again(tmp_path: Path, scene, fake_bin: Path, pipeline_json: Path) -> None:
    """A restored clip placed by hand (its take finalized, or cut in from the bin) is recognised by the
    metadata reelfix set on import, or by the manifest beside its frames."""
    s = scene()
    run(s, fake_bin, pipeline_json, tmp_path / "out", handles=0, mode="track")
    placed = s.timeline.GetItemListInTrack("video", 2)
    for item in placed:
        item.SetClipColor("Orange")
        item._track = 1
    s.timeline._tracks[0].extend(placed)  # moved down onto V1 by hand
    s.timeline._tracks[1].clear()
    for mpi in bin_folder(s).GetClipList()[:1]:
        mpi._third.clear()  # no metadata: the manifest beside the frames still tells
    before = len(jobs(tmp_path))
    reports = run(s, fake_bin, pipeline_json, tmp_path / "out", handles=0, mode="take")
    own = [r for r in reports if "reelfix's own restored media" in r.message]
    assert len(own) == 3 and all(r.status == "skipped" for r in own)
    assert all(Path(j["input"]["path"]).parent.name == "media" for j in jobs(tmp_path)[before:])


@pytest.mark.parametrize("origin", ["clip", "file"])
@pytest.mark.parametrize("take_end_inclusive", [True, False])
@pytest.mark.parametrize("slip", [0, 1])
def test_takes_are_read_back_under_either_end_convention(tmp_path: Path, scene, fake_bin: Path, pipeline_json: Path, origin: str,
                                                         take_end_inclusive: bool, slip: int) -> None:
    """AddTake's end frame either way, GetSourceStartFrame one frame off: anchored on GetLeftOffset and read back."""
    s = scene(source_origin=origin, take_end_inclusive=take_end_inclusive, source_start_slip=slip)
    reports = run(s, fake_bin, pipeline_json, tmp_path / "out", handles=3)
    assert [r.status for r in reports].count("restored") == 3, [r.line() for r in reports]
    for name, frames in EXPECTED.items():
        assert shown_frames(s.items[name]) == frames, name
        assert s.items[name].GetTakesCount() == 2  # a take one frame off was replaced, not kept


@pytest.mark.parametrize("origin", ["clip", "file"])
@pytest.mark.parametrize("append_end_inclusive", [True, False])
@pytest.mark.parametrize("source_end", ["measured", "inclusive", "exclusive"])
def test_track_placement_is_read_back(tmp_path: Path, scene, fake_bin: Path, pipeline_json: Path, origin: str,
                                      append_end_inclusive: bool, source_end: str) -> None:
    s = scene(source_origin=origin, append_end_inclusive=append_end_inclusive, source_end=source_end)
    reports = run(s, fake_bin, pipeline_json, tmp_path / "out", handles=2, mode="track")
    assert [r.status for r in reports].count("restored") == 3, [r.line() for r in reports]
    assert s.timeline.GetTrackCount("video") == 2 and s.timeline.GetTrackName("video", 2) == restore.TRACK_NAME
    placed = s.timeline.GetItemListInTrack("video", 2)
    assert [i.GetStart() for i in placed] == [s.items[n].GetStart() for n in EXPECTED]
    assert [shown_frames(i) for i in placed] == list(EXPECTED.values())
    assert all(len(ours(i)) == 1 for i in placed)
    assert all(s.items[n].GetTakesCount() == 0 for n in EXPECTED)  # the originals are untouched
    run(s, fake_bin, pipeline_json, tmp_path / "out", handles=2, mode="track")
    assert s.timeline.GetTrackCount("video") == 2 and s.timeline.GetItemListInTrack("video", 2) == placed  # not stacked
    assert all(len(ours(i)) == 1 for i in placed)


@pytest.mark.parametrize("collision", ["drop", "dead"])
def test_an_occupied_range_on_the_track_is_reported_not_overwritten(tmp_path: Path, scene, fake_bin: Path, pipeline_json: Path,
                                                                    collision: str) -> None:
    from tests.resolve.fake_resolve import TimelineItem

    s = scene(append_collision=collision)
    s.timeline.AddTrack("video")
    s.timeline.SetTrackName("video", 2, restore.TRACK_NAME)
    s.timeline._add(TimelineItem(s.resolve._world, "someone's", s.movie, TL_START + 12, 0, 4, track=2))
    reports = {r.label: r for r in run(s, fake_bin, pipeline_json, tmp_path / "out", handles=0, mode="track")}
    assert reports["V1 'seq'"].status == "failed" and "already holds 'someone's'" in reports["V1 'seq'"].message
    assert [i.GetName() for i in s.timeline.GetItemListInTrack("video", 2)].count("someone's") == 1
    assert len(s.timeline.GetItemListInTrack("video", 2)) == 3  # movie, someone's, seq again


def test_a_dead_item_from_append_is_a_failure(tmp_path: Path, scene, fake_bin: Path, pipeline_json: Path, monkeypatch) -> None:
    from tests.resolve import fake_resolve

    s = scene(append_collision="dead")
    monkeypatch.setattr(fake_resolve.Timeline, "_free", lambda self, track, start, end: False)  # Resolve says no everywhere
    reports = run(s, fake_bin, pipeline_json, tmp_path / "out", handles=0, mode="track")
    failed = [r for r in reports if r.status == "failed"]
    assert len(failed) == 3 and all("a dead item" in r.message for r in failed)


def test_before_19_0_2_offsets_are_used(tmp_path: Path, scene, fake_bin: Path, pipeline_json: Path, capsys) -> None:
    for origin in ("clip", "file"):
        s = scene(version=[18, 6, 6, 7, ""], source_origin=origin)
        run(s, fake_bin, pipeline_json, tmp_path / f"out-{origin}", conventions.Conventions(source_origin=origin), handles=8)
        assert all(shown_frames(s.items[n]) == f for n, f in EXPECTED.items())
    assert "Resolve 18.6.6 has no GetSourceStartFrame" in capsys.readouterr().out
    assert sorted({j["input"]["frames"] for j in jobs(tmp_path)}) == ["0-22", "1003-1027"]


def test_a_wrong_origin_setting_shows_up(tmp_path: Path, scene, fake_bin: Path, pipeline_json: Path) -> None:
    """The switch matters: told "clip" while Resolve counts from the file number, Resolve refuses the
    takes of the sequence and those clips fail, saying so (nothing wrong lands on the timeline). The movie's
    restored frames are numbered from 0, where both readings agree."""
    s = scene(source_origin="file")
    reports = run(s, fake_bin, pipeline_json, tmp_path / "out", conventions.Conventions(source_origin="clip"), handles=8)
    wrong = [r for r in reports if r.label in ("V1 'seq'", "V1 'seq again'")]
    assert all(r.status == "failed" and "refused the take" in r.message for r in wrong) and len(wrong) == 2
    assert all(s.items[n].GetMediaPoolItem() is s.seq for n in ("seq", "seq again"))
    assert shown_frames(s.items["movie"]) == EXPECTED["movie"]


@pytest.mark.parametrize("mark_origin", ["timeline", "record"])
@pytest.mark.parametrize("marker_frame", ["media", "item"])
def test_in_out_marks_and_markers_either_way(tmp_path: Path, scene, fake_bin: Path, pipeline_json: Path, mark_origin: str,
                                             marker_frame: str) -> None:
    s = scene(mark_origin=mark_origin, marker_frame=marker_frame)
    s.timeline.SetMarkInOut(TL_START + 10, TL_START + 22)  # covers "seq" and part of "seq again"
    s.items["seq"].AddMarker(s.items["seq"].GetLeftOffset() + 3 if marker_frame == "media" else 3, "Red", "note", "the editor's", 1, "")
    conv = conventions.Conventions(marker_frame="source" if marker_frame == "media" else "item")
    for _ in range(2):
        reports = run(s, fake_bin, pipeline_json, tmp_path / "out", conv, clip_color=None, marks=True)
        assert sorted(r.label for r in reports) == ["V1 'seq again'", "V1 'seq'"]
        assert all("marker refused" not in r.message for r in reports), [r.line() for r in reports]
        assert all(len(ours(s.items[n])) == 1 for n in ("seq", "seq again"))  # replaced, not piled up
    assert [m["name"] for m in s.items["seq"].GetMarkers().values()].count("note") == 1  # the editor's marker stays


def test_marks_need_19_1(tmp_path: Path, scene, fake_bin: Path, pipeline_json: Path) -> None:
    s = scene(version=[18, 6, 6, 7, ""])
    s.timeline._marks = {"video": {"in": TL_START, "out": TL_START + 5}}
    with pytest.raises(restore.RestoreError, match=r"needs Resolve 19\.1 or later .*this is Resolve 18\.6\.6\.7"):
        run(s, fake_bin, pipeline_json, tmp_path / "out", clip_color=None, marks=True)


def test_show_individual_frames_is_caught(tmp_path: Path, scene, fake_bin: Path, pipeline_json: Path) -> None:
    s = scene(individual_frames=True)
    reports = [r for r in run(s, fake_bin, pipeline_json, tmp_path / "out", handles=0) if r.status != "skipped"]
    assert all(r.status == "failed" and "Show Individual Frames" in r.message for r in reports) and len(reports) == 3
    assert bin_folder(s).GetClipList() == []  # the stray stills were removed again
    assert all(s.items[n].GetTakesCount() == 0 for n in EXPECTED)


def _scan(tmp_path: Path, s, fps: float = 16.0):
    """A 16 fps film scan (files 1-60) in the 24 fps timeline, and two retimed uses of the movie."""
    from tests.resolve.fake_resolve import MediaPoolItem, TimelineItem

    folder = tmp_path / "media"
    for n in range(1, 61):
        (folder / f"B001.{n:04d}.exr").write_bytes(b"")
    world = s.resolve._world
    scan = MediaPoolItem(world, str(folder / "B001.####.exr"), 60, kind="sequence", first=1, fps=fps)
    scan._props["Input Color Space"] = "ARRI LogC3"
    items = {"scan": TimelineItem(world, "scan", scan, TL_START + 60, 10, 24, "Orange"),
             "reversed": TimelineItem(world, "reversed", s.movie, TL_START + 90, 5, 6, "Orange", speed=-1.0),
             "fast": TimelineItem(world, "fast", s.movie, TL_START + 100, 2, 6, "Orange", speed=2.0),
             "scan short": TimelineItem(world, "scan short", scan, TL_START + 110, 40, 23, "Orange")}
    for item in items.values():
        s.timeline._add(item)
    return scan, items


@pytest.mark.parametrize("take_end_inclusive", [True, False])
def test_mixed_rate_retimed_and_reversed_clips(tmp_path: Path, scene, fake_bin: Path, pipeline_json: Path, take_end_inclusive: bool) -> None:
    s = scene(take_end_inclusive=take_end_inclusive)
    scan, items = _scan(tmp_path, s)
    before, before_short = shown_frames(items["scan"]), shown_frames(items["scan short"])
    assert before[:4] == [11, 11, 12, 13] and len(before) == 24  # 16 source frames over 24 timeline frames
    reports = {r.label: r for r in run(s, fake_bin, pipeline_json, tmp_path / "out", handles=2)}
    assert reports["V1 'scan'"].status == "restored", reports["V1 'scan'"].line()
    assert "frames 11-26" in reports["V1 'scan'"].message and "16 fps" in reports["V1 'scan'"].message
    assert shown_frames(items["scan"]) == before  # the restored copies of the same source frames, at the same cadence
    restored = items["scan"].GetMediaPoolItem()
    assert restored.GetClipProperty("FPS") == "16.000" and restored.GetClipProperty("Input Color Space") == "ARRI LogC3"
    assert reports["V1 'reversed'"].status == "skipped" and "reverse" in reports["V1 'reversed'"].message
    assert reports["V1 'fast'"].status == "skipped" and "speed is changed (about 200%" in reports["V1 'fast'"].message
    frames = {j["input"]["frames"] for j in jobs(tmp_path)}
    assert "9-28" in frames and all(int(a) <= int(b) for a, b in (f.split("-") for f in frames))
    assert items["reversed"].GetTakesCount() == items["fast"].GetTakesCount() == 0
    short = reports["V1 'scan short'"]  # 23 timeline frames show 15.3 source frames: a 16-frame take fills 24
    assert short.status == "restored" and "frames 41-56" in short.message and "24 timeline frames" in short.message, short.line()
    assert shown_frames(items["scan short"])[:23] == before_short


def test_mixed_rate_clip_on_a_new_track(tmp_path: Path, scene, fake_bin: Path, pipeline_json: Path) -> None:
    s = scene()
    scan, items = _scan(tmp_path, s)
    before = shown_frames(items["scan"])
    reports = {r.label: r for r in run(s, fake_bin, pipeline_json, tmp_path / "out", handles=2, mode="track")}
    assert reports["V1 'scan'"].status == "restored", reports["V1 'scan'"].line()
    [placed] = [i for i in s.timeline.GetItemListInTrack("video", 2) if i.GetStart() == items["scan"].GetStart()]
    assert shown_frames(placed) == before and placed.GetMediaPoolItem().GetClipProperty("FPS") == "16.000"


def test_the_core_gets_a_clean_environment_and_no_stdin(tmp_path: Path, scene, fake_bin: Path, pipeline_json: Path, monkeypatch) -> None:
    """Resolve's Python sets PYTHONHOME/PYTHONPATH: passed on, the core's Python would not even start."""
    monkeypatch.setenv("PYTHONHOME", str(tmp_path / "resolve-python"))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "resolve-modules"))
    monkeypatch.setenv("FAKE_REELFIX_ENV", str(tmp_path / "env.log"))
    s = scene()
    reports = run(s, fake_bin, pipeline_json, tmp_path / "out")
    assert [r.status for r in reports].count("restored") == 3
    seen = [json.loads(line) for line in (tmp_path / "env.log").read_text().splitlines()]
    assert {c["cmd"] for c in seen} == {"check-pipeline", "run"}
    assert all(c["env"] == {} and c["stdin_devnull"] for c in seen)


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
    run(s, fake_bin, pipeline_json, tmp_path / "out", handles=0)  # an earlier restore selected take 2
    reports = run(s, fake_bin, pipeline_json, tmp_path / "out2", farm="openjd", chunk=5)
    assert {r.status for r in reports} == {"farm", "skipped"}
    farm = calls(tmp_path, "farm")
    assert len(farm) == 2 and all(c[1] == "openjd" and c[3:5] == ["--chunk", "5"] for c in farm)
    assert all(Path(c[-1]).is_file() for c in farm)
    assert all(Path(json.loads(Path(c[2]).read_text())["input"]["path"]).parent.name == "media" for c in farm)  # the originals
    assert all(s.items[n].GetTakesCount() == 2 and s.items[n].GetSelectedTakeIndex() == 2 for n in EXPECTED)  # selection put back


def test_options_need_a_selection_and_valid_choices(pipeline_json: Path) -> None:
    with pytest.raises(restore.RestoreError, match="choose the clips"):
        Options(str(pipeline_json))
    with pytest.raises(restore.RestoreError, match="take or track"):
        Options(str(pipeline_json), clip_color="Orange", mode="version")
