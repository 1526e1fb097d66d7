"""Send to farm: the core writes the farm files, a submitter on PATH sends them (no Nuke here).

    reelfix farm openjd JOB --chunk N -o FARM/openjd/template.yaml   (a Deadline Cloud job bundle)
    reelfix farm deadline JOB --chunk N -o FARM/deadline/            (Deadline 10 job + plugin info)

Submitters, first found wins (the `submitter` knob can pick one):
    deadlinecommand JOB_INFO PLUGIN_INFO        Deadline 10 ($DEADLINECOMMAND, $DEADLINE_PATH, PATH)
    deadline bundle submit --yes FARM/openjd    Deadline Cloud (runs the OpenJD template)
Otherwise the files are left where they are and the message says how to run them
(`openjd check`/`openjd run` when the Open Job Description CLI is installed).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from .core import CoreFailed, PluginError, run_capture

SUBMITTERS = ("auto", "Deadline 10", "Deadline Cloud", "files only")

Which = Callable[[str], Optional[str]]
Capture = Callable[[Sequence[str]], Tuple[int, str, str]]


def write_files(bin_path: str, job_path: str, chunk: int, farm_dir: str, capture: Capture = run_capture) -> Dict[str, str]:
    """Ask the core for the OpenJD template and the Deadline 10 files; paths by kind."""
    openjd_dir = os.path.join(farm_dir, "openjd")
    deadline_dir = os.path.join(farm_dir, "deadline")
    os.makedirs(openjd_dir, exist_ok=True)
    os.makedirs(deadline_dir, exist_ok=True)
    template = os.path.join(openjd_dir, "template.yaml")
    chunk_text = str(max(1, int(chunk)))
    for argv in (
        [bin_path, "farm", "openjd", job_path, "--chunk", chunk_text, "-o", template],
        [bin_path, "farm", "deadline", job_path, "--chunk", chunk_text, "-o", deadline_dir + os.sep],
    ):
        code, out, err = capture(argv)
        if code != 0:
            raise CoreFailed(
                "reelfix could not write the farm files (`{}`):\n\n{}".format(" ".join(argv[1:4]), (err or out).strip() or "exit code {}".format(code))
            )
    return {"openjd": template, "bundle": openjd_dir, "deadline": deadline_dir}


def deadline_info_files(deadline_dir: str) -> Tuple[str, str]:
    """(job info, plugin info) among the Deadline files, told apart by their content."""
    job_info = plugin_info = ""
    for path in sorted(glob.glob(os.path.join(deadline_dir, "*.job")) + glob.glob(os.path.join(deadline_dir, "*.txt"))):
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except OSError:
            continue
        if re.search(r"(?m)^\s*Plugin\s*=", text) and not job_info:
            job_info = path
        elif re.search(r"(?m)^\s*(Executable|Arguments|JobFile)\s*=", text) and not plugin_info:  # CommandLine or the Reelfix plugin
            plugin_info = path
    if not job_info or not plugin_info:
        raise PluginError("no Deadline job info / plugin info files in {} (from `reelfix farm deadline`)".format(deadline_dir))
    return job_info, plugin_info


def find_deadlinecommand(which: Which = shutil.which, environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """Like the core's submit scripts: $DEADLINECOMMAND, else $DEADLINE_PATH/deadlinecommand, else PATH."""
    env = os.environ if environ is None else environ
    if env.get("DEADLINECOMMAND"):
        return env["DEADLINECOMMAND"]
    if env.get("DEADLINE_PATH"):
        for name in ("deadlinecommand", "deadlinecommand.exe"):
            candidate = os.path.join(env["DEADLINE_PATH"], name)
            if os.path.isfile(candidate):
                return candidate
    return which("deadlinecommand")


def submit(files: Dict[str, str], choice: str = "auto", which: Which = shutil.which, capture: Capture = run_capture) -> str:
    """Submit with the chosen (or first available) submitter; the text to show the user."""
    where = "Farm files:\n  OpenJD template: {}\n  Deadline 10 files: {}".format(files["openjd"], files["deadline"])
    deadlinecommand = find_deadlinecommand(which) if choice in ("auto", "Deadline 10") else None
    deadline_cloud = which("deadline") if choice in ("auto", "Deadline Cloud") else None
    if deadlinecommand:
        job_info, plugin_info = deadline_info_files(files["deadline"])
        return _submitted("Deadline 10", [deadlinecommand, job_info, plugin_info], where, capture)
    if deadline_cloud:
        return _submitted("Deadline Cloud", [deadline_cloud, "bundle", "submit", "--yes", files["bundle"]], where, capture)
    if choice in ("Deadline 10", "Deadline Cloud"):
        tool = "deadlinecommand" if choice == "Deadline 10" else "deadline"
        return "Not submitted: `{}` is not on PATH.\n\n{}".format(tool, where)
    lines = ["Not submitted (no deadlinecommand or deadline CLI on PATH).", "", where]
    openjd = which("openjd")
    if openjd:
        code, out, err = capture([openjd, "check", files["openjd"]])
        lines.append("  openjd check: {}".format("ok" if code == 0 else (err or out).strip()))
        lines.append("  run it here: openjd run {}".format(files["openjd"]))
    lines.append("  Deadline 10: deadlinecommand <job info> <plugin info> from the folder above")
    lines.append("  Deadline Cloud: deadline bundle submit {}".format(files["bundle"]))
    return "\n".join(lines)


def _submitted(name: str, argv: List[str], where: str, capture: Capture) -> str:
    code, out, err = capture(argv)
    if code != 0:
        raise PluginError("{} refused the job:\n\n{}\n\n{}".format(name, (err or out).strip() or "exit code {}".format(code), where))
    job_id = re.search(r"(?im)^\s*job\s*id\s*[=:]\s*(\S+)", out)
    return "Submitted to {}{}.\n\n{}".format(name, " as job " + job_id.group(1) if job_id else "", where)
