""""Open report" for a node's last run: the core writes the review page of the run's manifest
(`reelfix report MANIFEST -o FOLDER`, a folder beside the manifest) and the system browser opens
it from the file system. Stdlib only; the page needs no network."""

import os
import pathlib
import webbrowser
from typing import Callable, Optional

from .core import CoreFailed, find_core, run_capture

REPORT_TIMEOUT_S = 600.0  # the core reads at most 60 frames a shot back


def report_folder(manifest: str) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(manifest)), "review")


def open_report(manifest: str, bin_path: Optional[str] = None, opener: Callable[[str], object] = webbrowser.open) -> str:
    """Write the review page of the run that wrote `manifest` and open it; returns the page's path."""
    if not os.path.isfile(manifest):
        raise CoreFailed("no finished run to report on: {} does not exist (render the node first)".format(manifest))
    folder = report_folder(manifest)
    code, _, err = run_capture([bin_path or find_core(), "report", manifest, "-o", folder], timeout=REPORT_TIMEOUT_S)
    page = os.path.join(folder, "index.html")
    if code != 0 or not os.path.isfile(page):
        raise CoreFailed("reelfix report failed ({}): {}".format(code, err.strip()[-600:]))
    opener(pathlib.Path(page).resolve().as_uri())  # file:///..., spaces and other characters escaped
    return page
