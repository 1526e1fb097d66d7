"""Precision variants of an fp32 model: int8 for CPUs (VNNI), fp16 for GPUs.

`make_variant("span-x2", "int8")` writes `span-x2-int8.onnx` and its card into the user's
model folder. The card says `precision`, `variant_of` (the fp32 model), `providers` (the
execution providers it is meant for, which the runtime picks it by) and `quality`: its
PSNR against the fp32 model's on held-out photos and its speed, both measured here.

int8 (ONNX Runtime static quantisation, QDQ format, uint8 activations, int8 per-channel
weights, MinMax ranges from calibration photos; see `calibration`):
- Only convolutions are quantised; their activations (sigmoid gates, SiLU, residual adds)
  stay float. Quantising SPAN's gates too ran 2x faster than fp32 but lost 8.7 dB.
- `x * sigmoid(x)` is fused into one QuickGelu(alpha=1) node first: after quantisation each
  consumer gets its own DequantizeLinear, which stops ONNX Runtime's own SiLU fusion, and
  the unfused Mul and Sigmoid took a fifth of the int8 run time.
- The first and last convolutions stay fp32 (the picture's own precision goes in and comes
  out there). Then the sensitive convolutions are found: each one quantised alone, its
  output compared with fp32 on calibration crops; the most damaging are kept fp32 until
  the whole model reproduces fp32 within `FIDELITY_DB` on those crops. In SPAN x2 this
  keeps 12 of 22 fp32, first of all the first block's second convolution (its output, a
  SiLU input, reaches -90 while the useful part is in 0..2).
  Networks with more than `MAX_SCAN` convolutions are scanned coarsely (one convolution at
  a time would take hours): in `GROUPS` runs of consecutive convolutions, each run quantised
  alone, the most damaging runs kept fp32 while the fp32 share of the multiply-adds stays
  within `FP32_BUDGET` (the point of int8 is speed). In Real-ESRGAN x4plus (351
  convolutions: 23 RRDB blocks of 15, then conv_body, two upsampling convolutions, conv_hr,
  conv_last) the runs are the blocks and the tail; the tail (conv_body, the upsampling and
  HR convolutions, 7.6% of the work, at 2x and 4x resolution) is by far the most damaging
  (alone int8: 39.2 dB from fp32 on the probes, a block 45-52 dB). Keeping it fp32 took the
  loss on 10 held-out wallpaper photos from -0.49 to -0.03 dB; no further run fits the
  budget, as every RRDB block costs ~4% and damages about as much as the next.

fp16 (`onnxruntime.transformers.float16`, float32 input and output kept, the first and
last convolutions kept fp32): meant for CUDA/TensorRT. On a CPU, ONNX Runtime runs fp16
through casts, so its speed is not measured without a GPU (the card's notes say so); its
quality is.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import ModelError
from .calibration import calibration_crops, measurement_pairs, quality_against, speed_against
from .card import ModelCard, sha256_of, write_card
from .catalog import ModelEntry, find_model, user_model_dir, verify

Precision = Literal["int8", "fp16"]
PRECISIONS: tuple[str, ...] = ("int8", "fp16")
PROVIDERS: dict[str, tuple[str, ...]] = {
    "int8": ("CPUExecutionProvider",),
    "fp16": ("CUDAExecutionProvider", "TensorrtExecutionProvider", "DmlExecutionProvider"),
}
# int8 vs fp32 PSNR on calibration crops that a variant must reach. A model upscaling at
# ~33 dB loses 10*log10(1 + 10**((33 - F)/10)) dB to an independent error at F dB: 0.1 dB at F = 49.
FIDELITY_DB = 49.0
MAX_SCAN = 64
GROUPS = 24  # runs of consecutive convolutions a network with more than MAX_SCAN is scanned in
FP32_BUDGET = 0.10  # share of the multiply-adds a coarse scan may keep fp32
# how activation ranges are fitted: min/max seen (default), or clipped by histogram
CALIBRATION_METHODS: dict[str, Callable[[Any], Any]] = {
    "minmax": lambda m: m.MinMax, "percentile": lambda m: m.Percentile, "entropy": lambda m: m.Entropy,
}
PROBES = 6  # calibration crops used to judge fidelity while choosing what stays fp32


def variant_name(base: str, precision: str) -> str:
    return f"{base}-{precision}"


def base_sha_note(sha256: str) -> str:
    """What a variant's card `source` carries to tie it to the exact fp32 weights it was made from."""
    return f"fp32 sha256 {sha256}"


