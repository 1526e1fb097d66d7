"""The review page itself: one self-contained HTML file (inline style and script, no network),
pictures beside it in assets/. Values shown from the manifest carry `data-manifest` with their
path in the manifest, so a test (or a suspicious reader) can check them against it."""

from __future__ import annotations

import html
import json
from typing import Any

from .charts import render
from .page_assets import SCRIPT, STYLE


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _m(path: str, value: Any, tag: str = "span") -> str:
    """A value read from the manifest, tagged with where it came from."""
    return f'<{tag} data-manifest="{_e(path)}">{_e(value)}</{tag}>'


def _figure(label: str, value: Any, unit: str = "") -> str:
    shown = "n/a" if value is None else f"{value}{unit}"
    return f'<div class="fig"><b>{_e(shown)}</b><span>{_e(label)}</span></div>'


def _shot(shot: dict[str, Any]) -> str:
    i, previews, f = shot["index"], shot["previews"], shot["figures"]
    head = (
        f'<section class="shot" id="shot-{i}" data-shot="{i}"><h2>Shot {i} <small>frames {shot["first"]}&ndash;{shot["last"]} '
        f'({shot["count"]} frames{", " + str(len(shot["failed"])) + " failed" if shot["failed"] else ""})</small></h2>'
    )
    figures = "".join(
        [
            _figure("flicker before (RMS frame-to-frame, stops)", f["flicker_before"]),
            _figure("flicker after", f["flicker_after"]),
            _figure("defects repaired", f["defects"]),
            _figure("residual weave before (RMS px)", f["weave_before"]),
            _figure("residual weave after", f["weave_after"]),
        ]
    )
    note = "" if f["measured"] == shot["count"] else f'<p class="note">curves from {f["measured"]} of {shot["count"]} frames (the frames read for this report)</p>'
    if previews:
        p0 = previews[0]
        w, h = (int(v) for v in p0["size"].split("x"))
        matte = f'<img class="matte" alt="matte" src="{_e(p0["matte"])}" hidden>' if p0.get("matte") else '<img class="matte" alt="matte" hidden>'
        viewer = (
            f'<div class="viewer"><div class="wipe" tabindex="0" style="aspect-ratio:{w}/{h}" data-pos="50">'
            f'<img class="before" alt="before" src="{_e(p0["before"])}" width="{w}" height="{h}">'
            f'<div class="after-clip"><img class="after" alt="after" src="{_e(p0["after"])}" width="{w}" height="{h}">{matte}</div>'
            '<div class="divider"><span></span></div><span class="tag l">before</span><span class="tag r">after</span></div>'
            f'<div class="controls"><label><input type="checkbox" class="matte-toggle"{"" if any(p.get("matte") for p in previews) else " disabled"}> '
            f'mattes (what changed) on the after side</label> <span class="current">frame {p0["frame"]}</span></div></div>'
        )
        thumbs = "".join(
            f'<button class="thumb{" on" if k == 0 else ""}" data-i="{k}" data-frame="{p["frame"]}" title="frame {p["frame"]}">'
            f'<img alt="" loading="lazy" src="{_e(p["thumb"])}"><span>{p["frame"]}</span></button>'
            for k, p in enumerate(previews)
        )
        viewer += f'<div class="strip">{thumbs}</div>'
    else:
        viewer = '<p class="note">no frames of this shot were written in this run</p>'
    curves = "".join(render(c, f"{i}-{k}") for k, c in enumerate(shot["charts"]))
    return head + f'<div class="figures">{figures}</div>' + viewer + note + f'<div class="curves">{curves}</div></section>'


