"""onnxruntime-gpu lists TensorrtExecutionProvider even where TensorRT's library is missing
(seen on an H100 machine with onnxruntime-gpu 1.31.1: a session asked for TensorRT -> CUDA
-> CPU printed "EP Error" on stdout and was retried on CUDA without reelfix's provider
options). reelfix must then leave TensorRT out of `auto` and say why for `tensorrt`."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort
import pytest
from reelfix.errors import DeviceError
from reelfix.runtime import available_devices, clear_session_cache, get_session, providers, providers_for

from tests.onnx_models import make_card, make_sr_model

TRT, CUDA, CPU = "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"


@pytest.fixture
def listed_but_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """onnxruntime lists TensorRT (and CUDA), TensorRT's library cannot be loaded."""
    monkeypatch.setattr(ort, "get_available_providers", lambda: [TRT, CUDA, CPU])
    monkeypatch.setattr(providers, "TRT_LIBRARY", "libreelfix-no-such-library.so.10")


def test_the_library_check_loads_for_real(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(providers, "TRT_LIBRARY", "libreelfix-no-such-library.so.10")
    assert providers.tensorrt_loadable() is False
    monkeypatch.setattr(providers, "TRT_LIBRARY", "libc.so.6")  # present on every glibc Linux
    assert providers.tensorrt_loadable() is True


@pytest.mark.usefixtures("listed_but_missing")
def test_auto_skips_tensorrt_and_tensorrt_says_what_is_missing() -> None:
    assert [p.ort_name for p in providers_for("auto")] == [CUDA, CPU]
    with pytest.raises(DeviceError) as err:
        providers_for("tensorrt")
    assert "libreelfix-no-such-library.so.10 cannot be loaded" in err.value.message and "--device cuda" in str(err.value.hint)
    assert "cannot be loaded" in {r["name"]: r for r in available_devices()}["tensorrt"]["notes"]
    rows = {r["name"]: r for r in available_devices()}
    assert rows["tensorrt"]["available"] is False and rows["auto"]["provider"] == CUDA


def test_auto_keeps_tensorrt_when_its_library_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ort, "get_available_providers", lambda: [TRT, CUDA, CPU])
    monkeypatch.setattr(providers, "tensorrt_loadable", lambda: True)
    assert [p.ort_name for p in providers_for("auto")] == [TRT, CUDA, CPU]


def test_a_session_on_auto_prints_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Here only the CPU provider really exists: listed-but-missing TensorRT must not reach ORT."""
    monkeypatch.setattr(ort, "get_available_providers", lambda: [TRT, CPU])
    monkeypatch.setattr(providers, "TRT_LIBRARY", "libreelfix-no-such-library.so.10")
    clear_session_cache()
    model = make_sr_model(tmp_path / "sr.onnx", scale=2)
    ms = get_session(model, make_card(model, scale=2), "auto")
    assert ms.provider == CPU and [p.ort_name for p in ms.requested] == [CPU]
    assert capsys.readouterr().out == ""
    clear_session_cache()
