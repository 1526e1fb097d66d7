"""Install or remove reelfix parts for the current user (stdlib only).

    python3 installers/install.py core    [--venv DIR] [--source WHEEL|REQ] [--extras farm,gpu] [--gpu] [--python PY] [--uninstall]
    python3 installers/install.py nuke    [--nuke-home DIR] [--copy] [--bin PATH] [--uninstall]
    python3 installers/install.py resolve [--bin PATH] [--scripts-dir DIR] [--uninstall]
    python3 installers/install.py deadline --repository DIR [--uninstall]

Install the core first: the host plugins find it through the config.json it writes.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any, List, Optional, Sequence

if __package__ in (None, ""):  # run as a script: make `installers` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from installers import _paths  # noqa: E402


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="install.py", description="Install or remove reelfix parts for the current user.")
    sub = p.add_subparsers(dest="part", metavar="core|nuke|resolve|deadline")
    sub.required = True
    core = sub.add_parser("core", help="the reelfix core in its own venv (writes config.json)")
    core.add_argument("--venv", type=Path, help="venv folder (default: {})".format(_paths.default_venv()))
    core.add_argument("--source", help="a wheel, a folder or a requirement (default: this repository)")
    core.add_argument("--extras", default="", help="comma-separated extras, e.g. farm")
    core.add_argument("--gpu", action="store_true", help="replace onnxruntime with onnxruntime-gpu (CUDA/TensorRT)")
    core.add_argument("--python", help="Python >= 3.10 for the venv (default: this one)")
    nuke = sub.add_parser("nuke", help="the Nuke plugin (a line in ~/.nuke/init.py)")
    nuke.add_argument("--nuke-home", type=Path, help="Nuke's user folder (default: {})".format(_paths.nuke_home()))
    nuke.add_argument("--copy", action="store_true", help="copy the plugin into the per-user data folder first")
    nuke.add_argument("--bin", help="the core's reelfix executable (written to config.json)")
    resolve = sub.add_parser("resolve", help="the DaVinci Resolve scripts")
    resolve.add_argument("--bin", help="the core's reelfix executable")
    resolve.add_argument("--scripts-dir", help="Resolve's Scripts folder (default: the per-user one)")
    deadline = sub.add_parser("deadline", help="the Reelfix plugin in a Deadline 10 repository (custom/plugins)")
    deadline.add_argument("--repository", type=Path, help="the Deadline repository folder")
    for part in (core, nuke, resolve, deadline):
        part.add_argument("--uninstall", action="store_true", help="remove what install put there")
    return p


def _resolve() -> Any:
    try:
        return importlib.import_module("installers.resolve")
    except ImportError as exc:
        if getattr(exc, "name", None) in ("installers.resolve", "installers"):
            raise RuntimeError("the Resolve installer (installers/resolve.py) is not part of this copy of reelfix yet") from None
        raise


def run(args: argparse.Namespace) -> List[str]:
    if args.part == "core":
        from installers import core

        if args.uninstall:
            return core.uninstall(args.venv)
        extras = [e.strip() for e in args.extras.split(",") if e.strip()]
        return core.install(args.venv, args.source, extras, args.gpu, args.python)
    if args.part == "nuke":
        from installers import nuke

        if args.uninstall:
            return nuke.uninstall(args.nuke_home)
        return nuke.install(nuke_home=args.nuke_home, copy=args.copy, bin_path=args.bin)
    if args.part == "deadline":
        from installers import deadline_repo as deadline

        return deadline.uninstall(args.repository) if args.uninstall else deadline.install(args.repository)
    resolve = _resolve()
    if args.uninstall:
        return list(resolve.uninstall(scripts_dir=args.scripts_dir))
    return list(resolve.install(bin_path=args.bin, scripts_dir=args.scripts_dir))


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        lines = run(args)
    except (_paths.InstallError, RuntimeError, OSError, ValueError) as exc:  # they carry their own advice
        print("install.py {}: {}".format(args.part, exc), file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
