"""Install / uninstall reelfix's DaVinci Resolve scripts for the current user.

    python3 installers/install.py resolve [--uninstall]     (the installer entry calls these functions)
    python3 installers/resolve.py [--uninstall] [--bin PATH] [--scripts-dir DIR]

Writes, under the per-user Fusion Scripts folder of Resolve:
  Utility/reelfix Restore.py    the menu entry (Workspace > Scripts > reelfix Restore), with the
                                package folder written into it
  Utility/reelfix Open Report.py  the entry opening the review page of the last restore run
  Modules/reelfix_resolve/      the package (outside Utility/, where Resolve would list its
                                modules as menu entries)
and, given `bin_path`, records the core's `reelfix` executable as "reelfix_bin" in the
per-user reelfix config.json (shared with the Nuke plugin; other keys are kept).
Stdlib only; runs with any Python 3.6+.
"""

import json
import os
import shutil
import sys
from typing import List, Mapping, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
PLUGIN_SRC = os.path.join(os.path.dirname(HERE), "resolve_plugin")
MENU_NAME = "reelfix Restore.py"
MENU_NAMES = (MENU_NAME, "reelfix Open Report.py")
PACKAGE = "reelfix_resolve"
MARKER = "PLUGIN_DIR = None"


def _home(env: Mapping[str, str], plat: str) -> str:
    found = (env.get("USERPROFILE") or env.get("HOME")) if plat.startswith("win") else env.get("HOME")
    return found or os.path.expanduser("~")


def scripts_dir_for(platform: Optional[str] = None, environ: Optional[Mapping[str, str]] = None) -> str:
    """Resolve's per-user Fusion Scripts folder on this OS."""
    env = os.environ if environ is None else environ
    plat = platform or sys.platform
    home = _home(env, plat)
    if plat.startswith("win"):
        appdata = env.get("APPDATA") or os.path.join(home, "AppData", "Roaming")
        return os.path.join(appdata, "Blackmagic Design", "DaVinci Resolve", "Support", "Fusion", "Scripts")
    if plat == "darwin":
        return os.path.join(home, "Library", "Application Support", "Blackmagic Design", "DaVinci Resolve", "Fusion", "Scripts")
    return os.path.join(home, ".local", "share", "DaVinciResolve", "Fusion", "Scripts")


def config_path(platform: Optional[str] = None, environ: Optional[Mapping[str, str]] = None) -> str:
    """The per-user reelfix config.json (same rule as installers/_paths.py and reelfix_resolve.core)."""
    env = os.environ if environ is None else environ
    plat = platform or sys.platform
    home = _home(env, plat)
    if plat.startswith("win"):
        folder = os.path.join(env.get("APPDATA") or os.path.join(home, "AppData", "Roaming"), "reelfix")
    elif plat == "darwin":
        folder = os.path.join(home, "Library", "Application Support", "reelfix")
    else:
        xdg = env.get("XDG_CONFIG_HOME", "")
        folder = os.path.join(xdg if os.path.isabs(xdg) else os.path.join(home, ".config"), "reelfix")
    return os.path.join(folder, "config.json")


def _record_bin(bin_path: str) -> str:
    path = config_path()
    try:
        with open(path) as fh:
            data = json.load(fh)
        if not isinstance(data, dict):
            data = {}
    except (OSError, ValueError):
        data = {}
    data["reelfix_bin"] = os.path.abspath(bin_path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, path)
    return path


def install(bin_path: Optional[str] = None, scripts_dir: Optional[str] = None) -> List[str]:
    """Copy the menu script and the package into Resolve's per-user Scripts folder; returns the written paths."""
    scripts = os.path.abspath(scripts_dir or scripts_dir_for())
    if bin_path is not None and not os.path.isfile(bin_path):
        raise FileNotFoundError("reelfix executable not found: {}".format(bin_path))
    modules = os.path.join(scripts, "Modules")
    package = os.path.join(modules, PACKAGE)
    if os.path.isdir(package):
        shutil.rmtree(package)
    shutil.copytree(os.path.join(PLUGIN_SRC, PACKAGE), package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    written = []
    for name in MENU_NAMES:
        with open(os.path.join(PLUGIN_SRC, "Utility", name)) as fh:
            text = fh.read()
        if MARKER not in text:
            raise RuntimeError("{} lost its '{}' line".format(name, MARKER))
        text = text.replace(MARKER, "PLUGIN_DIR = {!r}".format(modules), 1)
        menu = os.path.join(scripts, "Utility", name)
        os.makedirs(os.path.dirname(menu), exist_ok=True)
        with open(menu, "w") as fh:
            fh.write(text)
        written.append(menu)
    written.append(package)
    if bin_path is not None:
        written.append(_record_bin(bin_path))
    return written


def uninstall(scripts_dir: Optional[str] = None) -> List[str]:
    """Remove what `install` wrote (config.json is left alone); returns the removed paths."""
    scripts = os.path.abspath(scripts_dir or scripts_dir_for())
    removed = []
    for name in MENU_NAMES:
        menu = os.path.join(scripts, "Utility", name)
        if os.path.isfile(menu):
            os.remove(menu)
            removed.append(menu)
    package = os.path.join(scripts, "Modules", PACKAGE)
    if os.path.isdir(package):
        shutil.rmtree(package)
        removed.append(package)
    for folder in (os.path.join(scripts, "Modules"), os.path.join(scripts, "Utility")):
        if os.path.isdir(folder) and not os.listdir(folder):
            os.rmdir(folder)
    return removed


def main(argv: Optional[List[str]] = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="install reelfix's DaVinci Resolve scripts for this user")
    parser.add_argument("--uninstall", action="store_true")
    parser.add_argument("--bin", help="the reelfix executable of the core's venv (recorded in config.json)")
    parser.add_argument("--scripts-dir", help="Resolve's Fusion Scripts folder (default: the per-user one)")
    args = parser.parse_args(argv)
    paths = uninstall(args.scripts_dir) if args.uninstall else install(args.bin, args.scripts_dir)
    for path in paths:
        print(("removed " if args.uninstall else "wrote   ") + path)
    if not args.uninstall:
        print("restart Resolve (or reopen Workspace > Scripts) to see 'reelfix Restore' and 'reelfix Open Report'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
