"""GPU speed: the built-in SPAN x2/x4 through ONNX Runtime's CUDA provider, with peers in the same run.

Questions: how fast is reelfix's model path on an NVIDIA GPU; how close is it to a bare
whole-frame ONNX Runtime call (issue 2: within 1.10x); how much GPU memory does it hold; and
by how much do GPU results differ from CPU ones (they are not bit-identical)?

Routes, each in its own child process, so that each one's GPU memory is measured alone (ONNX
Runtime's CUDA arena never shrinks, and sessions in one process would add up); the parent
polls `nvidia-smi` while a child runs:
- `ort`: a bare `onnxruntime.InferenceSession`, whole frame, timed with numpy in and out
  (host/device copies included, as reelfix runs it) and with I/O binding (input and output
  stay on the GPU: the model alone). fp32, and the fp16 variant (`reelfix models variant`).
- `reelfix`: `reelfix.runtime.get_session` + `tiling.run_tiled`, the code `reelfix upscale`
  runs for the model part, with the tile size the upscale node derives from the memory budget.
- `torch`: reelfix's TorchScript export (`reelfix models export-torchscript`), fp32 and fp16.
- `cpu`: ONNX Runtime's CPU provider on the machine's physical cores (the peer).
- `breakdown`: where reelfix's path spends time against the bare call (session, tiling, the
  HxWxC output), TF32 on and off, and agreement with the CPU provider.
- `auto`: reelfix's `auto` device: the providers it asks for and the one that really runs,
  also as it was before the TensorRT library check.
- `--e2e`: `reelfix upscale` on a 2K EXR sequence per device, with the header's provider.

Needs numpy, onnxruntime(-gpu), reelfix's runtime/tiling/catalog modules (pydantic) and
scikit-image (the photo frame); torch only for the torch route, OpenImageIO only for `--e2e`.
Without CUDA it says so and exits 0. `--provider cpu --inprocess` runs every route on the CPU
in this process (tests).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.gpu_routes import CUDA, RESULT, ROUTES, e2e

def _gpu_used_mib() -> int | None:
    try:
        r = subprocess.run(
            ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0"],
            capture_output=True, text=True, timeout=10, check=True,
        )  # fmt: skip
        return int(r.stdout.split()[0])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def gpu_info() -> dict[str, str]:
    try:
        r = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader", "-i", "0"],
            capture_output=True, text=True, timeout=10, check=True,
        )  # fmt: skip
        name, driver, mem = (s.strip() for s in r.stdout.strip().split(","))
        return {"gpu": name, "driver": driver, "gpu_memory": mem}
    except (OSError, subprocess.SubprocessError, ValueError):
        return {"gpu": "none", "driver": "-", "gpu_memory": "-"}


def run_route(spec: dict[str, Any], inprocess: bool) -> dict[str, Any]:
    """One route; in a child process, its peak GPU memory (nvidia-smi, polled) comes with it."""
    if inprocess:
        return ROUTES[spec["route"]](spec)
    base, peak, done = _gpu_used_mib(), [0], threading.Event()

    def poll() -> None:
        while not done.is_set():
            used = _gpu_used_mib()
            peak[0] = max(peak[0], used or 0)
            done.wait(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        cmd = [sys.executable, "-m", "benchmarks.gpu_speed", "--child", json.dumps(spec)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
    finally:
        done.set()
        poller.join()
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT)]
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr or proc.stdout).strip()[-800:]}
    out: dict[str, Any] = json.loads(lines[-1][len(RESULT) :])
    if base is not None:
        out["gpu_mib"] = peak[0] - base
    return out


def agreement(a: Path, b: Path) -> dict[str, float] | None:
    """Max |a - b| and PSNR (peak 1) between two saved outputs."""
    if not (a.exists() and b.exists()):
        return None
    x, y = np.load(a), np.load(b)
    if x.shape != y.shape:
        return None
    d = x.astype(np.float64) - y
    mse = float(np.mean(d * d))
    return {"max_abs": float(np.abs(d).max()), "psnr_db": float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)}


def plan(args: argparse.Namespace, gpu: bool, scratch: Path) -> list[dict[str, Any]]:
    """Every route to run, in order; outputs that agreement compares are saved under `scratch`."""
    from reelfix.errors import ModelError
    from reelfix.models.catalog import find_model

    sizes = {"hd": (args.height, args.width), "uhd": (args.big_height, args.big_width)}
    specs: list[dict[str, Any]] = []

    def add(sid: str, route: str, model: str, size: str, **kw: Any) -> None:
        h, w = sizes[size]
        specs.append({"id": sid, "route": route, "model": model, "gpu": gpu, "h": h, "w": w, "repeats": args.repeats}
                     | {"save": str(scratch / f"{sid.replace('/', '_')}.npy")} | kw)  # fmt: skip

    for m in args.models:
        try:
            fp16: str | None = find_model(f"{m}-fp16").card.name
        except ModelError:
            fp16 = None
        for size in sizes:
            add(f"{m}/ort-fp32/{size}", "ort", m, size, iobinding=True)
            if fp16:
                add(f"{m}/ort-fp16/{size}", "ort", fp16, size, iobinding=True)
            for i, gb in enumerate(args.budgets_gb):
                add(f"{m}/reelfix-{gb:g}GB/{size}", "reelfix", m, size, budget=int(gb * 1024**3), **({} if i == 0 else {"save": ""}))
        for size in sizes:
            add(f"{m}/breakdown/{size}", "breakdown", m, size, save="", tf32=size == "hd")
        add(f"{m}/cpu-fp32/hd", "ort", m, "hd", gpu=False, repeats=args.cpu_repeats)
        ts = Path(args.torchscript) / f"{m}.pt" if args.torchscript else None
        if ts is not None and ts.is_file():
            add(f"{m}/torch-fp32/hd", "torch", m, "hd", ts=str(ts), fp16=False)
            add(f"{m}/torch-fp16/hd", "torch", m, "hd", ts=str(ts), fp16=True)
    if gpu:
        add("auto", "auto", args.models[0], "hd", save="")
    return specs


PAIRS = (  # (a, b, what): agreement between saved outputs, per model
    ("ort-fp32/hd", "cpu-fp32/hd", "CUDA fp32 vs CPU fp32"),
    ("ort-fp16/hd", "ort-fp32/hd", "CUDA fp16 variant vs CUDA fp32"),
    ("reelfix-{b}GB/hd", "ort-fp32/hd", "reelfix tiled vs whole frame, CUDA fp32, {h}"),
    ("reelfix-{b}GB/uhd", "ort-fp32/uhd", "reelfix tiled vs whole frame, CUDA fp32, {u}"),
    ("torch-fp32/hd", "ort-fp32/hd", "torch CUDA fp32 vs ORT CUDA fp32"),
    ("torch-fp16/hd", "ort-fp32/hd", "torch CUDA fp16 vs ORT CUDA fp32"),
)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--height", type=int, default=1080)
    p.add_argument("--width", type=int, default=1920)
    p.add_argument("--big-height", type=int, default=2160)
    p.add_argument("--big-width", type=int, default=3840)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--cpu-repeats", type=int, default=3)
    p.add_argument("--models", nargs="+", default=["span-x2", "span-x4"])
    p.add_argument("--budgets-gb", nargs="+", type=float, default=[2.0, 16.0], help="first: the default job budget")
    p.add_argument("--torchscript", default="", help="folder with MODEL.pt from `reelfix models export-torchscript`")
    p.add_argument("--provider", choices=("cuda", "cpu"), default="cuda", help="cpu: every route on the CPU (tests)")
    p.add_argument("--inprocess", action="store_true", help="run routes in this process (no GPU memory figures)")
    p.add_argument("--e2e", action="store_true", help="also `reelfix upscale` on a 2K EXR sequence per device (OpenImageIO)")
    p.add_argument("--e2e-frames", type=int, default=5)
    p.add_argument("--json", default="", help="write the result here")
    p.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        print(RESULT + json.dumps(ROUTES[spec["route"]](spec)), flush=True)
        return {}
    import onnxruntime as ort

    gpu = args.provider == "cuda"
    if gpu and CUDA not in ort.get_available_providers():
        msg = (f"CUDAExecutionProvider not available (onnxruntime {ort.__version__} has "
               f"{', '.join(ort.get_available_providers())}): nothing measured")  # fmt: skip
        print(msg)
        return {"skipped": msg}
    result: dict[str, Any] = {"ort_version": ort.__version__, "args": vars(args)} | gpu_info()
    with tempfile.TemporaryDirectory(prefix="reelfix-gpu-") as tmp:
        rows: dict[str, dict[str, Any]] = {}
        for spec in plan(args, gpu, Path(tmp)):
            rows[spec["id"]] = run_route(spec, args.inprocess) | {"h": spec["h"], "w": spec["w"]}
            print(spec["id"], json.dumps(rows[spec["id"]]), flush=True)
        agree: list[dict[str, Any]] = []
        b, h, u = f"{args.budgets_gb[0]:g}", f"{args.width}x{args.height}", f"{args.big_width}x{args.big_height}"
        for m in args.models:
            for a, c, what in PAIRS:
                ida, idc = f"{m}/{a.format(b=b)}", f"{m}/{c}"
                got = agreement(Path(tmp) / f"{ida.replace('/', '_')}.npy", Path(tmp) / f"{idc.replace('/', '_')}.npy")
                if got:
                    agree.append({"model": m, "what": what.format(h=h, u=u)} | got)
        result |= {"rows": rows, "agreement": agree}
        if args.e2e:
            devices = [("cuda", []), ("cuda", ["--max-memory", "16GB"]), ("auto", []), ("cpu", [])] if gpu else [("cpu", [])]
            result["e2e"] = e2e(Path(tmp), 1080, 2048, args.e2e_frames, devices)
    print("\n".join(markdown(result)))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, default=str))
    return result


def _ms(row: dict[str, Any] | None, key: str) -> str:
    return f"{row[key] * 1e3:.1f}" if row and isinstance(row.get(key), (int, float)) else "-"


def command(a: dict[str, Any]) -> str:
    """The command line that reproduces a run with these arguments."""
    cmd = "python -m benchmarks.gpu_speed"
    if a["torchscript"]:
        cmd += f" --torchscript {a['torchscript']}"
    if a["repeats"] != 7:
        cmd += f" --repeats {a['repeats']}"
    return cmd + (" --e2e" if a["e2e"] else "")


def markdown(r: dict[str, Any]) -> list[str]:
    """The BENCHMARKS.md tables for one run's result."""
    a, rows = r["args"], r["rows"]
    lines = [
        f"Card: {r['gpu']} ({r['gpu_memory']}), driver {r['driver']}, onnxruntime {r['ort_version']}. "
        f"Command: `{command(a)}` (median of {a['repeats']} runs after a warm-up run; the CPU peer: "
        f"{a['cpu_repeats']} runs). Input: real photos (scikit-image), tiled to size, sRGB-encoded in [0, 1].",
        "",
        "| model | route | input | ms per frame (numpy in/out) | ms, I/O bound on the GPU | vs bare ORT CUDA fp32 | GPU memory (MiB) | notes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for rid, row in rows.items():
        if rid == "auto" or "/breakdown/" in rid:
            continue
        m, route, size = rid.split("/")
        base = rows.get(f"{m}/ort-fp32/{size}", {})
        ratio = f"{row['plain_s'] / base['plain_s']:.2f}x" if "plain_s" in row and "plain_s" in base else "-"
        parts = (row.get("provider", ""), f"{row['tiles']} tiles of {row['tile']} px" if "tiles" in row else "", row.get("how", ""))
        note = row.get("error", "")[:120] or ", ".join(x for x in parts if x)
        gmib = str(row.get("gpu_mib", "-")) if not route.startswith("cpu") else "-"
        lines.append(f"| {m} | {route} | {row['w']}x{row['h']} | {_ms(row, 'plain_s')} | {_ms(row, 'iobinding_s')} | {ratio} | {gmib} | {note} |")
    columns = {
        "bare_ms": "bare session", "model_session_run_ms": "reelfix `ModelSession.run`",
        "run_tiled_whole_chw_ms": "`run_tiled`, CxHxW out", "run_tiled_whole_hwc_ms": "`run_tiled`, HxWxC out (as `upscale` asks)",
        "hwc_transpose_ms": "HxWxC transposition alone", "tf32_off_ms": "bare, TF32 off",
    }  # fmt: skip
    keys = tuple(columns)
    lines += ["", "Where the time goes, whole frame in one tile (ms):", "",
              "| model | input | " + " | ".join(columns.values()) + " |", "|" + " --- |" * (len(keys) + 2)]  # fmt: skip
    for rid, row in rows.items():
        if "/breakdown/" in rid:
            cells = [f"{row[k]:.1f}" if isinstance(row.get(k), float) else "-" for k in keys]
            lines.append(f"| {rid.split('/')[0]} | {row['w']}x{row['h']} | " + " | ".join(cells) + f" |{row.get('error', '')[:120]}")
    lines += ["", "| model | agreement | max abs difference | PSNR (dB, peak 1) |", "| --- | --- | --- | --- |"]
    lines += [f"| {g['model']} | {g['what']} | {g['max_abs']:.2e} | {g['psnr_db']:.1f} |" for g in r["agreement"]]
    for rid, row in rows.items():
        for tf in ("tf32_on_vs_cpu", "tf32_off_vs_cpu"):
            if tf in row:
                g = row[tf]
                what = f"CUDA fp32, TF32 {'on (default)' if 'on' in tf else 'off'}, vs CPU fp32 ({row['w']}x{row['h']})"
                lines.append(f"| {rid.split('/')[0]} | {what} | {g['max_abs']:.2e} | {g['psnr_db']:.1f} |")
    if "auto" in rows:
        lines += ["", f"`auto` device (route `auto`): {json.dumps(rows['auto'])}"]
    for e in r.get("e2e", []):
        lines.append(f"- e2e `reelfix upscale --device {e['device']} {e['args']}`: rc {e['rc']}, {e['wall_s']:.1f} s wall; "
                     f"header provider {e.get('provider')}, models {e.get('models')}; {e['stdout'][-120:]}")  # fmt: skip
    return lines + [""]


HEADING = "## GPU (CUDA / TensorRT)"


def section(doc: Path) -> list[str]:
    """The GPU section for `make bench`: measured here where CUDA is available, else the section
    already in `doc`, so figures from a lent GPU machine survive a run on a CPU-only machine."""
    result = main([])
    if "skipped" not in result:
        return [HEADING, "", *markdown(result)]
    text = doc.read_text() if doc.exists() else ""
    if HEADING not in text:
        return [HEADING, "", f"Not measured: {result['skipped']}.", ""]
    body = text.split(HEADING, 1)[1]
    end = body.find("\n## ")
    return (HEADING + (body if end < 0 else body[:end])).rstrip("\n").split("\n") + [""]


if __name__ == "__main__":
    main()
