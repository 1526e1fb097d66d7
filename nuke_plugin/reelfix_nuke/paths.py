"""Per-user folders, the same on every host adapter and the installers.

`installers/_paths.py` is the reference copy; a test checks that both agree on Linux,
macOS and Windows. Stdlib only: this runs inside Nuke's own Python.

    config  Linux $XDG_CONFIG_HOME/reelfix or ~/.config/reelfix
            macOS ~/Library/Application Support/reelfix
            Windows %APPDATA%\\reelfix
    cache   Linux $XDG_CACHE_HOME/reelfix or ~/.cache/reelfix
            macOS ~/Library/Caches/reelfix
            Windows %LOCALAPPDATA%\\reelfix\\cache
"""

from __future__ import annotations

import os
import sys
from typing import Mapping, Optional

CONFIG_NAME = "config.json"
BIN_KEY = "reelfix_bin"


def _env(environ: Optional[Mapping[str, str]]) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def _absolute(value: Optional[str]) -> Optional[str]:
    """XDG variables count only when they hold an absolute path (as the spec says)."""
    return value if value and os.path.isabs(value) else None


def home(environ: Optional[Mapping[str, str]] = None, platform: Optional[str] = None) -> str:
    env, plat = _env(environ), platform or sys.platform
    if plat == "win32":
        found = env.get("USERPROFILE") or env.get("HOME")
    else:
        found = env.get("HOME")
    return found or os.path.expanduser("~")


def config_dir(environ: Optional[Mapping[str, str]] = None, platform: Optional[str] = None) -> str:
    env, plat = _env(environ), platform or sys.platform
    if plat == "win32":
        base = env.get("APPDATA") or os.path.join(home(env, plat), "AppData", "Roaming")
        return os.path.join(base, "reelfix")
    if plat == "darwin":
        return os.path.join(home(env, plat), "Library", "Application Support", "reelfix")
    base = _absolute(env.get("XDG_CONFIG_HOME")) or os.path.join(home(env, plat), ".config")
    return os.path.join(base, "reelfix")


def config_file(environ: Optional[Mapping[str, str]] = None, platform: Optional[str] = None) -> str:
    return os.path.join(config_dir(environ, platform), CONFIG_NAME)


def cache_dir(environ: Optional[Mapping[str, str]] = None, platform: Optional[str] = None) -> str:
    env, plat = _env(environ), platform or sys.platform
    if plat == "win32":
        base = env.get("LOCALAPPDATA") or os.path.join(home(env, plat), "AppData", "Local")
        return os.path.join(base, "reelfix", "cache")
    if plat == "darwin":
        return os.path.join(home(env, plat), "Library", "Caches", "reelfix")
    base = _absolute(env.get("XDG_CACHE_HOME")) or os.path.join(home(env, plat), ".cache")
    return os.path.join(base, "reelfix")


def plugin_cache_dir(environ: Optional[Mapping[str, str]] = None, platform: Optional[str] = None) -> str:
    """Where the Nuke plugin keeps its own cache (node declarations, untitled-script renders)."""
    return os.path.join(cache_dir(environ, platform), "nuke")
