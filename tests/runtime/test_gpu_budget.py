"""The GPU tile budget: REELFIX_GPU_MEMORY, the card's memory from nvidia-smi (a real
executable on PATH standing in for it), the fallback, and a clear error for a bad value."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from reelfix.errors import UserError
from reelfix.runtime import providers


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    providers.gpu_memory_budget.cache_clear()
    monkeypatch.delenv("REELFIX_GPU_MEMORY", raising=False)
    yield
    providers.gpu_memory_budget.cache_clear()


def _fake_smi(folder: Path, body: str) -> None:
    exe = folder / "nvidia-smi"
    exe.write_text("#!/bin/sh\n" + body)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)


def test_half_the_cards_memory_from_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_smi(tmp_path, 'case "$*" in *memory.total*) echo 81559 ;; *) exit 1 ;; esac\n')
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert providers.gpu_memory_budget() == 81559 * 1024**2 // 2


def test_environment_wins_and_a_bad_value_says_what_to_write(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REELFIX_GPU_MEMORY", "12GB")
    assert providers.gpu_memory_budget() == 12 * 1024**3
    providers.gpu_memory_budget.cache_clear()
    monkeypatch.setenv("REELFIX_GPU_MEMORY", "lots")
    with pytest.raises(UserError, match="REELFIX_GPU_MEMORY='lots'") as err:
        providers.gpu_memory_budget()
    assert "12GB" in str(err.value)


def test_fallback_without_nvidia_smi_or_when_it_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    assert providers.gpu_memory_budget() == providers.GPU_MEMORY_FALLBACK
    providers.gpu_memory_budget.cache_clear()
    _fake_smi(tmp_path, "echo 'NVIDIA-SMI has failed' >&2; exit 9\n")
    assert providers.gpu_memory_budget() == providers.GPU_MEMORY_FALLBACK
