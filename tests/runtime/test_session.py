"""runtime/: providers, device fallback lists, sessions checked against cards, the cache."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from reelfix.errors import DeviceError, ModelError, UserError
from reelfix.runtime import (
    DEVICES,
    CPUProvider,
    CUDAProvider,
    TensorRTProvider,
    available_devices,
    clear_session_cache,
    default_threads,
    get_session,
    providers_for,
)

from tests.onnx_models import (
    make_card,
    make_nearest_model,
    make_sr_model,
    make_static_model,
    write_corrupt_model,
)


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    clear_session_cache()


@pytest.fixture
def sr(tmp_path: Path) -> Path:
    return make_sr_model(tmp_path / "sr.onnx", scale=2, layers=3)


# --------------------------------------------------------------------------- providers


def test_cpu_and_auto_resolve_to_cpu_here() -> None:
    assert [p.ort_name for p in providers_for("cpu")] == ["CPUExecutionProvider"]
    assert providers_for("auto")[-1].ort_name == "CPUExecutionProvider"
    assert set(DEVICES) == {"auto", "cpu", "cuda", "tensorrt", "dml", "coreml"}


@pytest.mark.skipif(
    "CUDAExecutionProvider" in __import__("onnxruntime").get_available_providers(),
    reason="onnxruntime-gpu is installed here (the gpu extra): CUDA is available, so there is no message to check",
)
def test_cuda_on_a_cpu_only_install_says_what_to_install() -> None:
    with pytest.raises(DeviceError) as err:
        providers_for("cuda")
    text = str(err.value)
    assert "CUDAExecutionProvider" in text and "reelfix[gpu]" in text and "reelfix devices" in text


def test_unknown_device_lists_the_choices() -> None:
    with pytest.raises(DeviceError, match="tensorrt"):
        providers_for("gpu0")


def test_fallback_lists_when_gpu_providers_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    from reelfix.runtime import providers as mod

    monkeypatch.setattr(
        mod, "_available", lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    names = lambda dev: [p.ort_name for p in providers_for(dev)]
    assert names("auto") == ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert names("cuda") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert names("tensorrt") == ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert providers_for("auto", fp16=True)[0] == TensorRTProvider(fp16=True)
    monkeypatch.setattr(mod, "_available", lambda: ["DmlExecutionProvider", "CPUExecutionProvider"])
    assert names("auto") == ["DmlExecutionProvider", "CPUExecutionProvider"]


def test_provider_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("REELFIX_CACHE", str(tmp_path / "cache"))
    opts = TensorRTProvider(device_id=1, fp16=True).ort_options()
    assert opts["device_id"] == "1" and opts["trt_fp16_enable"] == "True"
    assert opts["trt_engine_cache_enable"] == "True"
    assert opts["trt_engine_cache_path"] == str(tmp_path / "cache" / "trt")
    assert TensorRTProvider(engine_cache="/x").ort_options()["trt_engine_cache_path"] == "/x"
    assert CUDAProvider(device_id=2).ort_options()["device_id"] == "2"
    assert CPUProvider(threads=3).resolved_threads() == 3


def test_idle_workers_do_not_spin() -> None:
    """ORT's workers sleep between operators: a spinning pool takes a core from the frame readers,
    writers and colour bands running beside the model."""
    from reelfix.runtime.session import session_options

    assert session_options([CPUProvider()]).get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_threads_default_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REELFIX_THREADS", raising=False)
    n = default_threads()
    assert 1 <= n <= (os.cpu_count() or 1)
    monkeypatch.setenv("REELFIX_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.setenv("REELFIX_THREADS", "many")
    with pytest.raises(UserError, match="REELFIX_THREADS"):
        default_threads()


def test_available_devices_lists_cpu() -> None:
    rows = {r["name"]: r for r in available_devices()}
    assert rows["cpu"]["available"] is True and rows["cpu"]["provider"] == "CPUExecutionProvider"
    assert "onnxruntime" in rows["cpu"]["notes"]
    assert rows["cuda"]["available"] is False and "reelfix[gpu]" in rows["cuda"]["notes"]
    assert set(rows) == set(DEVICES)


# --------------------------------------------------------------------------- sessions


def test_run_a_model(sr: Path) -> None:
    ms = get_session(sr, make_card(sr, scale=2), "cpu")
    assert ms.provider == "CPUExecutionProvider" and ms.path == sr.resolve()
    y = ms.run(np.random.default_rng(0).random((1, 3, 20, 30)).astype(np.float64))  # cast for the caller
    assert y.shape == (1, 3, 40, 60) and y.dtype == np.float32


def test_nearest_fixture_is_exact(tmp_path: Path) -> None:
    path = make_nearest_model(tmp_path / "nn.onnx", scale=3)
    ms = get_session(path, make_card(path, scale=3), "cpu")
    x = np.random.default_rng(1).random((1, 3, 5, 4)).astype(np.float32)
    np.testing.assert_array_equal(ms.run(x), np.repeat(np.repeat(x, 3, 2), 3, 3))


def test_cache_returns_the_same_object_and_reloads_changed_files(sr: Path) -> None:
    card = make_card(sr, scale=2)
    a = get_session(sr, card, "cpu")
    assert get_session(str(sr), card, "cpu") is a
    if providers_for("auto") == providers_for("cpu"):  # a CPU-only install: same providers, same session
        assert get_session(sr, card, "auto") is a
    assert get_session(sr.parent / "." / sr.name, card, "cpu") is a
    make_sr_model(sr, scale=2, layers=4, seed=5)  # rewritten: new size/mtime
    os.utime(sr, ns=(1, 1))
    b = get_session(sr, make_card(sr, scale=2), "cpu")
    assert b is not a


def test_cache_is_thread_safe(sr: Path) -> None:
    card = make_card(sr, scale=2)
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(get_session(sr, card, "cpu"))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 6 and all(g is got[0] for g in got)


def test_wrong_channels(tmp_path: Path) -> None:
    path = make_sr_model(tmp_path / "four.onnx", channels=4)
    with pytest.raises(ModelError) as err:
        get_session(path, make_card(path, scale=2), "cpu")
    text = str(err.value)
    assert str(path) in text and "4 channels" in text and "channels=3" in text


@pytest.mark.parametrize("field", ["input_name", "output_name"])
def test_wrong_io_names(tmp_path: Path, field: str) -> None:
    path = make_sr_model(tmp_path / "named.onnx", input_name="x", output_name="y")
    card = make_card(path, scale=2, **{"input_name": "x", "output_name": "y", field: "image"})
    with pytest.raises(ModelError) as err:
        get_session(path, card, "cpu")
    text = str(err.value)
    assert str(path) in text and "'image'" in text and ("['x']" in text or "['y']" in text)


def test_static_shape_is_refused_unless_the_card_declares_it(tmp_path: Path) -> None:
    path = make_static_model(tmp_path / "static.onnx", size=64, scale=2)
    with pytest.raises(ModelError) as err:
        get_session(path, make_card(path, scale=2), "cpu")
    assert str(path) in str(err.value) and "fixed size" in str(err.value) and "dynamic" in str(err.value)
    ms = get_session(path, make_card(path, scale=2, multiple_of=64), "cpu")
    assert ms.fixed_size == (64, 64)


def test_wrong_scale_is_caught_by_the_probe(sr: Path) -> None:
    with pytest.raises(ModelError) as err:
        get_session(sr, make_card(sr, scale=4), "cpu")
    assert "scale 2" in str(err.value) and "scale=4" in str(err.value)


def test_corrupt_and_missing_files(tmp_path: Path) -> None:
    bad = write_corrupt_model(tmp_path / "bad.onnx")
    good = make_sr_model(tmp_path / "good.onnx")
    with pytest.raises(ModelError) as err:
        get_session(bad, make_card(good, scale=2), "cpu")
    assert str(bad) in str(err.value) and "re-install or re-convert" in str(err.value)
    with pytest.raises(ModelError, match="not found"):
        get_session(tmp_path / "gone.onnx", make_card(good, scale=2), "cpu")


def test_device_error_from_get_session(sr: Path) -> None:
    with pytest.raises(DeviceError, match="reelfix\\[gpu\\]"):
        get_session(sr, make_card(sr, scale=2), "cuda")


@pytest.mark.filterwarnings("ignore:Specified provider")
def test_silent_fallback_is_reported(sr: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A CPU-only onnxruntime given CUDA first falls back quietly; reelfix says so."""
    with caplog.at_level(logging.WARNING, logger="reelfix.runtime.session"):
        ms = get_session(sr, make_card(sr, scale=2), providers=[CUDAProvider(), CPUProvider()])
    assert ms.provider == "CPUExecutionProvider"
    assert "CUDAExecutionProvider" in caplog.text and "reelfix devices" in caplog.text


def test_run_checks_the_input(sr: Path) -> None:
    ms = get_session(sr, make_card(sr, scale=2), "cpu")
    with pytest.raises(ModelError, match="expected"):
        ms.run(np.zeros((1, 4, 8, 8), np.float32))


def test_float16_models_get_float16_and_give_float32(tmp_path: Path) -> None:
    path = make_sr_model(tmp_path / "half.onnx", scale=2, half_io=True)
    ms = get_session(path, make_card(path, scale=2, precision="fp16"), "cpu")
    assert ms.input_dtype is np.float16
    x = np.random.default_rng(2).random((1, 3, 8, 8)).astype(np.float32)
    y = ms.run(x)
    assert y.dtype == np.float32 and y.shape == (1, 3, 16, 16)
    ref = make_sr_model(tmp_path / "full.onnx", scale=2)
    full = get_session(ref, make_card(ref, scale=2), "cpu").run(x.astype(np.float16).astype(np.float32))
    np.testing.assert_allclose(y, full, atol=1e-2)
