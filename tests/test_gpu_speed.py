"""benchmarks/gpu_speed: exits cleanly without a GPU, and its routes measure the right things
(run on the CPU provider here; the GPU figures come from a lent GPU machine, docs/BENCHMARKS.md)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import onnxruntime as ort
import pytest

from benchmarks import gpu_routes, gpu_speed

ROOT = Path(__file__).resolve().parents[1]
needs_no_cuda = pytest.mark.skipif(
    "CUDAExecutionProvider" in ort.get_available_providers(), reason="this machine has CUDA: the benchmark would run"
)


@needs_no_cuda
def test_without_cuda_it_says_so_and_exits_0_quickly() -> None:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "benchmarks.gpu_speed"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "CUDAExecutionProvider not available" in r.stdout
    assert "Traceback" not in r.stderr
    assert time.perf_counter() - t0 < 10


@needs_no_cuda
def test_main_returns_the_reason() -> None:
    result = gpu_speed.main([])
    assert set(result) == {"skipped"} and "CUDAExecutionProvider not available" in result["skipped"]


def test_reelfix_route_tiles_as_the_upscale_node_does() -> None:
    """The benchmark's reelfix route uses the node's own tile choice (host budget on the CPU,
    the GPU budget on CUDA), not a copy of it."""
    from reelfix.models.catalog import find_model
    from reelfix.nodes import upscale

    card = find_model("span-x2").card
    for provider in ("CPUExecutionProvider", "CUDAExecutionProvider"):
        assert gpu_routes.tile_for(card, 1080, 1920, 2 * 1024**3, provider) == upscale.tiling_for(card, 1080, 1920, provider, 2 * 1024**3)


def test_every_route_on_the_cpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("REELFIX_HOME", str(tmp_path))  # no fp16 variant installed: its route is left out
    args = ["--provider", "cpu", "--inprocess", "--models", "span-x2", "--height", "32", "--width", "48",
            "--big-height", "40", "--big-width", "70", "--repeats", "1", "--cpu-repeats", "1", "--budgets-gb", "0.0005"]  # fmt: skip
    r = gpu_speed.main(args)
    rows = r["rows"]
    assert {"span-x2/ort-fp32/hd", "span-x2/reelfix-0.0005GB/uhd", "span-x2/cpu-fp32/hd", "span-x2/breakdown/hd"} <= set(rows)
    tiled = rows["span-x2/reelfix-0.0005GB/uhd"]
    assert tiled["tiles"] > 1 and tiled["provider"] == "CPUExecutionProvider"  # a budget this small forces tiles
    assert rows["span-x2/breakdown/hd"]["run_tiled_whole_hwc_ms"] > 0
    agree = {g["what"]: g for g in r["agreement"]}
    assert agree["CUDA fp32 vs CPU fp32"]["max_abs"] == 0  # both on the CPU here: the same kernels
    tiles_vs_whole = agree["reelfix tiled vs whole frame, CUDA fp32, 70x40"]
    assert tiles_vs_whole["max_abs"] < 1e-5 and tiles_vs_whole["psnr_db"] > 100
    text = "\n".join(gpu_speed.markdown(r))
    assert "| span-x2 | reelfix-0.0005GB | 70x40 |" in text and "python -m benchmarks.gpu_speed" in text


@needs_no_cuda
def test_section_keeps_the_figures_a_gpu_machine_wrote(tmp_path: Path) -> None:
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text("# B\n\n## CPU\n\nx\n\n## GPU (CUDA / TensorRT)\n\nH100 figures\n\n| a |\n\n## Later\n\ny\n")
    assert gpu_speed.section(doc) == ["## GPU (CUDA / TensorRT)", "", "H100 figures", "", "| a |", ""]
    doc.write_text("# B\n")
    lines = gpu_speed.section(doc)
    assert lines[0] == "## GPU (CUDA / TensorRT)" and "CUDAExecutionProvider not available" in lines[2]
