"""`reelfix conform`: OTIO edits built here, restored by the real core with a tiny model."""

from __future__ import annotations

import json
import os
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
import yaml

from reelfix.conform import conform, load_pipeline_file
from reelfix.conform.media import Media, media_of, url_to_path
from reelfix.errors import JobError
from reelfix.frames.frame import Frame
from reelfix.frames.image_io import read_header
from reelfix.frames.movie_io import MovieWriter

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
TC = 86400  # 01:00:00:00 at 24 fps: where Resolve's OTIO puts the media's first frame


def rt(frames: int) -> otio.opentime.RationalTime:
    return RT(frames, 24)


def make_movie(path: Path, frames: int = 30) -> Path:
    with MovieWriter(path, fps=Fraction(24), width=32, height=24, alpha=False, timecode="01:00:00:00") as writer:
        for i in range(frames):
            pix = np.full((24, 32, 3), i / frames, np.float32)
            pix[:, : i + 1, 0] = 1.0
            writer.write(Frame(pix, ("R", "G", "B"), "lin_srgb", i))
    return path


def seq_ref(pattern: str, first: int, count: int) -> otio.schema.ImageSequenceReference:
    folder, name = os.path.split(pattern)
    prefix, suffix = name.split("####")
    return otio.schema.ImageSequenceReference(
        target_url_base=folder + "/", name_prefix=prefix, name_suffix=suffix, start_frame=first,
        frame_step=1, rate=24, frame_zero_padding=4, available_range=TR(rt(TC), rt(count)),
    )


def clip(name: str, ref: otio.core.MediaReference, start: int, duration: int) -> otio.schema.Clip:
    return otio.schema.Clip(name=name, media_reference=ref, source_range=TR(rt(start), rt(duration)))


@pytest.fixture
def pipeline_file(tmp_path: Path) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({
        "pipeline": [{"node": "upscale", "params": {"scale": 2, "model": "tiny-x2"}}],
        "colorspace": "lin_srgb",
        "output": {"compression": "zip"},
        "device": "cpu",
    }))
    return path


@pytest.fixture
def edit(tmp_path: Path, make_plate) -> tuple[Path, str, Path]:
    """V1: seq 1005-1010 | gap | movie 1-5 | seq 1008-1012 (overlaps the first) | seq tail 1026-1030
    (bracket path) | offline movie; V2: the movie again, 20-24; A1: the movie's audio."""
    plate = make_plate(frames=range(1001, 1031), height=12, width=16)
    movie = make_movie(tmp_path / "media" / "clip.mov")
    bracket = otio.schema.ExternalReference(target_url=plate.replace("####", "[1001-1030]"), available_range=TR(rt(TC), rt(30)))
    movie_ref = lambda: otio.schema.ExternalReference(target_url=movie.as_uri(), available_range=TR(rt(TC), rt(30)))  # noqa: E731
    timeline = otio.schema.Timeline(name="reel 1", global_start_time=rt(TC))
    v1 = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    v1.append(clip("seq head", seq_ref(plate, 1001, 30), TC + 4, 6))
    v1.append(otio.schema.Gap(source_range=TR(rt(0), rt(3))))
    v1.append(clip("movie", movie_ref(), TC + 1, 5))
    v1.append(clip("seq again", seq_ref(plate, 1001, 30), TC + 7, 5))
    v1.append(clip("seq tail", bracket, TC + 25, 5))
    v1.append(clip("offline", otio.schema.ExternalReference(target_url=str(tmp_path / "gone" / "B.mov"), available_range=TR(rt(TC), rt(50))), TC + 10, 4))
    v2 = otio.schema.Track(name="V2", kind=otio.schema.TrackKind.Video)
    v2.append(otio.schema.Gap(source_range=TR(rt(0), rt(4))))
    v2.append(clip("movie late", movie_ref(), TC + 20, 5))
    a1 = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    a1.append(clip("movie audio", movie_ref(), TC, 30))
    timeline.tracks.extend([v1, v2, a1])
    path = tmp_path / "reel1.otio"
    otio.adapters.write_to_file(timeline, str(path))
    return path, plate, movie


def shown_frames(c: otio.schema.Clip) -> list[int]:
    """The frame number (of its media) shown at each frame of the clip's source range."""
    ref = c.media_reference
    r = c.source_range
    return [ref.frame_for_time(r.start_time + rt(i)) for i in range(int(r.duration.to_frames()))]


def file_of(ref: otio.schema.ImageSequenceReference, frame: int) -> Path:
    return Path(url_to_path(ref.target_url_base)) / f"{ref.name_prefix}{frame:0{ref.frame_zero_padding}d}{ref.name_suffix}"


