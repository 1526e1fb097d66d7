"""deflicker: flicker removed (global and uneven), fades / ramps / a light switched on kept,
range ends, a 1-frame sequence, alpha and highlights untouched, display-encoded frames
corrected in linear light, the correction in the metadata, and the real pipeline: chunks
identical to one run over several analysis segments, cuts, an unreadable frame, order."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from reelfix.frames.frame import Frame
from reelfix.frames.image_io import read_image, write_image
from reelfix import brightness, colour
from reelfix.errors import JobError
from reelfix.graph import run_frames
from reelfix.jobs.load import job_from_data
from reelfix.nodes import get_node
from reelfix.nodes.deflicker import SPEC, gain_field, grid_shape
from reelfix.nodes.spec import NodeContext
from reelfix.pipeline import run_job
from tests.nodes import flicker_clips as fc
from tests.nodes import flicker_independent as fi

FRAMES, H, W = 40, 72, 96


def run(frames: list[np.ndarray], params: dict | None = None, channels: tuple[str, ...] = ("R", "G", "B"), space: str = "lin_srgb") -> list[Frame]:
    """The node over in-memory frames with the windows and analysis segments a job gives."""
    p = SPEC.validate(params or {}, "test")
    return run_frames([SPEC.factory(p, NodeContext())], [0], [SPEC.span(p)], [Frame(f, channels, space, i) for i, f in enumerate(frames)])


def errors(outs: list[np.ndarray], truth: list[np.ndarray]) -> np.ndarray:
    return np.array([fc.mean_luma(o) / fc.mean_luma(t) - 1 for o, t in zip(outs, truth)])


@pytest.fixture(scope="module")
def fade() -> tuple[fc.FlickerClip, list[Frame]]:
    clip = fc.flicker_clip(FRAMES, H, W, change="fade", seed=1, fade_frames=10)
    return clip, run(clip.damaged)


def test_registered_with_its_parameters() -> None:
    spec = get_node("deflicker")
    assert {p.name for p in spec.params} == {"strength", "span", "grid"}
    assert spec.span(spec.validate({"span": 90}, "t")) == 90 and spec.radius(spec.validate({}, "t")) == 0  # no frames held
    with pytest.raises(JobError, match="span"):
        spec.validate({"radius": 9}, "t")


def test_flicker_removed_and_the_fade_kept(fade) -> None:
    clip, outs = fade
    before = errors(clip.damaged, clip.truth)
    after = errors([o.pixels for o in outs], clip.truth)
    rms = lambda e: float(np.sqrt(np.mean(e**2)))  # noqa: E731
    assert rms(before) > 0.05
    assert rms(after) < 0.4 * rms(before), (rms(before), rms(after))
    # the fade (to 20%) is not flattened: on average its frames stay at the truth's level
    assert abs(float(after[clip.fade].mean())) < 0.03, after[clip.fade]  # FFmpeg deflicker: about -20%
    last = fc.mean_luma(outs[-1].pixels) / fc.mean_luma(outs[0].pixels)
    want = fc.mean_luma(clip.truth[-1]) / fc.mean_luma(clip.truth[0])
    assert abs(last / want - 1) < 0.15, (last, want)


def test_first_and_last_frames_are_corrected_too() -> None:
    clip = fc.flicker_clip(24, H, W, change="none", seed=3)
    outs = [o.pixels for o in run(clip.damaged, {"span": 8})]
    ends = [0, 1, 2, 21, 22, 23]
    before = np.abs(errors(clip.damaged, clip.truth)[ends]).mean()
    after = np.abs(errors(outs, clip.truth)[ends]).mean()
    assert after < 0.5 * before, (before, after)


@pytest.mark.parametrize("change", ["ramp", "light"])
def test_exposure_ramp_and_light_switched_on_are_kept(change: str) -> None:
    clip = fc.flicker_clip(FRAMES, H, W, change=change, seed=2, amount=(0.03, 0.05))
    outs = [o.pixels for o in run(clip.damaged)]
    after = errors(outs, clip.truth)
    assert np.sqrt(np.mean(after**2)) < 0.025, after
    if change == "light":  # the lit side keeps its step, the other side does not get one
        left, right = slice(0, W // 4), slice(3 * W // 4, W)
        mid = FRAMES // 2
        for side, want in ((left, 1.6), (right, 1.0)):
            got = np.mean([fc.mean_luma(o[:, side]) for o in outs[mid + 2 : mid + 8]]) / np.mean([fc.mean_luma(o[:, side]) for o in outs[mid - 8 : mid - 2]])
            truth = np.mean([fc.mean_luma(o[:, side]) for o in clip.truth[mid + 2 : mid + 8]]) / np.mean([fc.mean_luma(o[:, side]) for o in clip.truth[mid - 8 : mid - 2]])
            assert abs(got / truth - 1) < 0.05, (want, got, truth)


def test_uneven_flicker_is_corrected_per_cell() -> None:
    clip = fc.flicker_clip(FRAMES, H, W, change="none", seed=4, amount=(0.0, 0.005), uneven=0.06)
    cells = lambda img: np.array([fc.mean_luma(img[:, j * W // 3 : (j + 1) * W // 3]) for j in range(3)])  # noqa: E731
    err = lambda outs: np.sqrt(np.mean([(cells(o) / cells(t) - 1) ** 2 for o, t in zip(outs, clip.truth)]))  # noqa: E731
    whole = err([o.pixels for o in run(clip.damaged, {"grid": 1})])
    grid = err([o.pixels for o in run(clip.damaged, {"grid": 4})])
    assert grid < 0.75 * whole, (whole, grid)
    assert grid < 0.6 * err(clip.damaged)


def test_steady_light_reads_as_steady_over_a_long_pan() -> None:
    """A clean pan (no flicker) of 80 frames: every frame's level, solved from pairs 1..64
    apart, is the same light. Chaining consecutive pairs alone added their small errors
    into a drift that the trend fit took for an exposure ramp."""
    frames = [brightness.measure(Frame(f, ("R", "G", "B"), "lin_srgb", i)) for i, f in enumerate(fc.pan(80, 72, 128, velocity=(0.6, 0.25)))]
    shape = grid_shape(2, 72, 128)
    links = [(i, i + d, brightness.pair_ratios(frames[i], frames[i + d], shape, d == 1)) for i in range(80) for d in brightness.LINKS if i + d < 80]
    levels, measured = brightness.solve_levels(80, [(i, j, np.where(np.isnan(r), r[0], r)) for i, j, r in links if not np.isnan(r[0])])
    assert measured.all()
    assert np.abs(levels[:, 0]).max() < 0.002, levels[:, 0]  # stops, whole frame
    assert np.abs(levels).max() < 0.01, levels  # and per cell


def test_clip_flicker_is_centred_on_the_truth_exposure() -> None:
    clip = fc.flicker_clip(30, 24, 32, change="none", seed=8)
    raw = fc.flicker_clip(30, 24, 32, change="none", seed=8, centred=False)
    assert abs(np.mean(np.log(clip.gains))) < 1e-9
    assert abs(np.mean(np.log(raw.gains))) > 1e-4  # a finite draw does not average out by itself
    ratio = [g / r for g, r in zip(clip.gains, raw.gains)]
    assert np.allclose(ratio, ratio[0])  # the same draws, scaled together


def test_correction_in_the_metadata(fade) -> None:
    clip, outs = fade
    for o, d in zip(outs, clip.damaged):
        rec = json.loads(o.metadata["reelfix:deflicker"])
        assert rec["grid"] == list(grid_shape(4, H, W)) and len(rec["cells"]) == rec["grid"][0]
        applied = fc.mean_luma(o.pixels) / fc.mean_luma(d)
        assert abs(np.log2(applied) - rec["stops"]) < 0.03


def test_one_frame_sequence_and_strength_zero_leave_pixels_identical() -> None:
    clip = fc.flicker_clip(6, H, W, change="none", seed=5)
    one = run(clip.damaged[:1])[0]
    assert np.array_equal(one.pixels, clip.damaged[0])
    assert json.loads(one.metadata["reelfix:deflicker"])["stops"] == 0
    for o, d in zip(run(clip.damaged, {"strength": 0.0}), clip.damaged):
        assert np.array_equal(o.pixels, d)


def test_alpha_extra_channels_and_highlights_untouched() -> None:
    clip = fc.flicker_clip(8, H, W, change="none", seed=6)
    rng = np.random.default_rng(0)
    frames = []
    for d in clip.damaged:
        hdr = d * np.float32(6.0)
        hdr[0, 0] = -0.05
        extra = rng.random((H, W, 2), dtype=np.float32)
        frames.append(np.ascontiguousarray(np.concatenate([hdr, extra], axis=2)))
    outs = run(frames, {"span": 8}, channels=("R", "G", "B", "A", "Z"))
    for o, f in zip(outs, frames):
        assert np.array_equal(o.pixels[:, :, 3:], f[:, :, 3:])
        assert o.pixels[:, :, :3].max() > 1.5 and o.pixels[0, 0, 0] < 0  # highlights and negatives kept
        gain = o.pixels[:, :, :3] / np.where(f[:, :, :3] == 0, 1, f[:, :, :3])
        assert np.all(gain[f[:, :, :3] != 0] > 0)  # a gain: no sign flips, nothing clipped
        assert o.mattes == {}


def test_gain_field_is_smooth_and_exact_at_cell_centres() -> None:
    stops = np.array([[0.0, 0.1], [-0.1, 0.2]])
    field = gain_field(stops, 40, 40)
    assert field.shape == (40, 40)
    assert abs(np.log2(field[0, 0]) - 0.0) < 1e-6 and abs(np.log2(field[-1, -1]) - 0.2) < 1e-6
    assert np.abs(np.diff(np.log2(field), axis=1)).max() < 0.3 / 20 + 1e-6


def test_display_encoded_frames_are_corrected_in_linear_light() -> None:
    """sRGB-encoded frames: flicker is a gain of light, so it is measured and undone in
    linear light (a gain of the encoded values would bend the tones)."""
    clip = fc.flicker_clip(24, H, W, change="none", seed=9)
    enc = [colour.convert(np.ascontiguousarray(np.clip(d, 0, 1)), "lin_srgb", "srgb_tx") for d in clip.damaged]
    outs = run(enc, {"grid": 1}, space="srgb_tx")
    lin = [colour.convert(np.ascontiguousarray(o.pixels), "srgb_tx", "lin_srgb") for o in outs]
    truth = [np.clip(t, 0, 1) for t in clip.truth]
    before = np.sqrt(np.mean(errors([np.clip(d, 0, 1) for d in clip.damaged], truth) ** 2))
    after = np.sqrt(np.mean(errors(lin, truth) ** 2))
    assert after < 0.25 * before, (before, after)
    # one gain of light per frame: the ratio output/input in linear light is the same for dark and bright pixels
    src = colour.convert(np.ascontiguousarray(enc[5]), "srgb_tx", "lin_srgb")
    ratio = lin[5][src > 0.01] / src[src > 0.01]
    assert ratio.std() < 1e-3 * ratio.mean(), ratio.std()


@pytest.mark.parametrize("plate, fade_space", [("display", "display"), ("log", "stops")])
def test_a_one_second_shot_flickering_in_its_own_encoding(plate: str, fade_space: str) -> None:
    """24 frames (1 s) made apart from the project's clips (tests/nodes/flicker_independent.py):
    a drifting, zooming photo, flicker as a gain plus an offset of the encoded values (sRGB
    or ADX10 log, not a gain of light), a fade over the last third made in display values or
    in stops. What is left is what an oracle that knows the fade's place and the space it
    was made in leaves (it too must measure the fade's amount through the flicker: on this
    draw about 2.2-2.5%, above the issue's 1% goal, which docs/bench/deflicker.md reports
    over many draws), and the fade's depth is what that oracle gives."""
    clip = fi.make_clip(24, 48, 64, plate=plate, fade_space=fade_space, seed=0)
    outs = run(clip.damaged, space=clip.space)
    truth = fi.linear_means(clip.truth, "lin_srgb")
    damaged = fi.linear_means(clip.damaged, clip.space)
    before = fi.scores(damaged, truth, clip.fade)
    after = fi.scores(fi.linear_means([o.pixels for o in outs], clip.space), truth, clip.fade)
    floor = fi.scores(fi.oracle(clip, damaged), truth, clip.fade)
    assert before["rms"] > 4.0 and before["f2f"] > 4.0, before
    assert after["rms"] <= 1.15 * floor["rms"] + 0.2 and after["f2f"] < 0.8, (after, floor)  # f2f: input 4-5%
    assert abs(after["depth"] - floor["depth"]) <= 1.0, (after, floor)
    assert json.loads(str(outs[-1].metadata["reelfix:deflicker"]))["kept"]  # the fade is named as kept


