"""reelfix application plugin for Deadline 10 (stdlib only; Python 3.6+ as Deadline ships it).

Installed into the repository's ``custom/plugins/Reelfix`` by ``installers/install.py deadline``.
Jobs written by ``reelfix farm deadline`` name it (``Plugin=Reelfix``); each task:

1. maps the job file's path (``RepositoryUtils.CheckPathMapping``) and, unless the plugin
   configuration turns it off, its *contents* into a temporary copy
   (``RepositoryUtils.CheckPathMappingInFile``): the input, output, mattes and model paths inside
   the job follow the repository's path mapping rules (Deadline maps a file's contents only for
   plugins that ask; the stock CommandLine plugin maps its Executable and Arguments only);
2. takes the executable for this worker's OS from the plugin configuration
   (``Executable_Windows`` / ``_Linux`` / ``_Mac``: the first entry that exists, a bare name
   looked up on PATH);
3. builds the argument list itself, ``run JOB --frames START-END --progress openjd``, and
   quotes it into the one string a Simple plugin returns;
4. reads reelfix's output: ``openjd_progress:`` lines set the task's progress,
   ``openjd_status:`` lines its status, each failed frame is logged with its reason, and a
   non-zero exit fails the task naming the failed frames (or reelfix's error).

Everything except the `ReelfixPlugin` class is plain Python, so tests drive it with a stand-in
for Deadline's ``Deadline.Plugins`` / ``Deadline.Scripting`` modules (tests/installers).
"""

import os
import re
import shutil
import subprocess
import sys

try:  # inside Deadline (or its stand-in in the tests)
    from Deadline.Plugins import DeadlinePlugin, PluginType
    from Deadline.Scripting import RepositoryUtils
except ImportError:  # imported for its helpers alone
    DeadlinePlugin = object
    PluginType = RepositoryUtils = None

PROGRESS = r"^openjd_progress:\s*([0-9.]+)"
STATUS = r"^openjd_status:\s*(.*)$"
FAILED_FRAME = r"^\s*(?:failed frame (\d+) -> .*?|frame (\d+) failed): (.*)$"
ERROR = r"^error: (.*)$"
DEVICES = ("auto", "cpu", "cuda", "tensorrt", "dml", "coreml")


def os_key(platform=None):
    """The suffix of this OS's executable entry in the plugin configuration."""
    platform = platform or sys.platform
    if platform.startswith("win"):
        return "Windows"
    return "Mac" if platform == "darwin" else "Linux"


def choose_executable(entries, exists=os.path.isfile, which=shutil.which):
    """The first usable entry of a ';' or line separated list: an existing file, or a bare
    name found on PATH. Empty when none is."""
    for entry in re.split(r"[;\r\n]+", entries or ""):
        entry = entry.strip().strip('"')
        if not entry:
            continue
        if os.path.basename(entry) == entry and "/" not in entry and "\\" not in entry:
            found = which(entry)
            if found:
                return found
        elif exists(entry):
            return entry
    return ""


def build_arguments(job_file, start, end, device=""):
    """reelfix's arguments for one task, as a list."""
    args = ["run", job_file, "--frames", "{}-{}".format(int(start), int(end)), "--progress", "openjd"]
    device = (device or "").strip()
    if device:
        if device not in DEVICES:
            raise ValueError("Device {!r}: choose one of {}".format(device, ", ".join(DEVICES)))
        args += ["--device", device]
    return args


def join_arguments(args):
    """The one argument string a Simple plugin returns, quoted by the Microsoft C runtime rules
    that .NET's process start (and so Deadline, on every OS) splits it by."""
    for arg in args:
        if '"' in arg or "\n" in arg or "\r" in arg:
            raise ValueError("an argument holding a double quote or a line break cannot be passed: {!r}".format(arg))
    return subprocess.list2cmdline(args)


