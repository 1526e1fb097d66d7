"""A test plugin node (loaded through REELFIX_PLUGINS): the mean of a temporal window.

It exercises what temporal nodes rely on: windows of neighbours, fewer neighbours at the
ends of the range, and identical frames whether a range is rendered whole or in chunks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reelfix.nodes.spec import NodeContext, NodeSpec, Param, Window


class TemporalMean:
    def __init__(self, params: dict[str, Any], ctx: NodeContext) -> None:
        self.params = params

    def provenance(self) -> dict[str, Any]:
        return {"node": "tmean", "params": dict(self.params)}

    def process(self, window: Window) -> Any:
        stack = np.stack([window.frames[n].pixels for n in sorted(window.frames)])
        out = window.centre.with_pixels(stack.mean(axis=0).astype(np.float32))
        out.metadata["test:window"] = ",".join(str(n) for n in sorted(window.frames))
        out.metadata["reelfix:tmean"] = f"window of {len(window.frames)}"
        changed = np.abs(out.pixels - window.centre.pixels).max(axis=2) > 0.05
        out.mattes["tmean"] = changed.astype(np.float32)
        return out


NODES = (
    NodeSpec(
        name="tmean",
        label="Temporal Mean",
        help="mean of the frames within +-radius (test plugin)",
        params=(Param("radius", int, 1, "frames each side", min=0, max=5),),
        factory=lambda params, ctx: TemporalMean(params, ctx),
        radius=lambda params: params["radius"],
    ),
)
