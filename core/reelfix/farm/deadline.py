"""Deadline 10 jobs for reelfix's own plugin (default) or the stock CommandLine plugin.

``reelfix farm deadline job.yaml --chunk 10 -o deadline/`` writes into ``deadline/``:

* ``reelfix-job.yaml``  the job with absolute paths, which every task runs;
* ``job_info.job``      the job info: ``Plugin=Reelfix``, ``Name``, ``Frames``, ``ChunkSize``, ...;
* ``plugin_info.job``   ``JobFile`` (Reelfix plugin) or ``Executable`` and ``Arguments`` (CommandLine);
* ``submit.sh`` / ``submit.bat``  ``deadlinecommand job_info.job plugin_info.job``.

The Reelfix plugin (``installers/deadline/Reelfix``, put in the repository's
``custom/plugins`` by ``installers/install.py deadline``) maps the job file's *contents* with
the repository's path mapping rules, takes the executable per OS from its configuration, builds
the argument list itself and reports progress and failed frames. ``--plugin commandline``
targets the stock plugin instead, which maps only its Executable and Arguments strings and,
without shell mode, captures no output (hosts.md, "Farms").

Format facts this relies on (Deadline 10 manual, "Job Submission" / "Job Info File", and the
CommandLine plugin's own script, ``plugins/CommandLine/CommandLine.py``):

* Both files are plain ``Key=Value`` lines; ``deadlinecommand JOB_INFO PLUGIN_INFO [AUX...]``
  submits them and prints ``JobID=...``.
* Job info: ``Plugin``, ``Name``, ``BatchName`` (groups jobs in the Monitor), ``Comment``,
  ``Frames`` (a frame list: ``1001-1100``, ``1001-1005,1008``), ``ChunkSize`` (frames per
  task; chunks are filled in frame-list order, so a task can straddle a gap in the list),
  ``Pool``, ``Group``, ``Priority``, ``OutputDirectory0`` / ``OutputFilename0`` (``####``
  padding; used by the Monitor's "view output").
* CommandLine plugin info: ``Executable``, ``Arguments``, ``StartupDirectory``,
  ``ShellExecute`` (default False: the executable runs directly, no shell),
  ``SingleFramesOnly``. The plugin replaces ``<STARTFRAME>`` / ``<ENDFRAME>`` (a task's first
  and last frame, also ``<STARTFRAME%4>`` for padding) and ``<QUOTE>`` in ``Arguments``,
  runs ``RepositoryUtils.CheckPathMapping`` on ``Executable`` and ``Arguments`` (Deadline's
  path mapping rules apply to the job file path), and fails the task on a non-zero exit code.
* ``Arguments`` is one command-line string: a path with spaces is wrapped in double quotes;
  a path holding a double quote or a line break cannot be passed and is refused.

Because a task gets only its first and last frame, and ``reelfix run --frames A-B`` fails on
frames missing from the input, an input with gaps becomes one job per contiguous run of
frames (``job_info.1001-1005.job``, ...; one shared ``plugin_info.job``), grouped by
``BatchName``; the submit scripts submit them all. Past `MAX_JOBS` runs (an input with
frames missing all over) it is one job listing the frames, with ``ChunkSize=1``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..frames.sequence import SequencePattern
from .prepare import DEFAULT_EXECUTABLE, FarmJob, find_executable, prepare, range_expression, write_farm_job

FARM_JOB_NAME = "reelfix-job.yaml"
SUBMIT_TIMEOUT_S = 300
MAX_JOBS = 20  # more contiguous runs than this: one job with one frame per task
PLUGIN_INFO = "plugin_info.job"


def quote_argument(value: str, what: str) -> str:
    """One argument for the CommandLine plugin's ``Arguments`` string."""
    if any(c in value for c in '"\r\n'):
        raise UserError(f"{what} {value!r} holds a double quote or a line break, which Deadline's Arguments cannot carry", hint="rename the folder or file")
    return f'"{value}"' if (not value or any(c.isspace() for c in value)) else value


def info_text(entries: dict[str, str]) -> str:
    """``Key=Value`` lines; a value with a line break is refused (it would start a new key)."""
    lines = []
    for key, value in entries.items():
        if "\n" in value or "\r" in value:
            raise UserError(f"Deadline {key} cannot hold a line break: {value!r}")
        lines.append(f"{key}={value}")
    return "\n".join(lines) + "\n"


