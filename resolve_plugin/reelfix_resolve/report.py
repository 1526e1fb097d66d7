""""Open report" for a restored clip's last run: the manifest named in the clip's reelfix marker
(or beside its frames) is handed to the core (`reelfix report MANIFEST -o FOLDER`, a folder beside
the manifest) and the system browser opens the page from the file system. Stdlib only.

The Workspace > Scripts > reelfix Open Report entry (`main`) picks the most recent run among
the current timeline's restored clips (their takes, track clips and reelfix markers), else the
most recent run in the project's reelfix folder, and says in the console what it opened (works
on the free Resolve: no UIManager needed). After a farm run the job's manifest is absent and
each task's `NAME.reelfix.FRAMES.json` is there: the core merges them."""

import glob
import json
import os
import pathlib
import subprocess
import webbrowser
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

from . import restore
from .core import CHUNK_MANIFEST, CoreError, child_environment, find_reelfix, manifest_for, read_config, run_manifests
from .media import parse_file_path, reelfix_output

if TYPE_CHECKING:
    from fusionscript import TimelineItem

REPORT_TIMEOUT_S = 600.0  # the core reads at most 60 frames a shot back


def open_report(manifest: str, reelfix: Optional[str] = None, opener: Callable[[str], object] = webbrowser.open) -> str:
    """Write the review page of the run that wrote `manifest` (into `review/` beside it) and open it;
    returns the page's path. The manifest is the one the clip's reelfix marker names."""
    folder = os.path.join(os.path.dirname(os.path.abspath(manifest)), "review")
    if not run_time(manifest):
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


def run_time(manifest: str) -> float:
    """When the run of `manifest` last wrote it (its chunk manifests' newest after a farm run); 0: no run."""
    return max([os.path.getmtime(p) for p in run_manifests(manifest)] or [0.0])


def _item_manifests(item: "TimelineItem") -> List[str]:
    found = []
    mpis = [item.GetMediaPoolItem()] + [(item.GetTakeByIndex(i) or {}).get("mediaPoolItem") for i in range(2, int(item.GetTakesCount() or 0) + 1)]
    for mpi in mpis:
        text = reelfix_output(mpi) if mpi is not None else ""
        if text:
            found.append(manifest_for(parse_file_path(text)[0]))
    for marker in (item.GetMarkers() or {}).values():
        try:
            data = json.loads(str(marker.get("customData", "")))
        except ValueError:
            continue
        if isinstance(data, dict) and "reelfix" in data and data.get("manifest"):
            found.append(str(data["manifest"]))
    return found


def timeline_manifests(resolve: Any) -> List[str]:
    """The manifests of the restored clips on the current timeline."""
    project = resolve.GetProjectManager().GetCurrentProject()
    timeline = project.GetCurrentTimeline() if project else None
    if not timeline:
        return []
    found = []  # type: List[str]
    for index in range(1, int(timeline.GetTrackCount("video") or 0) + 1):
        for item in timeline.GetItemListInTrack("video", index) or []:
            found.extend(_item_manifests(item))
    return found


def folder_manifests(out_dir: str) -> List[str]:
    """The job manifests under the project's reelfix folder (`<source>_<hash>/<pipeline hash>/`)."""
    found = set()
    for depth in ("*", os.path.join("*", "*")):
        for path in glob.glob(os.path.join(glob.escape(out_dir), depth, "*.reelfix*.json")):
            found.add(CHUNK_MANIFEST.sub(".reelfix.json", path) if CHUNK_MANIFEST.search(path) else path)
    return sorted(found)


def latest_manifest(resolve: Any, config: Dict[str, Any]) -> str:
    """The most recent run's manifest: the current timeline's restored clips first, else the
    project's reelfix folder; CoreError when there is none."""
    project = resolve.GetProjectManager().GetCurrentProject()
    if not project:
        raise CoreError("no project is open")
    for found in (timeline_manifests(resolve), folder_manifests(restore.default_out_dir(project, config))):
        timed = sorted((run_time(m), m) for m in set(found))
        if timed and timed[-1][0] > 0:
            return timed[-1][1]
    raise CoreError("no restored clip with a finished run on this timeline, nor in {}: run reelfix Restore first".format(
        restore.default_out_dir(project, config)))


def main(namespace: Dict[str, Any], opener: Optional[Callable[[str], object]] = None) -> Optional[str]:
    """The Workspace > Scripts > reelfix Open Report entry; returns the page (None when it stopped).
    Ends with a message in the console, never a traceback."""
    say = restore.Reporter()
    app = namespace.get("resolve")
    if app is None and namespace.get("bmd") is not None:
        app = namespace["bmd"].scriptapp("Resolve")
    if app is None:
        say.message("this script runs from DaVinci Resolve's Workspace > Scripts menu")
        return None
    try:
        config = read_config()
        manifest = latest_manifest(app, config)
        say.message("writing the review page of {}".format(manifest))
        page = open_report(manifest, find_reelfix(config), opener=opener or webbrowser.open)
    except CoreError as exc:
        say.message("no report: {}".format(exc))
        return None
    except Exception as exc:  # noqa: BLE001 - a menu script must end with a message, not a traceback
        say.message("stopped on an unexpected error ({}: {}); please report it with this line".format(type(exc).__name__, exc))
        return None
    say.message("opened {}".format(page))
    return page
