"""Running a job in the core's own process, with progress and cancel (no Nuke here).

`reelfix run JOB --progress json` prints one JSON object per frame on stderr
(`{"event": "frame", "frame": N, "status": "done|skipped|failed", "done": k, "total": n, ...}`),
a summary on stdout (`reelfix: 8 done, 0 skipped, 0 failed in 1.2s; provider: X`), and exits
0 (ok), 1 (some frames failed, named) or 2 (bad job or input; the message is on stderr).

Cancel interrupts the core (SIGINT on Linux/macOS: it stops after the current frame and
says so; terminate on Windows, and after a grace period everywhere). Frames are written
atomically, so finished frames are kept and a rerun resumes after them.
"""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, IO, List, Optional, Sequence, Tuple

from .core import child_env, popen_flags

POLL_S = 0.1
GRACE_S = 5.0

Event = Dict[str, Any]


def parse_progress(line: str) -> Optional[Event]:
    """One stderr line -> a progress event, or None for any other text."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if isinstance(data, dict) and data.get("event") == "frame":
        return data
    return None


_PROVIDER = re.compile(r"provider:\s*(.+?)\s*$", re.MULTILINE)


def parse_providers(stdout: str) -> List[str]:
    m = _PROVIDER.search(stdout)
    if not m or m.group(1) == "none":
        return []
    return [p.strip() for p in m.group(1).split(",") if p.strip()]


class Outcome(object):
    """What a core run gave: exit code, frame events, its text, and whether it was cancelled."""

    def __init__(self) -> None:
        self.returncode = 0
        self.events: List[Event] = []
        self.stdout = ""
        self.messages: List[str] = []  # stderr lines that are not progress events
        self.cancelled = False
        self.seconds = 0.0
        self.pid = 0

    def frames(self, status: str) -> List[int]:
        return [int(e["frame"]) for e in self.events if e.get("status") == status]

    @property
    def providers(self) -> List[str]:
        return parse_providers(self.stdout)

    @property
    def error_text(self) -> str:
        """The core's own words (stderr without progress lines)."""
        return "\n".join(m for m in self.messages if m.strip()).strip()

    def failures(self) -> List[Tuple[int, str]]:
        return [(int(e["frame"]), str(e.get("error") or "")) for e in self.events if e.get("status") == "failed"]


def _pump(stream: IO[bytes], tag: str, out: "queue.Queue[Tuple[str, Optional[str]]]") -> None:
    for raw in iter(stream.readline, b""):
        out.put((tag, raw.decode("utf-8", "replace").rstrip("\r\n")))
    out.put((tag, None))


def _interrupt(proc: "subprocess.Popen[bytes]") -> None:
    if sys.platform == "win32":
        proc.terminate()
    else:
        proc.send_signal(signal.SIGINT)


def _stop(proc: "subprocess.Popen[bytes]", grace: float) -> None:
    """Interrupt, then terminate, then kill: whichever ends the process first."""
    for step in (_interrupt, lambda p: p.terminate(), lambda p: p.kill()):
        if proc.poll() is not None:
            return
        try:
            step(proc)
        except OSError:
            return
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue


def run_job(
    argv: Sequence[str],
    on_event: Callable[[Event], None] = lambda e: None,
    is_cancelled: Callable[[], bool] = lambda: False,
    grace: float = GRACE_S,
) -> Outcome:
    """Run the core with `argv` (a list, never a shell string) until it ends or is cancelled."""
    outcome = Outcome()
    started = time.time()
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
        creationflags=popen_flags(),
    )
    outcome.pid = proc.pid
    lines: "queue.Queue[Tuple[str, Optional[str]]]" = queue.Queue()
    assert proc.stdout is not None and proc.stderr is not None  # both are PIPEs
    readers = [
        threading.Thread(target=_pump, args=(proc.stdout, "out", lines), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, "err", lines), daemon=True),
    ]
    for t in readers:
        t.start()
    open_streams, stdout = 2, []
    while open_streams:
        if not outcome.cancelled and is_cancelled():
            outcome.cancelled = True
            _stop(proc, grace)
        try:
            tag, line = lines.get(timeout=POLL_S)
        except queue.Empty:
            continue
        if line is None:
            open_streams -= 1
        elif tag == "out":
            stdout.append(line)
        else:
            event = parse_progress(line)
            if event is None:
                outcome.messages.append(line)
            else:
                outcome.events.append(event)
                on_event(event)
    outcome.returncode = proc.wait()
    outcome.stdout = "\n".join(stdout)
    outcome.seconds = time.time() - started
    return outcome
