"""runtime/ov_int8.py: the int8 model made for OpenVINO's CPU route (convolutions int8 between an
fp32 first and last, fp32 kept where int8 costs most), built on tiny generated models with ONNX
Runtime as the runner (the recipe takes any runtime), and the OpenVINO route that uses it (skipped
where OpenVINO, the optional `cpu` extra, is not installed)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from reelfix.errors import ModelError, UserError
from reelfix.runtime import clear_session_cache, get_session, ov_int8
from reelfix.runtime.cpu_runtime import OPENVINO_PROVIDER, choose_cpu_precision, runtime_record

from tests.onnx_models import make_card, make_sr_model
from tests.runtime.test_cpu_runtime import smooth


def ort_runner(path: Path):  # type: ignore[no-untyped-def]
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return lambda x: sess.run(None, {"input": np.ascontiguousarray(x, np.float32)})[0]


def crops(n: int = 8, size: int = 24) -> list[np.ndarray]:
    return [smooth(size, size, seed=i) for i in range(n)]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.clip(a, 0, 1) - np.clip(b, 0, 1)) ** 2))
    return 99.0 if mse <= 1e-10 else 10 * math.log10(1 / mse)


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("REELFIX_CPU_PRECISION", raising=False)
    monkeypatch.setenv("REELFIX_CACHE", str(tmp_path / "cache"))
    clear_session_cache()


def test_build_keeps_the_ends_fp32_and_reaches_its_target(tmp_path: Path) -> None:
    src = make_sr_model(tmp_path / "sr.onnx", scale=2, layers=6)
    report = ov_int8.build(src, tmp_path / "q.onnx", crops(), ort_runner, target_db=30.0)
    names = [n.name for n in onnx.load(str(tmp_path / "q.onnx")).graph.node if n.op_type == "Conv"]
    assert names[0] in report["fp32"] and names[-1] in report["fp32"]
    assert report["int8"] and set(report["int8"]) | set(report["fp32"]) == set(names) and report["fidelity_db"] >= 30.0
    q = onnx.load(str(tmp_path / "q.onnx"))
    quantized = {n.name.split("/")[0] for n in q.graph.node if n.op_type == "QuantizeLinear"}
    assert quantized == set(report["int8"])  # exactly the chosen convolutions take int8 inputs
    fp32, int8 = ort_runner(src), ort_runner(tmp_path / "q.onnx")
    x = smooth(40, 56, seed=99)  # an input the ranges were not taken from
    assert int8(x).shape == fp32(x).shape == (1, 3, 80, 112)
    assert psnr(int8(x), fp32(x)) > 25.0


def test_the_same_source_and_recipe_give_the_same_bytes(tmp_path: Path) -> None:
    src = make_sr_model(tmp_path / "sr.onnx", scale=2, layers=5)
    for name in ("a.onnx", "b.onnx"):
        ov_int8.build(src, tmp_path / name, crops(), ort_runner, target_db=30.0)
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()


def test_a_target_no_int8_convolution_meets_is_a_model_error(tmp_path: Path) -> None:
    src = make_sr_model(tmp_path / "sr.onnx", scale=2, layers=4)
    with pytest.raises(ModelError, match="no convolution can be int8 within 200 dB"):
        ov_int8.build(src, tmp_path / "q.onnx", crops(), ort_runner, target_db=200.0)
    assert not (tmp_path / "q.onnx").exists()
    with pytest.raises(ModelError, match="2 convolutions"):
        ov_int8.build(make_sr_model(tmp_path / "two.onnx", layers=2), tmp_path / "q2.onnx", crops(), ort_runner)


def test_ranges_snap_outwards_to_a_fixed_grid() -> None:
    for v in (0.3, -0.3, 1.0, 117.9, -40.2, 1e-3):
        hi, lo = ov_int8.snap_out(v, up=True), ov_int8.snap_out(v, up=False)
        assert lo <= v <= hi and hi - lo <= abs(v) / ov_int8.SNAP * 1.01
        assert ov_int8.snap_out(v * (1 + 1e-7), up=True) == hi or v * (1 + 1e-7) > hi  # a rounding wobble lands on the same step
    assert ov_int8.snap_out(0.0, up=True) == 0.0


def test_the_cache_is_reused_and_a_damaged_entry_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = make_sr_model(tmp_path / "sr.onnx", scale=2, layers=5)
    path, report = ov_int8.cached_int8(src, tmp_path / "cache", ort_runner, target_db=30.0)
    built = path.read_bytes()

    def refuse(*a: object, **k: object) -> None:
        raise AssertionError("rebuilt a cached model")

    monkeypatch.setattr(ov_int8, "build", refuse)
    again, report2 = ov_int8.cached_int8(src, tmp_path / "cache", ort_runner, target_db=30.0)
    assert again == path and report2 == report
    monkeypatch.undo()
    path.write_bytes(built[:100])  # a torn file: its sha256 no longer matches the report
    fixed, _ = ov_int8.cached_int8(src, tmp_path / "cache", ort_runner, target_db=30.0)
    assert fixed.read_bytes() == built


def test_precision_rule_and_its_record(monkeypatch: pytest.MonkeyPatch) -> None:
    assert choose_cpu_precision("upscale")[0] == "int8"
    assert choose_cpu_precision("denoise") == ("fp32", "auto: int8 is measured for upscalers only, this is a denoise model")
    monkeypatch.setenv("REELFIX_CPU_PRECISION", "FP32")
    assert choose_cpu_precision("upscale") == ("fp32", "REELFIX_CPU_PRECISION=fp32")
    monkeypatch.setenv("REELFIX_CPU_PRECISION", "bf16")
    with pytest.raises(UserError, match="REELFIX_CPU_PRECISION='bf16' is not one of auto, fp32, int8"):
        choose_cpu_precision("upscale")


def test_openvino_route_runs_upscalers_in_int8_and_records_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("openvino")
    monkeypatch.setenv("REELFIX_CPU_RUNTIME", "openvino")
    monkeypatch.setattr(ov_int8, "FIDELITY_DB", 30.0)  # random weights: a looser target than real models get
    path = make_sr_model(tmp_path / "sr.onnx", scale=2, layers=6)
    card = make_card(path, scale=2)
    ms = get_session(path, card, "cpu")
    assert ms.provider == OPENVINO_PROVIDER and ms.precision.startswith("int8: ") and "convolutions" in ms.precision
    assert len(list((tmp_path / "cache" / "int8").glob("*.int8.onnx"))) == 1  # made once, kept for the next process
    monkeypatch.setenv("REELFIX_CPU_PRECISION", "fp32")
    fp = get_session(path, card, "cpu")
    assert fp.precision == "fp32" and fp is not ms
    x = smooth(32, 40, seed=5)
    assert psnr(ms.run(x), fp.run(x)) > 25.0
    assert runtime_record()["upscaler_precision"]["precision"] == "fp32"
    monkeypatch.delenv("REELFIX_CPU_PRECISION")
    assert get_session(path, card.model_copy(update={"task": "denoise"}), "cpu").precision == "fp32"  # upscalers only


def test_no_int8_model_falls_back_to_fp32_and_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("openvino")
    caplog.set_level("INFO", logger="reelfix.runtime.session")
    monkeypatch.setenv("REELFIX_CPU_RUNTIME", "openvino")
    path = make_sr_model(tmp_path / "sr.onnx", scale=2, layers=2)  # two convolutions: nothing between the ends
    ms = get_session(path, make_card(path, scale=2), "cpu")
    assert ms.provider == OPENVINO_PROVIDER and ms.precision == "fp32 (no int8 model could be made)"
    assert "no int8 model for OpenVINO" in caplog.text
