"""Finding and running the reelfix core, always in its own process (Resolve's Python never
imports it: the core needs numpy, ONNX Runtime and OpenImageIO, Resolve's Python has none).

The core is found, in order, from the installer's `config.json` (key "reelfix_bin") in
the per-user reelfix config folder, the environment variable REELFIX_BIN, then `reelfix`
on PATH. Pipeline files (YAML or JSON) are read by the core: `reelfix check-pipeline FILE
--json` validates one and prints it as JSON, so this stdlib-only package never parses YAML.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from typing import Any, Callable, Dict, List, Mapping, Optional

CONFIG_NAME = "config.json"
CHUNK_MANIFEST = re.compile(r"\.reelfix\.[A-Za-z0-9_-]+\.json$")  # a farm task's manifest: NAME.reelfix.1001-1010.json


class CoreError(Exception):
    """The core could not be found or refused a request; the message says what to do."""


def config_dir(environ: Optional[Mapping[str, str]] = None, platform: Optional[str] = None) -> str:
    """The per-user reelfix config folder (same rule as the installer and the Nuke plugin):
    Linux $XDG_CONFIG_HOME/reelfix (when absolute) or ~/.config/reelfix, macOS
    ~/Library/Application Support/reelfix, Windows %APPDATA%\\reelfix."""
    env = os.environ if environ is None else environ
    plat = platform or sys.platform
    windows = plat.startswith("win")
    home = (env.get("USERPROFILE") or env.get("HOME")) if windows else env.get("HOME")
    home = home or os.path.expanduser("~")
    if windows:
        return os.path.join(env.get("APPDATA") or os.path.join(home, "AppData", "Roaming"), "reelfix")
    if plat == "darwin":
        return os.path.join(home, "Library", "Application Support", "reelfix")
    xdg = env.get("XDG_CONFIG_HOME", "")
    return os.path.join(xdg if os.path.isabs(xdg) else os.path.join(home, ".config"), "reelfix")


def read_config(environ: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """The installer's config.json as a dict ({} when absent or unreadable)."""
    path = os.path.join(config_dir(environ), CONFIG_NAME)
    try:
        with open(path) as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def find_reelfix(config: Optional[Mapping[str, Any]] = None, environ: Optional[Mapping[str, str]] = None) -> str:
    """The reelfix executable; CoreError naming the three places looked at when none."""
    env = os.environ if environ is None else environ
    cfg = read_config(env) if config is None else config
    tried = []
    configured = cfg.get("reelfix_bin")
    where = os.path.join(config_dir(env), CONFIG_NAME)
    if configured:
        if os.path.isfile(str(configured)):
            return str(configured)
        tried.append("{} says reelfix_bin={} but there is no such file".format(where, configured))
    else:
        tried.append("{} has no reelfix_bin".format(where))
    from_env = env.get("REELFIX_BIN")
    if from_env:
        if os.path.isfile(from_env):
            return from_env
        tried.append("REELFIX_BIN={} is not a file".format(from_env))
    else:
        tried.append("REELFIX_BIN is not set")
    on_path = shutil.which("reelfix", path=env.get("PATH"))
    if on_path:
        return on_path
    tried.append("no reelfix on PATH")
    raise CoreError("cannot find the reelfix core: " + "; ".join(tried) + ". Install it (python3 installers/install.py core), "
                    "or set REELFIX_BIN to the reelfix executable of its virtual environment")


STRIPPED = ("PYTHONHOME", "PYTHONPATH")  # Resolve's Python sets them; the core's venv Python must not see them


