""""Open report" for a restored clip's last run: the manifest named in the clip's reelfix marker
(or beside its frames) is handed to the core (`reelfix report MANIFEST -o FOLDER`, a folder beside
the manifest) and the system browser opens the page from the file system. Stdlib only."""

import os
import pathlib
import subprocess
import webbrowser
from typing import Callable, Optional

from .core import CoreError, child_environment, find_reelfix

REPORT_TIMEOUT_S = 600.0  # the core reads at most 60 frames a shot back


def open_report(manifest: str, reelfix: Optional[str] = None, opener: Callable[[str], object] = webbrowser.open) -> str:
    """Write the review page of the run that wrote `manifest` (into `review/` beside it) and open it;
    returns the page's path. The manifest is the one the clip's reelfix marker names."""
    folder = os.path.join(os.path.dirname(os.path.abspath(manifest)), "review")
    if not os.path.isfile(manifest):
        raise CoreError("no finished run to report on: {} does not exist (restore the clip first)".format(manifest))
    try:
        proc = subprocess.run([reelfix or find_reelfix(), "report", manifest, "-o", folder], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              env=child_environment(), timeout=REPORT_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CoreError("cannot run reelfix report: {}".format(exc))
    page = os.path.join(folder, "index.html")
    if proc.returncode != 0 or not os.path.isfile(page):
        raise CoreError("reelfix report failed ({}): {}".format(proc.returncode, proc.stderr.strip()[-600:]))
    opener(pathlib.Path(page).resolve().as_uri())  # file:///..., spaces and other characters escaped
    return page