def test_a_display_fade_on_a_one_second_shot_is_kept_when_the_flicker_is_small() -> None:
    """The same shot with a third of that flicker: the 1% goal and the fade's depth within 2%."""
    clip = fi.make_clip(24, 48, 64, plate="display", fade_space="display", seed=1, gain_sd=0.007, offset_sd=0.0015)
    outs = run(clip.damaged, space=clip.space)
    truth = fi.linear_means(clip.truth, "lin_srgb")
    before = fi.scores(fi.linear_means(clip.damaged, clip.space), truth, clip.fade)
    after = fi.scores(fi.linear_means([o.pixels for o in outs], clip.space), truth, clip.fade)
    assert before["rms"] > 1.2, before
    assert after["rms"] <= 1.0 and abs(after["depth"]) <= 2.0, (before, after)


def test_a_one_second_shot_whose_jitter_reads_low_keeps_only_its_fade() -> None:
    """A 1-s display plate fading in stops whose flicker draw the MAD of second differences
    reads low (about 0.048 stops where what the fade leaves is 0.06): measured from what the
    fade leaves instead (`trend.short_sigma`), the whole frame and the cells keep the fade
    alone. With the MAD the flicker bought a step inside the fade: RMS 2.5%, fade frames 4.3%."""
    clip = fi.make_clip(24, 48, 64, plate="display", fade_space="stops", seed=3)
    outs = run(clip.damaged, space=clip.space)
    truth = fi.linear_means(clip.truth, "lin_srgb")
    after = fi.scores(fi.linear_means([o.pixels for o in outs], clip.space), truth, clip.fade)
    assert json.loads(str(outs[-1].metadata["reelfix:deflicker"]))["kept"] == ["after@15"]
    assert after["rms"] <= 1.0 and after["fade_rms"] <= 1.0 and abs(after["depth"]) <= 2.0, after


