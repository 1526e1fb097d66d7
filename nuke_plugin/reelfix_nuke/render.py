"""Render, Send to farm and render_all: Nuke renders the input, the core restores it.

    input render  nuke.execute(reelfix_in, first, last) -> CACHE/<kind>_<id>/_incoming-PID/in.####.exr
    key           hash(job settings, input pixels) -> CACHE/<kind>_<id>/<key>/
                      input/in.####.exr  job.json  output/<kind>.####.exr  reelfix_done.json
    core          reelfix run job.json --progress json   (own process; cancel keeps finished frames)
    result        reelfix_out Read -> output/<kind>.####.exr, first/last, reload

A render whose key has a done marker and all its frames is reused without running the core;
an unfinished one (cancelled, crashed) is resumed by the core, which skips finished frames.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Any, Dict, List, Optional, Set, Tuple

import nuke

from . import core, farm, host, jobs, knobs, paths, runner
from .core import PluginError


class Cancelled(Exception):
    pass


class Result(object):
    """What one Render did: status done|cached|cancelled|failed, and where the frames are."""

    def __init__(self, status: str, node: str, key: str = "", output: str = "", first: int = 0, last: int = 0) -> None:
        self.status = status
        self.node = node
        self.key = key
        self.output = output
        self.first = first
        self.last = last
        self.ran_core = False
        self.outcome: Optional[runner.Outcome] = None
        self.job_path = ""

    def __repr__(self) -> str:
        return "Result({}, {}, key={}, {}-{})".format(self.status, self.node, self.key, self.first, self.last)


class Reporter(object):
    """Progress: a nuke.ProgressTask in the GUI, printed lines under `nuke -t`."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.task = nuke.ProgressTask(title) if nuke.GUI else None

    def message(self, text: str) -> None:
        if self.task is not None:
            self.task.setMessage(text)
        else:
            print("{}: {}".format(self.title, text), flush=True)

    def progress(self, percent: int) -> None:
        if self.task is not None:
            self.task.setProgress(int(percent))

    def cancelled(self) -> bool:
        return bool(self.task.isCancelled()) if self.task is not None else False

    def close(self) -> None:
        self.task = None  # Nuke closes the progress window when the task is released


class Prepared(object):
    def __init__(self, bin_path: str, key: str, key_dir: str, job: Dict[str, Any], job_path: str, first: int, last: int) -> None:
        self.bin_path = bin_path
        self.key = key
        self.key_dir = key_dir
        self.job = job
        self.job_path = job_path
        self.first = first
        self.last = last

    @property
    def output(self) -> str:
        return str(self.job["output"]["path"])


def _group(node: nuke.Node) -> nuke.Group:
    if not isinstance(node, nuke.Group) or not host.is_reelfix(node):
        raise PluginError("{} is not a reelfix node".format(node.name()))
    return node


def cache_root(group: nuke.Node) -> str:
    """The cache folder knob; empty: reelfix_cache beside the saved script (relative paths
    count from there too), or the per-user cache for an unsaved script."""
    knob = group.knob("rf_cache_dir")
    custom = str(knob.evaluate() if isinstance(knob, nuke.EvalString_Knob) else (knob.value() if knob else "")).strip()
    script = str(nuke.root()["name"].value() or "")
    script_dir = os.path.dirname(os.path.abspath(script)) if script else ""
    if custom:
        return os.path.join(script_dir, custom) if script_dir and not os.path.isabs(custom) else os.path.abspath(custom)
    if script_dir:
        return os.path.join(script_dir, "reelfix_cache")
    return os.path.join(paths.plugin_cache_dir(), "renders", "untitled")


def frame_range(group: nuke.Node, first: Optional[int], last: Optional[int]) -> Tuple[int, int]:
    if first is not None and last is not None:
        return int(first), int(last)
    if group["rf_range_from_input"].value():
        upstream = group.input(0)
        if upstream is not None:
            return int(upstream.firstFrame()), int(upstream.lastFrame())
    return int(group["rf_first"].value()), int(group["rf_last"].value())


