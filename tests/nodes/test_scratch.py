"""scratch: persistent vertical lines repaired, picture detail that moves with the camera
kept, range ends, 1-frame sequences, mattes, bit-identity, and the real pipeline."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from reelfix import motion
from reelfix.frames.frame import Frame
from reelfix.frames.image_io import read_image, write_image
from reelfix.jobs.load import job_from_data
from reelfix.nodes import get_node
from reelfix.nodes.scratch import SPEC
from reelfix.nodes.scratch_gate import fixed_in_gate, gate_runs, gate_scratch, grain_through, is_gate_line, judge
from reelfix.nodes.spec import NodeContext, Window
from reelfix.pipeline import run_job
from tests.nodes import clips


def _pan_clip(frames: int = 7, seed: int = 0) -> clips.Clip:
    return clips.scratch_clip(frames, 96, 160, seed=seed, source=clips.pan(frames, 96, 160, name="coffee", velocity=(1.3, -0.6), seed=seed))


@pytest.fixture(scope="module")
def clip() -> clips.Clip:
    return _pan_clip()


@pytest.fixture(scope="module")
def result(clip: clips.Clip) -> tuple[list[np.ndarray], list[np.ndarray]]:
    motion.clear_cache()
    return clips.run_node(SPEC, clip, {})


def test_registered_with_its_parameters() -> None:
    spec = get_node("scratch")
    assert {p.name for p in spec.params} == {"sensitivity", "max_width", "radius", "static"}
    assert spec.radius(spec.validate({}, "t")) == 2


def test_scratches_repaired_nothing_else_touched(clip, result) -> None:
    outs, mattes = result
    s = clips.score(clip, outs, clip.scratch, mattes, dilate=2)
    assert s["repaired"] >= 0.8, s
    assert s["false_changes"] < 0.002, s
    assert s["identical_outside_matte"] == 1.0


def test_every_frame_including_the_ends_is_repaired(clip, result) -> None:
    outs, mattes = result
    for i in range(len(clip)):
        t = clip.scratch[i] > 0.1
        before = np.abs(clip.damaged[i] - clip.clean[i]).max(axis=2)[t].mean()
        after = np.abs(outs[i] - clip.clean[i]).max(axis=2)[t].mean()
        assert after < 0.5 * before, (i, before, after)
        changed = (outs[i] != clip.damaged[i]).any(axis=2)
        assert not (changed & (mattes[i] == 0)).any()
        assert set(np.unique(mattes[i])) <= {0.0, 1.0}


def test_thin_vertical_picture_detail_moving_with_the_camera_is_kept() -> None:
    """A clean pan over a picture with thin vertical lines of its own: nothing to repair."""
    frames = []
    for t in range(5):
        base = clips.pan(1, 96, 160, name="coffee", seed=t)[0] * 0.6
        x = 40 + 2.0 * t  # the line moves with the picture
        for xx in (x, x + 60):
            base[:, int(xx) : int(xx) + 2] = 0.95
        frames.append(np.ascontiguousarray(np.roll(base, 2 * t, axis=1)))
    lines = clips.Clip(frames, frames, scratch=[np.zeros((96, 160), np.float32)] * 5)
    outs, _ = clips.run_node(SPEC, lines, {})
    changed = sum(int((o != d).any(axis=2).sum()) for o, d in zip(outs, frames))
    assert changed / (5 * 96 * 160) < 0.002


def test_static_shot_keeps_its_own_thin_lines_and_repairs_a_drifting_scratch() -> None:
    """On a static shot a pole of the picture persists over frames just like a scratch; only
    the scratch drifts against the picture, so only the scratch is repaired."""
    still = clips.pan(5, 128, 160, name="coffee", velocity=(0.0, 0.0))
    for f in still:  # two thin poles of the picture itself, over most of the height
        f[8:120, 40:42] = 0.92
        f[8:120, 120:123] = 0.05
    damaged, truth = clips.add_scratches(still, [(80.0, 0.3, 2, 0.5)])
    outs, mattes = clips.run_node(SPEC, clips.Clip(still, damaged, scratch=truth), {})
    for i, out in enumerate(outs):
        changed = (out != damaged[i]).any(axis=2)
        assert not changed[:, 30:52].any() and not changed[:, 110:133].any(), i  # the poles stay bit-identical
        assert not (changed & (mattes[i] == 0)).any()
        t = truth[i] > 0.05
        before = np.abs(damaged[i] - still[i]).max(axis=2)[t].mean()
        after = np.abs(out - still[i]).max(axis=2)[t].mean()
        assert after < 0.5 * before, (i, before, after)


def _gate_shot(frames: int = 5) -> tuple[clips.Clip, list[int]]:
    """A static grainy shot with things of the scene over its whole height (a mast, an
    opaque pole, a wire, a door's edge: drawn before the grain) and two scratches fixed in
    the gate (a dark 2-px one, a bright 1-px one); returns the clip and the columns of the
    scene's lines."""
    full = clips.pan(1, 540, 960, name="coffee", velocity=(0.0, 0.0))[0]  # the picture at the scale of a 960x540 frame
    picture = clips.scene_lines(np.ascontiguousarray(full[110:430, 300:500]))  # mast 30, wire 124, door 172
    picture[:, 100:102] = 0.05  # a thin dark pole of the picture over the whole height
    still = clips.add_grain(picture, frames, 0.02)
    damaged, truth = clips.add_scratches(still, [(60.5, 0.0, 2, -0.5), (80.0, 0.0, 1, 0.45)], wobble=0.0)
    return clips.Clip(still, damaged, scratch=truth), [30, 100, 124, 172]


def test_scratch_fixed_in_the_gate_on_a_static_shot_is_repaired_and_the_scene_lines_stay() -> None:
    """On a static shot a scratch fixed in the gate and a pole of the picture both stand
    still: the scratch is repaired because the picture continues through it, while the pole,
    the mast, the wire and the door's edge, which hide what is behind them, stay bit-identical."""
    clip, lines = _gate_shot()
    outs, mattes = clips.run_node(SPEC, clip, {})
    s = clips.score(clip, outs, clip.scratch, mattes, dilate=2)
    assert s["repaired"] >= 0.9 and s["false_changes"] < 0.002 and s["identical_outside_matte"] == 1.0, s
    for out, dmg in zip(outs, clip.damaged):
        for x in lines:
            assert np.array_equal(out[:, x - 3 : x + 6], dmg[:, x - 3 : x + 6]), x


def test_thin_poles_against_a_flat_sky_under_coarse_grain_stay() -> None:
    """Against a flat sky the only detail beside a pole is grain, and grain clumps over a
    pixel or two: it would seem to continue through a 1-px pole drawn under it. Rows whose
    detail is mostly grain say nothing; and the flow beside a pole there reads a few tenths
    of a pixel of picture motion that is not there, which the drift test weighs by the flow's
    spread. So the poles stay bit-identical, the shot's ends included."""
    frames = clips.sky_with_poles(5, 320, 200)  # poles at 60 (dark, 1 px) and 120 (bright, 2 px)
    outs, _ = clips.run_node(SPEC, clips.Clip(frames, frames, scratch=[np.zeros((320, 200), np.float32)] * 5), {})
    assert all(np.array_equal(o, f) for o, f in zip(outs, frames))


def test_static_option_takes_opaque_gate_lines_but_not_a_pole_with_grain_of_its_own() -> None:
    """`static` repairs every still line of a gate scratch's shape, opaque ones too (an
    opaque line laid over the grain: none of it goes through), but not the full-height pole
    recorded under the grain (it carries grain of its own, more than a veil of its shade
    could pass), nor the wire or the door's gap; a pole over part of the height stays too.
    By default the opaque line stays (it hides the picture)."""
    clip, _ = _gate_shot()
    damaged, truth = [d.copy() for d in clip.damaged], [t.copy() for t in clip.scratch]
    for d, t in zip(damaged, truth):
        d[:, 140] = 0.02  # an opaque dark line fixed in the gate
        t[:, 140] = np.abs(d[:, 140] - clip.clean[0][:, 140]).max(axis=1)
    opaque = clips.Clip(clip.clean, damaged, scratch=truth)
    outs, _ = clips.run_node(SPEC, opaque, {"static": True})
    for out, dmg, clean in zip(outs, damaged, opaque.clean):
        for x in (100, 124, 172):  # the pole, the wire, the door's gap
            assert np.array_equal(out[:, x - 3 : x + 6], dmg[:, x - 3 : x + 6]), x
        before, after = np.abs(dmg[:, 140] - clean[:, 140]).mean(), np.abs(out[:, 140] - clean[:, 140]).mean()
        assert after < 0.5 * before, (before, after)
    outs, _ = clips.run_node(SPEC, opaque, {})
    assert all(np.array_equal(o[:, 137:144], d[:, 137:144]) for o, d in zip(outs, damaged))
    still = clips.pan(5, 320, 160, name="coffee", velocity=(0.0, 0.0), grain=0.02)
    for f in still:
        f[30:200, 120:122] = 0.05  # a thin dark pole over about half the height
    damaged, truth = clips.add_scratches(still, [(60.0, 0.0, 2, 0.5)], wobble=0.0)
    short = clips.Clip(still, damaged, scratch=truth)
    outs, mattes = clips.run_node(SPEC, short, {"static": True})
    s = clips.score(short, outs, truth, mattes, dilate=2)
    assert s["repaired"] >= 0.8 and s["false_changes"] < 0.002 and s["identical_outside_matte"] == 1.0, s
    for out, dmg in zip(outs, damaged):
        assert np.array_equal(out[:, 110:132], dmg[:, 110:132])


def _flat_shot(lines: dict[int, float], veils: dict[int, tuple[float, float]], frames: int = 5) -> list[np.ndarray]:
    """The perceptual lumas (centre first) of a static grainy shot of a flat grey picture:
    `lines` drawn before the grain (column -> level: things of the scene), `veils` laid over
    it (column -> gain, offset: a scratch)."""
    picture = np.full((256, 40, 3), 0.5, np.float32)
    for x, level in lines.items():
        picture[:, x] = level
    shot = clips.add_grain(picture, frames, 0.02, seed=2)
    for f in shot:
        for x, (gain, offset) in veils.items():
            f[:, x] = gain * f[:, x] + offset
    lumas = [d @ np.float32([0.2126, 0.7152, 0.0722]) for d in shot]
    return [lumas[frames // 2], *lumas[: frames // 2], *lumas[frames // 2 + 1 :]]


def test_the_film_grain_goes_through_a_scratch_not_through_a_pole_on_a_flat_picture() -> None:
    """On a flat picture the picture cannot tell a scratch from a pole (`judge` None); the
    film's grain can: a veil passes the grain beside it at its gain, a pole recorded under
    the grain carries grain of its own. A faint line (dimming the picture by under a fifth),
    one frame, or a line laid over the grain with none of its own (an opaque scratch, or a
    pole drawn over the grain) cannot be told apart by grain, or look like a veil."""
    dark, bright = {20: (0.6, 0.0)}, {20: (0.6, 0.4)}
    for veil in (dark, bright, {20: (0.0, 0.1)}):
        lumas = _flat_shot({}, veil)
        assert judge(lumas, 20, 21) is None and grain_through(lumas, 20, 21) is True, veil
        assert fixed_in_gate(lumas, {b: (20, 21) for b in range(4)}, [])
    for level in (0.2, 0.3, 0.8):  # recorded lines of the scene, dark and bright
        lumas = _flat_shot({20: level}, {})
        assert judge(lumas, 20, 21) is None and grain_through(lumas, 20, 21) is False, level
        assert not fixed_in_gate(lumas, {b: (20, 21) for b in range(4)}, [])
        assert not gate_scratch(lumas, {b: (20, 21) for b in range(4)}, [], static=True)
    assert grain_through(_flat_shot({}, {20: (0.9, 0.0)}), 20, 21) is None  # faint
    assert grain_through(_flat_shot({}, dark)[0], 20, 21) is None  # one frame
    assert gate_scratch(_flat_shot({}, {20: (0.0, 0.2)}), {b: (20, 21) for b in range(4)}, [], static=True)


def test_gate_scratches_on_a_flat_sky_are_repaired_and_its_thin_poles_stay() -> None:
    """A static shot of a flat sky with two thin poles under coarse grain (clumps of about
    1.3 px, drawn over the poles) and two scratches fixed in the gate over it: the picture
    is too flat to tell, the grain is not. The scratches are repaired, the poles stay
    bit-identical."""
    frames = clips.sky_with_poles(5, 320, 200)  # poles at 60 (dark, 1 px) and 120 (bright, 2 px)
    damaged, truth = clips.add_scratches(frames, [(90.5, 0.0, 2, -0.5), (160.0, 0.0, 1, 0.45)], wobble=0.0)
    _repaired_and_kept(clips.Clip(frames, damaged, scratch=truth), [(56, 66), (116, 126)])


def _repaired_and_kept(clip: clips.Clip, kept: list[tuple[int, int]]) -> None:
    """The node with defaults over a clip repairs at least 90% of its scratches with no false
    change, and every pixel outside the matte and in the columns `kept` stays bit-identical."""
    motion.clear_cache()
    outs, mattes = clips.run_node(SPEC, clip, {})
    s = clips.score(clip, outs, clip.scratch, mattes, dilate=2)
    assert s["repaired"] >= 0.9 and s["false_changes"] == 0.0 and s["identical_outside_matte"] == 1.0, s
    for out, dmg in zip(outs, clip.damaged):
        assert all(np.array_equal(out[:, a:b], dmg[:, a:b]) for a, b in kept), kept


def test_the_picture_continues_through_a_scratch_not_through_an_object() -> None:
    """`judge` on one textured picture: a veil over a column lets the detail
    through; an opaque line and a line with its own detail do not, nor does a flat picture."""
    rng = np.random.default_rng(3)
    rows = cv2.GaussianBlur(rng.standard_normal((256, 1)).astype(np.float32), (0, 0), 2.0)
    luma = np.repeat(0.5 + 0.1 * rows / rows.std(), 40, axis=1)  # horizontal detail crossing every column
    veil, opaque, own = luma.copy(), luma.copy(), luma.copy()
    veil[:, 20:22] = 0.6 * luma[:, 20:22] + 0.4
    opaque[:, 20:22] = 0.1
    own[:, 20:22] = 0.3 + 0.05 * cv2.GaussianBlur(rng.standard_normal((256, 2)).astype(np.float32), (0, 0), 2.0)
    assert judge(veil, 20, 22) is True
    assert judge(opaque, 20, 22) is not True and judge(own, 20, 22) is not True
    assert judge(np.full((256, 40), 0.5, np.float32), 20, 22) is not True
    assert judge(veil, 0, 2) is not True  # at the frame's side: nothing to compare with
    # hiding the detail is an object; carrying it with detail of its own besides cannot be told
    more = luma.copy()
    more[:, 20] += 0.17 * (-1.0) ** np.arange(256)  # a fine pattern of its own, with three times the picture's energy
    assert judge(opaque, 20, 22) is False and judge(own, 20, 22) is False and judge(more, 20, 21) is None
    assert judge(veil, 20, 22) is True and judge(np.full((256, 40), 0.5, np.float32), 20, 22) is None
    # a line is judged with the lines touching it: the picture column beside an opaque wire
    # (the wire's faint other side in the detector's profiles) goes with the wire
    wire = luma.copy()
    wire[:, 20] = 0.1
    assert not fixed_in_gate(wire, {b: (21, 22) for b in range(4)}, [{b: (20, 21) for b in range(4)}])
    assert fixed_in_gate(veil, {b: (20, 22) for b in range(4)}, [])
    assert not fixed_in_gate(veil, {b: (20, 22) for b in range(4)}, [{b: (0, 20) for b in range(4)}])
    # a touching line that cannot be told (detail of its own) is let be only where it is the
    # weaker (the line's faint other side), never taken alone where the line is unclear
    side = veil.copy()
    side[:, 22] += 0.08 * (-1.0) ** np.arange(256)
    line, beside = {b: (20, 22) for b in range(4)}, {b: (22, 23) for b in range(4)}
    assert judge(side, 20, 22) is True and judge(side, 22, 23) is None
    assert fixed_in_gate(side, line, [beside], [0.2, 0.05])
    assert not fixed_in_gate(side, line, [beside], [0.05, 0.2]) and not fixed_in_gate(side, line, [beside])
    assert not fixed_in_gate(side, beside, [line], [0.2, 0.3])


def test_a_gate_line_widened_by_the_picture_beside_it_is_straight_and_cut_back() -> None:
    """Picture touching a line fixed in the gate widens its run in one band on one side: the
    line is still dead straight, and only its own columns (a pixel of margin) are taken. A
    line that slants two pixels over the height is not a gate line."""
    runs = {b: (40, 42) for b in range(8)}
    runs[3] = (40, 46)
    assert is_gate_line(runs, 8)
    assert gate_runs(runs)[3] == (40, 43) and gate_runs(runs)[0] == (40, 42)
    assert not is_gate_line({b: (40 + b // 3, 42 + b // 3) for b in range(8)}, 8)


def test_a_gate_scratch_over_texture_everywhere_is_judged_on_the_still_picture() -> None:
    """A static grainy shot of a picture with detail everywhere (no flat area to take the
    grain's level from) with a veil of a scratch fixed in the gate and an opaque pole: one
    frame cannot tell (its grain looks like the picture), the mean of the shot's frames
    can: the scratch is repaired, the pole's columns stay bit-identical."""
    rng = np.random.default_rng(5)
    rows = cv2.GaussianBlur(rng.standard_normal((256, 1)).astype(np.float32), (0, 0), 1.5)
    cols = cv2.GaussianBlur(rng.standard_normal((1, 160)).astype(np.float32), (0, 0), 12.0)
    picture = np.repeat(np.clip(0.45 + 0.08 * rows / rows.std() + 0.1 * cols / cols.std(), 0, 1)[:, :, None], 3, axis=2)
    picture[:, 120:122] = 0.05  # an opaque pole over the whole height
    shot = clips.add_grain(picture.astype(np.float32), 5, 0.03, seed=1)
    damaged, truth = clips.add_scratches(shot, [(60.0, 0.0, 2, 0.5)], wobble=0.0)
    lumas = [motion.perceptual(d @ np.float32([0.2126, 0.7152, 0.0722]), False) for d in damaged]
    still = [lumas[2], *lumas[:2], *lumas[3:]]
    assert judge(lumas[2], 59, 61) is None  # one frame: nothing stands above what it takes for grain
    assert judge(still, 59, 61) is True and judge(still, 120, 122) is False
    _repaired_and_kept(clips.Clip(shot, damaged, scratch=truth), [(110, 132)])


def test_one_frame_sequence_uses_the_frame_alone(clip: clips.Clip) -> None:
    runner = SPEC.factory(SPEC.validate({}, "t"), NodeContext())
    frame = Frame(clip.damaged[3], ("R", "G", "B"), "srgb_tx", 7)
    out = runner.process(Window(7, {7: frame}))
    matte = out.mattes["scratch"]
    changed = (out.pixels != frame.pixels).any(axis=2)
    assert not (changed & (matte == 0)).any()
    t = clip.scratch[3] > 0.1
    assert np.abs(out.pixels - clip.clean[3]).max(axis=2)[t].mean() < np.abs(frame.pixels - clip.clean[3]).max(axis=2)[t].mean()


def test_alpha_passes_untouched(clip: clips.Clip) -> None:
    runner = SPEC.factory(SPEC.validate({}, "t"), NodeContext())
    frames = {}
    for i in range(5):
        alpha = np.full((96, 160, 1), 0.5, np.float32)
        frames[i] = Frame(np.concatenate([clip.damaged[i], alpha], axis=2), ("R", "G", "B", "A"), "srgb_tx", i)
    out = runner.process(Window(2, frames))
    assert np.array_equal(out.pixels[:, :, 3], frames[2].pixels[:, :, 3])
    assert (out.pixels[:, :, :3] != frames[2].pixels[:, :, :3]).any()


def test_through_the_pipeline_with_mattes(tmp_path: Path) -> None:
    clip = clips.to_linear(_pan_clip(5, seed=1))
    for i, pix in enumerate(clip.damaged):
        write_image(str(tmp_path / "in" / f"S.{i + 1:04d}.exr"), Frame(pix, ("R", "G", "B"), "lin_srgb", i + 1), bit_depth="float")
    job = job_from_data(
        {
            "input": {"path": str(tmp_path / "in" / "S.####.exr"), "colorspace": "lin_srgb"},
            "output": {"path": str(tmp_path / "o" / "O.####.exr"), "bit_depth": "float", "mattes": str(tmp_path / "o" / "m" / "M.####.exr")},
            "pipeline": [{"node": "scratch"}],
        },
        "test",
    )
    run_job(job)
    for i in range(5):
        out = read_image(str(tmp_path / "o" / f"O.{i + 1:04d}.exr")).pixels
        matte = read_image(str(tmp_path / "o" / "m" / f"M.{i + 1:04d}.exr"))
        m = matte.pixels[:, :, matte.channels.index("scratch")]
        changed = (out != clip.damaged[i]).any(axis=2)
        assert changed.any() and not (changed & (m == 0)).any()
