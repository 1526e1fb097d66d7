"""Per-user folders of reelfix on Linux, macOS and Windows (stdlib only).

The reference for every host adapter: the Nuke plugin keeps a copy in
nuke_plugin/reelfix_nuke/paths.py (a test checks they agree), and the Resolve scripts read
the same `config.json`.

    config  (config.json: {"reelfix_bin": "/abs/path/to/venv/bin/reelfix", ...})
        Linux    $XDG_CONFIG_HOME/reelfix, else ~/.config/reelfix
        macOS    ~/Library/Application Support/reelfix
        Windows  %APPDATA%\\reelfix
    data    (the core's venv, a copied Nuke plugin)
        Linux    $XDG_DATA_HOME/reelfix, else ~/.local/share/reelfix
        macOS    ~/Library/Application Support/reelfix
        Windows  %LOCALAPPDATA%\\reelfix
    cache
        Linux    $XDG_CACHE_HOME/reelfix, else ~/.cache/reelfix
        macOS    ~/Library/Caches/reelfix
        Windows  %LOCALAPPDATA%\\reelfix\\cache
    Nuke     ~/.nuke (Windows: %HOME%\\.nuke, else %USERPROFILE%\\.nuke, as Nuke looks)

Every function reads `sys.platform` and `os.environ` when called (tests vary both).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence

CONFIG_NAME = "config.json"
BIN_KEY = "reelfix_bin"


class InstallError(Exception):
    """An installer problem; the message says what to do. install.py prints it without a traceback."""


def _env(environ: Optional[Mapping[str, str]]) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def _plat(platform: Optional[str]) -> str:
    return platform or sys.platform


def _absolute(value: Optional[str]) -> Optional[str]:
    return value if value and os.path.isabs(value) else None


def home(environ: Optional[Mapping[str, str]] = None, platform: Optional[str] = None) -> Path:
    env = _env(environ)
    found = (env.get("USERPROFILE") or env.get("HOME")) if _plat(platform) == "win32" else env.get("HOME")
    return Path(found or os.path.expanduser("~"))


def config_dir(environ: Optional[Mapping[str, str]] = None, platform: Optional[str] = None) -> Path:
    env, plat = _env(environ), _plat(platform)
    if plat == "win32":
        return Path(env.get("APPDATA") or home(env, plat) / "AppData" / "Roaming") / "reelfix"
    if plat == "darwin":
        return home(env, plat) / "Library" / "Application Support" / "reelfix"
    return Path(_absolute(env.get("XDG_CONFIG_HOME")) or home(env, plat) / ".config") / "reelfix"


def config_file(environ: Optional[Mapping[str, str]] = None, platform: Optional[str] = None) -> Path:
    return config_dir(environ, platform) / CONFIG_NAME


def data_dir(environ: Optional[Mapping[str, str]] = None, platform: Optional[str] = None) -> Path:
    env, plat = _env(environ), _plat(platform)
    if plat == "win32":
        return Path(env.get("LOCALAPPDATA") or home(env, plat) / "AppData" / "Local") / "reelfix"
    if plat == "darwin":
        return home(env, plat) / "Library" / "Application Support" / "reelfix"
    return Path(_absolute(env.get("XDG_DATA_HOME")) or home(env, plat) / ".local" / "share") / "reelfix"


def cache_dir(environ: Optional[Mapping[str, str]] = None, platform: Optional[str] = None) -> Path:
    env, plat = _env(environ), _plat(platform)
    if plat == "win32":
        return Path(env.get("LOCALAPPDATA") or home(env, plat) / "AppData" / "Local") / "reelfix" / "cache"
    if plat == "darwin":
        return home(env, plat) / "Library" / "Caches" / "reelfix"
    return Path(_absolute(env.get("XDG_CACHE_HOME")) or home(env, plat) / ".cache") / "reelfix"


def default_venv(environ: Optional[Mapping[str, str]] = None, platform: Optional[str] = None) -> Path:
    return data_dir(environ, platform) / "venv"


def venv_executable(venv: Path, name: str, platform: Optional[str] = None) -> Path:
    """bin/NAME in a venv; Scripts\\NAME.exe on Windows."""
    if _plat(platform) == "win32":
        return Path(venv) / "Scripts" / (name + ".exe")
    return Path(venv) / "bin" / name


def nuke_home(environ: Optional[Mapping[str, str]] = None, platform: Optional[str] = None) -> Path:
    env, plat = _env(environ), _plat(platform)
    if plat == "win32":
        base = env.get("HOME") or env.get("USERPROFILE")
        return Path(base or os.path.expanduser("~")) / ".nuke"
    return home(env, plat) / ".nuke"


def read_config(environ: Optional[Mapping[str, str]] = None, platform: Optional[str] = None) -> Dict[str, Any]:
    path = config_file(environ, platform)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise ValueError("{} is not valid JSON ({}); fix or delete it".format(path, exc)) from None
    return data if isinstance(data, dict) else {}


def write_config(updates: Mapping[str, Any], remove: Sequence[str] = (), environ: Optional[Mapping[str, str]] = None,
                 platform: Optional[str] = None) -> Path:
    """Merge `updates` into config.json (other keys kept), drop `remove`; delete the file if empty."""
    path = config_file(environ, platform)
    data = read_config(environ, platform)
    data.update(updates)
    for key in remove:
        data.pop(key, None)
    if not data:
        if path.exists():
            path.unlink()
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(str(tmp), str(path))
    return path
