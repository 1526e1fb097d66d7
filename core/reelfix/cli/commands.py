"""`reelfix run`, one command per node (generated from the node's declaration: `reelfix upscale ...`),
and the listing commands (`nodes`, `devices`, `colorspaces`, `demo`)."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from .. import console
from ..errors import ReelfixError
from ..jobs.load import job_from_data, load_job, rebase
from ..jobs.spec import DEVICES
from ..nodes import all_nodes
from ..nodes.spec import NodeSpec
from .app import FRAMES_HELP, _execute, _guard, app

@app.command()
def run(
    job_file: Path = typer.Argument(..., help="job file (.yaml/.yml/.json)"),
    frames: Optional[str] = typer.Option(None, "--frames", "-f", help=FRAMES_HELP),
    device: Optional[str] = typer.Option(None, "--device", help=f"override the job's device: {'|'.join(DEVICES)}"),
    no_resume: bool = typer.Option(False, "--no-resume", help="redo frames already finished"),
    fail_fast: bool = typer.Option(False, "--fail-fast", help="stop at the first failed frame"),
    progress: str = typer.Option("auto", "--progress", help="auto|bar|plain|json (hosts)|openjd (farm logs)"),
    path_mapping_rules: Optional[Path] = typer.Option(
        None, "--path-mapping-rules", help="OpenJD path mapping rules (pathmapping-1.0 JSON) applied to every path in the job"
    ),
    manifest_per_chunk: bool = typer.Option(
        False, "--manifest-per-chunk", help="write the manifest as NAME.reelfix.FRAMES.json (farm tasks synced back separately)"
    ),
    report: Optional[Path] = typer.Option(None, "--report", help="also write a review page (index.html + assets) into this folder while the job runs"),
) -> None:
    """Run a job file."""

    def body() -> None:
        job = load_job(job_file)
        if path_mapping_rules:
            from ..farm.pathmap import load_rules, map_job

            job = map_job(job, load_rules(path_mapping_rules))
        if device:
            job = job_from_data({**job.model_dump(mode="json"), "device": device}, f"--device {device}")
        if report is not None:
            from .report import run_with_report

            run_with_report(job, frames, not no_resume, fail_fast, job_file.name, progress, report)
            return
        _execute(job, frames, not no_resume, fail_fast, job_file.name, progress, manifest_per_chunk=manifest_per_chunk)

    _guard(body)


def _node_command(spec: NodeSpec) -> Callable[..., None]:
    """A CLI command for one node, its options generated from the node's parameters."""

    def command(**kwargs: Any) -> None:
        def body() -> None:
            params = {p.name: kwargs.pop(p.name) for p in spec.params}
            data = {
                "input": {"path": kwargs["input"], "frames": kwargs["frames"], "colorspace": kwargs["in_colorspace"]},
                "output": {
                    "path": kwargs["output"],
                    "colorspace": kwargs["out_colorspace"],
                    "compression": kwargs["compression"],
                    "bit_depth": kwargs["bit_depth"],
                },
                "pipeline": [{"node": spec.name, "params": params}],
                "device": kwargs["device"],
                "max_memory": kwargs["max_memory"],
            }
            job = rebase(job_from_data(data, f"reelfix {spec.name}"), Path.cwd())
            _execute(job, None, not kwargs["no_resume"], kwargs["fail_fast"], spec.name)

        _guard(body)

    P = inspect.Parameter
    common = [
        P("input", P.KEYWORD_ONLY, annotation=str, default=typer.Argument(..., help="input sequence (name.####.exr), image or movie")),
        P("output", P.KEYWORD_ONLY, annotation=str, default=typer.Argument(..., help="output sequence or .mov")),
        P("frames", P.KEYWORD_ONLY, annotation=Optional[str], default=typer.Option(None, "--frames", "-f", help="input frame range")),
        P("in_colorspace", P.KEYWORD_ONLY, annotation=Optional[str], default=typer.Option(None, "--in-colorspace", help="input colour space (default: from the file)")),
        P("out_colorspace", P.KEYWORD_ONLY, annotation=Optional[str], default=typer.Option(None, "--out-colorspace", help="output colour space (default: the input's; sRGB for png/jpg/8-16-bit tif from a linear or log input)")),
        P("compression", P.KEYWORD_ONLY, annotation=Optional[str], default=typer.Option(None, "--compression", help="e.g. zip, piz, dwaa (EXR)")),
        P("bit_depth", P.KEYWORD_ONLY, annotation=Optional[str], default=typer.Option(None, "--bit-depth", help="half|float (EXR), 8|10|16|32")),
        P("device", P.KEYWORD_ONLY, annotation=str, default=typer.Option("auto", "--device", help="|".join(DEVICES))),
        P("max_memory", P.KEYWORD_ONLY, annotation=str, default=typer.Option("2GB", "--max-memory", help="host memory budget for the upscaler's tiles and dustbust's bands")),
        P("no_resume", P.KEYWORD_ONLY, annotation=bool, default=typer.Option(False, "--no-resume", help="redo finished frames")),
        P("fail_fast", P.KEYWORD_ONLY, annotation=bool, default=typer.Option(False, "--fail-fast", help="stop at the first failed frame")),
    ]
    own = []
    for p in spec.params:
        flag = "--" + p.name.replace("_", "-")
        decls = [f"{flag}/--no-{p.name.replace('_', '-')}"] if p.type is bool else [flag]
        help_text = p.help + (f" (one of {', '.join(map(str, p.choices))})" if p.choices else "")
        own.append(P(p.name, P.KEYWORD_ONLY, annotation=p.type, default=typer.Option(p.default, *decls, help=help_text)))
    command.__signature__ = inspect.Signature(common + own)  # type: ignore[attr-defined]
    command.__doc__ = spec.help
    command.__name__ = spec.name
    return command


