"""Install the reelfix application plugin into a Deadline 10 repository (stdlib only).

    install(repository)    copies installers/deadline/Reelfix into REPOSITORY/custom/plugins/Reelfix
    uninstall(repository)  removes that folder

Deadline loads application plugins from the repository's ``plugins`` folder and, first,
from ``custom/plugins`` (where site plugins belong: a Deadline upgrade replaces ``plugins``).
Workers pick the plugin up at their next task; its configuration (per-OS executables, path
mapping inside the job file) is under Tools > Configure Plugins > Reelfix in the Monitor.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import List, Optional

from ._paths import InstallError

PLUGIN = Path(__file__).resolve().parent / "deadline" / "Reelfix"
NAME = "Reelfix"
FILES = ("Reelfix.py", "Reelfix.param", "Reelfix.options")


def plugin_folder(repository: Path) -> Path:
    return Path(repository) / "custom" / "plugins" / NAME


def _check_repository(repository: Optional[Path]) -> Path:
    if repository is None:
        raise InstallError("give the Deadline repository folder: --repository /path/to/DeadlineRepository10")
    repository = Path(repository)
    if not (repository / "custom").is_dir():
        raise InstallError("{} is not a Deadline repository (it has no custom/ folder)".format(repository))
    return repository


def install(repository: Optional[Path]) -> List[str]:
    folder = plugin_folder(_check_repository(repository))
    folder.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copy2(str(PLUGIN / name), str(folder / name))
    return [
        "installed the Reelfix Deadline plugin in {}".format(folder),
        "set the executables per OS in the Monitor: Tools > Configure Plugins > Reelfix (default: reelfix on PATH)",
        "then: reelfix farm deadline JOB.yaml -o deadline/ --submit",
    ]


def uninstall(repository: Optional[Path]) -> List[str]:
    folder = plugin_folder(_check_repository(repository))
    if folder.is_dir():
        shutil.rmtree(str(folder))
        return ["removed {}".format(folder)]
    return ["no Reelfix plugin in {}".format(folder.parent)]
