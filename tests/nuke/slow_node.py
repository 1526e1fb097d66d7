"""A node plugin for the cancel tests (REELFIX_PLUGINS=tests.nuke.slow_node): copies frames.

With `gate` set to a file path, the first frame of a run (or the frame `free`: the run works
on the next frames while it finishes one, so which it asks for first is a race) is copied at
once and every other frame creates `<gate>.waiting` and waits until the gate file exists: a test cancels once it
sees `.waiting` (the core is provably in the middle of the run: a handshake, no timing), then
creates the gate so a rerun goes through. The wait
polls with short sleeps, which an interrupt (SIGINT: the plugin's cancel) breaks at once; it
gives up after `max_wait` seconds so a broken test never hangs the suite.
"""

from __future__ import annotations

import os
import time
from typing import Any

from reelfix.nodes.spec import NodeContext, NodeSpec, Param, Window


class SlowCopy:
    def __init__(self, params: dict[str, Any], ctx: NodeContext) -> None:
        self.params = params
        self.calls = 0

    def provenance(self) -> dict[str, Any]:
        return {"node": "slowcopy", "params": dict(self.params)}

    def process(self, window: Window) -> Any:
        self.calls += 1
        gate = self.params["gate"]
        free = self.params["free"]
        if gate and (window.centre.number != free if free else self.calls > 1):
            give_up = time.monotonic() + self.params["max_wait"]
            with open(gate + ".waiting", "w") as note:  # what the process does with signals (Linux), for a failing test's message
                if os.path.exists("/proc/self/status"):
                    with open("/proc/self/status") as status:
                        note.write("".join(line for line in status if line.startswith(("SigBlk", "SigIgn", "SigCgt", "SigPnd", "ShdPnd"))))
            while not os.path.exists(gate) and time.monotonic() < give_up:
                time.sleep(0.01)
        if self.params["delay"]:
            time.sleep(self.params["delay"])
        return window.centre


NODES = (
    NodeSpec(
        name="slowcopy",
        label="Slow Copy",
        help="copies each frame; frames after a run's first wait for the 'gate' file (test plugin for cancelling)",
        params=(
            Param("delay", float, 0.0, "seconds per frame", min=0.0, max=5.0),
            Param("gate", str, "", "a file: frames after the first of a run wait until it exists"),
            Param("max_wait", float, 60.0, "seconds a frame waits for the gate at most", min=0.0, max=600.0),
            Param("free", int, 0, "with a gate: the one frame that never waits (0 = whichever the run asks for first)", min=0),
        ),
        factory=lambda params, ctx: SlowCopy(params, ctx),
    ),
)
