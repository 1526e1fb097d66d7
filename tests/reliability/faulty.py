"""Running reelfix in a child process that stops at a named fault point (reelfix.faults): the
test waits for the point's handshake file, then kills the child (-9) or lets it go on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.reliability.helpers import ROOT


class Child:
    def __init__(self, args: list[str], fault: str, folder: Path, name: str = "child", extra_env: dict[str, str] | None = None) -> None:
        self.ready = folder / f"{name}.ready"
        self.release = folder / f"{name}.release"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "REELFIX_FAULT": fault, "REELFIX_FAULT_READY": str(self.ready),
               "REELFIX_FAULT_RELEASE": str(self.release), **(extra_env or {})}
        self.proc = subprocess.Popen([sys.executable, "-m", "reelfix", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_ready(self, timeout: float = 120) -> None:
        """Block until the child reached its fault point (a file it creates there)."""
        end = time.monotonic() + timeout
        while not self.ready.exists():
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                raise AssertionError(f"the child ended (exit {self.proc.returncode}) before its fault point:\n{out}\n{err}")
            if time.monotonic() > end:
                self.proc.kill()
                raise AssertionError("the child never reached its fault point")
            time.sleep(0.01)

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.communicate()
        assert self.proc.returncode == -signal.SIGKILL

    def go_on(self, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        self.release.write_text("go")
        out, err = self.proc.communicate(timeout=timeout)
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err)
