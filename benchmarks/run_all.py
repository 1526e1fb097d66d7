"""`make bench`: run every benchmark and write docs/BENCHMARKS.md (figures with the command
that produced each). Ratios against a peer in the same run, since the machine is shared."""

from __future__ import annotations

import datetime
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import cleanup_quality, colour_quality, grain_quality, peak_memory, temporal_quality, upscale_speed  # noqa: E402
from benchmarks import deflicker_independent, denoiser_quality, upscale_plates, upscaler_film_quality  # noqa: E402
from benchmarks import gpu_speed, precision, report_size, stabilize_independent  # noqa: E402
from benchmarks import cpu_speed, host_overhead, scaling  # noqa: E402
from benchmarks.common import ROOT, cpu_name, write_section  # noqa: E402
from reelfix import __version__  # noqa: E402


def ok(flag: bool) -> str:
    return "met" if flag else "NOT met"


SECTIONS = (
    "upscale_speed", "host_overhead", "cpu_speed", "scaling", "peak_memory", "colour", "upscale_plates", "cleanup",
    "temporal", "deflicker", "stabilize", "grain", "denoiser", "upscaler_film", "precision", "report", "gpu",
)  # the order of docs/BENCHMARKS.md


def header() -> list[str]:
    return [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python benchmarks/run_all.py`; one section: `python benchmarks/run_all.py --only NAME`). "
        "Each section below is written to docs/bench/NAME.md by its own script from committed code, with its command, "
        "its goals (met / NOT met) and the date, machine and commit it was measured on; this page joins them in order. "
        "Every figure is compared with a peer measured in the same run; the machine is shared, so read the ratios. "
        "Sections may come from different commits (each names its own): the whole of `make bench` takes over an hour "
        "on a 2-core machine, so a section is re-measured when the code it measures changes.",
        "",
    ]


def stamp() -> str:
    import subprocess

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "core", "benchmarks"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "unknown", ""
    load = os.getloadavg()[1]
    return (
        f"_Measured {datetime.date.today()}, reelfix {__version__} at commit {commit}{' plus uncommitted changes' if dirty else ''}, "
        f"{cpu_name()}, {os.cpu_count()} logical cores, Python {platform.python_version()}; "
        f"load average {load:.1f} over the last 5 minutes{' (above the core count: other work shared the machine)' if load > (os.cpu_count() or 1) else ''}._"
    )


def run_section(name: str, quick: bool) -> list[str]:  # noqa: C901 - one branch per section, in page order
    lines: list[str] = []
    if name == "upscale_speed":
        speed_args = (270, 480, 2) if quick else (540, 960, 5)
        for model in ("span-x2", "span-x4"):
            s = upscale_speed.main(*speed_args, model)
            lines += [
                f"## Upscale speed, {model} on CPU ({speed_args[1]}x{speed_args[0]} input, {speed_args[2]} frames, {s['threads']} threads)",
                "",
                f"Command: `python -m benchmarks.upscale_speed --height {speed_args[0]} --width {speed_args[1]} --frames {speed_args[2]} --model {model}`",
                "",
                "| route | seconds per frame | ratio |",
                "| --- | --- | --- |",
                f"| reelfix end to end (EXR in, colour, model, EXR out, provenance), memory budget for one tile | {s['e2e_s']:.3f} | {s['e2e_over_bare']:.3f}x bare |",
                f"| reelfix end to end, default 2 GB budget (tiles with overlap if the frame needs them) | {s['e2e_tiled_s']:.3f} | {s['e2e_tiled_over_bare']:.3f}x bare |",
                f"| reelfix's ONNX Runtime session alone (its options), whole frame | {s['session_s']:.3f} | {s['session_over_bare']:.3f}x bare |",
                f"| bare call: plain `onnxruntime.InferenceSession` with default options, whole frame | {s['bare_s']:.3f} | 1.000 |",
                f"| ncnn runtime, same SPAN weights, fp32 ({s['threads']} threads) | {s['ncnn_s']:.3f} | {s['ncnn_over_ort']:.3f}x bare |",
                "",
                f"Goals: end to end within 1.10x of the bare call ({ok(s['e2e_over_bare'] <= 1.10)}); "
                f"ORT at least 1.25x faster than ncnn ({ok(s['ncnn_over_ort'] >= 1.25)}). Provider: {s['provider']}.",
                "",
            ]
        return write_section(name, lines)
    if name == "host_overhead":
        return write_section(name, host_overhead.markdown(host_overhead.main(2 if quick else 6)))
    if name == "cpu_speed":
        return cpu_speed.write([cpu_speed.main(m, 270, 480, 3 if quick else 7) for m in ("span-x2", "span-x4")])
    if name == "scaling":
        return scaling.run("0.5K,1K,2K", "0.5K", "", 1) if quick else scaling.run("0.5K,1K,2K,4K,8K", "0.5K,1K,2K", "4K", 2)
    if name == "peak_memory":
        mem_args, t_args = ((1080, 1920), (2160, 3840)) if quick else ((2160, 3840), (4320, 7680))
        m, t = peak_memory.main(*mem_args, "span-x2"), peak_memory.temporal(*t_args, others=not quick)
        return write_section(name, peak_memory.section(m, t, mem_args, t_args))
    if name == "colour":
        c = colour_quality.main(2 if quick else 4, 256 if quick else 384, "span-x2")
        lines += [
            "## Colour management on scene-linear plates (span-x2)",
            "",
            "Command: `python -m benchmarks.colour_quality --count 4 --size 384`. Linear plates from real photos, downscaled x2 in "
            "linear light, upscaled back; PSNR against the clean plate on the sRGB display encoding (clipped to 0-1). "
            "`hdr`: bright areas pushed above 1 (up to x4), as a camera plate holds sky and practicals; `sdr`: no value above 1.",
            "",
            "| route | HDR plates: PSNR gain vs bicubic (dB) | HDR: mean relative error where truth > 1 | SDR plates: gain (dB) |",
            "| --- | --- | --- | --- |",
        ]
        names = {
            "bicubic": "bicubic in linear light (peer)",
            "naive": "model fed the linear values, clipped (no colour management)",
            "auto": "reelfix, `highlights: auto` (default)",
            "rolloff": "reelfix, `highlights: rolloff` (the default before)",
            "split": "reelfix, `highlights: split`",
            "clip": "reelfix, `highlights: clip`",
        }
        for route, label in names.items():
            lines.append(
                f"| {label} | {c[f'hdr_gain_{route}_db']:+.2f} | {c[f'hdr_highlight_err_{route}']:.3f} | {c[f'sdr_gain_{route}_db']:+.2f} |"
            )
        lines += [
            "",
            f"Goals: on HDR plates the naive route loses more than 1 dB against bicubic ({ok(c['hdr_gain_naive_db'] < -1.0)}); "
            f"reelfix's default beats bicubic ({ok(c['hdr_gain_auto_db'] > 0)}) and keeps values above 1 as well as bicubic does "
            f"({ok(c['hdr_highlight_err_auto'] <= c['hdr_highlight_err_bicubic'] * 1.1)}); on SDR plates the default is within "
            f"0.05 dB of `clip` ({ok(c['sdr_gain_auto_db'] >= c['sdr_gain_clip_db'] - 0.05)}).",
            "",
            f"The node ran on {c['route']}; the naive route is a session of the same runtime fed the linear values.",
            "",
            "Reading: on plates with no value above 1 and a degradation made in linear light, feeding the model linear values "
            "happens to score higher than converting to its sRGB training space (the model then sees the same blur it was "
            "trained on); the moment a plate holds values above 1, that route clips them and falls below bicubic.",
            "",
        ]
        return write_section(name, lines)
    if name == "upscale_plates":
        return upscale_plates.write(upscale_plates.main())
    if name == "cleanup":
        return cleanup_quality.write(cleanup_quality.main(270, 480, 5, (540, 960)) if quick else cleanup_quality.main())
    if name == "temporal":
        return write_section(name, temporal_quality.section(temporal_quality.main(quick=quick)))
    if name == "deflicker":
        return deflicker_independent.write(deflicker_independent.main(quick=quick))
    if name == "stabilize":
        return stabilize_independent.write(stabilize_independent.main(quick=quick))
    if name == "grain":
        return write_section(name, grain_quality.markdown(grain_quality.main(7, 240, 320, (540, 960)) if quick else grain_quality.main()))
    if name == "denoiser":
        return write_section(name, denoiser_quality.markdown(denoiser_quality.main(192 if quick else 384)))
    if name == "upscaler_film":
        return write_section(name, upscaler_film_quality.markdown(upscaler_film_quality.main(96 if quick else 192)))
    if name == "precision":
        return write_section(name, precision.markdown(precision.main(270, 480, 1, ("span-x2",)) if quick else precision.main()))
    if name == "report":
        return report_size.markdown(report_size.main(200 if quick else 2000))
    if name == "gpu":  # without CUDA (skips in ~0.2 s): keeps the section a GPU machine wrote
        return write_section(name, gpu_speed.section(ROOT / "docs" / "bench" / "gpu.md"))
    raise SystemExit(f"unknown section {name!r}; choose from {', '.join(SECTIONS)}")


def assemble() -> str:
    """docs/BENCHMARKS.md from the sections' files, in page order."""
    lines = header()
    for name in SECTIONS:
        part = ROOT / "docs" / "bench" / f"{name}.md"
        lines += part.read_text().rstrip("\n").split("\n") + [""] if part.exists() else [f"## {name}", "", f"Not measured yet: `python benchmarks/run_all.py --only {name}`.", ""]
    return "\n".join(lines)


def main() -> None:
    quick = "--quick" in sys.argv
    only = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--only=")), None)
    if "--only" in sys.argv:
        only = sys.argv[sys.argv.index("--only") + 1]
    for name in only.split(",") if only else SECTIONS:
        lines = run_section(name, quick)
        part = ROOT / "docs" / "bench" / f"{name}.md"
        if part.exists():  # every section carries when, where and from which commit it was measured
            text = part.read_text().rstrip("\n")
            if "_Measured " not in text:
                part.write_text(text + "\n\n" + stamp() + "\n")
        print("\n".join(lines))
    out = ROOT / "docs" / "BENCHMARKS.md"
    out.write_text(assemble())


if __name__ == "__main__":
    main()
