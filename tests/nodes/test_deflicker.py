"""deflicker: flicker removed (global and uneven), fades / ramps / a light switched on kept,
range ends, a 1-frame sequence, alpha and highlights untouched, the correction in the
metadata, and the real pipeline with chunks identical to one run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from reelfix.frames.frame import Frame
from reelfix.frames.image_io import read_image, write_image
from reelfix.global_motion import trend_at_zero
from reelfix.jobs.load import job_from_data
from reelfix.nodes import get_node
from reelfix.nodes.deflicker import SPEC, gain_field, grid_shape
from reelfix.nodes.spec import NodeContext, Window
from reelfix.pipeline import run_job
from tests.nodes import flicker_clips as fc

FRAMES, H, W = 40, 72, 96


def run(frames: list[np.ndarray], params: dict | None = None, channels: tuple[str, ...] = ("R", "G", "B")) -> list[Frame]:
    p = SPEC.validate(params or {}, "test")
    runner = SPEC.factory(p, NodeContext())
    r = SPEC.radius(p)
    fr = {i: Frame(f, channels, "lin_srgb", i) for i, f in enumerate(frames)}
    return [runner.process(Window(t, {s: fr[s] for s in range(max(0, t - r), min(len(frames), t + r + 1))})) for t in range(len(frames))]


def errors(outs: list[np.ndarray], truth: list[np.ndarray]) -> np.ndarray:
    return np.array([fc.mean_luma(o) / fc.mean_luma(t) - 1 for o, t in zip(outs, truth)])


@pytest.fixture(scope="module")
def fade() -> tuple[fc.FlickerClip, list[Frame]]:
    clip = fc.flicker_clip(FRAMES, H, W, change="fade", seed=1, fade_frames=10)
    return clip, run(clip.damaged)


def test_registered_with_its_parameters() -> None:
    spec = get_node("deflicker")
    assert {p.name for p in spec.params} == {"strength", "radius", "grid"}
    assert spec.radius(spec.validate({"radius": 9}, "t")) == 9


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
    outs = [o.pixels for o in run(clip.damaged, {"radius": 8})]
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


def test_steady_light_reads_as_steady_far_from_the_centre() -> None:
    """A clean pan (no flicker): every frame of a long window measures the same light as the
    centre. Chaining consecutive pairs added their small errors into a drift (about 0.03%
    per frame here) that the trend fit took for an exposure ramp."""
    frames = fc.pan(25, 72, 128, velocity=(0.6, 0.25))
    runner = SPEC.factory(SPEC.validate({"radius": 12, "grid": 2}, "t"), NodeContext())
    fr = {i: Frame(f, ("R", "G", "B"), "lin_srgb", i) for i, f in enumerate(frames)}
    times, levels = runner.levels(Window(12, fr), grid_shape(2, 72, 128))
    assert times == list(range(-12, 13))
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
    outs = run(frames, {"radius": 3}, channels=("R", "G", "B", "A", "Z"))
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


def test_trend_keeps_a_step_and_a_ramp_and_averages_jitter() -> None:
    times = np.arange(-10, 11, dtype=float)
    rng = np.random.default_rng(1)
    jitter = rng.normal(0, 0.05, (21, 1))
    jitter -= jitter[10]
    step = np.where(times >= 1, 1.0, 0.0)[:, None]
    ramp = 0.1 * times[:, None]
    sigma = np.array([0.05])
    assert abs(trend_at_zero(times, jitter + step, sigma)[0] - trend_at_zero(times, jitter, sigma)[0]) < 0.1
    assert abs(trend_at_zero(times, ramp, sigma)[0]) < 1e-6
    assert abs(trend_at_zero(times, jitter, sigma)[0]) < 0.05


def _write_plate(folder: Path, frames: list[np.ndarray], first: int = 1) -> str:
    for i, pix in enumerate(frames):
        write_image(str(folder / f"F.{first + i:04d}.exr"), Frame(pix, ("R", "G", "B", "A"), "lin_srgb", first + i), bit_depth="float")
    return str(folder / "F.####.exr")


def test_through_the_pipeline_chunks_identical_to_one_run(tmp_path: Path) -> None:
    clip = fc.flicker_clip(12, 48, 64, change="none", seed=7)
    alpha = np.linspace(0, 1, 48 * 64, dtype=np.float32).reshape(48, 64, 1)
    plate = _write_plate(tmp_path / "in", [np.concatenate([d, alpha], axis=2) for d in clip.damaged])

    def job(out: str):
        return job_from_data(
            {
                "input": {"path": plate, "colorspace": "lin_srgb"},
                "output": {"path": out, "bit_depth": "float"},
                "pipeline": [{"node": "deflicker", "params": {"radius": 4, "grid": 2}}],
            },
            "test",
        )

    whole = tmp_path / "whole" / "O.####.exr"
    run_job(job(str(whole)))
    chunked = tmp_path / "chunked" / "O.####.exr"
    for chunk in ("1-4", "5-8", "9-12"):
        assert run_job(job(str(chunked)), frames=chunk).count("done") == 4
    for n in range(1, 13):
        a = read_image(str(whole).replace("####", f"{n:04d}"))
        b = read_image(str(chunked).replace("####", f"{n:04d}"))
        assert np.array_equal(a.pixels, b.pixels), n
        assert np.array_equal(a.pixels[:, :, 3], alpha[:, :, 0])
        assert json.loads(str(a.metadata["reelfix:deflicker"]))["frames"] >= 5
    assert "reelfix:deflicker" in (tmp_path / "whole" / "O.reelfix.json").read_text()  # per-frame record in the manifest
