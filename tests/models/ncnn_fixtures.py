"""Write small ncnn `.param`/`.bin` pairs for tests, and run them in ncnn and ONNX Runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

FP16_TAG = 0x01306B47


def _format_value(value: float | int) -> str:
    return f"{value:e}" if isinstance(value, float) else str(int(value))


class NcnnWriter:
    """Collects layers and their weights, then writes a `.param`/`.bin` pair.

    Weights are given as (storage, array) with storage one of "fp32" (tagged fp32),
    "fp16" (tagged fp16, rounded), "table" (tagged 8-bit lookup table) or "raw" (untagged
    fp32: biases, slopes, MemoryData).
    """

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.lines: list[str] = []
        self.bin = bytearray()
        self.blobs: list[str] = []

    def layer(
        self,
        kind: str,
        name: str,
        inputs: Sequence[str],
        outputs: Sequence[str],
        params: dict[int, float | int | Sequence[float | int]] | None = None,
        weights: Sequence[tuple[str, np.ndarray]] = (),
    ) -> None:
        items = []
        for key, value in (params or {}).items():
            if isinstance(value, (list, tuple)):
                items.append(f"{-23300 - key}={len(value)}," + ",".join(_format_value(v) for v in value))
            else:
                items.append(f"{key}={_format_value(value)}")
        self.lines.append(" ".join([kind, name, str(len(inputs)), str(len(outputs)), *inputs, *outputs, *items]))
        for blob in [*inputs, *outputs]:
            if blob not in self.blobs:
                self.blobs.append(blob)
        for storage, array in weights:
            self._write_weights(storage, np.asarray(array, np.float32).ravel())

    def _write_weights(self, storage: str, data: np.ndarray) -> None:
        if storage == "raw":
            self.bin += data.astype("<f4").tobytes()
        elif storage == "fp32":
            self.bin += (0).to_bytes(4, "little") + data.astype("<f4").tobytes()
        elif storage == "fp16":
            payload = data.astype("<f2").tobytes()
            self.bin += FP16_TAG.to_bytes(4, "little") + payload + b"\0" * (-len(payload) % 4)
        elif storage == "table":
            table = np.linspace(data.min(), data.max(), 256, dtype=np.float32)
            index = np.abs(data[:, None] - table[None]).argmin(axis=1).astype(np.uint8)
            self.bin += bytes([1, 0, 0, 0]) + table.astype("<f4").tobytes() + index.tobytes() + b"\0" * (-len(index) % 4)
        else:
            raise ValueError(storage)

    # -- conveniences -------------------------------------------------------------------

    def input(self, blob: str = "data") -> None:
        self.layer("Input", "input", [], [blob])

    def conv(
        self,
        name: str,
        src: str,
        dst: str,
        cin: int,
        cout: int,
        k: int = 3,
        *,
        storage: str = "fp32",
        kind: str = "Convolution",
        group: int = 1,
        bias: bool = True,
        extra: dict[int, float | int | Sequence[float]] | None = None,
    ) -> None:
        """A convolution-like layer with random weights (pad k//2 unless `extra` says otherwise)."""
        per_group = cin // group
        kh = int((extra or {}).get(11, k))
        size = cout * per_group * kh * k
        params: dict = {0: cout, 1: k, 4: k // 2, 5: int(bias), 6: size}
        if kind.endswith("DepthWise"):
            params[7] = group
        params.update(extra or {})
        weight = self.rng.normal(0.0, 1.0 / np.sqrt(per_group * kh * k), size)
        weights = [(storage, weight)] + ([("raw", self.rng.normal(0.0, 0.1, cout))] if bias else [])
        self.layer(kind, name, [src], [dst], params, weights)

    def write(self, folder: Path, stem: str = "net") -> tuple[Path, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        param, bin_ = folder / f"{stem}.param", folder / f"{stem}.bin"
        param.write_text(f"7767517\n{len(self.lines)} {len(self.blobs)}\n" + "\n".join(self.lines) + "\n")
        bin_.write_bytes(bytes(self.bin))
        return param, bin_


def run_ncnn(param: Path, bin_: Path, image: np.ndarray, input_blob: str = "data", output_blob: str = "out") -> np.ndarray:
    """The ncnn runtime's fp32 CPU result for one CHW image."""
    import ncnn

    net = ncnn.Net()
    for option in ("use_vulkan_compute", "use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic", "use_bf16_storage"):
        setattr(net.opt, option, False)
    net.opt.num_threads = 1
    assert net.load_param(str(param)) == 0 and net.load_model(str(bin_)) == 0
    image = np.ascontiguousarray(image, dtype=np.float32)
    mat = ncnn.Mat(image)  # no copy: `image` must outlive the extraction
    extractor = net.create_extractor()
    extractor.input(input_blob, mat)
    ret, out = extractor.extract(output_blob)
    assert ret == 0, f"ncnn extract failed ({ret})"
    return np.array(out, copy=True)


def run_ort(onnx_path: Path, image: np.ndarray) -> np.ndarray:
    """ONNX Runtime's CPU result for one CHW image (batch of one)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    return session.run(["output"], {"input": image[None].astype(np.float32)})[0][0]
