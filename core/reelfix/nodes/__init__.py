"""Restoration nodes: one module per node, each a `NodeSpec` plus its runner.

Built-in nodes are listed explicitly in `BUILTIN` (no directory scanning). Studios add
their own nodes without touching reelfix: a module exposing `NODES` (a sequence of
NodeSpec) is loaded from the `reelfix.nodes` entry-point group of installed packages, or
named in `REELFIX_PLUGINS` (comma-separated module names). Plugins load on first use.
"""

from __future__ import annotations

import importlib
import os
from functools import lru_cache
from importlib.metadata import entry_points

from ..errors import JobError, UserError
from .deflicker import SPEC as DEFLICKER
from .degrain import SPEC as DEGRAIN
from .denoise import SPEC as DENOISE
from .dustbust import SPEC as DUSTBUST
from .regrain import SPEC as REGRAIN
from .scratch import SPEC as SCRATCH
from .spec import NodeSpec
from .stabilize import SPEC as STABILIZE
from .upscale import SPEC as UPSCALE

BUILTIN: tuple[NodeSpec, ...] = (
    UPSCALE,
    DUSTBUST,
    SCRATCH,
    DEFLICKER,
    STABILIZE,
    DEGRAIN,
    REGRAIN,
    DENOISE,
)


def _plugin_specs(module_name: str, origin: str) -> tuple[NodeSpec, ...]:
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(f"cannot load node plugin '{module_name}' ({origin}): {exc}", hint="fix or unset it") from None
    specs = tuple(getattr(module, "NODES", ()))
    if not specs or not all(isinstance(s, NodeSpec) for s in specs):
        raise UserError(f"node plugin '{module_name}' ({origin}) has no NODES list of NodeSpec")
    return specs


@lru_cache(maxsize=None)
def _all(plugins: str) -> tuple[NodeSpec, ...]:
    found = list(BUILTIN)
    for ep in entry_points(group="reelfix.nodes"):
        found.extend(_plugin_specs(ep.value, f"entry point {ep.name}"))
    for name in filter(None, (p.strip() for p in plugins.split(","))):
        found.extend(_plugin_specs(name, "REELFIX_PLUGINS"))
    names = [s.name for s in found]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UserError(f"node name(s) declared twice: {', '.join(duplicates)}", hint="rename the plugin's nodes")
    return tuple(found)


def all_nodes() -> tuple[NodeSpec, ...]:
    """Built-in nodes followed by plugin nodes."""
    return _all(os.environ.get("REELFIX_PLUGINS", ""))


def get_node(name: str, where: str = "pipeline") -> NodeSpec:
    nodes = all_nodes()
    for spec in nodes:
        if spec.name == name:
            return spec
    raise JobError(
        f"{where}: unknown node '{name}'",
        hint=f"known nodes: {', '.join(s.name for s in nodes)}; see `reelfix nodes`",
    )
