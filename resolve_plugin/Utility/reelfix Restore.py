"""reelfix Restore (Workspace > Scripts > reelfix Restore): restore clips of the current timeline
with reelfix and add the results as takes. Logic lives in the reelfix_resolve package."""

import os
import sys

PLUGIN_DIR = None  # the installer writes the folder holding reelfix_resolve here


def _plugin_dir():  # type: () -> str
    if PLUGIN_DIR:
        return PLUGIN_DIR
    here = globals().get("__file__")  # run from a checkout: resolve_plugin/Utility/ -> resolve_plugin/
    return os.path.dirname(os.path.dirname(os.path.abspath(here))) if here else ""


if _plugin_dir() and _plugin_dir() not in sys.path:
    sys.path.insert(0, _plugin_dir())

from reelfix_resolve.menu import main  # noqa: E402

main(globals())