def _write_plate(folder: Path, frames: list[np.ndarray], first: int = 1) -> str:
    for i, pix in enumerate(frames):
        write_image(str(folder / f"F.{first + i:04d}.exr"), Frame(pix, ("R", "G", "B", "A"), "lin_srgb", first + i), bit_depth="float")
    return str(folder / "F.####.exr")


def _job(plate: str, out: str, pipeline: list[dict], **inp: object):
    return job_from_data(
        {"input": {"path": plate, "colorspace": "lin_srgb", **inp}, "output": {"path": out, "bit_depth": "float"}, "pipeline": pipeline},
        "test",
    )


def _frames(pattern: Path, numbers: range) -> list[Frame]:
    return [read_image(str(pattern).replace("####", f"{n:04d}")) for n in numbers]


def test_through_the_pipeline_chunks_identical_to_one_run(tmp_path: Path) -> None:
    """30 frames, span 8: frames blend two of several overlapping 16-frame segments; farm
    chunks that start anywhere give the same frames."""
    clip = fc.flicker_clip(30, 48, 64, change="none", seed=7)
    alpha = np.linspace(0, 1, 48 * 64, dtype=np.float32).reshape(48, 64, 1)
    plate = _write_plate(tmp_path / "in", [np.concatenate([d, alpha], axis=2) for d in clip.damaged])
    pipeline = [{"node": "deflicker", "params": {"span": 8, "grid": 2}}]
    whole = tmp_path / "whole" / "O.####.exr"
    run_job(_job(plate, str(whole), pipeline))
    chunked = tmp_path / "chunked" / "O.####.exr"
    for chunk in ("1-7", "8-19", "20-30"):
        assert run_job(_job(plate, str(chunked), pipeline), frames=chunk).count("done") == len(range(*map(int, chunk.split("-")))) + 1
    outs = _frames(whole, range(1, 31))
    for n, (a, b) in enumerate(zip(outs, _frames(chunked, range(1, 31))), start=1):
        assert np.array_equal(a.pixels, b.pixels), n
        assert np.array_equal(a.pixels[:, :, 3], alpha[:, :, 0])
        assert json.loads(str(a.metadata["reelfix:deflicker"]))["frames"] >= 8
    err = errors([o.pixels[:, :, :3] for o in outs], clip.truth)
    assert np.sqrt(np.mean(err**2)) < 0.5 * np.sqrt(np.mean(errors(clip.damaged, clip.truth) ** 2))  # 16-frame segments: a coarse trend
    assert "reelfix:deflicker" in (tmp_path / "whole" / "O.reelfix.json").read_text()  # per-frame record in the manifest