def _register_node_commands() -> None:
    try:
        specs = all_nodes()
    except ReelfixError as exc:  # a broken plugin must not take the whole CLI down
        console.error(exc)
        from ..nodes import BUILTIN as specs
    for spec in specs:
        app.command(name=spec.name, help=spec.help)(_node_command(spec))


_register_node_commands()


@app.command()
def nodes(
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
    markdown: bool = typer.Option(False, "--markdown", help="the reference page (docs/nodes/reference.md)"),
) -> None:
    """List every node with its parameters, types, defaults and help."""
    specs = _guard(all_nodes)
    if markdown:
        from ..nodes.reference import reference_markdown

        typer.echo(reference_markdown(specs), nl=False)
        return
    described = [s.describe() for s in specs]
    if as_json:
        console.out.print_json(json.dumps(described))
        return
    for node in described:
        console.out.print(f"[bold]{node['name']}[/] - {node['help']}")
        for p in node["params"]:
            extra = f" choices={p['choices']}" if "choices" in p else ""
            extra += f" min={p['min']}" if "min" in p else ""
            extra += f" max={p['max']}" if "max" in p else ""
            console.out.print(f"  {p['name']:<12} {p['type']:<6} default={p['default']!r}{extra}  {p['help']}", markup=False)


@app.command()
def devices() -> None:
    """List execution devices and whether they are available here."""
    from ..runtime.providers import available_devices

    for d in available_devices():
        mark = "yes" if d.get("available") else "no"
        console.out.print(f"{d['name']:<10} {mark:<4} {d.get('provider', '')}  {d.get('notes', '')}", markup=False)


@app.command()
def colorspaces() -> None:
    """List the colour spaces (and aliases) of the pinned OCIO config."""
    from ..colour import list_colorspaces

    for name, aliases, family in list_colorspaces():
        console.out.print(f"{name}  [{', '.join(aliases)}]  {family}", markup=False)


@app.command()
def demo(out: Path = typer.Option(Path("demo_out"), "--out", help="folder for the demo's results")) -> None:
    """Build a damaged low-resolution clip from a CC0 photo, restore it, report PSNR against bicubic."""
    from ..demo import run_demo

    r = _guard(lambda: run_demo(out))
    dust = f"dust specks covered by the dustbust matte: {r['dust_covered']:.0%}; " if r["dust_covered"] is not None else ""
    console.out.print(
        f"reelfix demo: {r['frames']} frames, {' -> '.join(r['pipeline'])} -> {r['output']}\n"
        f"  {dust}flicker (RMS of frame means vs truth): {r['flicker_rms_before']:.2%} -> {r['flicker_rms_after']:.2%}\n"
        f"  PSNR against the clean truth: reelfix {r['psnr_reelfix_db']:.2f} dB, bicubic {r['psnr_bicubic_db']:.2f} dB"
        f" (gain {r['gain_db']:+.2f} dB), provider {r['provider']}\n"
        f"  before/after: {out / 'compare'}; review page: {r['report']}; summary: {out / 'summary.json'}; took {r['seconds']:.1f}s",
        markup=False,
        soft_wrap=True,
    )