def child_environment(environ: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The environment for the core: ours without Resolve's PYTHONHOME/PYTHONPATH, which would
    make the core's Python load Resolve's standard library and modules."""
    env = os.environ if environ is None else environ
    return {k: v for k, v in env.items() if k.upper() not in STRIPPED}


def _popen_options() -> Dict[str, Any]:
    """Argument lists only (no shell), no stdin (Resolve's console has none to give), a clean environment."""
    options = {"stdin": subprocess.DEVNULL, "env": child_environment()}  # type: Dict[str, Any]
    if sys.platform.startswith("win"):  # no console window flashing up from inside Resolve
        options["creationflags"] = getattr(subprocess, "CREATE_NO_WINDOW", 0x08000000)
    return options


def _call(cmd: List[str]) -> "subprocess.CompletedProcess[str]":
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, **_popen_options())
    except OSError as exc:
        raise CoreError("cannot run {}: {}".format(cmd[0], exc))


def _last_lines(text: str, n: int = 6) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return " | ".join(lines[-n:])


def check_pipeline(reelfix: str, pipeline_file: str) -> Dict[str, Any]:
    """The pipeline file validated and normalised by the core (YAML or JSON)."""
    done = _call([reelfix, "check-pipeline", pipeline_file, "--json"])
    if done.returncode != 0:
        raise CoreError("pipeline {}: {}".format(pipeline_file, _last_lines(done.stderr or done.stdout)))
    try:
        data = json.loads(done.stdout)
    except ValueError:
        raise CoreError("reelfix check-pipeline printed no JSON (is {} an old reelfix?)".format(reelfix))
    if not isinstance(data, dict) or not data.get("pipeline"):
        raise CoreError("pipeline {}: no pipeline in it".format(pipeline_file))
    return data


def list_nodes(reelfix: str) -> List[Dict[str, Any]]:
    """The node declarations (`reelfix nodes --json`), for the dialog."""
    done = _call([reelfix, "nodes", "--json"])
    if done.returncode != 0:
        raise CoreError("reelfix nodes: {}".format(_last_lines(done.stderr)))
    data = json.loads(done.stdout)
    return data if isinstance(data, list) else []


class RunResult(object):
    def __init__(self) -> None:
        self.returncode = 0
        self.manifest = ""
        self.failed = []  # type: List[Dict[str, Any]]
        self.messages = []  # type: List[str]
        self.done = 0
        self.total = 0

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def reason(self) -> str:
        if self.failed:
            first = self.failed[0]
            return "{} frame(s) failed (frame {}: {})".format(len(self.failed), first.get("frame"), first.get("error", ""))
        return _last_lines("\n".join(self.messages)) or "reelfix exited with {}".format(self.returncode)


ProgressFn = Callable[[int, int, Dict[str, Any]], None]


def run_job(reelfix: str, job_file: str, progress: Optional[ProgressFn] = None) -> RunResult:
    """`reelfix run JOB --progress json` in its own process; `progress(done, total, event)`
    after each frame. Finished frames of an earlier run are skipped (resume)."""
    cmd = [reelfix, "run", job_file, "--progress", "json"]
    result = RunResult()
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, **_popen_options())
    except OSError as exc:
        raise CoreError("cannot run {}: {}".format(reelfix, exc))
    out_lines = []  # type: List[str]
    reader = threading.Thread(target=lambda: out_lines.extend(proc.stdout or []))
    reader.daemon = True
    reader.start()
    for line in proc.stderr or []:
        event = None
        if line.startswith("{"):
            try:
                event = json.loads(line)
            except ValueError:
                event = None
        if isinstance(event, dict) and event.get("event") == "frame":
            result.done, result.total = int(event.get("done", 0)), int(event.get("total", 0))
            if event.get("status") == "failed":
                result.failed.append(event)
            if progress is not None:
                progress(result.done, result.total, event)
        elif line.strip():
            result.messages.append(line.rstrip())
    result.returncode = proc.wait()
    reader.join()
    for line in out_lines:
        if line.startswith("manifest:"):
            result.manifest = line.split(":", 1)[1].strip()
        elif line.strip():
            result.messages.append(line.rstrip())
    return result


def manifest_for(output_pattern: str) -> str:
    """Where the core writes a run's manifest: `out/A001.####.exr` -> `out/A001.reelfix.json`."""
    folder, name = os.path.split(output_pattern)
    stem = name.split("#")[0].split("%")[0].rstrip("._-") or "output"
    return os.path.join(folder, stem + ".reelfix.json")


def run_manifests(manifest: str) -> List[str]:
    """The files holding a run's manifest: `manifest` itself, and after a farm run each task's
    `NAME.reelfix.1001-1010.json` beside it (the core's `reelfix report` merges them)."""
    chunks = glob.glob(glob.escape(manifest[: -len(".json")]) + ".*.json") if manifest.endswith(".reelfix.json") else []
    return [p for p in [manifest] + sorted(c for c in chunks if CHUNK_MANIFEST.search(c)) if os.path.isfile(p)]


def make_farm_files(reelfix: str, farm: str, job_file: str, chunk: int, target: str) -> str:
    """`reelfix farm openjd|deadline JOB --chunk N -o TARGET`; returns TARGET, CoreError on failure."""
    done = _call([reelfix, "farm", farm, job_file, "--chunk", str(chunk), "-o", target])
    if done.returncode != 0:
        raise CoreError("reelfix farm {}: {}".format(farm, _last_lines(done.stderr or done.stdout)))
    return target
