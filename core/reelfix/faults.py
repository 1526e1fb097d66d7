"""Named points where the reliability tests inject faults into a real run (off unless set).

    REELFIX_FAULT=write:1003            pause when frame 1003 is being written
    REELFIX_FAULT=manifest              pause while the manifest is being replaced
    REELFIX_FAULT=read:1002:raise       raise OSError(ENOSPC) when frame 1002 is read

Points: `read` (a source frame is read), `node` (a frame has left the last node), `write`
(an output frame's temp file is written, not yet renamed), `manifest` (the manifest's temp
file is written, not yet renamed). `pause` first creates the file REELFIX_FAULT_READY (the
test's handshake: now kill -9 it, or do something meanwhile), then waits until the file
REELFIX_FAULT_RELEASE exists (forever when unset). Nothing here runs when REELFIX_FAULT is unset.
"""

from __future__ import annotations

import errno
import os
import time

ENV = "REELFIX_FAULT"


def _matches(wanted: str, number: int | str | None) -> bool:
    """Frame numbers by value; a file path when it names that frame (`.1003.`)."""
    if isinstance(number, str):
        return f".{wanted}." in os.path.basename(number)
    return number is not None and str(number) == wanted


def point(name: str, number: int | str | None = None) -> None:
    """A fault point; free when REELFIX_FAULT is unset."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    parts = spec.split(":")
    if parts[0] != name or (len(parts) > 1 and parts[1] and not _matches(parts[1], number)):
        return
    action = parts[2] if len(parts) > 2 else "pause"
    if action == "raise":
        raise OSError(errno.ENOSPC, f"No space left on device (injected at {spec})")
    ready, release = os.environ.get(ENV + "_READY"), os.environ.get(ENV + "_RELEASE")
    if ready:
        with open(ready, "w") as fh:
            fh.write(str(os.getpid()))
    while not (release and os.path.exists(release)):
        time.sleep(0.01)  # a handshake: wait for the test's file (or its kill -9)