def test_conform_restores_used_frames_with_handles_and_relinks_the_same_cut(tmp_path: Path, model_dir: Path, pipeline_file: Path, edit) -> None:
    edit_path, plate, movie = edit
    out = tmp_path / "out"
    report = conform(edit_path, pipeline_file, out, handles=3, reference="sequence")

    assert report.output == out / "reel1.restored.otio"
    before, after = otio.adapters.read_from_file(str(edit_path)), otio.adapters.read_from_file(str(report.output))
    for t0, t1 in zip(before.tracks, after.tracks):  # the same cut: items, order, durations, source ranges
        assert [(type(i).__name__, i.name, i.source_range) for i in t0] == [(type(i).__name__, i.name, i.source_range) for i in t1]
    assert after.duration() == before.duration()

    # spans: the two overlapping seq clips restored once (union), the tail separately, the movie's two uses apart
    spans = sorted((os.path.basename(r.span.media.path), r.span.first, r.span.last) for r in report.results)
    assert spans == [("A001.####.exr", 1002, 1015), ("A001.####.exr", 1023, 1030), ("clip.mov", 0, 8), ("clip.mov", 17, 27)]
    assert all(r.ok for r in report.results)

    restored = {c.name: c for c in after.find_clips() if c.parent().kind == otio.schema.TrackKind.Video}
    expected = {
        "seq head": (plate, list(range(1005, 1011))),
        "movie": (str(movie), list(range(1, 6))),
        "seq again": (plate, list(range(1008, 1013))),
        "seq tail": (plate, list(range(1026, 1031))),
        "movie late": (str(movie), list(range(20, 25))),
    }
    for name, (source, frames) in expected.items():
        c = restored[name]
        ref = c.media_reference
        assert isinstance(ref, otio.schema.ImageSequenceReference), name
        assert c.metadata["reelfix"]["pipeline"] == str(pipeline_file.resolve())
        assert Path(c.metadata["reelfix"]["manifest"]).is_file()
        shown = shown_frames(c)
        assert len(shown) == len(frames)
        for number, source_frame in zip(shown, frames):  # every used frame: restored, referenced, the right one
            header = read_header(str(file_of(ref, number)))
            assert header["reelfix:source"] == f"{source}#{source_frame}", (name, number)
            assert header["reelfix:job_hash"]
        assert ref.available_range.contains(c.source_range.start_time)
        assert ref.available_range.contains(c.source_range.end_time_inclusive())

    # handles clamped at the media's edges: nothing outside the media was asked for
    movie_dir = Path(url_to_path(restored["movie"].media_reference.target_url_base))
    assert sorted(p.name for p in movie_dir.glob("clip.*.exr"))[:1] == ["clip.0000.exr"]
    seq_dir = Path(url_to_path(restored["seq tail"].media_reference.target_url_base))
    assert not (seq_dir / "A001.1031.exr").exists() and (seq_dir / "A001.1030.exr").exists()
    assert not (seq_dir / "A001.1016.exr").exists() and not (seq_dir / "A001.1001.exr").exists()

    # the offline clip is skipped and keeps its reference; audio untouched
    assert [s.name for s in report.skipped] == ["offline"]
    assert "offline" in report.skipped[0].reason
    offline = next(c for c in after.find_clips() if c.name == "offline")
    assert isinstance(offline.media_reference, otio.schema.ExternalReference)
    audio = next(c for c in after.find_clips() if c.name == "movie audio")
    assert audio.media_reference.target_url == movie.as_uri()
    # file:// URLs in the edit -> file:// URLs in the restored references; plain paths stay paths
    assert restored["movie"].media_reference.target_url_base.startswith("file://")
    assert restored["seq head"].media_reference.target_url_base.startswith("/")

    # a rerun resumes: every frame is found finished
    again = conform(edit_path, pipeline_file, out, handles=3, reference="sequence")
    assert all(r.line.startswith("0 done") for r in again.results)