def test_analysis_stops_at_a_cut_and_leaves_out_an_unreadable_frame(tmp_path: Path) -> None:
    """Two shots of different brightness (listed cut at frame 13): neither's trend sees the
    other's frames. A truncated frame in the first shot fails alone, its neighbours are
    still corrected, and the warning names it."""
    a = fc.flicker_clip(12, 48, 64, change="none", seed=11)
    b = fc.flicker_clip(12, 48, 64, change="none", seed=12, name="coffee")
    frames = [np.concatenate([d, np.ones((48, 64, 1), np.float32)], axis=2) for d in a.damaged + [x * np.float32(3.0) for x in b.damaged]]
    plate = _write_plate(tmp_path / "in", frames)
    bad = tmp_path / "in" / "F.0005.exr"
    bad.write_bytes(bad.read_bytes()[:200])
    out = tmp_path / "out" / "O.####.exr"
    summary = run_job(_job(plate, str(out), [{"node": "deflicker", "params": {"span": 40, "grid": 1}}], cuts=[13]))
    assert [r.number for r in summary.results if r.status == "failed"] == [5]
    assert any("F.0005.exr" in str(r.error) for r in summary.results if r.number == 5)
    assert sum("input frame 5 is unreadable" in w for w in summary.warnings) == 1  # once, not once per frame
    for n in [m for m in range(1, 25) if m != 5]:  # 11 readable frames in the first shot, 12 in the second
        rec = json.loads(str(read_image(str(out).replace("####", f"{n:04d}")).metadata["reelfix:deflicker"]))
        assert rec["frames"] == (11 if n <= 12 else 12), (n, rec)
    second = _frames(out, range(13, 25))
    err = errors([o.pixels[:, :, :3] / 3.0 for o in second], b.truth)
    assert np.sqrt(np.mean(err**2)) < 0.5 * np.sqrt(np.mean(errors(b.damaged, b.truth) ** 2))


