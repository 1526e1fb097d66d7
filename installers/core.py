"""Install the reelfix core into its own venv and record where it is (stdlib only).

    install()    python -m venv VENV; VENV/python -m pip install SOURCE; config.json reelfix_bin
    uninstall()  removes the venv (when the installer made it) and the config entry

SOURCE defaults to this repository (the folder above installers/); a wheel file or a
requirement (`reelfix==0.1.0`) works too. Host plugins find the core through config.json.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, List, Mapping, Optional, Sequence

from . import _paths
from ._paths import InstallError

REPO = Path(__file__).resolve().parents[1]
MIN_PYTHON = (3, 10)

Runner = Callable[[Sequence[str]], None]


def _run(argv: Sequence[str]) -> None:
    try:
        subprocess.run([str(a) for a in argv], check=True)
    except FileNotFoundError:
        raise InstallError("cannot run {}: not found".format(argv[0])) from None
    except subprocess.CalledProcessError as exc:
        raise InstallError("`{}` failed with exit code {}".format(" ".join(str(a) for a in argv), exc.returncode)) from None


def _requirement(source: Optional[str], extras: Sequence[str]) -> str:
    spec = source or str(REPO)
    if not source and not (REPO / "pyproject.toml").is_file():
        raise InstallError("no reelfix source next to the installer ({}): give --source WHEEL_OR_REQUIREMENT".format(REPO))
    if not extras:
        return spec
    tag = "[{}]".format(",".join(extras))
    if Path(spec).exists():
        return spec + tag
    m = re.match(r"^([A-Za-z0-9_.\-]+)(.*)$", spec)
    if not m:
        raise InstallError("cannot add extras to {!r}; write them into the requirement".format(spec))
    return m.group(1) + tag + m.group(2)


def check_python(python: str) -> None:
    if python == sys.executable and sys.version_info[:2] >= MIN_PYTHON:
        return
    code = "import sys; sys.exit(0 if sys.version_info[:2] >= {} else 3)".format(MIN_PYTHON)
    try:
        ok = subprocess.run([python, "-c", code]).returncode == 0
    except OSError:
        ok = False
    if not ok:
        raise InstallError("the core needs Python {}.{} or newer; give one with --python (e.g. --python python3.11)".format(*MIN_PYTHON))


def install(
    venv: Optional[Path] = None,
    source: Optional[str] = None,
    extras: Sequence[str] = (),
    gpu: bool = False,
    python: Optional[str] = None,
    runner: Runner = _run,
    environ: Optional[Mapping[str, str]] = None,
    platform: Optional[str] = None,
) -> List[str]:
    """Create/upgrade the core's venv and point config.json at its reelfix; lines to print."""
    venv = Path(venv) if venv else _paths.default_venv(environ, platform)
    python = python or sys.executable
    lines = []
    if not (venv / "pyvenv.cfg").is_file():
        if runner is _run:
            check_python(python)
        runner([python, "-m", "venv", str(venv)])
        lines.append("created the venv {}".format(venv))
    vpython = str(_paths.venv_executable(venv, "python", platform))
    runner([vpython, "-m", "pip", "install", "--upgrade", _requirement(source, extras)])
    lines.append("installed {} into {}".format(source or REPO, venv))
    if gpu:
        runner([vpython, "-m", "pip", "uninstall", "-y", "onnxruntime"])
        runner([vpython, "-m", "pip", "install", "onnxruntime-gpu>=1.20"])
        lines.append("replaced onnxruntime with onnxruntime-gpu (check with `reelfix devices`)")
    binary = _paths.venv_executable(venv, "reelfix", platform)
    if not binary.is_file():
        raise InstallError("pip finished but {} is missing; see pip's output above".format(binary))
    runner([str(binary), "--version"])
    path = _paths.write_config({_paths.BIN_KEY: str(binary)}, environ=environ, platform=platform)
    lines.append("wrote {} (reelfix_bin = {})".format(path, binary))
    return lines


def uninstall(venv: Optional[Path] = None, environ: Optional[Mapping[str, str]] = None, platform: Optional[str] = None) -> List[str]:
    """Remove the installer's venv and the config entry; a venv the installer did not make is left."""
    lines = []
    default = _paths.default_venv(environ, platform)
    target = Path(venv) if venv else default
    configured = _paths.read_config(environ, platform).get(_paths.BIN_KEY)
    if (target / "pyvenv.cfg").is_file():
        shutil.rmtree(str(target))
        lines.append("removed the venv {}".format(target))
    else:
        lines.append("no venv at {}".format(target))
    if configured:
        bin_venv = Path(configured).parent.parent
        if bin_venv.resolve() != target.resolve() and bin_venv.exists():
            lines.append("left {} in place (config pointed there; the installer did not make it)".format(bin_venv))
        path = _paths.write_config({}, remove=(_paths.BIN_KEY,), environ=environ, platform=platform)
        lines.append("removed reelfix_bin from {}".format(path))
    return lines
