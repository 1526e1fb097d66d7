"""The node reference page, generated from the declarations (`reelfix nodes --markdown`).

docs/nodes/reference.md is this function's output, committed; a test regenerates it and
fails when it differs, so the parameter tables can never drift from the code. The
hand-written pages beside it (docs/nodes/NAME.md) explain when and why to use each node.
"""

from __future__ import annotations

from typing import Iterable

from .spec import NodeSpec, Param


def _limits(p: Param) -> str:
    parts = []
    if p.choices is not None:
        parts.append(" \\| ".join(f"`{c}`" for c in p.choices))
    if p.min is not None or p.max is not None:
        lo = "" if p.min is None else f"{p.min:g}"
        hi = "" if p.max is None else f"{p.max:g}"
        parts.append(f"{lo}..{hi}")
    return "; ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def node_markdown(spec: NodeSpec) -> str:
    lines = [f"## `{spec.name}`: {spec.label}", "", spec.help, ""]
    page = f"[{spec.name}.md]({spec.name}.md)"
    lines += [f"Guide: {page}. CLI: `reelfix {spec.name} IN OUT --PARAM VALUE`; in a job: `- node: {spec.name}`.", ""]
    if not spec.params:
        return "\n".join(lines + ["No parameters.", ""])
    lines += ["| parameter | type | default | range | meaning |", "| --- | --- | --- | --- | --- |"]
    for p in spec.params:
        lines.append(f"| `{p.name}` | {p.type_name} | `{p.default!r}` | {_limits(p)} | {_cell(p.help)} |")
    return "\n".join(lines + [""])


def reference_markdown(specs: Iterable[NodeSpec]) -> str:
    specs = list(specs)
    head = [
        "# Node reference",
        "",
        "Generated from the node declarations by `reelfix nodes --markdown` (`make docs`); do not edit by hand.",
        "",
        "| node | what it does |",
        "| --- | --- |",
    ]
    head += [f"| [`{s.name}`](#{s.name}) | {_cell(s.label)} |" for s in specs]
    return "\n".join(head + [""] + [node_markdown(s) for s in specs])
