"""Finding and asking the reelfix core, which lives in its own venv and runs as its own process.

No Nuke here (testable without it). The core is found, in this order, from:
  1. the installer's `config.json` in the per-user reelfix config folder, key `reelfix_bin`;
  2. the environment variable `REELFIX_BIN`;
  3. `reelfix` on PATH.

Node declarations (`reelfix nodes --json`), devices (`reelfix devices`) and the model list
(`reelfix models list`) are cached in the plugin's cache folder, keyed by the core executable
and its venv's site-packages (so a new core, a new node plugin package or `REELFIX_PLUGINS`
give fresh declarations; models also by `REELFIX_MODEL_PATH`). With `wait=False` nothing is
run: the cache, else the snapshot bundled with the plugin (declarations) or nothing; Nuke's
start-up and node creation use that and refresh in a background thread (host.py).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from . import paths

HERE = os.path.dirname(os.path.abspath(__file__))
SNAPSHOT = os.path.join(HERE, "nodes_snapshot.json")
DEVICES = ("auto", "cpu", "cuda", "tensorrt", "dml", "coreml")
CAPTURE_TIMEOUT_S = 120.0

Declaration = Dict[str, Any]


class PluginError(Exception):
    """A problem the user can fix; shown as a Nuke message, never as a traceback."""


class CoreNotFound(PluginError):
    pass


class CoreFailed(PluginError):
    pass


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def find_core(environ: Optional[Mapping[str, str]] = None, platform: Optional[str] = None) -> str:
    """The absolute path of the reelfix executable, or CoreNotFound naming all three places."""
    env = os.environ if environ is None else environ
    tried = []
    cfg = paths.config_file(env, platform)
    if os.path.isfile(cfg):
        try:
            with open(cfg, encoding="utf-8") as fh:
                data = json.load(fh)
            configured = data.get(paths.BIN_KEY) if isinstance(data, dict) else None
        except (OSError, ValueError) as exc:
            configured = None
            tried.append("{} cannot be read ({})".format(cfg, exc))
        if configured and _is_executable(str(configured)):
            return os.path.abspath(str(configured))
        if configured:
            tried.append("{} names {} which does not exist (reinstall the core)".format(cfg, configured))
        elif not tried:
            tried.append("{} has no \"{}\" entry".format(cfg, paths.BIN_KEY))
    else:
        tried.append("no installer config at {}".format(cfg))
    from_env = env.get("REELFIX_BIN", "")
    if from_env and _is_executable(from_env):
        return os.path.abspath(from_env)
    tried.append("REELFIX_BIN {}".format("is " + from_env + " which is not an executable file" if from_env else "is not set"))
    on_path = shutil.which("reelfix", path=env.get("PATH"))
    if on_path:
        return os.path.abspath(on_path)
    tried.append("no `reelfix` on PATH")
    raise CoreNotFound(
        "reelfix: the restoration core was not found.\n\n"
        + "\n".join("- " + t for t in tried)
        + "\n\nInstall it with `python3 installers/install.py core` (writes the config), "
        "or set REELFIX_BIN to the reelfix executable of its venv, or put `reelfix` on PATH; "
        "then restart Nuke."
    )


def child_env(environ: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The core's environment: Nuke's own Python settings removed (the core has its own venv).

    PYTHONHOME/PYTHONPATH of Nuke's Python would break the core's interpreter; a studio that
    needs extra modules in the core (node plugins named in REELFIX_PLUGINS) sets
    REELFIX_PYTHONPATH, which becomes the core's PYTHONPATH. Wide COLUMNS keep the core's
    summary on one line."""
    env = dict(os.environ if environ is None else environ)
    env.pop("PYTHONHOME", None)
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONSTARTUP", None)
    extra = env.get("REELFIX_PYTHONPATH")
    if extra:
        env["PYTHONPATH"] = extra
    env["COLUMNS"] = "400"
    env["PYTHONIOENCODING"] = "utf-8"
    env["NO_COLOR"] = "1"
    return env


def popen_flags() -> int:
    """No console window for the core on Windows."""
    return int(getattr(subprocess, "CREATE_NO_WINDOW", 0))


def run_capture(argv: Sequence[str], timeout: float = CAPTURE_TIMEOUT_S) -> Tuple[int, str, str]:
    """Run a short core command; (exit code, stdout, stderr). Never raises for a non-zero exit."""
    try:
        proc = subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=child_env(),
            timeout=timeout,
            creationflags=popen_flags(),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, "", "cannot run {}: {}".format(argv[0], exc)
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")


def _cache_key(bin_path: str) -> str:
    """Changes when the core executable, its venv's packages or REELFIX_PLUGINS change."""
    real = os.path.realpath(bin_path)
    venv = os.path.dirname(os.path.dirname(real))
    parts: List[Any] = [real, os.environ.get("REELFIX_PLUGINS", ""), os.environ.get("REELFIX_PYTHONPATH", "")]
    for p in [real, os.path.join(venv, "pyvenv.cfg")] + sorted(
        glob.glob(os.path.join(venv, "lib", "python*", "site-packages")) + glob.glob(os.path.join(venv, "Lib", "site-packages"))
    ):
        try:
            parts.append((p, os.stat(p).st_mtime_ns))
        except OSError:
            parts.append((p, None))
    return hashlib.sha1(json.dumps(parts).encode("utf-8")).hexdigest()[:16]


