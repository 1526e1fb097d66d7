"""The routes `benchmarks.gpu_speed` times, each run in a child process (see that module).

A route takes a spec (dict: model, gpu, h, w, repeats, ...) and returns a dict of figures;
outputs compared for agreement are saved as .npy where the spec says `save`. Only numpy,
onnxruntime(-gpu), reelfix's runtime/tiling/catalog modules and scikit-image (the photo
frame) are needed; torch for the torch route; OpenImageIO only for `e2e`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

CUDA = "CUDAExecutionProvider"
RESULT = "RESULT "


def _median_times(fn: Callable[[], object], repeats: int, sync: Callable[[], None] = lambda: None) -> list[float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return times


def _frame(h: int, w: int) -> np.ndarray:
    """1x3xHxW float32 sRGB-encoded real photos in [0, 1] (what SPAN takes)."""
    from benchmarks.common import photo_frame

    return np.ascontiguousarray(photo_frame(h, w).transpose(2, 0, 1)[None])


def _model_path(name: str) -> tuple[Path, Any]:
    from reelfix.models.catalog import find_model, verify

    entry = find_model(name)
    return verify(entry), entry.card


def _providers(gpu: bool) -> list[Any]:
    from reelfix.runtime.providers import CUDAProvider

    return [(CUDA, CUDAProvider().ort_options()), "CPUExecutionProvider"] if gpu else ["CPUExecutionProvider"]


def route_ort(spec: dict[str, Any]) -> dict[str, Any]:
    """Bare session, whole frame: numpy in/out, then I/O binding on the provider's device."""
    import onnxruntime as ort

    from reelfix.runtime.providers import default_threads

    path, card = _model_path(spec["model"])
    gpu = spec["gpu"]
    so = ort.SessionOptions()
    so.log_severity_level = 3
    if not gpu:
        so.intra_op_num_threads = default_threads()
    t0 = time.perf_counter()
    sess = ort.InferenceSession(str(path), sess_options=so, providers=_providers(gpu))
    create = time.perf_counter() - t0
    x = _frame(spec["h"], spec["w"])
    feed = {card.input_name: x}
    t0 = time.perf_counter()
    (y,) = sess.run([card.output_name], feed)  # first run: cuDNN's algorithm search for this shape
    first = time.perf_counter() - t0
    plain = _median_times(lambda: sess.run([card.output_name], feed), spec["repeats"])
    out = {"provider": sess.get_providers()[0], "create_s": create, "first_s": first, "plain_s": statistics.median(plain)}
    if spec.get("iobinding"):
        dev = "cuda" if gpu else "cpu"
        xv = ort.OrtValue.ortvalue_from_numpy(x, dev, 0)
        yv = ort.OrtValue.ortvalue_from_shape_and_type(list(y.shape), np.float32, dev, 0)
        bind = sess.io_binding()
        bind.bind_ortvalue_input(card.input_name, xv)
        bind.bind_ortvalue_output(card.output_name, yv)
        sess.run_with_iobinding(bind)
        out["iobinding_s"] = statistics.median(_median_times(lambda: sess.run_with_iobinding(bind), spec["repeats"]))
    if spec.get("save"):
        np.save(spec["save"], y[0])
    return out


def tile_for(card: Any, h: int, w: int, budget: int, provider: str = "CPUExecutionProvider") -> tuple[int, int]:
    """The tile and overlap the upscale node derives for this frame (nodes/upscale.py `tiling_for`)."""
    from reelfix.nodes.upscale import tiling_for

    return tiling_for(card, h, w, provider, budget)


def route_reelfix(spec: dict[str, Any]) -> dict[str, Any]:
    """reelfix's session (provider chain, card checks, probe) and tiled run, as `reelfix upscale`."""
    from reelfix.runtime import get_session
    from reelfix.tiling import plan_tiles, run_tiled

    path, card = _model_path(spec["model"])
    t0 = time.perf_counter()
    ms = get_session(path, card, "cuda" if spec["gpu"] else "cpu")
    create = time.perf_counter() - t0
    h, w = spec["h"], spec["w"]
    tile, overlap = tile_for(card, h, w, spec["budget"], ms.provider)
    chw = _frame(h, w)[0]

    def run() -> np.ndarray:
        return run_tiled(
            ms.run, chw, scale=card.scale, tile=tile, overlap=overlap, multiple_of=card.multiple_of,
            receptive_field=card.receptive_field, channels_last=True,
        )  # fmt: skip

    t0 = time.perf_counter()
    y = run()
    first = time.perf_counter() - t0
    times = _median_times(run, spec["repeats"])
    if spec.get("save"):
        np.save(spec["save"], y.transpose(2, 0, 1))
    n = len(plan_tiles(h, w, tile, overlap, card.multiple_of))
    return {"provider": ms.provider, "create_s": create, "first_s": first, "plain_s": statistics.median(times), "tile": tile, "tiles": n}


