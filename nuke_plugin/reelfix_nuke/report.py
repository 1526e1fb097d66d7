""""Open report" for a node's last run: the core writes the review page of the run's manifest
(`reelfix report MANIFEST -o FOLDER`, a folder beside the manifest) and the system browser opens
it from the file system. Stdlib only; the page needs no network. After a farm render the job's
manifest is absent and each task wrote `NAME.reelfix.FRAMES.json`: the core merges those.
The button and the Restore menu entry are `host.open_node_report`."""

import glob
import os
import pathlib
import webbrowser
from typing import Callable, Optional

from .core import CoreFailed, find_core, run_capture

REPORT_TIMEOUT_S = 600.0  # the core reads at most 60 frames a shot back


def manifest_for(output: str) -> str:
    """Where the core writes a run's manifest: `out/upscale.####.exr` -> `out/upscale.reelfix.json`."""
    folder, name = os.path.split(output)
    return os.path.join(folder, (name.split("#")[0].split("%")[0].rstrip("._-") or "output") + ".reelfix.json")


def has_run(manifest: str) -> bool:
    """The manifest is there, or a farm run's chunk manifests beside it (`NAME.reelfix.1001-1010.json`)."""
    if os.path.isfile(manifest):
        return True
    stem = manifest[: -len(".json")] if manifest.endswith(".reelfix.json") else ""
    return bool(stem) and any(os.path.isfile(p) for p in glob.glob(glob.escape(stem) + ".*[0-9].json"))


def report_folder(manifest: str) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(manifest)), "review")


def open_report(manifest: str, bin_path: Optional[str] = None, opener: Optional[Callable[[str], object]] = None) -> str:
    """Write the review page of the run that wrote `manifest` and open it; returns the page's path."""
    if not has_run(manifest):
        raise CoreFailed("no finished run to report on: {} does not exist (render the node first)".format(manifest))
    folder = report_folder(manifest)
    code, _, err = run_capture([bin_path or find_core(), "report", manifest, "-o", folder], timeout=REPORT_TIMEOUT_S)
    page = os.path.join(folder, "index.html")
    if code != 0 or not os.path.isfile(page):
        raise CoreFailed("reelfix report failed ({}): {}".format(code, err.strip()[-600:]))
    (opener or webbrowser.open)(pathlib.Path(page).resolve().as_uri())  # file:///..., spaces and other characters escaped
    return page
