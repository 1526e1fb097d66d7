"""upscale x3 with no model named: the built-in x4 model resampled to x3 (no built-in x3 model
exists); the result has the x3 size, beats bicubic on a real photo, and mattes follow."""

from __future__ import annotations

import numpy as np

from reelfix.frames.frame import Frame
from reelfix.nodes.spec import NodeContext, Window
from reelfix.nodes.upscale import SPEC
from reelfix.resize import resize


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((np.clip(a, 0, 1) - b) ** 2)))


def test_x3_without_a_model_uses_the_builtin_x4_resampled_and_beats_bicubic() -> None:
    from skimage import data

    truth = data.coffee()[100:196, 200:296].astype(np.float32) / 255  # 96x96, sRGB-encoded
    small = resize(truth, 32, 32, "box")  # x3 down
    runner = SPEC.factory(SPEC.validate({"scale": 3}, "test"), NodeContext(device="cpu"))
    assert runner.provenance()["model"]["name"] == "span-x4"
    matte = np.zeros((32, 32), np.float32)
    matte[4, 5] = 1.0
    out = runner.process(Window(1, {1: Frame(small, ("R", "G", "B"), "srgb_tx", 1, mattes={"dust": matte})}))
    assert out.pixels.shape == (96, 96, 3)
    assert out.mattes["dust"].shape == (96, 96) and out.mattes["dust"][12:15, 15:18].all()
    bicubic = resize(small, 96, 96, "catmull-rom")
    assert psnr(out.pixels, truth) > psnr(bicubic, truth) + 0.3