def test_deflicker_cannot_follow_a_node_that_changes_brightness(tmp_path: Path) -> None:
    clip = fc.flicker_clip(4, 24, 32, change="none", seed=1)
    plate = _write_plate(tmp_path / "in", [np.concatenate([d, np.ones((24, 32, 1), np.float32)], axis=2) for d in clip.damaged])
    pipeline = [{"node": "deflicker"}, {"node": "deflicker", "params": {"strength": 0.5}}]
    with pytest.raises(JobError, match=r"pipeline\[1\] \(deflicker\).*cannot follow pipeline\[0\] \(deflicker\)"):
        run_job(_job(plate, str(tmp_path / "o" / "O.####.exr"), pipeline))
    ok = [{"node": "dustbust"}, {"node": "deflicker"}]  # a repair keeps brightness: fine
    assert run_job(_job(plate, str(tmp_path / "o2" / "O.####.exr"), ok)).count("done") == 4


def test_farm_chunks_reuse_the_measurements_kept_beside_the_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A later chunk loads the frames an earlier one measured (.reelfix-analysis beside the
    output) instead of reading them again, and still writes the frames one run writes; a
    damaged entry is measured again."""
    from reelfix.nodes import deflicker

    clip = fc.flicker_clip(24, 48, 64, change="none", seed=13)
    plate = _write_plate(tmp_path / "in", [np.concatenate([d, np.ones((48, 64, 1), np.float32)], axis=2) for d in clip.damaged])
    pipeline = [{"node": "deflicker", "params": {"span": 8, "grid": 2}}]
    calls: list[int] = []
    real = deflicker.brightness.measure
    monkeypatch.setattr(deflicker.brightness, "measure", lambda frame: calls.append(frame.number) or real(frame))
    whole = tmp_path / "whole" / "O.####.exr"
    run_job(_job(plate, str(whole), pipeline))
    chunked = tmp_path / "chunked" / "O.####.exr"
    calls.clear()
    run_job(_job(plate, str(chunked), pipeline), frames="1-8")
    first = sorted(set(calls))
    assert len(first) >= 20  # frames 1-23: the segments around frames 1-8
    kept = list((tmp_path / "chunked" / ".reelfix-analysis").rglob("*.npz"))
    assert len(kept) == len(first)
    calls.clear()
    run_job(_job(plate, str(chunked), pipeline), frames="9-16")
    assert sorted(set(calls)) == [n for n in range(1, 25) if n not in first]  # only what chunk 1 had not measured
    for entry in kept[:3]:
        entry.write_bytes(b"not an npz")
    calls.clear()
    run_job(_job(plate, str(chunked), pipeline), frames="17-24")
    assert len(set(calls)) <= 3  # at most the damaged entries, measured again
    for n, (a, b) in enumerate(zip(_frames(whole, range(1, 25)), _frames(chunked, range(1, 25))), start=1):
        assert np.array_equal(a.pixels, b.pixels), n
