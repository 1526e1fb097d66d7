"""Question: on scene-linear EXR plates, what does colour management buy a display-referred
model? Real photos made into linear plates with highlights above 1 (as a camera plate has),
downscaled x2 in linear light; then upscaled by:
  - bicubic (in linear light, the plain peer),
  - the model fed the linear values directly, clipped to 0-1 (what colour-blind tools do),
  - reelfix: into the model's sRGB space with OCIO and back, with each way of handling values
    outside the model's range (`highlights`: auto, split, rolloff, clip).
The same is done on plates without values above 1 (sdr), where the modes should agree.
PSNR against the clean plate is measured on the sRGB-encoded image (clipped to 0-1, as a
viewer shows it), plus the highlight error in linear light for values above 1.

Goal: the naive route loses more than 1 dB against bicubic; reelfix beats bicubic.
"""

from __future__ import annotations

import argparse
from typing import Any

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


def plates(count: int, size: int, boost: bool) -> list[np.ndarray]:
    """Linear plates: photos to linear light; with `boost`, the brightest parts pushed above 1
    (up to x4 on a smooth roll-up) the way an exposed camera plate holds sky and practicals."""
    out = []
    for i in range(count):
        lin = colour.convert(photo_frame(size, size, i), "srgb_tx", "lin_srgb")
        if boost:
            luma = lin.mean(axis=2, keepdims=True)
            lin = lin * (1.0 + 3.0 * np.clip((luma - 0.35) / 0.4, 0, 1))
        out.append(np.ascontiguousarray(lin, dtype=np.float32))
    return out


MODES = ("auto", "split", "rolloff", "clip")


def main(count: int, size: int, model: str) -> dict[str, Any]:
    entry = find_model(model)
    card = entry.card
    session = get_session(verify(entry), card, "cpu")
    runners = {
        m: SPEC.factory(SPEC.validate({"scale": card.scale, "model": model, "highlights": m}, "bench"), NodeContext(device="cpu"))
        for m in MODES
    }
    prov = runners["auto"].provenance()  # the runtime and precision the node ran on (make bench: OpenVINO's int8 route)
    result: dict[str, Any] = {"route": f"{prov['provider']}, {prov.get('precision') or 'fp32'}"}
    for kind, boost in (("hdr", True), ("sdr", False)):
        routes = ("bicubic", "naive", *MODES)
        scores: dict[str, list[float]] = {r: [] for r in routes}
        hi_err: dict[str, list[float]] = {r: [] for r in routes}
        for truth in plates(count, size, boost):
            low = resize(truth, size // card.scale, size // card.scale, "catmull-rom")
            images = {"bicubic": resize(low, size, size, "catmull-rom")}
            naive_in = np.ascontiguousarray(np.clip(low, 0, 1).transpose(2, 0, 1))
            images["naive"] = run_tiled(session.run, naive_in, scale=card.scale, tile=256, overlap=card.overlap).transpose(1, 2, 0)
            for m in MODES:
                images[m] = runners[m].process(Window(1, {1: Frame(low, ("R", "G", "B"), "lin_srgb", 1)})).pixels
            bright = truth > 1.0
            for name, img in images.items():
                scores[name].append(psnr(display(img), display(truth)))
                if bright.any():
                    hi_err[name].append(float(np.mean(np.abs(img[bright] - truth[bright]) / truth[bright])))
        for r in routes:
            result[f"{kind}_psnr_{r}_db"] = float(np.mean(scores[r]))
            result[f"{kind}_gain_{r}_db"] = float(np.mean(scores[r]) - np.mean(scores["bicubic"]))
            if hi_err[r]:
                result[f"{kind}_highlight_err_{r}"] = float(np.mean(hi_err[r]))
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--count", type=int, default=4)
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--model", default="span-x2")
    a = ap.parse_args()
    print(main(a.count, a.size, a.model))