class OutputReader(object):
    """What a task's output lines say: progress, status, failed frames, reelfix's error."""

    def __init__(self):
        self.progress = None
        self.status = None
        self.failures = {}  # frame -> reason
        self.error = None

    def feed(self, line):
        """Read one line; returns ("progress", value) / ("status", text) / ("failed", frame, reason) /
        ("error", text) / None."""
        m = re.match(PROGRESS, line)
        if m:
            self.progress = float(m.group(1))
            return ("progress", self.progress)
        m = re.match(STATUS, line)
        if m:
            self.status = m.group(1).strip()
            return ("status", self.status)
        m = re.match(FAILED_FRAME, line)
        if m:
            frame = int(m.group(1) or m.group(2))
            self.failures[frame] = m.group(3).strip()
            return ("failed", frame, self.failures[frame])
        m = re.match(ERROR, line)
        if m:
            self.error = m.group(1).strip()
            return ("error", self.error)
        return None

    def failure_message(self, exit_code):
        """The reason a task failed, for the task's error report."""
        if self.failures:
            listed = "; ".join("frame {}: {}".format(n, r) for n, r in sorted(self.failures.items()))
            return "reelfix exited with code {}: {} frame(s) failed: {}".format(exit_code, len(self.failures), listed)
        if self.error:
            return "reelfix exited with code {}: {}".format(exit_code, self.error)
        return "reelfix exited with code {} (see the task log)".format(exit_code)


def GetDeadlinePlugin():
    return ReelfixPlugin()


def CleanupDeadlinePlugin(deadlinePlugin):
    deadlinePlugin.Cleanup()


class ReelfixPlugin(DeadlinePlugin):
    def __init__(self):
        if sys.version_info.major == 3:
            super().__init__()
        self.InitializeProcessCallback += self.InitializeProcess
        self.RenderExecutableCallback += self.RenderExecutable
        self.RenderArgumentCallback += self.RenderArgument
        self.CheckExitCodeCallback += self.CheckExitCode
        self.reader = OutputReader()

    def Cleanup(self):
        for handler in self.StdoutHandlers:
            del handler.HandleCallback
        del self.InitializeProcessCallback
        del self.RenderExecutableCallback
        del self.RenderArgumentCallback
        del self.CheckExitCodeCallback

    def InitializeProcess(self):
        self.PluginType = PluginType.Simple
        self.SingleFramesOnly = False
        self.StdoutHandling = True
        self.SetEnvironmentVariable("PYTHONUNBUFFERED", "1")
        for pattern in (PROGRESS, STATUS, FAILED_FRAME, ERROR):
            self.AddStdoutHandlerCallback(pattern).HandleCallback += self.HandleLine

    def RenderExecutable(self):
        override = self.GetPluginInfoEntryWithDefault("Executable", "").strip()
        key = "Executable_" + os_key()
        entries = override or self.GetConfigEntryWithDefault(key, "reelfix")
        executable = choose_executable(entries)
        if not executable:
            self.FailRender("reelfix was not found: none of {!r} exists or is on PATH; set {} in the Reelfix plugin "
                            "configuration (Tools > Configure Plugins)".format(entries, key))
        return executable

    def RenderArgument(self):
        job_file = RepositoryUtils.CheckPathMapping(self.GetPluginInfoEntry("JobFile"))
        if self.GetBooleanConfigEntryWithDefault("EnablePathMapping", True):
            folder = self.CreateTempDirectory("reelfix-thread{}".format(self.GetThreadNumber()))
            local = os.path.join(folder, os.path.basename(job_file.replace("\\", "/")))
            RepositoryUtils.CheckPathMappingInFile(job_file, local)
            self.LogInfo("reelfix job file {} mapped into {}".format(job_file, local))
            job_file = local
        try:
            args = build_arguments(job_file, self.GetStartFrame(), self.GetEndFrame(), self.GetPluginInfoEntryWithDefault("Device", ""))
            return join_arguments(args)
        except ValueError as exc:
            self.FailRender(str(exc))
            return ""

    def HandleLine(self):
        event = self.reader.feed(self.GetRegexMatch(0))
        if event is None:
            return
        if event[0] == "progress":
            self.SetProgress(event[1])
        elif event[0] == "status":
            self.SetStatusMessage(event[1])
        elif event[0] == "failed":
            self.LogWarning("reelfix: frame {} failed: {}".format(event[1], event[2]))

    def CheckExitCode(self, exitCode):
        if exitCode != 0:
            self.FailRender(self.reader.failure_message(exitCode))
