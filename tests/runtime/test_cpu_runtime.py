"""runtime/cpu_runtime.py: which runtime runs fp32 models on the CPU (ONNX Runtime or OpenVINO),
the pin by environment, the manifest's record, and the OpenVINO route against ONNX Runtime on
tiny generated models (skipped where OpenVINO, the optional `cpu` extra, is not installed)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from reelfix.errors import DeviceError, UserError
from reelfix.runtime import clear_session_cache, get_session
from reelfix.runtime import cpu_runtime
from reelfix.runtime.cpu_runtime import OPENVINO_PROVIDER, OV_STATIC_SHAPES, OpenVINOSession, auto_rule, choose_cpu_runtime, runtime_record

from tests.onnx_models import make_card, make_noise_input_model, make_sr_model

AVX2 = frozenset({"sse4_2", "avx", "avx2", "fma"})


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("REELFIX_CPU_RUNTIME", raising=False)
    monkeypatch.setenv("REELFIX_CPU_PRECISION", "fp32")  # the fp32 route; tests/runtime/test_ov_int8.py the int8 one
    monkeypatch.setenv("REELFIX_CACHE", str(tmp_path / "cache"))  # OpenVINO's compiled models
    clear_session_cache()


def smooth(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A picture-like input (0-1, smooth with a little noise)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(seed)
    pix = np.stack([x / w, y / h, 0.5 + 0.3 * np.sin(x / 4 + y / 7)])
    return np.clip(pix + 0.02 * rng.standard_normal(pix.shape), 0, 1).astype(np.float32)[None]


def test_auto_rule_picks_openvino_only_where_installed_on_x86_64_with_avx2() -> None:
    assert auto_rule(True, "x86_64", AVX2)[0] == "openvino"
    assert auto_rule(True, "AMD64", frozenset())[0] == "openvino"  # Windows: no /proc/cpuinfo flags to read
    runtime, reason = auto_rule(False, "x86_64", AVX2)
    assert runtime == "onnxruntime" and "reelfix[cpu]" in reason
    assert auto_rule(True, "aarch64", frozenset({"asimd"})) == ("onnxruntime", "auto: OpenVINO is installed, but this CPU is aarch64, not x86-64")
    assert auto_rule(True, "x86_64", frozenset({"sse4_2", "avx"}))[0] == "onnxruntime"


def test_env_pins_the_runtime_and_bad_values_are_user_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REELFIX_CPU_RUNTIME", "ONNXRuntime")
    assert choose_cpu_runtime() == ("onnxruntime", "REELFIX_CPU_RUNTIME=onnxruntime")
    monkeypatch.setenv("REELFIX_CPU_RUNTIME", "ncnn")
    with pytest.raises(UserError, match="REELFIX_CPU_RUNTIME='ncnn' is not one of auto, onnxruntime, openvino"):
        choose_cpu_runtime()
    assert runtime_record()["cpu"] == "unknown"  # the manifest says so instead of failing the run's record
    monkeypatch.setattr(cpu_runtime, "openvino_available", lambda: False)
    monkeypatch.setenv("REELFIX_CPU_RUNTIME", "openvino")
    with pytest.raises(DeviceError, match="OpenVINO is not installed") as err:
        choose_cpu_runtime()
    assert "reelfix[cpu]" in (err.value.hint or "")


def test_without_openvino_the_cpu_runs_onnxruntime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu_runtime, "openvino_available", lambda: False)
    path = make_sr_model(tmp_path / "sr.onnx", scale=2, layers=2)
    ms = get_session(path, make_card(path, scale=2), "cpu")
    assert ms.provider == "CPUExecutionProvider"
    record = runtime_record()
    assert record["cpu"] == "onnxruntime" and record["reason"].startswith("auto: OpenVINO is not installed") and record["onnxruntime"]


def test_variants_stay_on_onnxruntime_whatever_the_pin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """int8/fp16 variants were checked against ONNX Runtime when made: never OpenVINO (even pinned,
    and even where OpenVINO is missing, which would otherwise be an error)."""
    from reelfix.runtime.session import _runtime_for

    path = make_sr_model(tmp_path / "sr.onnx", scale=2, layers=2)
    monkeypatch.setattr(cpu_runtime, "openvino_available", lambda: False)
    monkeypatch.setenv("REELFIX_CPU_RUNTIME", "openvino")
    from reelfix.runtime import CPUProvider, CUDAProvider

    assert _runtime_for(make_card(path, scale=2, precision="int8", variant_of="x"), (CPUProvider(),)) == "onnxruntime"
    assert _runtime_for(make_card(path, scale=2), (CUDAProvider(), CPUProvider())) == "onnxruntime"
    with pytest.raises(DeviceError):
        _runtime_for(make_card(path, scale=2), (CPUProvider(),))


def test_manifest_records_the_cpu_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from reelfix.frames.frame import Frame
    from reelfix.frames.image_io import write_image
    from reelfix.jobs.load import job_from_data
    from reelfix.models.card import write_card
    from reelfix.pipeline import run_job

    monkeypatch.setenv("REELFIX_CPU_RUNTIME", "onnxruntime")
    folder = tmp_path / "models"
    path = make_sr_model(folder / "tiny-x2.onnx", scale=2, layers=2)
    write_card(make_card(path, name="tiny-x2", scale=2, receptive_field=8, bytes_per_pixel=512), folder)
    monkeypatch.setenv("REELFIX_MODEL_PATH", str(folder))
    write_image(str(tmp_path / "in.1001.exr"), Frame(smooth(16, 24)[0].transpose(1, 2, 0).copy(), ("R", "G", "B"), "lin_srgb", 1001))
    job = job_from_data(
        {"input": {"path": str(tmp_path / "in.####.exr"), "colorspace": "lin_srgb"}, "output": {"path": str(tmp_path / "out/o.####.exr")},
         "pipeline": [{"node": "upscale", "params": {"scale": 2, "model": "tiny-x2"}}], "device": "cpu"},
        "test",
    )  # fmt: skip
    summary = run_job(job)
    assert not summary.failed
    run = json.loads(Path(summary.manifest).read_text())["runs"][-1]
    assert run["runtime"]["cpu"] == "onnxruntime" and run["runtime"]["reason"] == "REELFIX_CPU_RUNTIME=onnxruntime"
    assert run["chain"][0]["provider"] == "CPUExecutionProvider"


def test_manifest_record_says_how_openvino_compiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where OpenVINO is chosen, the record carries its options: fp32 kernels, static shapes, the cache."""
    monkeypatch.setattr(cpu_runtime, "openvino_available", lambda: True)
    monkeypatch.setattr(cpu_runtime.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(cpu_runtime, "cpu_flags", lambda: AVX2)
    record = runtime_record()
    assert record["cpu"] == "openvino" and record["reason"].startswith("auto: OpenVINO is installed")
    assert record["openvino_options"] == {
        "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32", "static_shapes": True,
        "CACHE_DIR": str(tmp_path / "cache" / "openvino"),
    }  # fmt: skip
    monkeypatch.setenv("REELFIX_CPU_RUNTIME", "onnxruntime")
    assert "openvino_options" not in runtime_record()


# --------------------------------------------------------------------------- the OpenVINO route


def test_openvino_route_matches_onnxruntime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("openvino")
    path = make_sr_model(tmp_path / "sr.onnx", scale=2, layers=3)
    card = make_card(path, scale=2)
    monkeypatch.setenv("REELFIX_CPU_RUNTIME", "onnxruntime")
    ort_ms = get_session(path, card, "cpu")
    monkeypatch.setenv("REELFIX_CPU_RUNTIME", "openvino")
    ov_ms = get_session(path, card, "cpu")
    assert ort_ms.provider == "CPUExecutionProvider" and ov_ms.provider == OPENVINO_PROVIDER
    for h, w in ((16, 16), (37, 53), (16, 16)):  # dynamic sizes, and back to the first one
        x = smooth(h, w, seed=h)
        a, b = ov_ms.run(x), ort_ms.run(x)
        assert a.shape == b.shape == (1, 3, 2 * h, 2 * w) and a.dtype == np.float32
        np.testing.assert_allclose(a, b, atol=1e-5)
    results: dict[int, np.ndarray] = {}

    def worker(i: int) -> None:  # one infer request per thread: concurrent calls do not mix results
        results[i] = ov_ms.run(smooth(24, 24, seed=i))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(3):
        np.testing.assert_allclose(results[i], ort_ms.run(smooth(24, 24, seed=i)), atol=1e-5)


def test_openvino_is_what_auto_picks_here_where_installed(tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    runtime, reason = choose_cpu_runtime()
    path = make_sr_model(tmp_path / "sr.onnx", scale=2, layers=2)
    ms = get_session(path, make_card(path, scale=2), "cpu")
    assert ms.provider == (OPENVINO_PROVIDER if runtime == "openvino" else "CPUExecutionProvider"), reason


def test_openvino_compiles_each_shape_once_and_the_next_process_reuses_it(tmp_path: Path) -> None:
    """Static shapes: one compiled model per input shape (the last OV_STATIC_SHAPES kept); the
    compiled models land in CACHE_DIR, and a new session with the same cache adds none."""
    pytest.importorskip("openvino")
    path = make_sr_model(tmp_path / "sr.onnx", scale=2, layers=2)
    cache = tmp_path / "ov"
    first = OpenVINOSession(path, 1, cache)
    results = {hw: first.run(None, {"input": smooth(*hw, seed=hw[0])})[0] for hw in ((16, 16), (24, 32))}
    again = first.run(None, {"input": smooth(16, 16, seed=16)})[0]
    assert first.compiled_shapes() == [(1, 3, 24, 32), (1, 3, 16, 16)]
    np.testing.assert_array_equal(again, results[(16, 16)])
    blobs = sorted(p.name for p in cache.iterdir())
    assert len(blobs) == 2
    second = OpenVINOSession(path, 1, cache)  # what the next process does
    for hw, want in results.items():
        np.testing.assert_array_equal(second.run(None, {"input": smooth(*hw, seed=hw[0])})[0], want)
    assert sorted(p.name for p in cache.iterdir()) == blobs
    for side in range(17, 18 + OV_STATIC_SHAPES):  # more shapes than are kept: the oldest go, results stay right
        second.run(None, {"input": smooth(side, side)})
    assert len(second.compiled_shapes()) == OV_STATIC_SHAPES and (1, 3, 16, 16) not in second.compiled_shapes()
    np.testing.assert_array_equal(second.run(None, {"input": smooth(16, 16, seed=16)})[0], results[(16, 16)])


def test_openvino_keeps_one_large_shape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A compiled shape holds its working memory: of the shapes above OV_SMALL_SHAPE only the
    latest stays (small ones, like the load-time probe, stay beside it)."""
    pytest.importorskip("openvino")
    monkeypatch.setattr(cpu_runtime, "OV_SMALL_SHAPE", 20 * 20)
    path = make_sr_model(tmp_path / "sr.onnx", scale=2, layers=2)
    ov_ms = OpenVINOSession(path, 1, tmp_path / "ov")
    for hw in ((16, 16), (24, 32), (30, 20), (16, 16)):
        y = ov_ms.run(None, {"input": smooth(*hw)})[0]
        assert y.shape == (1, 3, 2 * hw[0], 2 * hw[1])
    assert ov_ms.compiled_shapes() == [(1, 3, 30, 20), (1, 3, 16, 16)]
    assert set(ov_ms._local.requests) == {(1, 3, 30, 20), (1, 3, 16, 16)}  # this thread dropped its request for 24x32


def test_openvino_runs_an_input_with_a_default_fed_or_not(tmp_path: Path) -> None:
    """An ONNX input that is also an initializer (grain-denoise's `sigma`): OpenVINO's reader
    would fold it into a constant and lose its port. The session keeps it an input, like ONNX
    Runtime: fed, the fed value counts; left out, the default; both shapes compile once each."""
    pytest.importorskip("openvino")
    import onnxruntime as ort

    path = make_noise_input_model(tmp_path / "noise.onnx", default=0.02)
    ov_sess = OpenVINOSession(path, 1, tmp_path / "ov")
    ort_sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = smooth(16, 24)
    sigma = np.linspace(0, 0.1, 16 * 24, dtype=np.float32).reshape(1, 1, 16, 24)
    fed = ov_sess.run(["output"], {"input": x, "sigma": sigma})[0]
    np.testing.assert_allclose(fed, x - sigma, atol=1e-7)
    np.testing.assert_allclose(fed, ort_sess.run(["output"], {"input": x, "sigma": sigma})[0], atol=1e-7)
    default = ov_sess.run(None, {"input": x})[0]
    np.testing.assert_allclose(default, x - np.float32(0.02), atol=1e-7)
    assert ov_sess.compiled_shapes() == [(1, 3, 16, 24, 1, 1, 16, 24), (1, 3, 16, 24, 1, 1, 1, 1)]


def test_builtin_denoiser_on_openvino_matches_onnx_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    """The built-in grain-denoise (a `sigma` input with a default) runs on the OpenVINO route and
    gives ONNX Runtime's picture up to float32 rounding (it failed there: 'Port for tensor name
    sigma was not found')."""
    pytest.importorskip("openvino")
    from reelfix.grain.learned import Denoiser
    from reelfix.nodes.spec import NodeContext

    picture = smooth(40, 56)[0].transpose(1, 2, 0).copy()
    sigma = np.full((40, 56), 0.03, np.float32)
    out = {}
    for runtime in ("onnxruntime", "openvino"):
        monkeypatch.setenv("REELFIX_CPU_RUNTIME", runtime)
        clear_session_cache()
        den = Denoiser(NodeContext(device="cpu"))
        assert den.provider == ("CPUExecutionProvider" if runtime == "onnxruntime" else OPENVINO_PROVIDER)
        out[runtime] = den.run(picture, sigma)
    assert float(np.abs(out["onnxruntime"] - picture).max()) > 0.01  # the model did remove something
    np.testing.assert_allclose(out["openvino"], out["onnxruntime"], atol=1e-4)
