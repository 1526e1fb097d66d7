"""Execution providers: one frozen dataclass per ONNX Runtime EP, and the explicit
fallback lists a device name resolves to.

Device names (`DEVICES`) are what users type (`--device cuda`); each resolves to an
ordered list of providers that always ends with the CPU, e.g. `cuda` ->
[CUDAProvider(), CPUProvider()]. ONNX Runtime tries them in order per graph node.

Environment:
- `REELFIX_THREADS`: intra-op threads for the CPU provider (default: the physical cores
  this process may run on; see `default_threads`).
- `REELFIX_CACHE`: cache root; TensorRT engines go to `$REELFIX_CACHE/trt`
- `REELFIX_GPU_MEMORY`: GPU memory (bytes, or e.g. `12GB`) a model's tiles may use on a
  CUDA/TensorRT device (default: half of the card's memory, as `nvidia-smi` reports it;
  4 GB when it cannot be asked)
  (default `~/.cache/reelfix/trt`).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from functools import lru_cache
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DeviceError, UserError

DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "tensorrt", "dml", "coreml")

_GPU_HINT = (
    "install the GPU build in place of the CPU one: `pip uninstall onnxruntime && pip install reelfix[gpu]` "
    "(needs NVIDIA driver, CUDA and cuDNN 9), then check with `reelfix devices`"
)


def _flag(value: bool) -> str:
    return "True" if value else "False"


def default_threads() -> int:
    """Intra-op threads for CPU inference.

    `REELFIX_THREADS` wins when set (a whole number >= 1). Otherwise: the CPUs this process
    may run on (`os.sched_getaffinity`, else `os.cpu_count`), reduced to physical cores when
    psutil reports hyper-threading (two logical CPUs per core: ORT's compute kernels gain
    nothing from the sibling threads and lose to the contention).
    """
    env = os.environ.get("REELFIX_THREADS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            n = 0
        if n < 1:
            raise UserError(
                f"REELFIX_THREADS={env!r} is not a whole number >= 1",
                hint="set it to the number of CPU threads to use (e.g. 4) or unset it",
            )
        return n
    logical = os.cpu_count() or 1
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else logical
    try:
        import psutil

        physical = psutil.cpu_count(logical=False) or logical
    except ImportError:  # psutil is a dev extra; without it assume no SMT
        physical = logical
    per_core = max(1, round(logical / max(1, physical)))
    return max(1, allowed // per_core)


def default_trt_cache() -> str:
    """Folder for TensorRT engine/timing caches: `$REELFIX_CACHE/trt` or `~/.cache/reelfix/trt`."""
    root = os.environ.get("REELFIX_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "reelfix"
    return str(base / "trt")


@dataclass(frozen=True)
class CPUProvider:
    """ONNX Runtime's default CPU kernels. `threads` None -> `default_threads()` at session creation."""

    threads: int | None = None
    ort_name = "CPUExecutionProvider"

    def ort_options(self) -> dict[str, str]:
        return {}  # threads are a session option, set by the session builder

    def resolved_threads(self) -> int:
        return self.threads if self.threads and self.threads > 0 else default_threads()


@dataclass(frozen=True)
class CUDAProvider:
    """NVIDIA CUDA/cuDNN (onnxruntime-gpu). The arena grows only as requested, so tiles of a
    new size do not double the GPU memory reserved."""

    device_id: int = 0
    conv_algo_search: str = "EXHAUSTIVE"  # tiles share one shape, so the search runs once
    ort_name = "CUDAExecutionProvider"

    def ort_options(self) -> dict[str, str]:
        return {
            "device_id": str(self.device_id),
            "arena_extend_strategy": "kSameAsRequested",
            "cudnn_conv_algo_search": self.conv_algo_search,
        }


@dataclass(frozen=True)
class TensorRTProvider:
    """NVIDIA TensorRT (onnxruntime-gpu + TensorRT libraries). The first run per input shape
    builds an engine (can take minutes); engines and timing caches are kept in
    `engine_cache` (default `default_trt_cache()`), so later runs start fast."""

    device_id: int = 0
    fp16: bool = False
    engine_cache: str | None = None
    ort_name = "TensorrtExecutionProvider"

    def cache_dir(self) -> str:
        return self.engine_cache or default_trt_cache()

    def ort_options(self) -> dict[str, str]:
        cache = self.cache_dir()
        return {
            "device_id": str(self.device_id),
            "trt_fp16_enable": _flag(self.fp16),
            "trt_engine_cache_enable": "True",
            "trt_engine_cache_path": cache,
            "trt_timing_cache_enable": "True",
            "trt_timing_cache_path": cache,
        }


