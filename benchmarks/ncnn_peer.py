"""The speed peer for reelfix's ONNX Runtime models: the same network in the ncnn runtime on CPU.

`run_ncnn` runs an ncnn `.param`/`.bin` pair in fp32 (no fp16/bf16 storage or arithmetic,
no Vulkan), so its output matches the converted ONNX model and the timing is a fair
like-for-like CPU comparison. Needs the `ncnn` Python package (the `dev` extra).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np


@lru_cache(maxsize=8)
def _load_net(param: str, bin_: str, threads: int) -> Any:
    """An ncnn.Net set up for fp32 CPU inference with `threads` threads (cached per model)."""
    import ncnn  # imported here so the module can be imported without ncnn installed

    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.use_fp16_packed = False
    net.opt.use_fp16_storage = False
    net.opt.use_fp16_arithmetic = False
    net.opt.use_bf16_storage = False
    net.opt.num_threads = threads
    if net.load_param(param) != 0 or net.load_model(bin_) != 0:
        raise RuntimeError(f"ncnn could not load {param} / {bin_}")
    return net


@lru_cache(maxsize=8)
def _blob_names(param: str) -> tuple[str, str]:
    """The input blob (of the Input layer) and the output blob (produced, never read)."""
    lines = [line.split() for line in Path(param).read_text().splitlines()[2:] if line.strip()]
    produced: list[str] = []
    consumed: set[str] = set()
    input_blob = None
    for tokens in lines:
        n_in, n_out = int(tokens[2]), int(tokens[3])
        ins, outs = tokens[4 : 4 + n_in], tokens[4 + n_in : 4 + n_in + n_out]
        if tokens[0] == "Input":
            input_blob = outs[0]
        consumed.update(ins)
        produced.extend(outs)
    outputs = [blob for blob in produced if blob not in consumed]
    if input_blob is None or len(outputs) != 1:
        raise RuntimeError(f"{param}: expected one Input layer and one output blob")
    return input_blob, outputs[0]


def run_ncnn(param: str | Path, bin: str | Path, image_chw_float32: np.ndarray, threads: int) -> np.ndarray:
    """Run one CHW float32 image through an ncnn model on the CPU; returns the CHW output.

    The network is loaded once per (param, bin, threads) and reused, so repeated calls time
    inference only (plus ncnn's per-call extractor set-up, which is part of its normal use).
    """
    import ncnn

    param, bin_ = str(param), str(bin)
    net = _load_net(param, bin_, int(threads))
    input_blob, output_blob = _blob_names(param)
    image = np.ascontiguousarray(image_chw_float32, dtype=np.float32)
    mat = ncnn.Mat(image)  # wraps `image` without copying: keep `image` alive until extract returns
    extractor = net.create_extractor()
    extractor.input(input_blob, mat)
    ret, out = extractor.extract(output_blob)
    if ret != 0:
        raise RuntimeError(f"ncnn extract failed with code {ret} for {param}")
    result = np.array(out, copy=True)
    del extractor, mat
    return result
