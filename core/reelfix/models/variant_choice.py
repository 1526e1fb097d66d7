"""Which precision variant of a model runs, decided by the execution provider that will run it.

`choose_model("span-x2", "CPUExecutionProvider")` gives `span-x2-int8` when that variant
is installed and intact, else `span-x2` with the reason. The rules:

- a name that is itself a variant (`span-x2-int8`), an .onnx path, or a name ending in
  `-fp32` (`span-x2-fp32`: the fp32 model, never swapped) is used as named;
- otherwise the variant preferred for the provider (`PREFERRED`: int8 on CPUs, fp16 on
  CUDA/TensorRT/DirectML, the latter only for models whose card says `fp16_safe`) is used if installed, made from this very fp32 model (its card's
  source names the fp32 sha256) and its file matches its card;
- anything else falls back to the fp32 model, and the reason says why (recorded in the
  run's provenance and manifest).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ModelError
from .catalog import ModelEntry, find_model, verify
from .variants import base_sha_note, variant_name

PREFERRED: dict[str, str] = {
    "CPUExecutionProvider": "int8",
    "CUDAExecutionProvider": "fp16",
    "TensorrtExecutionProvider": "fp16",
    "DmlExecutionProvider": "fp16",
}
FP32_SUFFIX = "-fp32"


@dataclass(frozen=True)
class ModelChoice:
    entry: ModelEntry
    reason: str

    @property
    def is_variant(self) -> bool:
        return self.entry.card.variant_of is not None


def choose_model(name: str, provider: str) -> ModelChoice:
    """The model to run for `name` on `provider` (an ONNX Runtime provider name)."""
    if name.endswith(FP32_SUFFIX):
        try:
            entry = find_model(name)  # a model really called so wins
        except ModelError:
            entry = find_model(name[: -len(FP32_SUFFIX)])
            if entry.card.precision != "fp32":
                raise ModelError(f"model '{entry.card.name}' is {entry.card.precision}, so '{name}' names nothing") from None
        return ModelChoice(entry, "fp32 named explicitly")
    entry = find_model(name)
    card = entry.card
    if entry.origin == "path" or card.variant_of or card.precision != "fp32":
        return ModelChoice(entry, f"{card.precision} named explicitly")
    precision = PREFERRED.get(provider)
    if precision is None:
        return ModelChoice(entry, f"fp32: no precision variant is preferred on {provider}")
    vname = variant_name(card.name, precision)
    if precision == "fp16" and not card.fp16_safe:
        return ModelChoice(
            entry,
            f"fp32: {card.name} is not fp16-safe (its card), so '{vname}' is run only when named (on an NVIDIA H100 SPAN's fp16 "
            "variant was 63-66 dB from fp32 and slower end to end: docs/BENCHMARKS.md, GPU)",
        )
    try:
        variant = find_model(vname)
    except ModelError:
        return ModelChoice(
            entry, f"fp32: no {precision} variant '{vname}' installed (make one with `reelfix models variant {card.name} --{precision}`)"
        )
    vcard = variant.card
    if vcard.variant_of != card.name or vcard.precision != precision or base_sha_note(card.sha256) not in vcard.source:
        return ModelChoice(
            entry, f"fp32: '{vname}' was not made from this {card.name} (rebuild it with `reelfix models variant {card.name} --{precision} --force`)"
        )
    try:
        verify(variant)
    except ModelError as exc:
        return ModelChoice(entry, f"fp32: '{vname}' failed its check ({exc.message})")
    return ModelChoice(variant, f"{precision} variant of {card.name} for {provider}")
