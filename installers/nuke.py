"""Install the Nuke plugin for the current user (stdlib only; Linux, macOS, Windows).

    install()    adds ONE line to ~/.nuke/init.py (created if missing):
                     import nuke; nuke.pluginAddPath(r"/path/to/nuke_plugin")  # reelfix-plugin (...)
                 idempotent: a second install replaces that line, never adds another.
                 copy=True copies nuke_plugin/ into the per-user data folder first (so the
                 checkout can go away); bin_path writes the core's location into config.json.
    uninstall()  removes exactly that line (and the copy); the rest of init.py is untouched.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import List, Mapping, Optional

from . import _paths
from ._paths import InstallError

PLUGIN_SOURCE = Path(__file__).resolve().parents[1] / "nuke_plugin"
MARKER = "# reelfix-plugin (added by installers/install.py nuke; remove with --uninstall)"


def init_line(plugin_dir: Path) -> str:
    path = str(plugin_dir).rstrip("\\/")
    if '"' in path or "\n" in path:
        raise InstallError("cannot write a path containing quotes or newlines into init.py: {}".format(path))
    return 'import nuke; nuke.pluginAddPath(r"{}")  {}'.format(path, MARKER)


def _read(init: Path) -> str:
    return init.read_bytes().decode("utf-8") if init.is_file() else ""  # newlines as they are


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _copy(source: Path, target: Path) -> Path:
    if target.exists():
        shutil.rmtree(str(target))
    shutil.copytree(str(source), str(target), ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "tools"))
    return target


def install(
    plugin_dir: Optional[Path] = None,
    nuke_home: Optional[Path] = None,
    copy: bool = False,
    bin_path: Optional[str] = None,
    environ: Optional[Mapping[str, str]] = None,
    platform: Optional[str] = None,
) -> List[str]:
    source = Path(plugin_dir or PLUGIN_SOURCE).resolve()
    if not (source / "reelfix_nuke").is_dir():
        raise InstallError("{} is not the reelfix Nuke plugin folder (no reelfix_nuke/ inside)".format(source))
    lines = []
    if copy:
        source = _copy(source, _paths.data_dir(environ, platform) / "nuke_plugin")
        lines.append("copied the plugin to {}".format(source))
    home = Path(nuke_home) if nuke_home else _paths.nuke_home(environ, platform)
    init = home / "init.py"
    text = _read(init)
    nl = _newline(text)
    line = init_line(source)
    rows = text.splitlines(True)
    kept = [r for r in rows if MARKER not in r]
    had = len(kept) != len(rows)
    if any(r.rstrip("\r\n") == line for r in rows) and len([r for r in rows if MARKER in r]) == 1:
        lines.append("{} already loads the plugin from {}".format(init, source))
    else:
        body = "".join(kept)
        if body and not body.endswith(("\n", "\r")):
            body += nl
        home.mkdir(parents=True, exist_ok=True)
        init.write_bytes((body + line + nl).encode("utf-8"))
        lines.append("{} {} to load the plugin from {}".format("updated" if had else "added a line to", init, source))
    if bin_path:
        binary = Path(bin_path).resolve()
        if not binary.is_file():
            raise InstallError("--bin {}: no such file".format(bin_path))
        lines.append("wrote {} (reelfix_bin = {})".format(_paths.write_config({_paths.BIN_KEY: str(binary)}, environ=environ, platform=platform), binary))
    elif not _paths.read_config(environ, platform).get(_paths.BIN_KEY) and not (environ or os.environ).get("REELFIX_BIN") \
            and not shutil.which("reelfix"):
        lines.append("note: no reelfix core found yet; install it with `python3 installers/install.py core` (or use --bin)")
    lines.append("restart Nuke: the nodes are in Nodes > Restore")
    return lines


def uninstall(nuke_home: Optional[Path] = None, environ: Optional[Mapping[str, str]] = None, platform: Optional[str] = None) -> List[str]:
    home = Path(nuke_home) if nuke_home else _paths.nuke_home(environ, platform)
    init = home / "init.py"
    text = _read(init)
    lines = []
    if MARKER in text:
        kept = "".join(r for r in text.splitlines(True) if MARKER not in r)
        if kept.strip():
            init.write_bytes(kept.encode("utf-8"))
            lines.append("removed the reelfix line from {}".format(init))
        else:
            init.unlink()
            lines.append("removed {} (it only loaded reelfix)".format(init))
    else:
        lines.append("{} does not load reelfix".format(init))
    copied = _paths.data_dir(environ, platform) / "nuke_plugin"
    if (copied / "reelfix_nuke").is_dir():
        shutil.rmtree(str(copied))
        lines.append("removed the copied plugin {}".format(copied))
    return lines