def route_torch(spec: dict[str, Any]) -> dict[str, Any]:
    """TorchScript export on torch's CUDA (fp16: `.half()` on module and input, else autocast)."""
    import torch

    dev = "cuda" if spec["gpu"] else "cpu"
    sync = torch.cuda.synchronize if spec["gpu"] else (lambda: None)
    try:
        module, how = torch.jit.load(spec["ts"], map_location=dev).eval(), "TorchScript export"
    except Exception as exc:  # noqa: BLE001 - an older torch may not read a newer export
        import onnx

        from reelfix.models.spandrel_compat import import_onnx2torch

        module = import_onnx2torch().convert(onnx.load(str(_model_path(spec["model"])[0]))).to(dev).eval()
        how = f"onnx2torch from the ONNX model (torch.jit.load failed: {type(exc).__name__})"
    x = torch.from_numpy(_frame(spec["h"], spec["w"])).to(dev)
    how += ", fp32 (TF32 convolutions allowed: torch's default)"
    ctx: Any = contextlib.nullcontext()
    if spec["fp16"]:
        try:
            with torch.inference_mode():
                module.half()(x[:, :, :32, :32].half())
            x, how = x.half(), how.replace("fp32 (TF32 convolutions allowed: torch's default)", "fp16 via .half() on module and input")
        except Exception as exc:  # noqa: BLE001 - a traced graph may hold fp32 constants
            module.float()
            ctx = torch.autocast(dev, dtype=torch.float16)
            how = how.replace("fp32 (TF32", f"fp16 via autocast (.half() failed: {type(exc).__name__}; TF32")
    with torch.inference_mode(), ctx:
        t0 = time.perf_counter()
        y = module(x)
        sync()
        first = time.perf_counter() - t0
        times = _median_times(lambda: module(x), spec["repeats"], sync)
    if spec.get("save"):
        np.save(spec["save"], y[0].float().cpu().numpy())
    return {"provider": f"torch {torch.__version__} {dev}", "first_s": first, "plain_s": statistics.median(times), "how": how}


def route_auto(spec: dict[str, Any]) -> dict[str, Any]:
    """reelfix's `auto` device, and a raw TensorRT -> CUDA -> CPU session, with what they print."""
    import onnxruntime as ort

    from reelfix.runtime import get_session, providers_for

    path, card = _model_path(spec["model"])
    out: dict[str, Any] = {"listed": ort.get_available_providers()}
    printed, logs = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(logs)
    logging.getLogger("reelfix").addHandler(handler)
    with contextlib.redirect_stdout(printed):
        try:
            raw = ort.InferenceSession(str(path), providers=["TensorrtExecutionProvider", CUDA, "CPUExecutionProvider"])
            out["raw_trt_cuda_cpu_runs_on"] = raw.get_providers()
        except Exception as exc:  # noqa: BLE001 - whatever ORT raises is the finding
            out["raw_trt_cuda_cpu_error"] = f"{type(exc).__name__}: {exc}"[:400]
        out["raw_printed"] = printed.getvalue()[-600:]
        printed.seek(0), printed.truncate()
        out["auto_chain"] = [p.ort_name for p in providers_for("auto")]
        try:
            ms = get_session(path, card, "auto")
            y = ms.run(_frame(spec["h"], spec["w"]))
            out["auto_runs_on"], out["auto_output_shape"] = ms.provider, list(y.shape)
        except Exception as exc:  # noqa: BLE001
            out["auto_error"] = f"{type(exc).__name__}: {exc}"[:400]
    out["auto_printed"], out["auto_log"] = printed.getvalue()[-600:], logs.getvalue()[-600:]
    out["without_check"] = _auto_without_trt_check(path, card)
    return out


def _auto_without_trt_check(path: Path, card: Any) -> dict[str, Any]:
    """reelfix's `auto` as it was before `providers.tensorrt_loadable` (TensorRT taken as listed)."""
    from reelfix.runtime import clear_session_cache, get_session, providers, providers_for

    real = providers.tensorrt_loadable
    providers.tensorrt_loadable = lambda: True  # type: ignore[assignment]
    printed = io.StringIO()
    try:
        clear_session_cache()
        with contextlib.redirect_stdout(printed):
            chain = [p.ort_name for p in providers_for("auto")]
            ms = get_session(path, card, "auto")
    finally:
        providers.tensorrt_loadable = real  # type: ignore[assignment]
        clear_session_cache()
    opts = ms.session.get_provider_options().get(CUDA, {})
    return {"chain": chain, "runs_on": ms.provider, "stdout_lines": printed.getvalue().count("\n"),
            "cuda_arena_extend_strategy": opts.get("arena_extend_strategy")}  # fmt: skip