def test_the_default_edit_is_what_resolve_imports(tmp_path: Path, model_dir: Path, pipeline_file: Path, edit) -> None:
    """Resolve and NukeStudio do not read ImageSequenceReference (hosts.md): by default each restored clip
    points with an ExternalReference at the bare bracket path `A001.[1002-1015].exr`, its available range
    in the media's timecode; the restored frames carry that timecode, so the unchanged source ranges land
    on the restored copies of the frames the clips showed."""
    edit_path, plate, movie = edit
    report = conform(edit_path, pipeline_file, tmp_path / "out", handles=3)
    after = otio.adapters.read_from_file(str(report.output))
    restored = {c.name: c for c in after.find_clips() if c.name in {u.clip.name for u in report.restored}}
    assert len(restored) == 5
    for c in restored.values():
        ref = c.media_reference
        assert type(ref) is otio.schema.ExternalReference and "://" not in ref.target_url
        assert re.fullmatch(r".*/(A001|clip)\.\[\d{4}-\d{4}\]\.exr", ref.target_url), ref.target_url
        assert ref.available_range.start_time.value >= TC and ref.available_range.contains(c.source_range.start_time)
        assert ref.available_range.contains(c.source_range.end_time_inclusive())
    head = restored["seq head"].media_reference
    assert os.path.basename(head.target_url) == "A001.[1002-1015].exr" and head.available_range == TR(rt(TC + 1), rt(14))
    movie_ref = restored["movie"].media_reference
    assert os.path.basename(movie_ref.target_url) == "clip.[0000-0008].exr" and movie_ref.available_range.start_time == rt(TC)
    for name, source, first in (("seq head", plate, 1005), ("movie", str(movie), 1)):
        c = restored[name]
        media = media_of(c.media_reference, 24)  # read back as any OTIO reader of bracket paths would
        for i in range(int(c.source_range.duration.value)):
            number = media.frame_at(c.source_range.start_time + rt(i))
            header = read_header(media.path.replace("####", f"{number:04d}"))
            assert header["reelfix:source"] == f"{source}#{first + i}"
    tc = read_header(str(Path(movie_ref.target_url).parent / "clip.0003.exr")).get("smpte:TimeCode")
    assert tc == "01:00:00:03"  # the media's timecode, as Resolve reads it from the EXR


def test_handles_zero_and_cli(tmp_path: Path, model_dir: Path, pipeline_file: Path, edit) -> None:
    from typer.testing import CliRunner

    from reelfix.cli import app

    edit_path, _, _ = edit
    result = CliRunner().invoke(app, ["conform", str(edit_path), "-p", str(pipeline_file), "-o", str(tmp_path / "o"), "--handles", "0", "--progress", "plain"])
    assert result.exit_code == 0, result.output
    assert "restored  clip 1 'seq head': frames 1005-1010" in result.output
    assert "skipped   clip 5 'offline'" in result.output
    media = tmp_path / "o" / "media"
    seq = sorted(int(p.name.split(".")[1]) for p in media.rglob("A001.*.exr"))
    assert seq == list(range(1005, 1013)) + list(range(1026, 1031))


def test_pipeline_file_errors_name_the_key_and_file(tmp_path: Path) -> None:
    def write(data: object) -> Path:
        p = tmp_path / "bad.yaml"
        p.write_text(yaml.safe_dump(data))
        return p

    node = [{"node": "upscale", "params": {"scale": 2}}]
    with pytest.raises(JobError, match=r"bad.yaml.*unknown key 'colour'"):
        load_pipeline_file(write({"pipeline": node, "colour": "x"}))
    with pytest.raises(JobError, match=r"bad.yaml.*unknown key 'codec' in output"):
        load_pipeline_file(write({"pipeline": node, "output": {"codec": "zip"}}))
    with pytest.raises(JobError, match=r"bad.yaml.*'input'"):
        load_pipeline_file(write({"pipeline": node, "input": {"path": "x"}}))
    with pytest.raises(JobError, match=r"output.format.*image"):
        load_pipeline_file(write({"pipeline": node, "output": {"format": "mov"}}))
    with pytest.raises(JobError, match=r"missing key 'pipeline'"):
        load_pipeline_file(write({"colorspace": "acescg"}))
    with pytest.raises(JobError, match=r"unknown parameter 'sclae'"):
        load_pipeline_file(write({"pipeline": [{"node": "upscale", "params": {"sclae": 2}}]}))
    spec = load_pipeline_file(write({"pipeline": node, "output": {"format": ".DPX", "bit_depth": 10}}))
    assert spec.output.format == "dpx" and spec.output.bit_depth == "10"
    from reelfix.nodes import get_node

    params = spec.normalised()["pipeline"][0]["params"]  # every parameter, defaults filled in
    assert set(params) == {p.name for p in get_node("upscale").params} and params["scale"] == 2