@dataclass
class VariantReport:
    card: ModelCard
    onnx_path: Path
    checks: list[str] = field(default_factory=list)
    kept_fp32: list[str] = field(default_factory=list)  # int8: convolutions left fp32


def _session(path: Path | str, provider: str = "CPUExecutionProvider", threads: int = 2) -> Any:
    """A plain ONNX Runtime session (2 CPU threads: the figures stored in cards are for that)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    providers = list(dict.fromkeys([provider, "CPUExecutionProvider"]))
    return ort.InferenceSession(str(path), so, providers=providers)


def _runner(session: Any, card: ModelCard) -> Callable[[np.ndarray], np.ndarray]:
    def run(x: np.ndarray) -> np.ndarray:
        (y,) = session.run([card.output_name], {card.input_name: np.ascontiguousarray(x, dtype=np.float32)})
        return np.asarray(y, dtype=np.float32)

    return run


def _fuse_silu(model: Any) -> int:
    """Replace `Mul(x, Sigmoid(x))` (the Sigmoid used only there) by com.microsoft
    QuickGelu(x, alpha=1), in place: the same function in one node. Returns the count."""
    from onnx import helper

    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    uses: dict[str, int] = {}
    for n in graph.node:
        for i in n.input:
            uses[i] = uses.get(i, 0) + 1
    dropped: set[str] = set()
    for n in graph.node:
        if n.op_type != "Mul" or len(n.input) != 2:
            continue
        for x, s in (tuple(n.input), tuple(reversed(n.input))):
            sig = producer.get(s)
            if sig is not None and sig.op_type == "Sigmoid" and sig.input[0] == x and uses.get(s) == 1:
                dropped.add(s)
                n.op_type, n.domain = "QuickGelu", "com.microsoft"
                n.input[:] = [x]
                n.attribute.append(helper.make_attribute("alpha", 1.0))
                break
    kept = [n for n in graph.node if not (n.op_type == "Sigmoid" and n.output[0] in dropped)]
    del graph.node[:]
    graph.node.extend(kept)
    if dropped and not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return len(dropped)


class _Int8Builder:
    """Quantises one prepared model with calibration ranges computed once (cached)."""

    def __init__(self, src: Path, card: ModelCard, crops: list[np.ndarray], work: Path, method: str = "minmax") -> None:
        import onnx
        from onnxruntime.quantization.shape_inference import quant_pre_process

        self.card, self.crops, self.work, self.method = card, crops, work, method
        pre = work / "pre.onnx"
        try:
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        except Exception as exc:  # noqa: BLE001 - onnx/ORT raise many types
            raise ModelError(f"cannot prepare {src} for quantisation: {exc}", hint="re-export the model with opset >= 13") from None
        model = onnx.load(str(pre))
        for i, node in enumerate(model.graph.node):
            node.name = node.name or f"{node.op_type}_{i}"
        self.fused = _fuse_silu(model)
        self.prepared = work / "prepared.onnx"
        onnx.save_model(model, str(self.prepared))
        self.convs = [n.name for n in model.graph.node if n.op_type == "Conv"]
        if not self.convs:
            raise ModelError(f"model {src} has no convolution to quantise", hint="int8 variants are for convolutional networks")
        self.cache = work / "ranges.json"
        self.probes = crops[:: max(1, len(crops) // PROBES)][:PROBES]
        fp32 = _runner(_session(src), card)
        self.references = [np.clip(fp32(x), 0.0, 1.0) for x in self.probes]

    def quantize(self, out: Path, *, exclude: Sequence[str] = (), only: Sequence[str] | None = None) -> Path:
        from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

        crops, name = self.crops, self.card.input_name

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self.it = iter(crops)

            def get_next(self) -> dict[str, np.ndarray] | None:
                x = next(self.it, None)
                return None if x is None else {name: x}

        try:
            quantize_static(
                str(self.prepared), str(out), Reader(), quant_format=QuantFormat.QDQ, op_types_to_quantize=["Conv"],
                per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                nodes_to_quantize=list(only) if only is not None else None, nodes_to_exclude=list(exclude),
                calibrate_method=CALIBRATION_METHODS[self.method](CalibrationMethod), calibration_cache_path=str(self.cache),
            )  # fmt: skip
        except (ValueError, RuntimeError, MemoryError) as exc:  # ORT's quantiser reports problems this way
            raise ModelError(
                f"quantising model '{self.card.name}' failed: {exc}",
                hint="try --calibration with a few frames of the size you restore, or another calibration method",
            ) from None
        return out

    def fidelity(self, path: Path) -> float:
        """PSNR (dB) of a quantised model's output against fp32 on the probe crops."""
        run = _runner(_session(path), self.card)
        mse = np.mean([np.mean((np.clip(run(x), 0, 1) - r) ** 2, dtype=np.float64) for x, r in zip(self.probes, self.references)])
        return 99.0 if mse <= 1e-10 else float(10 * np.log10(1 / mse))

    def build(
        self, out: Path, keep_fp32: Sequence[str] | None, log: Callable[[str], None], target_db: float = FIDELITY_DB
    ) -> tuple[list[str], list[str]]:
        """Write the int8 model to `out`; returns (convolutions kept fp32, check lines)."""
        ends = [self.convs[0], self.convs[-1]] if len(self.convs) > 1 else [self.convs[0]]
        checks = [f"SiLU x*sigmoid(x) fused into QuickGelu: {self.fused}"] if self.fused else []
        if keep_fp32 is not None:
            unknown = [n for n in keep_fp32 if n not in self.convs]
            if unknown:
                raise ModelError(f"--keep-fp32 {unknown[0]!r} is not a convolution of the model", hint=f"convolutions: {', '.join(self.convs[:8])} ...")
            kept = list(dict.fromkeys([*ends, *keep_fp32]))
        else:
            kept = self._scan(out, list(dict.fromkeys(ends)), log, checks, target_db)
        if len(kept) == len(self.convs):
            raise ModelError(
                f"model '{self.card.name}': no convolution can be int8 within {target_db:g} dB of fp32",
                hint="an int8 variant would be the fp32 model; lower --target-db or keep fewer layers fp32",
            )
        self.quantize(out, exclude=kept)
        fid = self.fidelity(out)
        checks.append(f"int8 {len(self.convs) - len(kept)} of {len(self.convs)} convolutions; fp32 kept: {', '.join(kept)}")
        checks.append(f"fidelity on calibration crops: {fid:.1f} dB against fp32 (target {target_db:g})")
        return kept, checks

    def _scan(self, out: Path, kept: list[str], log: Callable[[str], None], checks: list[str], target_db: float) -> list[str]:
        candidates = [c for c in self.convs if c not in kept]
        if not candidates:
            return kept
        coarse = len(candidates) > MAX_SCAN
        units = _runs(candidates, GROUPS) if coarse else [[c] for c in candidates]
        cost = _conv_costs(self.prepared) if coarse else {}
        budget = FP32_BUDGET * sum(cost.values()) if coarse else float("inf")
        spent = sum(cost.get(c, 0.0) for c in kept)
        log(f"measuring the int8 sensitivity of {len(candidates)} convolutions" + (f" in {len(units)} runs" if coarse else ""))
        loss = [self.fidelity(self.quantize(out, only=u)) for u in units]
        order = [units[i] for i in sorted(range(len(units)), key=lambda i: loss[i])]
        alone = {u[0]: f for u, f in zip(units, loss)}
        fid = self.fidelity(self.quantize(out, exclude=kept))
        while fid < target_db and order:
            unit = order.pop(0)
            extra = sum(cost.get(c, 0.0) for c in unit)
            if spent + extra > budget:
                continue
            kept.extend(unit)
            spent += extra
            fid = self.fidelity(self.quantize(out, exclude=kept))
            span = unit[0] + (f" .. {unit[-1]}" if len(unit) > 1 else "")
            log(f"  keeping {span} fp32 (alone int8: {alone[unit[0]]:.1f} dB) -> {fid:.1f} dB")
        if coarse:
            share = spent / max(sum(cost.values()), 1e-9)
            checks.append(
                f"coarse sensitivity scan: {len(units)} runs of up to {len(units[0])} convolutions; "
                f"fp32 kept: {share:.1%} of the multiply-adds (budget {FP32_BUDGET:.0%})"
            )
        return kept


