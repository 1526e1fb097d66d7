"""Guarantee: every node works at every value its declaration allows. Hypothesis draws each
node's parameters from the declaration itself (choices, bool, ints and floats between min and
max, the bounds included) and runs the node through the real pipeline on a tiny damaged plate:
no frame may fail, every written pixel is finite, and the frame has the size it should.
Also each node with every parameter at its lower bound, then at its upper bound."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reelfix.frames.frame import Frame
from reelfix.frames.image_io import read_image, write_image
from reelfix.jobs.load import job_from_data
from reelfix.nodes import BUILTIN
from reelfix.nodes.spec import NodeSpec, Param
from reelfix.pipeline import run_job
from tests.reliability.helpers import plate_pixels

H, W, FRAMES = 20, 28, range(1001, 1006)
UNBOUNDED_SPAN = 40  # ints/floats with no max: drawn up to min + this (and a large value at the top bound)
FIXED = {("upscale", "model"): "", ("denoise", "model"): ""}  # names of models, not ranges
# declared values that do not work (reported to the node's owner); tested as strict xfails below
BROKEN: dict[tuple[str, str, Any], str] = {}


@pytest.fixture(scope="module")
def plate(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Five frames of a slow pan with grain, one-frame specks, a persistent scratch and flicker."""
    folder = tmp_path_factory.mktemp("plate")
    rng = np.random.default_rng(7)
    for i, n in enumerate(FRAMES):
        pix = np.roll(plate_pixels(H, W, 0), i, axis=1) * (1.0 + 0.08 * (-1) ** i)
        pix += 0.03 * rng.standard_normal(pix.shape).astype(np.float32)
        pix[(4 + 3 * i) % H, (6 + 5 * i) % W] = 1.0 if i % 2 else 0.0  # a speck in one frame only
        pix[:, 17] += 0.25  # a scratch through every frame
        write_image(str(folder / f"P.{n:04d}.exr"), Frame(pix.astype(np.float32), ("R", "G", "B"), "lin_srgb", n), bit_depth="float")
    return str(folder / "P.####.exr")


def value_strategy(node: str, p: Param) -> st.SearchStrategy[Any]:
    if (node, p.name) in FIXED:
        return st.just(FIXED[node, p.name])
    if p.choices is not None:
        return st.sampled_from([c for c in p.choices if (node, p.name, c) not in BROKEN])
    if p.type is bool:
        return st.booleans()
    low = p.min if p.min is not None else 0
    high = p.max if p.max is not None else low + UNBOUNDED_SPAN
    if p.type is int:
        return st.integers(int(low), int(high))
    return st.floats(float(low), float(high), allow_nan=False, allow_infinity=False)


def bound(node: str, p: Param, upper: bool) -> Any:
    if (node, p.name) in FIXED:
        return FIXED[node, p.name]
    if p.choices is not None:
        return p.choices[-1 if upper else 0]
    if p.type is bool:
        return upper
    if upper:
        return p.max if p.max is not None else (4096 if p.type is int else 1e4)
    return p.min if p.min is not None else p.default


def run_node(plate: str, out: Path, spec: NodeSpec, params: dict[str, Any]) -> None:
    pipeline = [{"node": spec.name, "params": params}]
    if spec.name == "regrain":
        pipeline.insert(0, {"node": "degrain", "params": {}})  # what 'plate' grain needs upstream
    job = job_from_data({
        "input": {"path": plate, "colorspace": "lin_srgb"}, "output": {"path": str(out / "o.####.exr")},
        "pipeline": pipeline, "device": "cpu", "max_memory": "256MB",
    }, f"{spec.name} {params}")  # fmt: skip
    summary = run_job(job, resume=False)
    assert not summary.failed, [(r.number, r.error) for r in summary.failed]
    scale = int(spec.validate(params, "test")["scale"]) if spec.name == "upscale" else 1
    for n in FRAMES:
        frame = read_image(str(out / f"o.{n:04d}.exr"))
        assert frame.pixels.shape[:2] == (H * scale, W * scale), (spec.name, params)
        assert np.isfinite(frame.pixels).all(), (spec.name, params, n)


NODES = {spec.name: spec for spec in BUILTIN}


@pytest.mark.parametrize("upper", [False, True], ids=["lower", "upper"])
@pytest.mark.parametrize("name", sorted(NODES))
def test_every_parameter_at_its_bounds(plate: str, tmp_path: Path, name: str, upper: bool) -> None:
    spec = NODES[name]
    run_node(plate, tmp_path, spec, {p.name: bound(name, p, upper) for p in spec.params})


@pytest.mark.parametrize("name", sorted(NODES))
def test_random_declared_values(plate: str, tmp_path_factory: pytest.TempPathFactory, name: str) -> None:
    spec = NODES[name]
    params = st.fixed_dictionaries({p.name: value_strategy(name, p) for p in spec.params})

    @settings(max_examples=4, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(params)
    def check(values: dict[str, Any]) -> None:
        run_node(plate, tmp_path_factory.mktemp(name), spec, values)

    check()


CHOICES = [(n, p.name, c) for n, spec in sorted(NODES.items()) for p in spec.params if p.choices for c in p.choices]


@pytest.mark.parametrize("name,param,choice", CHOICES, ids=[f"{n}-{p}-{c}" for n, p, c in CHOICES])
def test_every_choice(plate: str, tmp_path: Path, name: str, param: str, choice: Any, request: pytest.FixtureRequest) -> None:
    if (name, param, choice) in BROKEN:
        request.applymarker(pytest.mark.xfail(reason=BROKEN[name, param, choice], strict=True))
    run_node(plate, tmp_path, NODES[name], {param: choice})