def _mtime(path: str) -> float:
    try:
        return os.path.getmtime(path)
    except OSError:
        return 0.0


def _cached(bin_path: str, what: str) -> str:
    return os.path.join(paths.plugin_cache_dir(), "{}-{}.json".format(what, _cache_key(bin_path)))


def _write_json(path: str, data: Any) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = "{}.{}.tmp".format(path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
    os.replace(tmp, path)


def validate_declarations(data: Any) -> List[Declaration]:
    """The shape the plugin relies on; anything else is a core/plugin version mismatch."""
    if not isinstance(data, list) or not all(isinstance(d, dict) and isinstance(d.get("name"), str) for d in data):
        raise ValueError("`reelfix nodes --json` did not give a list of node declarations")
    for d in data:
        params = d.get("params", [])
        if not isinstance(params, list) or not all(isinstance(p, dict) and "name" in p and "type" in p for p in params):
            raise ValueError("node '{}' has malformed params".format(d["name"]))
    return list(data)


def load_snapshot() -> List[Declaration]:
    with open(SNAPSHOT, encoding="utf-8") as fh:
        return validate_declarations(json.load(fh))


def declarations(bin_path: Optional[str], wait: bool = True) -> Tuple[List[Declaration], str]:
    """(node declarations, note). The note is empty, or says why the bundled snapshot is used.
    wait=False: never runs the core (a cache miss gives the snapshot, with no note)."""
    if bin_path is None:
        return load_snapshot(), "reelfix core not found: showing the nodes bundled with the plugin"
    cached = _cached(bin_path, "nodes")
    try:
        with open(cached, encoding="utf-8") as fh:
            return validate_declarations(json.load(fh)), ""
    except (OSError, ValueError):
        pass
    if not wait:  # the newest cached list (a pip install into the core's venv changes the key), else the snapshot
        for path in sorted(glob.glob(os.path.join(paths.plugin_cache_dir(), "nodes-*.json")), key=_mtime, reverse=True):
            try:
                with open(path, encoding="utf-8") as fh:
                    return validate_declarations(json.load(fh)), ""
            except (OSError, ValueError):
                continue
        return load_snapshot(), ""
    code, out, err = run_capture([bin_path, "nodes", "--json"])
    try:
        if code != 0:
            raise ValueError(err.strip() or "exit code {}".format(code))
        decls = validate_declarations(json.loads(out))
    except ValueError as exc:
        return load_snapshot(), "`{} nodes --json` failed, showing the nodes bundled with the plugin: {}".format(bin_path, exc)
    _write_json(cached, decls)
    return decls, ""


_DEVICE_LINE = re.compile(r"^(\w+)\s+(yes|no)\b")


def devices(bin_path: Optional[str], wait: bool = True) -> Tuple[List[str], List[str]]:
    """(device names for the knob, the ones available here), from `reelfix devices` (cached)."""
    if bin_path is None:
        return list(DEVICES), []
    cached = _cached(bin_path, "devices")
    try:
        with open(cached, encoding="utf-8") as fh:
            data = json.load(fh)
        return list(data["names"]), list(data["available"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    if not wait:
        return list(DEVICES), []
    code, out, _ = run_capture([bin_path, "devices"])
    found = [m.groups() for m in map(_DEVICE_LINE.match, out.splitlines()) if m] if code == 0 else []
    names = [n for n, _ in found] or list(DEVICES)
    if "auto" not in names:
        names.insert(0, "auto")
    available = [n for n, ok in found if ok == "yes"]
    if found:
        _write_json(cached, {"names": names, "available": available})
    return names, available


def _models_file(bin_path: str) -> str:
    where = hashlib.sha1(os.environ.get("REELFIX_MODEL_PATH", "").encode("utf-8")).hexdigest()[:8]
    return _cached(bin_path, "models-" + where)


def models(bin_path: Optional[str], task: str = "", wait: bool = True) -> List[str]:
    """Model names from `reelfix models list`, those whose task is `task` when there are any,
    else all. wait=True asks the core (and caches the list); wait=False reads the cache only
    (node creation: models are installed at any time, so the list is refreshed in the background)."""
    if bin_path is None:
        return []
    rows: List[List[str]] = []
    cached = _models_file(bin_path)  # keyed by the environment the core is asked in (not the one when it answers)
    if wait:
        code, out, _ = run_capture([bin_path, "models", "list"])
        if code != 0:
            return []
        rows = [r[:2] for r in (line.split() for line in out.splitlines() if line.strip()) if len(r) >= 2]
        _write_json(cached, rows)
    else:
        try:
            with open(cached, encoding="utf-8") as fh:
                rows = [[str(a), str(b)] for a, b in json.load(fh)]
        except (OSError, ValueError, TypeError):
            return []
    matching = [r[0] for r in rows if r[1] == task]
    return matching or [r[0] for r in rows]


def clear_cache() -> None:
    """Forget cached declarations and devices (the `Refresh node list` menu entry)."""
    for pattern in ("nodes-*.json", "devices-*.json", "models-*.json"):
        for path in glob.glob(os.path.join(paths.plugin_cache_dir(), pattern)):
            try:
                os.remove(path)
            except OSError:
                pass
