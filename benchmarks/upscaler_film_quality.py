"""Film-tuned SPAN against stock SPAN, on photos held out from training.

    python -m benchmarks.upscaler_film_quality [--size 192] [--scales 2 4]

Every held-out photo (reelfix.training.photos.HELD_OUT; install the photo packages named
there) gives a centred high-res crop; its low-res version is made two ways:
- `bicubic`: antialiased bicubic downscale (the classic SR benchmark input);
- `film`: the scanner-like degradation the film models were tuned for
  (reelfix.training.degrade.film_scan: optical blur, area sampling, mild grain and scanner
  noise; seeded per photo, the same input for every model).
PSNR (perceptual 0..1 scale, 8 px border ignored) of each model's output against the
clean crop; plain bicubic upscaling is the floor. Models run through ONNX Runtime on CPU.
The rule for the default: the film model wins on `film` and loses under 0.1 dB on `bicubic`.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np
import onnxruntime as ort

from reelfix.models.catalog import find_model, verify
from reelfix.resize import resize
from reelfix.training.degrade import bicubic_down, film_scan
from reelfix.training.photos import held_out_keys, load

BORDER = 8


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    d = np.clip(a, 0, 1)[BORDER:-BORDER, BORDER:-BORDER] - b[BORDER:-BORDER, BORDER:-BORDER]
    return 10 * math.log10(1 / max(float(np.mean(d * d)), 1e-12))


def run_model(name: str, lr: np.ndarray) -> np.ndarray:
    path = verify(find_model(name))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    y = sess.run(None, {"input": np.ascontiguousarray(lr.transpose(2, 0, 1)[None], dtype=np.float32)})[0]
    return np.ascontiguousarray(y[0].transpose(1, 2, 0))


def main(size: int = 192, scales: tuple[int, ...] = (2, 4)) -> dict[str, Any]:
    rows = []
    for scale in scales:
        hr_size = size * scale
        sums: dict[str, dict[str, list[float]]] = {"bicubic": {}, "film": {}}
        for i, key in enumerate(held_out_keys()):
            px = load(key).pixels
            if min(px.shape[:2]) < hr_size:
                continue
            y, x = (px.shape[0] - hr_size) // 2, (px.shape[1] - hr_size) // 2
            hr = np.ascontiguousarray(px[y : y + hr_size, x : x + hr_size], dtype=np.float32) / 255
            inputs = {"bicubic": bicubic_down(hr, scale), "film": film_scan(hr, scale, np.random.default_rng(100 + i))}
            for kind, lr in inputs.items():
                scores = sums[kind]
                scores.setdefault("bicubic upscale", []).append(psnr(resize(lr, hr_size, hr_size, "catmull-rom"), hr))
                for model in (f"span-x{scale}", f"span-film-x{scale}"):
                    scores.setdefault(model, []).append(psnr(run_model(model, lr), hr))
        for kind, scores in sums.items():
            row: dict[str, Any] = {"scale": scale, "degradation": kind, "photos": len(scores["bicubic upscale"])}
            row.update({k: float(np.mean(v)) for k, v in scores.items()})
            row["film_minus_stock_db"] = row[f"span-film-x{scale}"] - row[f"span-x{scale}"]
            rows.append(row)
    verdict = {}
    for scale in scales:
        film = next(r for r in rows if r["scale"] == scale and r["degradation"] == "film")
        bic = next(r for r in rows if r["scale"] == scale and r["degradation"] == "bicubic")
        verdict[scale] = bool(film["film_minus_stock_db"] > 0 and bic["film_minus_stock_db"] > -0.1)
    return {"size": size, "photos": held_out_keys(), "rows": rows, "make_default": verdict}


def markdown(r: dict[str, Any]) -> list[str]:
    """The docs/BENCHMARKS.md section for a `main()` result."""
    lines = [
        "## Film-tuned SPAN (`span-film-x2/x4`) against stock SPAN, held-out photos",
        "",
        f"Command: `python -m benchmarks.upscaler_film_quality --size {r['size']}`. Centred crops ({r['size']} px low-res side) "
        "of the photos held out from training; low-res input by antialiased bicubic downscale, or by the film-scan "
        "degradation (optical blur, area sampling, mild grain and scanner noise; seeded, the same for every model). "
        "PSNR (dB) against the clean crop, perceptual 0..1 scale, 8 px border ignored.",
        "",
        "| scale | input degradation | photos | bicubic upscale | stock SPAN | film SPAN | film - stock |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in r["rows"]:
        s = row["scale"]
        lines.append(
            f"| x{s} | {row['degradation']} | {row['photos']} | {row['bicubic upscale']:.2f} | {row[f'span-x{s}']:.2f} | "
            f"{row[f'span-film-x{s}']:.2f} | {row['film_minus_stock_db']:+.2f} dB |"
        )
    verdict = ", ".join(f"x{k}: {'yes' if v else 'no'}" for k, v in r["make_default"].items())
    lines += ["", f"Default rule (wins on film-like input, loses under 0.1 dB on bicubic): {verdict}.", ""]
    return lines


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=192, help="low-res crop side")
    ap.add_argument("--scales", type=int, nargs="+", default=[2, 4])
    a = ap.parse_args()
    print("\n".join(markdown(main(a.size, tuple(a.scales)))))
