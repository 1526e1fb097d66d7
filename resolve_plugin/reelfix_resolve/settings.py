"""The menu script's options without a dialog (free Resolve 19.1+ gives scripts no UIManager, and
its Console gives a script no stdin): a small JSON file of the dialog's answers.

Looked for, in order: `reelfix Restore.json` beside the menu script (edit it to choose), then the
last-used options (every run from the dialog saves them in the reelfix config folder). When
there is neither, a commented starting file is written beside the script (or in the config
folder when that is not writable) and the run stops, saying where it is.
"""

import json
import os
from typing import Any, Dict, Optional, Tuple

from . import core

FILE_NAME = "reelfix Restore.json"
LAST_USED = "resolve_last_options.json"
DEFAULTS = {
    "select": "color", "which": "Orange", "pipeline": "upscale", "params": "scale=2", "handles": 8, "mode": "take",
    "where": "local",
}  # type: Dict[str, Any]
HELP = ("select: color | track | marks; which: the clip colour or track number; pipeline: a node name (params: "
        "'name=value, ...') or 'file' (params: the pipeline file's path); handles: frames; mode: take | track; "
        "where: local | openjd | deadline")


class SettingsMissing(Exception):
    """No settings yet: a starting file was written at `path`."""

    def __init__(self, path: str) -> None:
        self.path = path
        super(SettingsMissing, self).__init__(
            "this Resolve gives scripts no dialog (the free version has no UIManager): choose the options in {} "
            "and run reelfix Restore again".format(path))


def _read(path: str) -> Optional[Dict[str, Any]]:
    try:
        with open(path) as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    return {k: v for k, v in data.items() if k in DEFAULTS}


def _write(path: str, data: Dict[str, Any]) -> bool:
    try:
        folder = os.path.dirname(path)
        if folder and not os.path.isdir(folder):
            os.makedirs(folder)
        with open(path, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
        return True
    except OSError:
        return False


def last_used_path() -> str:
    return os.path.join(core.config_dir(), LAST_USED)


def save_last_used(answers: Dict[str, Any]) -> None:
    _write(last_used_path(), {k: v for k, v in answers.items() if k in DEFAULTS})


def load(script_dir: str) -> Tuple[Dict[str, Any], str]:
    """(answers, where they came from); SettingsMissing after writing a starting file."""
    beside = os.path.join(script_dir, FILE_NAME) if script_dir else ""
    for path in filter(None, (beside, last_used_path())):
        found = _read(path)
        if found is not None:
            return dict(DEFAULTS, **found), path
    starter = dict(DEFAULTS, help=HELP)
    for path in filter(None, (beside, os.path.join(core.config_dir(), FILE_NAME))):
        if _write(path, starter):
            raise SettingsMissing(path)
    raise SettingsMissing(beside or os.path.join(core.config_dir(), FILE_NAME))
