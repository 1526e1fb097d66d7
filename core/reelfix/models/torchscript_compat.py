"""Which Nuke releases can load a TorchScript file, read from its graph (no Nuke needed).

Nuke's Inference node runs the libtorch its release embeds. A file written by a newer torch
loads in an older libtorch only when every operator it calls exists there with the arguments
it passes. What is known, per release (docs/nuke.md has the table with its sources):

    Nuke 13.x         torch 1.6.0   aten::_convolution takes 12 arguments there; torch >= 1.7 writes 13
                                    ("Expected at most 12 arguments but found 13"): never loads
    Nuke 14.x, 15.0   torch 1.12.1  untested; operators added after 1.12 (aten::pad, ...) cannot load
    Nuke 15.1 and on  torch 2.1.1   a file traced with torch 2.13 loads (reported in issue 15; not re-measured here)

A trace can also bake a device into the graph (`device=cpu` constants made in `forward`),
which breaks Inference's "Use GPU if available": such files are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# (Nuke releases, their torch, whether a file from reelfix's torch was seen to load there)
NUKE_TORCH: tuple[tuple[str, tuple[int, int], str], ...] = (
    ("13.x", (1, 6), "no"),
    ("14.x, 15.0", (1, 12), "untested"),
    ("15.1 and later", (2, 1), "yes"),
)
# operators and the torch release that added them (torch release notes; checked only against the graph)
OPS_SINCE: dict[str, tuple[int, int]] = {
    "aten::pad": (1, 13),
    "aten::scaled_dot_product_attention": (2, 0),
    "aten::_upsample_bilinear2d_aa": (1, 11),
    "aten::_upsample_bicubic2d_aa": (1, 11),
    "aten::unflatten": (1, 13),
}
CONVOLUTION_ARGS_SINCE = (1, 7)  # aten::_convolution: 13 arguments (allow_tf32) from torch 1.7


@dataclass
class NukeSupport:
    nuke: str
    torch: str
    loads: str  # "yes", "no" or "untested"
    reasons: list[str]


def _nodes(module: Any) -> list[Any]:
    graph = getattr(module, "inlined_graph", None) or module.graph
    return list(graph.nodes())


def device_constants(module: Any) -> list[str]:
    """The devices baked into the graph as constants (a `device=` made in forward)."""
    found = []
    for node in _nodes(module):
        if node.kind() == "prim::Constant" and node.output().type().kind() == "DeviceObjType":
            found.append(str(node.output().toIValue()))
    return sorted(set(found))


def newest_ops(module: Any) -> dict[str, tuple[int, int]]:
    """Operators of the graph that need a torch newer than 1.6, with the release that added them."""
    needs: dict[str, tuple[int, int]] = {}
    for node in _nodes(module):
        kind = node.kind()
        if kind in OPS_SINCE:
            needs[kind] = OPS_SINCE[kind]
        elif kind == "aten::_convolution" and len(list(node.inputs())) >= 13:
            needs["aten::_convolution (13 arguments)"] = CONVOLUTION_ARGS_SINCE
    return needs


def nuke_support(module: Any) -> list[NukeSupport]:
    """Per Nuke release: can its Inference node load this TorchScript module, and why not."""
    needs = newest_ops(module)
    out = []
    for nuke, torch_version, seen in NUKE_TORCH:
        missing = [f"{op} needs torch {a}.{b}" for op, (a, b) in sorted(needs.items()) if (a, b) > torch_version]
        if seen == "no" and not missing:
            missing = ["a file written by torch 2.x was seen to fail there"]
        out.append(NukeSupport(nuke, "{}.{}".format(*torch_version), "no" if missing else seen, missing))
    return out


def describe(module: Any) -> list[str]:
    """Report lines: one per Nuke release."""
    lines = []
    for s in nuke_support(module):
        why = f" ({'; '.join(s.reasons)})" if s.reasons else ""
        lines.append(f"Nuke {s.nuke} (torch {s.torch}): {'loads' if s.loads == 'yes' else 'will not load' if s.loads == 'no' else 'untested'}{why}")
    return lines
