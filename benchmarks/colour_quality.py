"""Question: on scene-linear EXR plates, what does colour management buy a display-referred
model? Real photos made into linear plates with highlights above 1 (as a camera plate has),
downscaled x2 in linear light; then upscaled by:
  - bicubic (in linear light, the plain peer),
  - the model fed the linear values directly, clipped to 0-1 (what colour-blind tools do),
  - reelfix: into the model's sRGB space with OCIO, highlights mapped reversibly, and back.
PSNR against the clean plate is measured on the sRGB-encoded image (clipped to 0-1, as a
viewer shows it), plus the highlight error in linear light for values above 1.

Goal: the naive route loses more than 1 dB against bicubic; reelfix beats bicubic.
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.common import photo_frame
from reelfix import colour
from reelfix.frames.frame import Frame
from reelfix.models.catalog import find_model, verify
from reelfix.nodes.spec import NodeContext, Window
from reelfix.nodes.upscale import SPEC
from reelfix.resize import resize
from reelfix.runtime.session import get_session
from reelfix.tiling import run_tiled


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return 10 * np.log10(1.0 / max(mse, 1e-12))


def display(lin: np.ndarray) -> np.ndarray:
    return np.clip(colour.convert(lin, "lin_srgb", "srgb_tx"), 0, 1)


def plates(count: int, size: int) -> list[np.ndarray]:
    """Linear plates: photos to linear light, with the brightest parts pushed above 1 (x4 gain on a
    smooth highlight roll-up) the way an exposed camera plate holds sky and practicals."""
    out = []
    for i in range(count):
        lin = colour.convert(photo_frame(size, size, i), "srgb_tx", "lin_srgb")
        luma = lin.mean(axis=2, keepdims=True)
        boost = 1.0 + 3.0 * np.clip((luma - 0.35) / 0.4, 0, 1)
        out.append(np.ascontiguousarray(lin * boost, dtype=np.float32))
    return out


def main(count: int, size: int, model: str) -> dict[str, float]:
    entry = find_model(model)
    card = entry.card
    session = get_session(verify(entry), card, "cpu")
    runner = SPEC.factory(SPEC.validate({"scale": card.scale, "model": model}, "bench"), NodeContext(device="cpu"))
    scores: dict[str, list[float]] = {"bicubic": [], "naive": [], "reelfix": []}
    hi_err: dict[str, list[float]] = {"bicubic": [], "naive": [], "reelfix": []}
    for truth in plates(count, size):
        low = resize(truth, size // card.scale, size // card.scale, "catmull-rom")
        bicubic = resize(low, size, size, "catmull-rom")
        naive_in = np.ascontiguousarray(np.clip(low, 0, 1).transpose(2, 0, 1))
        naive = run_tiled(session.run, naive_in, scale=card.scale, tile=256, overlap=card.overlap).transpose(1, 2, 0)
        ours = runner.process(Window(1, {1: Frame(low, ("R", "G", "B"), "lin_srgb", 1)})).pixels
        bright = truth > 1.0
        for name, img in (("bicubic", bicubic), ("naive", naive), ("reelfix", ours)):
            scores[name].append(psnr(display(img), display(truth)))
            hi_err[name].append(float(np.mean(np.abs(img[bright] - truth[bright]) / truth[bright])))
    result = {f"psnr_{k}_db": float(np.mean(v)) for k, v in scores.items()}
    result.update({f"highlight_rel_err_{k}": float(np.mean(v)) for k, v in hi_err.items()})
    result["naive_minus_bicubic_db"] = result["psnr_naive_db"] - result["psnr_bicubic_db"]
    result["reelfix_minus_bicubic_db"] = result["psnr_reelfix_db"] - result["psnr_bicubic_db"]
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--count", type=int, default=4)
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--model", default="span-x2")
    a = ap.parse_args()
    print(main(a.count, a.size, a.model))
