"""A node plugin for the cancel test (REELFIX_PLUGINS=tests.nuke.slow_node): copies frames slowly."""

from __future__ import annotations

import time
from typing import Any

from reelfix.nodes.spec import NodeContext, NodeSpec, Param, Window


class SlowCopy:
    def __init__(self, params: dict[str, Any], ctx: NodeContext) -> None:
        self.params = params

    def provenance(self) -> dict[str, Any]:
        return {"node": "slowcopy", "params": dict(self.params)}

    def process(self, window: Window) -> Any:
        time.sleep(self.params["delay"])
        return window.centre


NODES = (
    NodeSpec(
        name="slowcopy",
        label="Slow Copy",
        help="copies each frame after a pause (test plugin for cancelling)",
        params=(Param("delay", float, 0.4, "seconds per frame", min=0.0, max=5.0),),
        factory=lambda params, ctx: SlowCopy(params, ctx),
    ),
)