def test_check_pipeline_prints_normalised_json(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from reelfix.cli import app

    (tmp_path / "p.json").write_text(json.dumps({"pipeline": [{"node": "upscale"}]}))
    r = CliRunner().invoke(app, ["check-pipeline", str(tmp_path / "p.json"), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["output"]["format"] == "exr" and data["pipeline"][0]["params"]["scale"] == 2
    (tmp_path / "q.yaml").write_text("pipeline: [{node: nope}]\n")
    r = CliRunner().invoke(app, ["check-pipeline", str(tmp_path / "q.yaml")])
    assert r.exit_code == 2 and "unknown node 'nope'" in r.output


def test_url_decoding_keeps_printf_placeholders_and_bracket_paths_are_sequences(tmp_path: Path, make_plate) -> None:
    assert url_to_path("file:///media/My%20Film/A001.%04d.dpx") == "/media/My Film/A001.%04d.dpx"
    assert url_to_path("/plain/A%201.mov") == "/plain/A%201.mov"
    plate = make_plate(frames=range(7, 10), name="S")
    for target in (plate.replace("####", "%04d"), plate.replace("####", "[0007-0009]"), Path(plate.replace("####", "%04d")).as_uri()):
        m = media_of(otio.schema.ExternalReference(target_url=target, available_range=TR(rt(100), rt(3))), 24)
        assert (m.kind, m.first, m.path) == ("sequence", 7, plate), target
        assert m.frame_at(rt(101)) == 8 and m.time_of(9) == rt(102)
    mov = media_of(otio.schema.ExternalReference(target_url="/m/x.mov"), 25)
    assert isinstance(mov, Media) and (mov.kind, mov.first, mov.frame_at(RT(4, 25))) == ("movie", 0, 4)


def test_farm_writes_one_job_per_span_and_calls_reelfix_farm(tmp_path: Path, model_dir: Path, pipeline_file: Path, edit, monkeypatch) -> None:
    import subprocess

    from reelfix.conform import run as run_module

    calls: list[list[str]] = []

    def runner(cmd):
        calls.append(list(cmd))
        Path(cmd[-1]).write_text("template")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(run_module, "farm_available", lambda: True)
    edit_path, plate, _ = edit
    report = conform(edit_path, pipeline_file, tmp_path / "f", handles=2, farm="openjd", chunk=4, farm_runner=runner)
    assert len(calls) == len(report.results) == 4
    assert all(c[3:6] == ["farm", "openjd", c[5]] and c[6:8] == ["--chunk", "4"] for c in calls)
    job = json.loads(Path(calls[2][5]).read_text())  # spans are sorted by source path: clip.mov, clip.mov, A001 ...
    assert job["input"]["path"] == plate and job["input"]["frames"] == "1003-1014" and job["pipeline"][0]["node"] == "upscale"
    assert not list((tmp_path / "f" / "media").rglob("*.exr"))  # nothing restored here
    assert len(report.restored) == 5 and report.output.is_file()  # the edit already points where the farm writes

    monkeypatch.setattr(run_module, "farm_available", lambda: False)
    report = conform(edit_path, pipeline_file, tmp_path / "g", farm="deadline", farm_runner=runner)
    assert len(calls) == 4 and "not available" in report.warnings[-1]


def test_failed_frames_keep_the_original_media_and_exit_1(tmp_path: Path, model_dir: Path, pipeline_file: Path, edit) -> None:
    edit_path, plate, _ = edit
    bad = Path(plate.replace("####", "1006"))
    bad.write_bytes(bad.read_bytes()[:100])
    report = conform(edit_path, pipeline_file, tmp_path / "o", handles=1)
    failed = [r for r in report.results if not r.ok]
    assert len(failed) == 1 and "1006" in failed[0].error
    kept = {u.clip.name for u, _ in report.kept}
    assert kept == {"seq head", "seq again"}
    after = otio.adapters.read_from_file(str(report.output))
    head = next(c for c in after.find_clips() if c.name == "seq head")
    assert head.media_reference.target_url_base.endswith("plates/")
    from typer.testing import CliRunner

    from reelfix.cli import app

    r = CliRunner().invoke(app, ["conform", str(edit_path), "-p", str(pipeline_file), "-o", str(tmp_path / "o"), "--handles", "1", "--progress", "plain"])
    assert r.exit_code == 1 and "keep the original media" in r.output


def test_farm_with_the_real_reelfix_farm(tmp_path: Path, model_dir: Path, pipeline_file: Path, edit) -> None:
    from reelfix.conform.run import farm_available

    if not farm_available():
        pytest.skip("reelfix.farm is not in this installation")
    edit_path, _, _ = edit
    report = conform(edit_path, pipeline_file, tmp_path / "f", handles=2, farm="openjd", chunk=4)
    assert [r.error for r in report.results] == [""] * 4
    templates = [Path(p) for p in report.farm_files]
    assert len(templates) == 4 and all(p.name == "template.yaml" and p.is_file() for p in templates)
    assert len({p.parent for p in templates}) == 4  # one bundle folder per job


def test_speed_changes_stretch_the_used_range() -> None:
    from reelfix.conform.plan import used_frames

    m = media_of(otio.schema.ExternalReference(target_url="/m/x.mov", available_range=TR(rt(TC), rt(100))), 24)
    c = clip("fast", otio.schema.ExternalReference(target_url="/m/x.mov"), TC + 10, 10)
    assert used_frames(c, m) == (10, 19)
    c.effects.append(otio.schema.LinearTimeWarp(time_scalar=2.0))
    assert used_frames(c, m) == (10, 29)
    c.effects[:] = [otio.schema.FreezeFrame()]
    assert used_frames(c, m) == (10, 10)