@dataclass(frozen=True)
class DirectMLProvider:
    """DirectML on Windows (any DX12 GPU; package onnxruntime-directml)."""

    device_id: int = 0
    ort_name = "DmlExecutionProvider"

    def ort_options(self) -> dict[str, str]:
        return {"device_id": str(self.device_id)}


@dataclass(frozen=True)
class CoreMLProvider:
    """Apple CoreML (macOS builds of onnxruntime)."""

    ort_name = "CoreMLExecutionProvider"

    def ort_options(self) -> dict[str, str]:
        return {}


GPU_PROVIDERS = frozenset({"CUDAExecutionProvider", "TensorrtExecutionProvider"})
GPU_MEMORY_FALLBACK = 4 * 1024**3


@lru_cache(maxsize=4)
def gpu_memory_budget(device_id: int = 0) -> int:
    """Bytes of GPU memory a model's tiles may use on an NVIDIA device: `REELFIX_GPU_MEMORY`,
    else half the card's memory (the rest: the CUDA context, cuDNN workspaces, other
    programs), else 4 GB. The job's `max_memory` is a budget of host memory: on a GPU the
    model's working memory is not there, and sizing GPU tiles by it cut a 1080p frame into
    8 tiles and a 4K x4 frame into 2040 (docs/BENCHMARKS.md, GPU section)."""
    env = os.environ.get("REELFIX_GPU_MEMORY", "").strip()
    if env:
        from ..jobs.spec import parse_memory

        try:
            return parse_memory(env)
        except UserError as exc:
            raise UserError(f"REELFIX_GPU_MEMORY={env!r}: {exc.message}", hint="write it like 12GB, or unset it") from None
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run(
                [smi, f"--id={device_id}", "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                capture_output=True, text=True, timeout=10, check=True,
            ).stdout.strip()
            return int(float(out.splitlines()[0]) * 1024**2) // 2
        except (OSError, subprocess.SubprocessError, ValueError, IndexError):
            pass
    return GPU_MEMORY_FALLBACK


# TensorRT's own library, which onnxruntime's TensorRT provider plugin links against
TRT_LIBRARY = "nvinfer_10.dll" if sys.platform == "win32" else "libnvinfer.so.10"

Provider = CPUProvider | CUDAProvider | TensorRTProvider | DirectMLProvider | CoreMLProvider

_INSTALL_HINTS: dict[str, str] = {
    "cuda": _GPU_HINT,
    "tensorrt": _GPU_HINT + "; TensorRT 10 libraries must also be on the library path",
    "dml": "on Windows install `onnxruntime-directml` in place of `onnxruntime`, then check with `reelfix devices`",
    "coreml": "CoreML is in the macOS builds of onnxruntime only; check with `reelfix devices`",
}


def tensorrt_loadable() -> bool:
    """Whether TensorRT's library can be loaded here (the same library search ORT's plugin uses)."""
    try:
        ctypes.CDLL(TRT_LIBRARY)
    except OSError:
        return False
    return True


def _available() -> list[str]:
    """ORT's available providers, less TensorRT where its library cannot be loaded.

    onnxruntime-gpu lists TensorrtExecutionProvider whenever its plugin is in the wheel, with
    or without TensorRT installed. A session asked for it then fails to create, and ORT prints
    "EP Error" on stdout and retries with CUDA and CPU without reelfix's provider options
    (device id, arena strategy): so `auto` must not ask for TensorRT there.
    """
    import onnxruntime as ort

    have = list(ort.get_available_providers())
    if TensorRTProvider.ort_name in have and not tensorrt_loadable():
        have.remove(TensorRTProvider.ort_name)
    return have


def _trt_missing() -> str:
    return (
        f"onnxruntime lists TensorrtExecutionProvider, but TensorRT's library {TRT_LIBRARY} cannot be loaded: install "
        "TensorRT 10 and put its library folder on the library path (LD_LIBRARY_PATH on Linux, PATH on Windows)"
    )



def _listed_by_ort(name: str) -> bool:
    import onnxruntime as ort

    return name in ort.get_available_providers()


def providers_for(device: str, *, fp16: bool = False, threads: int | None = None) -> list[Provider]:
    """The ordered provider list for a device name; always ends with the CPU.

    - auto: TensorRT -> CUDA -> CPU, else DirectML -> CPU, else CoreML -> CPU, else CPU,
      depending on what `onnxruntime.get_available_providers()` lists.
    - cpu: CPU only. cuda: CUDA -> CPU. tensorrt: TensorRT -> CUDA -> CPU.
      dml: DirectML -> CPU. coreml: CoreML -> CPU.

    `fp16` enables TensorRT's fp16 kernels (pass the card's `fp16_safe`). Raises
    DeviceError for an unknown device name or one whose provider is not installed.
    """
    name = device.strip().lower()
    cpu = CPUProvider(threads=threads)
    if name not in DEVICES:
        raise DeviceError(
            f"unknown device {device!r}",
            hint=f"use one of {', '.join(DEVICES)}; `reelfix devices` lists what works here",
        )
    have = set(_available())
    trt, cuda = TensorRTProvider(fp16=fp16), CUDAProvider()
    chains: dict[str, list[Provider]] = {
        "cpu": [cpu],
        "cuda": [cuda, cpu],
        "tensorrt": [trt, cuda, cpu],
        "dml": [DirectMLProvider(), cpu],
        "coreml": [CoreMLProvider(), cpu],
    }
    if name == "auto":
        chain: list[Provider] = [p for p in (trt, cuda) if p.ort_name in have]
        if not chain:
            others: list[Provider] = [DirectMLProvider(), CoreMLProvider()]
            chain = [p for p in others if p.ort_name in have][:1]
        return [*chain, cpu]
    wanted = chains[name][0]
    if isinstance(wanted, TensorRTProvider) and wanted.ort_name not in have and _listed_by_ort(wanted.ort_name):
        raise DeviceError(f"device 'tensorrt': {_trt_missing()}", hint="or use --device cuda; check with `reelfix devices`")
    if wanted.ort_name not in have:
        raise DeviceError(
            f"device {name!r} needs ONNX Runtime's {wanted.ort_name}, which this installation does not have "
            f"(it has: {', '.join(sorted(have)) or 'none'})",
            hint=_INSTALL_HINTS.get(name, "run `reelfix devices`"),
        )
    return [p for p in chains[name] if p.ort_name in have or isinstance(p, CPUProvider)]


def available_devices() -> list[dict[str, Any]]:
    """One row per device name for `reelfix devices`: name, provider, available, notes."""
    import onnxruntime as ort

    have = set(_available())
    threads = default_threads()
    rows: list[dict[str, Any]] = []
    auto = providers_for("auto")
    rows.append(
        {
            "name": "auto",
            "provider": auto[0].ort_name,
            "available": True,
            "notes": "tries " + " -> ".join(p.ort_name for p in auto),
        }
    )
    examples: dict[str, Provider] = {
        "cpu": CPUProvider(),
        "cuda": CUDAProvider(),
        "tensorrt": TensorRTProvider(),
        "dml": DirectMLProvider(),
        "coreml": CoreMLProvider(),
    }
    for name, prov in examples.items():
        ok = prov.ort_name in have
        if name == "cpu":
            notes = (
                f"onnxruntime {ort.__version__} ({ort.get_device()}), {threads} intra-op threads "
                f"({os.cpu_count()} logical CPUs; set REELFIX_THREADS to change)"
            )
        elif name == "tensorrt" and ok:
            notes = f"engine cache {default_trt_cache()}; first run per tile size builds an engine"
        elif ok:
            notes = f"onnxruntime {ort.__version__}"
        elif name == "tensorrt" and _listed_by_ort(prov.ort_name):
            notes = _trt_missing()
        else:
            notes = _INSTALL_HINTS[name]
        rows.append({"name": name, "provider": prov.ort_name, "available": ok, "notes": notes})
    return rows