def _provenance(prov: dict[str, Any], display: dict[str, Any], cost: dict[str, Any]) -> str:
    rows = "".join(
        f'<tr><td>{k + 1}</td><td>{_m(f"runs.-1.chain.{k}.node", n["node"])}</td>'
        f'<td><code>{_e(json.dumps(n["params"], sort_keys=True))}</code></td><td>{_e(n["provider"] or "-")}</td></tr>'
        for k, n in enumerate(prov["chain"])
    )
    models = "".join(
        f'<tr><td>{_e(m["node"])}</td><td>{_e(m["name"])}</td><td><code class="hash">{_e(m["sha256"])}</code></td>'
        f'<td>{_e(m["licence"])}</td><td>{_e(m.get("colorspace", ""))}</td><td>{_e(m.get("provider", ""))}</td></tr>'
        for m in prov["models"]
    ) or '<tr><td colspan="6">no models in this chain</td></tr>'
    fails = "".join(
        f'<tr class="failure" data-frame="{x["frame"]}"><td>{x["frame"]}</td><td>{_e(x["path"])}</td>'
        f'<td>{_m("frames.%d.error" % x["frame"], x["error"])}</td></tr>'
        for x in prov["failures"]
    ) or '<tr><td colspan="3">none</td></tr>'
    warnings = "".join(f"<li>{_e(w)}</li>" for w in prov["warnings"]) or "<li>none</li>"
    views = "; ".join(f'{side}: {_e(v["display"])} / {_e(v["view"])}' for side, v in display.items()) or "n/a"
    fs = prov["frame_seconds"]
    cs = prov["colorspaces"]
    return (
        '<section id="provenance"><h2>Provenance</h2><dl class="facts">'
        f'<dt>reelfix</dt><dd>{_m("runs.-1.version", prov["version"])}</dd>'
        f'<dt>job hash</dt><dd><code>{_m("job_hash", prov["job_hash"])}</code></dd>'
        f'<dt>input</dt><dd><code>{_m("job.input.path", prov["input"])}</code> ({_m("runs.-1.colorspaces.input", cs.get("input", ""))})</dd>'
        f'<dt>output</dt><dd><code>{_m("job.output.path", prov["output"])}</code> ({_m("runs.-1.colorspaces.output", cs.get("output", ""))})</dd>'
        f'<dt>shown through</dt><dd>OCIO {views}</dd>'
        f'<dt>providers</dt><dd>{_e(", ".join(prov["providers"]) or "none (no model in the chain)")}</dd>'
        f'<dt>run time</dt><dd>{_m("runs.-1.seconds", prov["run_seconds"])} s (finished {_m("runs.-1.finished", prov["finished"])})</dd>'
        f'<dt>per frame</dt><dd><span data-derived="frame_seconds.mean">{_e(fs["mean"])}</span> s mean, '
        f'<span data-derived="frame_seconds.max">{_e(fs["max"])}</span> s slowest, over '
        f'<span data-derived="frame_seconds.count">{fs["count"]}</span> frames done</dd>'
        f'<dt>this page</dt><dd><span data-derived="cost.seconds">{_e(cost.get("seconds", "n/a"))}</span> s '
        f'(<span data-derived="cost.waited">{_e(cost.get("waited", 0))}</span> s of it holding the run up) to measure '
        f'<span data-derived="cost.frames">{_e(cost.get("frames", 0))}</span> frames and make '
        f'<span data-derived="cost.previews">{_e(cost.get("previews", 0))}</span> previews</dd></dl>'
        f"<h3>Node chain</h3><table><tr><th>#</th><th>node</th><th>parameters</th><th>provider</th></tr>{rows}</table>"
        f"<h3>Models</h3><table><tr><th>node</th><th>model</th><th>sha256</th><th>licence</th><th>colour space</th><th>provider</th></tr>{models}</table>"
        f"<h3>Failures</h3><table><tr><th>frame</th><th>output</th><th>reason</th></tr>{fails}</table>"
        f"<h3>Warnings</h3><ul>{warnings}</ul></section>"
    )


def render_page(
    *, title: str, manifest_name: str, prov: dict[str, Any], shots: list[dict[str, Any]], display: dict[str, Any], cost: dict[str, Any]
) -> str:
    summary = prov["summary"]
    counts = "".join(
        f'<div class="fig"><b>{_m(f"summary.{k}", summary[k]) if k in summary else 0}</b><span>{k}</span></div>' for k in ("done", "skipped", "failed")
    )
    nav = " ".join(f'<a href="#shot-{s["index"]}">shot {s["index"]}</a>' for s in shots) + ' <a href="#provenance">provenance</a>'
    data = {"shots": [{"index": s["index"], "previews": s["previews"]} for s in shots]}
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>reelfix review: {_e(title)}</title><style>{STYLE}</style></head><body>"
        f'<header><h1>reelfix review: {_e(title)}</h1><p class="note">from <code>{_e(manifest_name)}</code></p>'
        f'<div class="figures">{counts}</div><nav>{nav}</nav></header><main>'
        + "".join(_shot(s) for s in shots)
        + _provenance(prov, display, cost)
        + f'</main><script type="application/json" id="report-data">{payload}</script><script>{SCRIPT}</script></body></html>'
    )