def parse_info(text: str) -> dict[str, str]:
    """Read a job/plugin info file back (``Key=Value`` lines; blank lines and ``#`` comments skipped)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            out[key.strip()] = value
    return out


def output_filename(output: str) -> tuple[str, str]:
    """(folder, file name with ``#`` padding) for OutputDirectory0 / OutputFilename0."""
    pattern = SequencePattern.parse(output)
    hashes = "#" * max(pattern.padding, 1)
    return pattern.directory, f"{pattern.prefix}{hashes}{pattern.suffix}"


PLUGINS = {"reelfix": "Reelfix", "commandline": "CommandLine"}


def plugin_info(job_file: str, executable: str | None, plugin: str = "reelfix") -> dict[str, str]:
    """Plugin info: the Reelfix plugin gets the job file (and an executable only when one was
    given: else its per-OS configuration decides); CommandLine gets the whole command line."""
    quote_argument(job_file, "job file")  # refuse quotes / line breaks
    if plugin == "reelfix":
        info = {"JobFile": job_file}
        if executable:
            quote_argument(executable, "executable")
            info["Executable"] = executable
        return info
    executable = executable or DEFAULT_EXECUTABLE
    args = f"run {quote_argument(job_file, 'job file')} --frames <STARTFRAME>-<ENDFRAME> --progress plain"
    quote_argument(executable, "executable")  # refuse quotes / line breaks here too
    return {"Executable": executable, "Arguments": args, "ShellExecute": "False", "SingleFramesOnly": "False"}


def job_infos(
    farm: FarmJob, *, chunk: int, name: str | None = None, pool: str | None = None, group: str | None = None,
    priority: int | None = None, plugin: str = "reelfix", env: dict[str, str] | None = None,
) -> dict[str, dict[str, str]]:
    """File name -> job info entries: one job, or one per contiguous run when the input has gaps."""
    if chunk < 1:
        raise UserError(f"--chunk {chunk}: a chunk holds at least 1 frame")
    if priority is not None and not 0 <= priority <= 100:
        raise UserError(f"--priority {priority}: Deadline priorities go from 0 to 100")
    label = name or farm.name
    folder, filename = output_filename(farm.job.output.path)
    runs = farm.runs()
    if len(runs) > MAX_JOBS:  # a very gappy input: one job, one frame per task (no task can straddle a gap)
        runs, chunk = [(farm.frames[0], farm.frames[-1])], 1
    infos: dict[str, dict[str, str]] = {}
    for first, last in runs:
        span = str(first) if first == last else f"{first}-{last}"
        entries = {
            "Plugin": PLUGINS[plugin],
            "Name": label if len(runs) == 1 else f"{label} ({span})",
            "Comment": f"reelfix job {farm.source}",
            "Frames": span if len(runs) > 1 else range_expression(farm.frames),
            "ChunkSize": str(chunk),
            "OutputDirectory0": folder,
            "OutputFilename0": filename,
        }
        if len(runs) > 1:
            entries["BatchName"] = label
        for key, value in (("Pool", pool), ("Group", group), ("Priority", None if priority is None else str(priority))):
            if value:
                entries[key] = value
        for i, (key, value) in enumerate((env or {}).items()):
            entries[f"EnvironmentKeyValue{i}"] = f"{key}={value}"
        infos["job_info.job" if len(runs) == 1 else f"job_info.{span}.job"] = entries
    return infos


def submit_sh(job_info_names: list[str]) -> str:
    lines = [
        "#!/bin/sh",
        "# Submit this reelfix job to Deadline 10. deadlinecommand comes from $DEADLINECOMMAND,",
        "# else $DEADLINE_PATH/deadlinecommand, else PATH.",
        "set -e",
        'cd "$(dirname "$0")"',
        'if [ -z "$DEADLINECOMMAND" ]; then',
        '  if [ -n "$DEADLINE_PATH" ] && [ -x "$DEADLINE_PATH/deadlinecommand" ]; then DEADLINECOMMAND="$DEADLINE_PATH/deadlinecommand"; else DEADLINECOMMAND=deadlinecommand; fi',
        "fi",
    ]
    lines += [f'"$DEADLINECOMMAND" "{n}" "{PLUGIN_INFO}"' for n in job_info_names]
    return "\n".join(lines) + "\n"


def submit_bat(job_info_names: list[str]) -> str:
    lines = [
        "@echo off",
        "rem Submit this reelfix job to Deadline 10. deadlinecommand comes from %DEADLINECOMMAND%,",
        "rem else %DEADLINE_PATH%\\deadlinecommand.exe, else PATH.",
        'cd /d "%~dp0"',
        'if not defined DEADLINECOMMAND if defined DEADLINE_PATH set "DEADLINECOMMAND=%DEADLINE_PATH%\\deadlinecommand.exe"',
        'if not defined DEADLINECOMMAND set "DEADLINECOMMAND=deadlinecommand"',
    ]
    lines += [f'"%DEADLINECOMMAND%" "{n}" "{PLUGIN_INFO}" || exit /b 1' for n in job_info_names]
    return "\r\n".join(lines) + "\r\n"


@dataclass(frozen=True)
class DeadlineFiles:
    folder: Path
    job_file: Path
    job_infos: list[Path]
    plugin_info: Path
    farm: FarmJob


def write_deadline(
    job_file: str | Path, out_dir: str | Path, *, chunk: int = 10, executable: str | None = None, name: str | None = None,
    pool: str | None = None, group: str | None = None, priority: int | None = None, plugin: str = "reelfix",
    env: dict[str, str] | None = None,
) -> DeadlineFiles:
    """Write the farm job, job info(s), plugin info and submit scripts into `out_dir`."""
    if plugin not in PLUGINS:
        raise UserError(f"--plugin {plugin}: choose {' or '.join(PLUGINS)}")
    farm = prepare(job_file)
    folder = Path(out_dir)
    infos = job_infos(farm, chunk=chunk, name=name, pool=pool, group=group, priority=priority, plugin=plugin, env=env)
    texts = {name: info_text(entries) for name, entries in infos.items()}
    texts[PLUGIN_INFO] = info_text(plugin_info(str((folder / FARM_JOB_NAME).resolve()), executable and find_executable(executable), plugin))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("job_info*.job"):
            stale.unlink()
        written_job = write_farm_job(farm, folder / FARM_JOB_NAME)
        for file_name, text in texts.items():
            (folder / file_name).write_text(text, encoding="utf-8")
        (folder / "submit.sh").write_text(submit_sh(list(infos)))
        (folder / "submit.sh").chmod(0o755)
        (folder / "submit.bat").write_bytes(submit_bat(list(infos)).encode("utf-8"))
    except OSError as exc:
        raise UserError(f"cannot write the Deadline files in {folder}: {exc.strerror}", hint="choose a writable folder for -o") from None
    return DeadlineFiles(folder.resolve(), written_job, [(folder / n).resolve() for n in infos], (folder / PLUGIN_INFO).resolve(), farm)


def find_deadlinecommand(explicit: str | None = None) -> str:
    """deadlinecommand: `explicit`, $DEADLINECOMMAND, $DEADLINE_PATH/deadlinecommand, or PATH."""
    for candidate in (explicit, os.environ.get("DEADLINECOMMAND")):
        if candidate:
            return candidate
    folder = os.environ.get("DEADLINE_PATH")
    if folder:
        for exe in ("deadlinecommand.exe", "deadlinecommand"):
            if Path(folder, exe).is_file():
                return str(Path(folder, exe))
    found = shutil.which("deadlinecommand")
    if found:
        return found
    raise UserError("cannot find deadlinecommand", hint="install the Deadline client, or set DEADLINE_PATH or pass --deadlinecommand")


def submit(files: DeadlineFiles, deadlinecommand: str | None = None) -> list[str]:
    """Submit every job with ``deadlinecommand JOB_INFO PLUGIN_INFO`` (argument lists, no shell);
    returns Deadline's output for each job."""
    exe = find_deadlinecommand(deadlinecommand)
    outputs = []
    for info in files.job_infos:
        try:
            done = subprocess.run([exe, str(info), str(files.plugin_info)], capture_output=True, text=True, check=False, timeout=SUBMIT_TIMEOUT_S)
        except OSError as exc:
            raise UserError(f"cannot run {exe}: {exc.strerror}", hint="check the Deadline client install") from None
        except subprocess.TimeoutExpired:
            raise UserError(f"{exe} did not answer in {SUBMIT_TIMEOUT_S}s submitting {info.name}", hint="check the connection to the Deadline repository") from None
        said = (done.stdout + done.stderr).strip()
        if done.returncode != 0:
            raise UserError(f"deadlinecommand failed on {info.name} (exit {done.returncode}): {said[-2000:]}")
        job_id = re.search(r"^JobID=(\S+)", done.stdout, re.MULTILINE)
        if not job_id:  # deadlinecommand can exit 0 and still refuse a job (Result=Failure)
            raise UserError(f"deadlinecommand did not submit {info.name} (no JobID in its answer): {said[-2000:]}",
                            hint="check the job and plugin info files and the plugin's install (installers/install.py deadline)")
        outputs.append(done.stdout.strip())
    return outputs
