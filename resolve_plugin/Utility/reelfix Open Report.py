"""reelfix Open Report (Workspace > Scripts > reelfix Open Report): write and open the review page
of the most recent reelfix run of the current timeline's restored clips (else of the project's
reelfix folder). Says what it did in the Console. Logic lives in the reelfix_resolve package;
the package folder is found as in `reelfix Restore.py`."""

import os
import sys

PLUGIN_DIR = None  # the installer writes the folder holding reelfix_resolve here
_here = os.path.abspath(str(globals().get("__file__") or "."))  # from a checkout: resolve_plugin/Utility/ -> resolve_plugin/
sys.path.insert(0, PLUGIN_DIR or os.path.dirname(os.path.dirname(_here)))

from reelfix_resolve.report import main  # noqa: E402

main(globals())
