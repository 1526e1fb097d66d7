"""Frames held at a half-float file's precision: dustbust reads them as they are (half the bytes
in the window) and gives the float32 result bit for bit; every other node, and everything else
that reads the job's input frames, still gets float32 frames, so nothing else changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reelfix import cuts, motion
from reelfix.frames.frame import Frame
from reelfix.frames.image_io import read_image, write_image
from reelfix.graph import Graph, run_frames
from reelfix.jobs.load import job_from_data
from reelfix.nodes import get_node
from reelfix.nodes.dustbust import SPEC, DustBust
from reelfix.nodes.spec import NodeContext, Window
from reelfix.pipeline import run_job
from tests.nodes import clips

GB = 1024**3


def halves(clip: clips.Clip, alpha: bool = False) -> list[np.ndarray]:
    """The clip's frames as a half-float file holds them (with a soft alpha channel)."""
    out = []
    for d in clip.damaged:
        if alpha:
            d = np.dstack([d, np.linspace(0.0, 1.0, d.shape[1], dtype=np.float32)[None, :].repeat(d.shape[0], 0)])
        out.append(d.astype(np.float16))
    return out


def bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.uint32)


@pytest.mark.parametrize(
    "max_memory,colorspace,alpha",
    [(2 * GB, "lin_srgb", False), (1, "lin_srgb", True), (1, "srgb_tx", False)],  # one band; the thinnest bands
)
def test_dustbust_on_half_frames_gives_the_float32_frames_result_bit_for_bit(max_memory: int, colorspace: str, alpha: bool) -> None:
    clip = clips.dust_clip(5, 96, 130, count=10, seed=3, max_size=16)
    names = ("R", "G", "B", "A") if alpha else ("R", "G", "B")
    half = halves(clip, alpha)
    results = []
    for pixels in ([h.astype(np.float32) for h in half], half):
        motion.clear_cache()
        runner = SPEC.factory(SPEC.validate({}, "test"), NodeContext(max_memory=max_memory))
        frames = {i: Frame(p, names, colorspace, i) for i, p in enumerate(pixels)}
        results.append([runner.process(Window(i, {n: frames[n] for n in range(i - 2, i + 3) if n in frames})) for i in frames])
    repaired = 0
    for wide, held in zip(*results):
        assert held.pixels.dtype == np.float32 and np.array_equal(bits(wide.pixels), bits(held.pixels))
        assert np.array_equal(wide.mattes["dustbust"], held.mattes["dustbust"])
        repaired += int(wide.mattes["dustbust"].sum())
    assert repaired > 50


def test_dustbust_alone_in_its_shot_returns_float32_pixels() -> None:
    pix = np.random.default_rng(0).random((24, 32, 3)).astype(np.float16)
    runner = SPEC.factory(SPEC.validate({}, "test"), NodeContext())
    out = runner.process(Window(7, {7: Frame(pix, ("R", "G", "B"), "lin_srgb", 7)}))
    assert out.pixels.dtype == np.float32 and np.array_equal(out.pixels, pix.astype(np.float32))