def _runs(names: list[str], groups: int) -> list[list[str]]:
    """`names` in at most `groups` runs of consecutive names, all but the last of equal length."""
    size = -(-len(names) // max(1, groups))
    return [names[i : i + size] for i in range(0, len(names), size)]


def _conv_costs(path: Path, hw: int = 64) -> dict[str, float]:
    """Multiply-adds of each convolution on an hw x hw input (by shape inference): what keeping
    it fp32 costs. Upscalers work at 2x and 4x resolution at the end, where a convolution of
    the same weights costs 4x and 16x more."""
    import onnx

    model = onnx.load(str(path))
    for d in model.graph.input[0].type.tensor_type.shape.dim[:1]:
        d.dim_value = 1
    for d in model.graph.input[0].type.tensor_type.shape.dim[2:]:
        d.dim_value = hw
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in [*inferred.graph.value_info, *inferred.graph.output]}
    weights = {t.name: list(t.dims) for t in model.graph.initializer}
    cost = {}
    for n in model.graph.node:
        if n.op_type == "Conv":
            w, y = weights.get(n.input[1]), shapes.get(n.output[0], [])
            cost[n.name] = float(np.prod(w) * np.prod(y[2:])) if w and len(y) == 4 and all(y[2:]) else 0.0
    return cost


