"""regrain: the grain put back matches the plate's (std per luminance band, size, colour)
within 10%, adds zero-mean grain only (structure kept), follows an upscale, is random per
frame yet identical in farm chunks; and the job degrain -> upscale -> regrain on real EXR
files through the pipeline, the grain layer never written."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from reelfix.frames.frame import Frame
from reelfix.frames.image_io import read_image, write_image
from reelfix.grain import stats
from reelfix.jobs.load import job_from_data
from reelfix.nodes import get_node
from reelfix.nodes.degrain import LAYER, LAYER_LUMA, smooth_luma
from reelfix.nodes.degrain import SPEC as DEGRAIN
from reelfix.nodes.regrain import SPEC
from reelfix.nodes.spec import NodeContext, Window
from reelfix.pipeline import run_job
from tests.nodes import grain_clips as gc
from tests.nodes import grain_independent as gi
from tests.nodes.test_degrain import run as run_degrain


@pytest.fixture(scope="module")
def clip() -> gc.GrainClip:
    return gc.grain_clip(9, 96, 128, seed=1)


@pytest.fixture(scope="module")
def degrained(clip: gc.GrainClip) -> list[Frame]:
    return run_degrain(clip, {"spatial": "classic"})


def regrain(frame: Frame, params: dict | None = None, warn=None) -> Frame:
    runner = SPEC.factory(SPEC.validate(params or {}, "t"), NodeContext(warn=warn or (lambda m: None)))
    return runner.process(Window(frame.number, {frame.number: frame}))


def assert_matches_plate(added: np.ndarray, truth: np.ndarray, lum: np.ndarray) -> None:
    """Std in every well-filled luminance band, and adjacent-pixel correlation, within 10%."""
    share = np.bincount(stats.band_of(lum).ravel(), minlength=8) / lum.size
    ratio = stats.std_per_band(added, lum) / stats.std_per_band(truth, lum)
    assert np.all(np.abs(ratio[share >= 0.1] - 1) <= 0.10), (ratio, share)
    assert abs(stats.lag1_correlation(added) / stats.lag1_correlation(truth) - 1) <= 0.10
    assert abs(stats.colour_correlation(added) - stats.colour_correlation(truth)) <= 0.1


@pytest.mark.parametrize("source", ["plate", "synthetic"])
def test_grain_put_back_matches_the_plates_within_10_percent(clip, degrained, source) -> None:
    for i in (2, 4, 6):
        out = regrain(degrained[i], {"source": source})
        assert_matches_plate(out.pixels - degrained[i].pixels, clip.grain[i], smooth_luma(clip.clean[i]))


@pytest.fixture(scope="module")
def clumped() -> tuple[gc.GrainClip, Frame]:
    """Clumped Boolean-model grain (skewed, another spectrum; not reelfix.grain.synth) on a
    photo, and the middle frame degrained with its whole window."""
    clip = gi.noisy_clip(7, 128, 192, "coffee", "clumped", seed=3)
    p = DEGRAIN.validate({"spatial": "classic"}, "t")
    frames = {i: Frame(g, ("R", "G", "B"), clip.colorspace, i) for i, g in enumerate(clip.grainy)}
    return clip, DEGRAIN.factory(p, NodeContext()).process(Window(3, frames))


@pytest.mark.parametrize("source", ["plate", "synthetic"])
def test_grain_put_back_on_clumped_grain_matches_its_std_and_spectrum_within_10_percent(clumped, source) -> None:
    clip, degrained = clumped
    added = regrain(degrained, {"source": source}).pixels - degrained.pixels
    truth, lum = clip.grain[3], smooth_luma(clip.clean[3])
    filled = np.bincount(stats.band_of(lum).ravel(), minlength=8) / lum.size >= 0.1
    ratio = stats.std_per_band(added, lum) / stats.std_per_band(truth, lum)
    assert np.all(np.abs(ratio[filled] - 1) <= 0.10), ratio
    by_freq = stats.band_std_by_frequency(truth)
    ratio = stats.band_std_by_frequency(added) / by_freq
    assert np.all(np.abs(ratio[by_freq**2 / np.sum(by_freq**2) >= 0.1] - 1) <= 0.10), ratio
    assert abs(stats.colour_correlation(added) - stats.colour_correlation(truth)) <= 0.1


@pytest.mark.parametrize("source", ["plate", "synthetic"])
def test_structure_unchanged_zero_mean_grain_only(clip, degrained, source) -> None:
    out = regrain(degrained[4], {"source": source})
    added = out.pixels - degrained[4].pixels
    assert abs(float(added.mean())) < 0.002 and float(added.std()) > 0.02
    # no more coarse structure than the plate's own grain has (what a blur of it leaves)
    def coarse(g: np.ndarray) -> float:
        return float(cv2.GaussianBlur(g, (0, 0), 4.0).std() / g.std())

    assert coarse(added) < 1.25 * coarse(clip.grain[4])


def test_plate_grain_follows_an_upscale(clip, degrained) -> None:
    f = degrained[4]
    up = cv2.resize(f.pixels, (256, 192), interpolation=cv2.INTER_CUBIC)
    big = f.with_pixels(up)  # what upscale hands on: the picture x2, the layers as they were
    assert big.layers[LAYER].shape == (96, 128, 3)
    out = regrain(big, {"source": "plate"})
    added = out.pixels - up
    lum = cv2.resize(smooth_luma(clip.clean[4]), (256, 192))
    truth = cv2.resize(clip.grain[4], (256, 192), interpolation=cv2.INTER_CUBIC)
    ratio = stats.robust_std(added) / stats.robust_std(clip.grain[4])
    assert 0.85 < ratio < 1.1  # the plate's strength kept at the new size
    # grain grows with the picture: as correlated as the plate's grain resized x2
    assert abs(stats.lag1_correlation(added) - stats.lag1_correlation(truth)) < 0.08
    syn = regrain(big, {"source": "synthetic"}).pixels - up
    assert abs(stats.lag1_correlation(syn) - stats.lag1_correlation(truth)) < 0.08
    assert lum.shape == added.shape[:2]


def test_synthetic_is_random_per_frame_and_identical_per_frame_number(degrained) -> None:
    a = regrain(degrained[4], {"source": "synthetic"}).pixels
    b = regrain(degrained[4], {"source": "synthetic"}).pixels
    assert np.array_equal(a, b)  # a farm chunk gives the same frame
    other = degrained[4].with_pixels(degrained[4].pixels, number=5)
    c = regrain(other, {"source": "synthetic"}).pixels
    d = regrain(degrained[4], {"source": "synthetic", "seed": 7}).pixels
    base = degrained[4].pixels
    corr = np.corrcoef((a - base).ravel(), (c - base).ravel())[0, 1]
    assert abs(corr) < 0.05 and not np.array_equal(a, d)


def test_without_degrain_plate_falls_back_to_synthetic_from_params_with_a_warning(clip) -> None:
    warnings: list[str] = []
    frame = Frame(clip.clean[3], ("R", "G", "B"), "srgb_tx", 3)
    out = regrain(frame, {"source": "plate", "strength": 0.05, "size": 0.0}, warn=warnings.append)
    added = out.pixels - clip.clean[3]
    assert len(warnings) == 1 and "no plate grain" in warnings[0]
    assert 0.01 < stats.robust_std(added) < 0.05
    assert abs(stats.lag1_correlation(added)) < 0.05  # size 0: one-pixel grain


def test_monochrome_plate_gets_monochrome_grain_and_alpha_and_highlights_survive() -> None:
    clip = gc.grain_clip(5, 96, 128, profile=gc.MONO_PROFILE, mono=True, linear=True, seed=2, highlight_gain=12.0)
    rng = np.random.default_rng(0)
    alphas = [rng.random((96, 128, 1)).astype(np.float32) for _ in clip.grainy]
    outs = run_degrain(clip, {"spatial": "classic", "radius": 2}, channels=("R", "G", "B", "A"), extra=alphas)
    for source in ("plate", "synthetic"):
        out = regrain(outs[0], {"source": source}).pixels
        assert np.array_equal(out[:, :, 3], outs[0].pixels[:, :, 3])
        assert np.array_equal(out[:, :, 0], out[:, :, 1]) and np.array_equal(out[:, :, 0], out[:, :, 2])
        hot = clip.clean[0][:, :, 0] > 1.2
        assert hot.sum() > 5 and float(np.median(out[:, :, 0][hot])) > 1.1  # grain on top, never clipped


def test_degrain_upscale_regrain_job_on_exr_files(tmp_path: Path, model_dir: Path) -> None:
    clip = gc.grain_clip(6, 48, 64, linear=True, seed=3)
    for i, pix in enumerate(clip.grainy):
        write_image(str(tmp_path / "in" / f"G.{1001 + i:04d}.exr"), Frame(pix, ("R", "G", "B"), "lin_srgb", 1001 + i), bit_depth="float")

    def job(out: str, source: str):
        return job_from_data(
            {
                "input": {"path": str(tmp_path / "in" / "G.####.exr"), "colorspace": "lin_srgb"},
                "output": {"path": out, "bit_depth": "float"},
                "pipeline": [
                    {"node": "degrain", "params": {"radius": 2, "spatial": "classic"}},
                    {"node": "upscale", "params": {"scale": 2, "model": "tiny-x2"}},
                    {"node": "regrain", "params": {"source": source}},
                ],
                "device": "cpu",
            },
            "test job",
        )

    whole = str(tmp_path / "whole" / "O.####.exr")
    summary = run_job(job(whole, "synthetic"))
    assert summary.count("done") == 6 and not summary.failed
    chunked = str(tmp_path / "chunked" / "O.####.exr")
    for chunk in ("1001-1003", "1004-1006"):
        run_job(job(chunked, "synthetic"), frames=chunk)
    for n in range(1001, 1007):
        a = read_image(whole.replace("####", f"{n}"))
        b = read_image(chunked.replace("####", f"{n}"))
        assert a.pixels.shape == (96, 128, 3) and a.channels == ("R", "G", "B")  # no grain layer written
        assert np.array_equal(a.pixels, b.pixels), n
        assert "sigma" in json.loads(a.metadata["reelfix:grain"])  # the measured grain, in the header
    plate = str(tmp_path / "plate" / "O.####.exr")
    run = run_job(job(plate, "plate"))
    assert not run.failed and not [w for w in run.warnings if "no plate grain" in w]  # the layer came through upscale
    p = read_image(plate.replace("####", "1003")).pixels
    assert p.shape == (96, 128, 3) and np.isfinite(p).all()


def test_registered_with_its_parameters() -> None:
    spec = get_node("regrain")
    assert {p.name for p in spec.params} == {"source", "amount", "strength", "size", "colour", "seed"}
    assert spec.radius(spec.validate({}, "t")) == 0
    assert LAYER_LUMA != LAYER


def test_stabilize_moves_the_grain_layer_with_the_picture() -> None:
    from reelfix.nodes.stabilize import SPEC as STABILIZE
    from tests.nodes import flicker_clips as fc

    clip = fc.weave_clip(9, 96, 128, seed=1)
    p = STABILIZE.validate({"radius": 4}, "t")
    runner = STABILIZE.factory(p, NodeContext())
    frames = {}
    for i, pix in enumerate(clip.damaged):
        f = Frame(pix, ("R", "G", "B"), "lin_srgb", i)
        f.layers[LAYER] = pix.copy()  # a layer that shows the picture: it must land where the picture does
        f.layers["half"] = cv2.resize(pix, (64, 48), interpolation=cv2.INTER_AREA)
        frames[i] = f
    out = runner.process(Window(4, frames))
    assert not np.array_equal(out.pixels, frames[4].pixels)  # it did move the picture
    assert np.array_equal(out.layers[LAYER], out.pixels)
    half = cv2.resize(out.pixels, (64, 48), interpolation=cv2.INTER_AREA)

    def offset(a: np.ndarray, b: np.ndarray) -> float:
        (dx, dy), _ = cv2.phaseCorrelate(a.mean(axis=2).astype(np.float64), b.mean(axis=2).astype(np.float64))
        return float(np.hypot(dx, dy))

    assert offset(frames[4].layers["half"], half) > 0.2  # unmoved, it would sit off the picture
    assert offset(out.layers["half"], half) < 0.1  # a layer at half size moved with the picture


def test_plate_grain_follows_a_repairs_change_of_brightness(degrained) -> None:
    from reelfix.grain.synth import GrainProfile

    f = degrained[4]
    profile = GrainProfile.from_dict(json.loads(f.metadata["reelfix:grain"]))
    pix = f.pixels.copy()
    box = (slice(30, 70), slice(40, 100))
    then = float(np.median(f.layers[LAYER_LUMA][box]))
    level = 0.95 if then < 0.5 else 0.05  # a repair made this area much brighter or darker
    pix[box] = level
    added = regrain(f.with_pixels(pix), {"source": "plate"}).pixels - pix
    inner = (slice(36, 64), slice(46, 94))  # away from the blurred luma at the box edges
    want = float(profile.sigma_at(np.array([level]))[0])
    got = stats.robust_std(added[inner])
    before = stats.robust_std(f.layers[LAYER][inner])
    assert abs(got / want - 1) < 0.2, (got, want, before)
    assert abs(before / want - 1) > 0.3  # the plate's grain there was of another strength