def route_breakdown(spec: dict[str, Any]) -> dict[str, Any]:
    """Where reelfix's model path spends time against the bare call, whole frame (ms); at the
    first size also TF32 off (ORT's CUDA `use_tf32=0`) and agreement with the CPU provider."""
    import onnxruntime as ort

    from reelfix.runtime import get_session
    from reelfix.tiling import run_tiled

    path, card = _model_path(spec["model"])
    gpu, reps = spec["gpu"], spec["repeats"]
    x = _frame(spec["h"], spec["w"])
    feed = {card.input_name: x}
    bare = ort.InferenceSession(str(path), providers=_providers(gpu))
    ms = get_session(path, card, "cuda" if gpu else "cpu")
    from reelfix.nodes.upscale import FEATHER  # the upscale node's own settings (it needs OpenColorIO/OpenImageIO)

    whole = dict(scale=card.scale, tile=max(spec["h"], spec["w"]), overlap=card.receptive_field + FEATHER,
                 receptive_field=card.receptive_field)  # fmt: skip
    y = bare.run(None, feed)[0]

    def ms_of(fn: Callable[[], object]) -> float:
        fn()
        return 1e3 * statistics.median(_median_times(fn, reps))

    out = {
        "bare_ms": ms_of(lambda: bare.run(None, feed)),
        "model_session_run_ms": ms_of(lambda: ms.run(x)),
        "run_tiled_whole_chw_ms": ms_of(lambda: run_tiled(ms.run, x[0], **whole)),  # type: ignore[arg-type]
        "run_tiled_whole_hwc_ms": ms_of(lambda: run_tiled(ms.run, x[0], channels_last=True, **whole)),  # type: ignore[arg-type]
        "hwc_transpose_ms": ms_of(lambda: np.ascontiguousarray(y[0].transpose(1, 2, 0))),
        "output_mb": y.nbytes / 1e6,
    }
    if gpu and spec.get("tf32"):
        opts = dict(_providers(True)[0][1]) | {"use_tf32": "0"}
        strict = ort.InferenceSession(str(path), providers=[(CUDA, opts), "CPUExecutionProvider"])
        y_cpu = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feed)[0]
        y_strict = strict.run(None, feed)[0]
        out |= {"tf32_off_ms": ms_of(lambda: strict.run(None, feed)), "tf32_on_vs_cpu": _diff(y, y_cpu),
                "tf32_off_vs_cpu": _diff(y_strict, y_cpu)}  # fmt: skip
    return out


def _diff(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Max |a - b| and PSNR (peak 1)."""
    d = a.astype(np.float64) - b
    mse = float(np.mean(d * d))
    return {"max_abs": float(np.abs(d).max()), "psnr_db": float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))}


def e2e(root: Path, h: int, w: int, frames: int, devices: list[tuple[str, list[str]]]) -> list[dict[str, Any]]:
    """`reelfix upscale` on an EXR sequence (linear half floats made from the photos) per device:
    seconds, and the provider and models its frame header records. Needs OpenImageIO."""
    import subprocess
    import sys

    import OpenImageIO as oiio

    from benchmarks.common import photo_frame

    for i in range(frames):
        srgb = photo_frame(h, w, i)
        lin = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4).astype(np.float32)
        name = str(root / f"in.{1001 + i:04d}.exr")
        out = oiio.ImageOutput.create(name)
        if out is None or not out.open(name, oiio.ImageSpec(w, h, 3, "half")) or not out.write_image(np.ascontiguousarray(lin)):
            raise RuntimeError(f"cannot write {name}: {oiio.geterror()}")
        out.close()
    rows: list[dict[str, Any]] = []
    for dev, extra in devices:
        dst = root / f"out_{dev}_{len(rows)}"
        cmd = [sys.executable, "-m", "reelfix", "upscale", str(root / "in.####.exr"), str(dst / "o.####.exr"), "--device", dev,
               "--in-colorspace", "lin_srgb", "--frames", f"1001-{1000 + frames}", "--no-resume", *extra]  # fmt: skip
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        row: dict[str, Any] = {"device": dev, "args": " ".join(extra), "rc": r.returncode, "wall_s": time.perf_counter() - t0,
                               "stdout": r.stdout.strip()[-300:], "stderr": r.stderr.strip()[-300:]}  # fmt: skip
        inp = oiio.ImageInput.open(str(dst / "o.1001.exr"))
        if inp is not None:
            attrs = {a.name: str(a.value) for a in inp.spec().extra_attribs}
            row |= {"provider": attrs.get("reelfix:provider"), "models": attrs.get("reelfix:models")}
            inp.close()
        rows.append(row)
    return rows


ROUTES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "ort": route_ort, "reelfix": route_reelfix, "torch": route_torch, "auto": route_auto, "breakdown": route_breakdown,
}  # fmt: skip