def _build_fp16(src: Path, out: Path) -> list[str]:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(src))
    convs = [n.name for n in model.graph.node if n.op_type == "Conv" and n.name]
    keep = list(dict.fromkeys([convs[0], convs[-1]])) if convs else []
    half = convert_float_to_float16(model, keep_io_types=True, node_block_list=keep)
    onnx.save_model(half, str(out))
    return [f"fp16 with float32 input/output; fp32 kept: {', '.join(keep) or 'none'}"]


def _gpu_provider() -> str | None:
    import onnxruntime as ort

    have = ort.get_available_providers()
    return next((p for p in PROVIDERS["fp16"] if p in have), None)


def make_variant(
    name: str,
    precision: str,
    *,
    calibration: Path | None = None,
    dest: Path | None = None,
    force: bool = False,
    keep_fp32: Sequence[str] | None = None,
    target_db: float = FIDELITY_DB,
    method: str = "minmax",
    crop_size: int = 96,
    measure_size: int = 192,
    speed_hw: tuple[int, int] = (270, 480),
    log: Callable[[str], None] = lambda _: None,
) -> VariantReport:
    """Build, measure and install `NAME-PRECISION` from the fp32 model NAME (see module docstring)."""
    if precision not in PRECISIONS:
        raise ModelError(f"unknown precision {precision!r}", hint=f"use one of {', '.join(PRECISIONS)}")
    if method not in CALIBRATION_METHODS:
        raise ModelError(f"unknown calibration method {method!r}", hint=f"use one of {', '.join(CALIBRATION_METHODS)}")
    entry: ModelEntry = find_model(name)
    base = entry.card
    if base.precision != "fp32" or base.variant_of:
        raise ModelError(
            f"model '{base.name}' is a {base.precision} variant of '{base.variant_of}'",
            hint=f"make variants from the fp32 model: `reelfix models variant {base.variant_of or base.name} --{precision}`",
        )
    src = verify(entry)
    dest = Path(dest) if dest is not None else user_model_dir()
    vname = variant_name(base.name, precision)
    target = dest / f"{vname}.onnx"
    if target.exists() and not force:
        raise ModelError(f"{target} already exists", hint="pass --force to rebuild it")
    crops = calibration_crops(calibration, size=crop_size, colorspace=base.colorspace, input_range=base.input_range) if precision == "int8" else []
    kept: list[str] = []
    with tempfile.TemporaryDirectory(prefix="reelfix-variant-") as tmp:
        work = Path(tmp)
        built = work / f"{vname}.onnx"
        if precision == "int8":
            log(f"calibrating ({method}) on {len(crops)} crops from {calibration or 'the built-in photos'}")
            kept, checks = _Int8Builder(src, base, crops, work, method).build(built, keep_fp32, log, target_db)
        else:
            checks = _build_fp16(src, built)
        quality, notes = _measure(src, built, base, precision, measure_size, speed_hw, log)
        checks.append(
            f"quality on {int(quality['photos'])} held-out photos: {quality['psnr_delta_db']:+.3f} dB against fp32 "
            f"({quality['psnr_vs_fp32_db']:.1f} dB from fp32's output)"
        )
        if "speed_vs_fp32" in quality:
            checks.append(f"speed: {quality['speed_vs_fp32']:.2f}x fp32 ({speed_hw[1]}x{speed_hw[0]} input)")
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, target)
    source = "calibration folder " + str(calibration) if calibration is not None else "built-in scikit-image photos"
    card = base.model_copy(
        update={
            "name": vname, "file": target.name, "precision": precision, "variant_of": base.name,
            "providers": PROVIDERS[precision], "quality": quality, "sha256": sha256_of(target),
            "fp16_safe": precision == "fp16", "source": f"{base.source}; {precision} variant made by `reelfix models variant` from {base_sha_note(base.sha256)}",
            "notes": f"{precision} variant of {base.name} ({'; '.join(checks)}). "
            + (f"Calibrated ({method}) on {source}. " if precision == "int8" else "") + notes,
        }
    )  # fmt: skip
    write_card(card, dest)
    return VariantReport(card, target, checks, kept)


def _measure(
    src: Path, built: Path, card: ModelCard, precision: str, size: int, speed_hw: tuple[int, int], log: Callable[[str], None]
) -> tuple[dict[str, float], str]:
    """Quality on held-out photos (and speed where the variant's provider is here)."""
    gpu = _gpu_provider() if precision == "fp16" else None
    provider = gpu or "CPUExecutionProvider"
    log(f"measuring quality on held-out photos ({provider})")
    base_run, var_run = _runner(_session(src, provider), card), _runner(_session(built, provider), card)
    quality = quality_against(base_run, var_run, measurement_pairs(card.scale, size=size))
    if precision == "fp16" and gpu is None:
        return quality, "Quality measured on the CPU; speed not measured: no GPU provider here (fp16 on a CPU runs through casts)."
    log(f"measuring speed on a {speed_hw[1]}x{speed_hw[0]} input")
    x = np.random.default_rng(0).random((1, card.channels, *speed_hw), dtype=np.float32)
    quality.update(speed_against(base_run, var_run, x))
    return quality, f"Quality and speed measured with {provider}" + (", 2 threads." if provider.startswith("CPU") else ".")
