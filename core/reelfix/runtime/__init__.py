"""ONNX Runtime: execution providers (one frozen dataclass each, explicit fallback lists)
and model sessions checked against their model card and cached per process."""

from __future__ import annotations

from .providers import (
    DEVICES,
    CoreMLProvider,
    CPUProvider,
    CUDAProvider,
    DirectMLProvider,
    Provider,
    TensorRTProvider,
    available_devices,
    default_threads,
    default_trt_cache,
    providers_for,
)
from .session import ModelSession, clear_session_cache, get_session, session_options, validate_against_card

__all__ = [
    "DEVICES",
    "CPUProvider",
    "CUDAProvider",
    "CoreMLProvider",
    "DirectMLProvider",
    "ModelSession",
    "Provider",
    "TensorRTProvider",
    "available_devices",
    "clear_session_cache",
    "default_threads",
    "default_trt_cache",
    "get_session",
    "providers_for",
    "session_options",
    "validate_against_card",
]