def pipeline(group: nuke.Node, decls: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """[{"node", "params"}] from the Group's knobs (or its pipeline file)."""
    kind = str(group[host.KIND].value())
    values = {name: k.value() for name, k in group.knobs().items()}
    known = [str(d["name"]) for d in decls]
    if kind != host.PIPELINE:
        names = [kind]
    else:
        file_knob = group.knob("rf_pipeline_file")
        path = str(file_knob.evaluate() if isinstance(file_knob, nuke.EvalString_Knob) else "").strip()
        if path:
            steps = jobs.load_pipeline_file(path)
            _check_known([s["node"] for s in steps], known)
            return steps
        names = jobs.split_names(str(group["rf_pipeline"].value()))
        if not names:
            raise PluginError("{}: list the nodes to run in 'nodes' (known: {}), or choose a pipeline file".format(group.name(), ", ".join(known)))
    _check_known(names, known)
    return [{"node": n, "params": knobs.params_from_values(knobs.find_declaration(decls, n), values)} for n in names]


def _check_known(names: List[str], known: List[str]) -> None:
    unknown = [n for n in names if n not in known]
    if unknown:
        raise PluginError("reelfix has no node {} (known: {})".format(", ".join(repr(n) for n in unknown), ", ".join(known)))


def _root_value(name: str) -> str:
    knob = nuke.root().knob(name)
    return str(knob.value()) if knob is not None else ""


def colorspace() -> str:
    return jobs.working_space(_root_value("colorManagement"), _root_value("OCIO_config"), _root_value("workingSpaceLUT"))


def render_input(group: nuke.Group, folder: str, first: int, last: int) -> str:
    """Render the Group's input through its internal Write; the frames' pattern."""
    write = host.internal(group, host.WRITE)
    upstream = group.input(0)
    if upstream is None:
        raise PluginError("{}: connect an input first".format(group.name()))
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    pattern = os.path.join(folder, "in.####.exr").replace("\\", "/")
    write["file"].setValue(pattern)
    write["channels"].setValue("rgba" if "rgba.alpha" in upstream.channels() else "rgb")
    try:
        nuke.execute(write, first, last)
    except nuke.CancelledError:
        raise Cancelled() from None
    except RuntimeError as exc:
        if "cancel" in str(exc).lower():
            raise Cancelled() from None
        raise PluginError("Nuke could not render the input of {} ({}-{}):\n\n{}".format(group.name(), first, last, exc)) from None
    return pattern


def prepare(group: nuke.Group, first: Optional[int] = None, last: Optional[int] = None, reporter: Optional[Reporter] = None) -> Prepared:
    """Everything before the core: the input render, the key, the job file."""
    bin_path = core.find_core()
    decls, _ = core.declarations(bin_path)
    steps = pipeline(group, decls)
    first, last = frame_range(group, first, last)
    if last < first:
        raise PluginError("{}: the frame range {}-{} is empty".format(group.name(), first, last))
    kind = str(group[host.KIND].value())
    node_dir = os.path.join(cache_root(group), "{}_{}".format(kind, group["rf_id"].value()))
    if reporter is not None:
        reporter.message("rendering the input, frames {}-{}".format(first, last))
    try:
        return _prepare_files(group, bin_path, steps, kind, node_dir, first, last)
    except OSError as exc:
        raise PluginError("{}: cannot write the cache folder {}:\n\n{}\n\nChoose another 'cache folder'.".format(group.name(), node_dir, exc)) from None


def _prepare_files(group: nuke.Group, bin_path: str, steps: List[Dict[str, Any]], kind: str, node_dir: str, first: int, last: int) -> Prepared:
    incoming = os.path.join(node_dir, "_incoming-{}".format(os.getpid()))
    in_pattern = render_input(group, incoming, first, last)
    settings = jobs.build_job(
        "", "", first, last, colorspace(), steps, str(group["rf_device"].value()),
        str(group["rf_bit_depth"].value()), str(group["rf_max_memory"].value()),
    )
    key = jobs.cache_key(settings, jobs.sequence_digest(in_pattern, range(first, last + 1)))
    key_dir = os.path.join(node_dir, key)
    input_dir = os.path.join(key_dir, "input")
    os.makedirs(input_dir, exist_ok=True)
    for name in os.listdir(incoming):  # frame by frame, atomically: a farm task reading them never misses one
        os.replace(os.path.join(incoming, name), os.path.join(input_dir, name))
    shutil.rmtree(incoming, ignore_errors=True)
    job = dict(settings)
    job["input"] = dict(settings["input"], path=os.path.join(input_dir, "in.####.exr"))
    job["output"] = dict(settings["output"], path=os.path.join(key_dir, "output", "{}.####.exr".format(kind)))
    job_path = os.path.join(key_dir, "job.json")
    jobs.write_json(job_path, job)
    return Prepared(bin_path, key, key_dir, job, job_path, first, last)


def show(group: nuke.Group, pattern: str, first: int, last: int) -> None:
    """Point the internal Read at the restored frames and switch the output to it."""
    read = host.internal(group, host.READ)
    read["file"].setValue(pattern.replace("\\", "/"))
    for name, value in (("origfirst", first), ("origlast", last), ("first", first), ("last", last)):
        read[name].setValue(value)
    read["raw"].setValue(True)
    reload = getattr(read["reload"], "execute", None)  # the Read's Reload button
    if callable(reload):
        reload()
    host.internal(group, host.SWITCH)["which"].setValue(1)


def _stamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M")


def render(node: nuke.Node, first: Optional[int] = None, last: Optional[int] = None, reporter: Optional[Reporter] = None) -> Result:
    """Render one reelfix Group. Raises PluginError with the core's text when it fails."""
    group = _group(node)
    own = reporter is None
    rep = reporter or Reporter("reelfix: " + group.name())
    try:
        return _render(group, first, last, rep)
    finally:
        if own:
            rep.close()


def _render(group: nuke.Group, first: Optional[int], last: Optional[int], rep: Reporter) -> Result:
    try:
        prep = prepare(group, first, last, rep)
    except Cancelled:
        host.set_status(group, "cancelled {} while rendering the input".format(_stamp()))
        return Result("cancelled", group.name())
    except PluginError as exc:
        host.set_status(group, "error {} · {}".format(_stamp(), str(exc).splitlines()[0]))
        raise
    result = Result("done", group.name(), prep.key, prep.output, prep.first, prep.last)
    result.job_path = prep.job_path
    total = prep.last - prep.first + 1
    info = jobs.finished(prep.key_dir, prep.output, prep.first, prep.last)
    if info is not None:
        show(group, prep.output, prep.first, prep.last)
        host.set_status(group, "cached {} · {} frames reused ({}) · {}".format(_stamp(), total, prep.key, ", ".join(info.get("providers") or []) or "-"))
        result.status = "cached"
        return result

    def on_event(event: Dict[str, Any]) -> None:
        rep.progress(int(100 * int(event.get("done", 0)) / max(int(event.get("total", total)), 1)))
        rep.message("frame {} {} ({}/{})".format(event.get("frame"), event.get("status"), event.get("done"), event.get("total")))

    rep.message("starting reelfix")
    outcome = runner.run_job([prep.bin_path, "run", prep.job_path, "--progress", "json"], on_event, rep.cancelled)
    result.ran_core, result.outcome = True, outcome
    done, skipped, failed = (len(outcome.frames(s)) for s in ("done", "skipped", "failed"))
    if outcome.cancelled:
        kept = len([n for n in range(prep.first, prep.last + 1) if os.path.isfile(jobs.frame_path(prep.output, n))])
        host.set_status(group, "cancelled {} · {}/{} frames kept · Render again to resume".format(_stamp(), kept, total))
        result.status = "cancelled"
        return result
    providers = ", ".join(outcome.providers) or "-"
    if outcome.returncode == 0:
        jobs.write_json(jobs.done_marker(prep.key_dir), {
            "first": prep.first, "last": prep.last, "providers": outcome.providers, "seconds": round(outcome.seconds, 3),
            "done": done, "skipped": skipped, "finished": _stamp(), "output": prep.output,
        })
        show(group, prep.output, prep.first, prep.last)
        host.set_status(group, "rendered {} · {}/{} frames ({} resumed) · {} · {:.1f} s".format(_stamp(), done + skipped, total, skipped, providers, outcome.seconds))
        return result
    result.status = "failed"
    if outcome.returncode == 1 and failed:
        show(group, prep.output, prep.first, prep.last)
        host.set_status(group, "failed {} · {} of {} frames failed · {}".format(_stamp(), failed, total, providers))
        lines = ["frame {}: {}".format(n, err) for n, err in outcome.failures()]
        raise core.CoreFailed("reelfix restored {} of {} frames of {}; these failed:\n\n{}\n\n{}".format(
            done + skipped, total, group.name(), "\n".join(lines), outcome.error_text).strip())
    host.set_status(group, "error {} · see the message".format(_stamp()))
    raise core.CoreFailed("reelfix could not render {}:\n\n{}".format(
        group.name(), outcome.error_text or outcome.stdout.strip() or "the core exited with code {}".format(outcome.returncode)))


def render_node(node: Optional[nuke.Node] = None) -> Optional[Result]:
    """The Render button: problems become a Nuke message with the core's words."""
    target = node if node is not None else nuke.thisNode()
    try:
        return render(target)
    except PluginError as exc:  # the status line says it too
        nuke.message(str(exc))
        return None


def send_to_farm(node: Optional[nuke.Node] = None) -> Optional[str]:
    """The Send to farm button: input render + job + farm files, then submit or say where they are."""
    target = node if node is not None else nuke.thisNode()
    rep = Reporter("reelfix farm: " + target.name())
    try:
        group = _group(target)
        prep = prepare(group, reporter=rep)
        if jobs.finished(prep.key_dir, prep.output, prep.first, prep.last) is not None:
            show(group, prep.output, prep.first, prep.last)
            text = "{} is already rendered with these settings ({}); nothing to send.".format(group.name(), prep.key)
        else:
            rep.message("writing the farm files")
            files = farm.write_files(prep.bin_path, prep.job_path, int(group["rf_chunk"].value()), os.path.join(prep.key_dir, "farm"))
            text = farm.submit(files, str(group["rf_submitter"].value()))
            text += "\n\nJob: {}\nOutput: {}\nWhen the farm is done, press Render: it finds the frames and shows them.".format(prep.job_path, prep.output)
            host.set_status(group, "sent to farm {} · {}".format(_stamp(), text.splitlines()[0]))
    except Cancelled:
        host.set_status(target, "farm submission cancelled {}".format(_stamp()))
        return None
    except PluginError as exc:
        host.set_status(target, "error {} · {}".format(_stamp(), str(exc).splitlines()[0]))
        nuke.message(str(exc))
        return None
    finally:
        rep.close()
    nuke.message(text)
    return text


def _upstream_reelfix(node: nuke.Node, seen: Optional[Set[int]] = None) -> int:
    """How many reelfix nodes feed `node` (they must render first)."""
    seen = set() if seen is None else seen
    count = 0
    for i in range(node.inputs()):
        up = node.input(i)
        if up is None or id(up) in seen:
            continue
        seen.add(id(up))
        count += int(host.is_reelfix(up)) + _upstream_reelfix(up, seen)
    return count


def render_all(first: Optional[int] = None, last: Optional[int] = None) -> List[Result]:
    """Render every enabled reelfix node of the open script, upstream ones first (`nuke -t`).

    Raises RuntimeError naming every node that failed, after trying them all."""
    found = [n for n in nuke.allNodes(recurseGroups=True) if host.is_reelfix(n)]
    found = [n for n in found if not (n.knob("disable") is not None and n["disable"].value())]
    found.sort(key=_upstream_reelfix)
    results, errors = [], []
    for node in found:
        rep = Reporter("reelfix: " + node.fullName())
        try:
            result = render(node, first, last, rep)
        except PluginError as exc:
            errors.append("{}: {}".format(node.fullName(), exc))
            continue
        finally:
            rep.close()
        results.append(result)
        if result.status == "cancelled":
            break
    if errors:
        raise RuntimeError("reelfix: {} node(s) failed\n\n{}".format(len(errors), "\n\n".join(errors)))
    return results

