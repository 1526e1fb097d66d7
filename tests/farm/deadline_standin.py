"""A stand-in for Deadline 10's plugin API, to drive installers/deadline/Reelfix/Reelfix.py in tests.

This is NOT Deadline. It models what Deadline's documentation and its shipped plugins show a
Simple application plugin relying on (Deadline 10 manual, "Application Plugins"; the
CommandLine, Natron and Mistika VR plugins):

* ``Deadline.Plugins.DeadlinePlugin``: callbacks attached with ``+=`` (InitializeProcess,
  RenderExecutable, RenderArgument, CheckExitCode), ``AddStdoutHandlerCallback(regex)`` whose
  ``HandleCallback`` runs for each output line the regex matches (``GetRegexMatch(0)`` is the
  match), plugin info and plugin configuration entries, the task's start/end frame,
  ``CreateTempDirectory``, ``SetProgress``/``SetStatusMessage``/``LogInfo``/``LogWarning``, and
  ``FailRender`` (which ends the task with that message);
* ``Deadline.Scripting.RepositoryUtils``: ``CheckPathMapping(path)`` (the first of the
  repository's rules whose source starts the path replaces it) and
  ``CheckPathMappingInFile(src, dst)`` (the same replacement over the file's text, written to
  dst).

`run_task` plays the worker: it calls the callbacks in order, runs the process with the
argument string split by the Microsoft C rules (the plugin quotes for them; paths here hold
no backslashes, so `shlex` splits the same), feeds each stdout line to the handlers and gives
the exit code to CheckExitCode. Unverified against a live Deadline: whether stderr lines reach
the stdout handlers (here they do not; reelfix's failure summary is on stdout).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import types
from pathlib import Path
from typing import Any, Callable


class Event:
    def __init__(self) -> None:
        self.handlers: list[Callable[..., Any]] = []

    def __iadd__(self, handler: Callable[..., Any]) -> "Event":
        self.handlers.append(handler)
        return self

    def __call__(self, *args: Any) -> Any:
        result = None
        for handler in self.handlers:
            result = handler(*args)
        return result


class RenderFailed(Exception):
    """What FailRender does: the task ends as failed with this message."""


class StdoutHandler:
    def __init__(self, regex: str) -> None:
        self.regex = re.compile(regex)
        self.HandleCallback = Event()


class PluginType:
    Simple, Advanced = 1, 2


class DeadlinePlugin:
    def __init__(self) -> None:
        self.InitializeProcessCallback = Event()
        self.RenderExecutableCallback = Event()
        self.RenderArgumentCallback = Event()
        self.CheckExitCodeCallback = Event()
        self.StdoutHandlers: list[StdoutHandler] = []
        self.plugin_info: dict[str, str] = {}
        self.config: dict[str, str] = {}
        self.start = self.end = 0
        self.temp_root = Path(".")
        self.environment: dict[str, str] = {}
        self.log: list[str] = []
        self.progress: float | None = None
        self.status: str | None = None
        self._match: re.Match[str] | None = None

    # what the task knows
    def GetPluginInfoEntry(self, key: str) -> str:
        return self.plugin_info[key]

    def GetPluginInfoEntryWithDefault(self, key: str, default: str) -> str:
        return self.plugin_info.get(key, default)

    def GetConfigEntryWithDefault(self, key: str, default: str) -> str:
        return self.config.get(key, default)

    def GetBooleanConfigEntryWithDefault(self, key: str, default: bool) -> bool:
        return self.config[key].lower() == "true" if key in self.config else default

    def GetStartFrame(self) -> int:
        return self.start

    def GetEndFrame(self) -> int:
        return self.end

    def GetThreadNumber(self) -> int:
        return 0

    def CreateTempDirectory(self, name: str) -> str:
        folder = self.temp_root / name
        folder.mkdir(parents=True, exist_ok=True)
        return str(folder)

    # what the task reports
    def SetEnvironmentVariable(self, key: str, value: str) -> None:
        self.environment[key] = value

    def AddStdoutHandlerCallback(self, regex: str) -> StdoutHandler:
        handler = StdoutHandler(regex)
        self.StdoutHandlers.append(handler)
        return handler

    def GetRegexMatch(self, index: int) -> str:
        assert self._match is not None
        return self._match.group(index)

    def SetProgress(self, value: float) -> None:
        self.progress = value

    def SetStatusMessage(self, text: str) -> None:
        self.status = text

    def LogInfo(self, text: str) -> None:
        self.log.append("INFO: " + text)

    def LogWarning(self, text: str) -> None:
        self.log.append("WARNING: " + text)

    def FailRender(self, message: str) -> None:
        raise RenderFailed(message)


class RepositoryUtils:
    rules: list[tuple[str, str]] = []  # (replace path, with path): the repository's path mapping settings

    @classmethod
    def CheckPathMapping(cls, path: str) -> str:
        for source, dest in cls.rules:
            if path.startswith(source):
                return dest + path[len(source):]
        return path

    @classmethod
    def CheckPathMappingInFile(cls, src: str, dst: str) -> None:
        text = Path(src).read_text(encoding="utf-8")
        for source, dest in cls.rules:
            text = text.replace(source, dest)
        Path(dst).write_text(text, encoding="utf-8")


def install(monkeypatch: Any) -> None:
    """Put the stand-in where the plugin imports it from (``Deadline.Plugins``, ``Deadline.Scripting``)."""
    package = types.ModuleType("Deadline")
    plugins = types.ModuleType("Deadline.Plugins")
    scripting = types.ModuleType("Deadline.Scripting")
    plugins.DeadlinePlugin, plugins.PluginType = DeadlinePlugin, PluginType  # type: ignore[attr-defined]
    scripting.RepositoryUtils = RepositoryUtils  # type: ignore[attr-defined]
    package.Plugins, package.Scripting = plugins, scripting  # type: ignore[attr-defined]
    for name, module in (("Deadline", package), ("Deadline.Plugins", plugins), ("Deadline.Scripting", scripting)):
        monkeypatch.setitem(sys.modules, name, module)


def run_task(plugin: Any, start: int, end: int, env: dict[str, str]) -> tuple[int, list[str]]:
    """One task as a worker runs it; returns the exit code and the command line run.
    Raises RenderFailed when the plugin fails the task."""
    plugin.start, plugin.end = start, end
    plugin.InitializeProcessCallback()
    executable = plugin.RenderExecutableCallback()
    command = [executable, *shlex.split(plugin.RenderArgumentCallback())]
    done = subprocess.run(command, env={**env, **plugin.environment}, capture_output=True, text=True, timeout=120)
    for line in done.stdout.splitlines():
        for handler in plugin.StdoutHandlers:
            plugin._match = handler.regex.search(line)
            if plugin._match:
                handler.HandleCallback()
    plugin.log.append("STDERR: " + done.stderr)
    plugin.CheckExitCodeCallback(done.returncode)
    return done.returncode, command
