"""Restoration nodes: one module per node, each a `NodeSpec` plus its runner.

The registry is an explicit tuple (no import-time scanning): add a node by writing its
module and listing its spec here.
"""

from __future__ import annotations

from ..errors import JobError
from .spec import NodeSpec
from .upscale import SPEC as UPSCALE

NODES: tuple[NodeSpec, ...] = (UPSCALE,)


def get_node(name: str, where: str = "pipeline") -> NodeSpec:
    for spec in NODES:
        if spec.name == name:
            return spec
    raise JobError(
        f"{where}: unknown node '{name}'",
        hint=f"known nodes: {', '.join(s.name for s in NODES)}; see `reelfix nodes`",
    )