def test_cut_thumbnails_of_half_frames_equal_the_whole_frame_float32_ones() -> None:
    rng = np.random.default_rng(2)
    for h, w in ((4320 // 16, 7680 // 16), (37, 50), (20, 30)):
        pix = (rng.random((h, w, 4)) * 4).astype(np.float16)
        frame = Frame(pix, ("R", "G", "B", "A"), "lin_srgb", 1)
        wide = pix.astype(np.float32)
        # the thumbnail as made before, over whole-frame planes
        luma = np.log2(np.maximum(wide[:, :, :3].mean(axis=2), 0.0) + 1e-3)
        rows = np.linspace(0, h, min(cuts.THUMB[0], h) + 1).astype(int)
        cols = np.linspace(0, w, min(cuts.THUMB[1], w) + 1).astype(int)
        small = np.add.reduceat(np.add.reduceat(luma, rows[:-1], axis=0), cols[:-1], axis=1)
        small /= np.outer(np.diff(rows), np.diff(cols))
        expected = small - small.mean()
        for f in (frame, Frame(wide, frame.channels, "lin_srgb", 1)):
            assert np.array_equal(cuts.thumbnail(f), expected)


class Spy:
    """A temporal runner that records the pixel types of the frames its windows hold."""

    def __init__(self, reads_held: bool) -> None:
        self.reads_held = reads_held
        self.seen: list[set[str]] = []

    def process(self, window: Window) -> Frame:
        self.seen.append({str(f.pixels.dtype) for f in window.frames.values()})
        return window.centre.with_pixels(window.centre.pixels.astype(np.float32))

    def provenance(self) -> dict[str, str]:
        return {"node": "spy"}


def test_the_graph_gives_held_frames_only_to_a_first_node_that_reads_them_so() -> None:
    pix = {n: np.full((8, 12, 3), n / 8, np.float16) for n in range(5)}
    read = lambda n: Frame(pix[n], ("R", "G", "B"), "lin_srgb", n)  # noqa: E731
    first, second = Spy(True), Spy(False)  # a node that reads held frames, first; then one that does not
    later, before = Spy(True), Spy(False)  # the same, the other way round
    for runners in ([first, second], [before, later]):
        graph = Graph(read, runners, [1, 1], list(pix), lambda m: None, detect_cuts=True)
        try:
            graph.get(2, 2)
            assert graph.get(0, 1).pixels.dtype == np.float32  # any other reader: float32, exactly the values
            assert np.array_equal(graph.get(0, 1).pixels, pix[1].astype(np.float32))
        finally:
            graph.close()
    assert len(first.seen) == 3 and all(s == {"float16"} for s in first.seen)  # first, it gets the frames as read
    for spy in (second, later, before):
        assert spy.seen and all(s == {"float32"} for s in spy.seen)


def write_plate(folder: Path, frames: list[np.ndarray], bit_depth: str) -> str:
    for i, f in enumerate(frames):
        write_image(str(folder / f"plate.{1001 + i}.exr"), Frame(f.astype(np.float32), ("R", "G", "B"), "lin_srgb", 1001 + i), bit_depth=bit_depth)
    return str(folder / "plate.####.exr")


@pytest.mark.parametrize("chain", [["dustbust", "degrain"], ["dustbust", "deflicker"], ["scratch", "dustbust"], ["stabilize", "dustbust"]])
def test_a_job_on_half_exr_gives_what_float32_frames_give(tmp_path: Path, chain: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    clip = clips.dust_clip(5, 72, 100, count=8, seed=5, max_size=12)
    plate = write_plate(tmp_path / "in", halves(clip), "half")
    seen: list[str] = []
    process = DustBust.process
    monkeypatch.setattr(DustBust, "process", lambda self, w: seen.extend(str(f.pixels.dtype) for f in w.frames.values()) or process(self, w))
    job = job_from_data({"input": {"path": plate, "colorspace": "lin_srgb"}, "output": {"path": str(tmp_path / "out" / "o.####.exr"), "bit_depth": "float"},
                         "pipeline": [{"node": n, "params": {}} for n in chain]}, "test")
    motion.clear_cache()
    assert run_job(job, resume=False).count("done") == 5
    # first, dustbust is handed the frames as read (deflicker then measures them in float32, and they stay so)
    assert set(seen) == ({"float16"} if chain == ["dustbust", "degrain"] else {"float16", "float32"} if chain[0] == "dustbust" else {"float32"})
    # the same chain over the frames read as float32, in memory
    specs = [get_node(n, "test") for n in chain]
    params = [s.validate({}, "test") for s in specs]
    runners = [s.factory(p, NodeContext()) for s, p in zip(specs, params)]
    frames = [read_image(plate.replace("####", str(1001 + i)), 1001 + i, "lin_srgb") for i in range(5)]
    assert all(f.pixels.dtype == np.float32 for f in frames)
    motion.clear_cache()
    expected = run_frames(runners, [s.radius(p) for s, p in zip(specs, params)], [s.span(p) for s, p in zip(specs, params)], frames)
    for f in expected:
        got = read_image(str(tmp_path / "out" / f"o.{f.number}.exr")).pixels
        assert np.array_equal(bits(got), bits(f.pixels)), f.number


def test_read_image_keeps_half_only_for_a_file_of_halves(tmp_path: Path) -> None:
    pix = (np.random.default_rng(4).random((10, 14, 4)) * 3 - 1).astype(np.float32)
    for depth, kept in (("half", np.float16), ("float", np.float32)):
        path = str(tmp_path / f"{depth}.exr")
        write_image(path, Frame(pix, ("R", "G", "B", "A"), "lin_srgb"), bit_depth=depth)
        wide, held = read_image(path), read_image(path, keep_half=True)
        assert wide.pixels.dtype == np.float32 and held.pixels.dtype == kept
        assert np.array_equal(bits(wide.pixels), bits(held.pixels.astype(np.float32))) and held.metadata == wide.metadata
