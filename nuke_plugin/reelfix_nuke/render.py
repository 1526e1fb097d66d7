"""Render, Send to farm and render_all: Nuke renders the input, the core restores it.

    input render, key, job    prepare.py (full resolution, one view, the internal Write enabled only then)
    core          reelfix run job.json --progress json   (own process; cancel keeps finished frames)
    result        reelfix_out Read -> output/<kind>.####.exr over every finished frame of the key,
                  before/after "error" (or black), reload; the record in hidden knobs (state.py)

A render whose key has a done marker listing all its frames is reused without running the core;
an unfinished one (cancelled, crashed) is resumed by the core, which skips finished frames.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import nuke

from . import core, farm, host, jobs, runner, state
from .core import PluginError
from .prepare import Cancelled, Prepared, prepare


class Result(object):
    """What one Render did: status running|done|cached|cancelled|failed|error, and where the frames are."""

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
        self.thread: Optional[threading.Thread] = None

    def wait(self, timeout: Optional[float] = None) -> bool:
        """For a GUI render: until its worker thread ends (its result is applied on the main thread)."""
        if self.thread is not None:
            self.thread.join(timeout)
            return not self.thread.is_alive()
        return True

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


def _group(node: nuke.Node) -> nuke.Group:
    if not isinstance(node, nuke.Group) or not host.is_reelfix(node):
        raise PluginError("{} is not a reelfix node".format(node.name()))
    return node


def show(group: nuke.Group, prep: Prepared, frames: List[int]) -> None:
    """Point the internal Read at the restored frames (every finished frame of the key) and
    record what they were made from; the Switch expression then shows them."""
    read = host.internal(group, host.READ)
    first, last = min(frames), max(frames)
    read["file"].setValue(prep.output.replace("\\", "/"))
    for name, value in (("origfirst", first), ("origlast", last), ("first", first), ("last", last)):
        read[name].setValue(value)
    read["raw"].setValue(True)
    outside = str(group["rf_outside"].value()) if group.knob("rf_outside") is not None else "error"
    for name in ("before", "after"):
        if read.knob(name) is not None:
            read[name].setValue(outside)
    if read.knob("on_error") is not None:
        read["on_error"].setValue(outside)  # a gap between partial renders
    reload = getattr(read["reload"], "execute", None)  # the Read's Reload button
    if callable(reload):
        reload()
    which = host.internal(group, host.SWITCH)["which"]
    if not which.hasExpression():  # a node made by an older plugin
        which.setExpression(state.SWITCH_EXPRESSION)
    state.record(group, prep.key, prep.signature, jobs.frames_text(frames))


def _finished_frames(info: Dict[str, Any]) -> List[int]:
    return jobs.parse_frames(str(info.get("frames", "")))


def _stamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M")


def render(node: nuke.Node, first: Optional[int] = None, last: Optional[int] = None, reporter: Optional[Reporter] = None) -> Result:
    """Render one reelfix Group and wait for it (`nuke -t`, render_all). Raises PluginError with
    the core's text when it fails."""
    group = _group(node)
    own = reporter is None
    rep = reporter or Reporter("reelfix: " + group.name())
    try:
        result, prep = _begin(group, first, last, rep)
        if prep is None:
            return result
        _conclude(group, prep, result, runner.run_job(_argv(prep), _on_event(rep, prep), rep.cancelled))
        return result
    finally:
        if own:
            rep.close()


def _argv(prep: Prepared) -> List[str]:
    return [prep.bin_path, "run", prep.job_path, "--progress", "json"]


def _on_event(rep: Reporter, prep: Prepared) -> Callable[[Dict[str, Any]], None]:
    total = prep.last - prep.first + 1

    def on_event(event: Dict[str, Any]) -> None:
        rep.progress(int(100 * int(event.get("done", 0)) / max(int(event.get("total", total)), 1)))
        rep.message("frame {} {} ({}/{})".format(event.get("frame"), event.get("status"), event.get("done"), event.get("total")))

    return on_event


def _begin(group: nuke.Group, first: Optional[int], last: Optional[int], rep: Reporter) -> Tuple[Result, Optional[Prepared]]:
    """On the main thread: the input render (nuke.execute) and the key; a cached result is shown at once."""
    try:
        prep = prepare(group, first, last, rep.message)
    except Cancelled:
        host.set_status(group, "cancelled {} while rendering the input".format(_stamp()))
        return Result("cancelled", group.name()), None
    except PluginError as exc:
        host.set_status(group, "error {} · {}".format(_stamp(), str(exc).splitlines()[0]))
        raise
    result = Result("running", group.name(), prep.key, prep.output, prep.first, prep.last)
    result.job_path = prep.job_path
    info = jobs.finished(prep.key_dir, prep.output, prep.first, prep.last)
    if info is None:
        rep.message("starting reelfix")
        return result, prep
    show(group, prep, _finished_frames(info))
    host.set_status(group, "cached {} · {} frames reused ({}) · {}".format(
        _stamp(), prep.last - prep.first + 1, prep.key, ", ".join(info.get("providers") or []) or "-"))
    result.status = "cached"
    return result, None


def _conclude(group: nuke.Group, prep: Prepared, result: Result, outcome: runner.Outcome) -> None:
    """On the main thread, after the core: show what it made, say so; CoreFailed when it failed."""
    result.ran_core, result.outcome, result.status = True, outcome, "done"
    total = prep.last - prep.first + 1
    done, skipped, failed = (len(outcome.frames(s)) for s in ("done", "skipped", "failed"))
    if outcome.cancelled:
        kept = len([n for n in range(prep.first, prep.last + 1) if os.path.isfile(jobs.frame_path(prep.output, n))])
        host.set_status(group, "cancelled {} · {}/{} frames kept · Render again to resume".format(_stamp(), kept, total))
        result.status = "cancelled"
        return
    providers = ", ".join(outcome.providers) or "-"
    if outcome.returncode == 0:
        info = jobs.record_finished(prep.key_dir, range(prep.first, prep.last + 1), {
            "providers": outcome.providers, "seconds": round(outcome.seconds, 3),
            "done": done, "skipped": skipped, "finished": _stamp(), "output": prep.output,
        })
        show(group, prep, _finished_frames(info))
        host.set_status(group, "rendered {} · {}/{} frames ({} resumed) · {} · {:.1f} s".format(_stamp(), done + skipped, total, skipped, providers, outcome.seconds))
        return
    result.status = "failed"
    if outcome.returncode == 1 and failed:
        made = outcome.frames("done") + outcome.frames("skipped")
        if made:
            info = jobs.record_finished(prep.key_dir, made, {"providers": outcome.providers, "finished": _stamp(), "output": prep.output})
            show(group, prep, _finished_frames(info))
        host.set_status(group, "failed {} · {} of {} frames failed · {}".format(_stamp(), failed, total, providers))
        lines = ["frame {}: {}".format(n, err) for n, err in outcome.failures()]
        raise core.CoreFailed("reelfix restored {} of {} frames of {}; these failed:\n\n{}\n\n{}".format(
            done + skipped, total, group.name(), "\n".join(lines), outcome.error_text).strip())
    result.status = "error"
    host.set_status(group, "error {} · see the message".format(_stamp()))
    raise core.CoreFailed("reelfix could not render {}:\n\n{}".format(
        group.name(), outcome.error_text or outcome.stdout.strip() or "the core exited with code {}".format(outcome.returncode)))


RUNNING: Dict[str, Result] = {}  # fullName() -> a render whose core runs in a worker thread


def start(node: nuke.Node) -> Result:
    """The GUI Render: the input render on the main thread, then the core in a worker thread
    (Foundry's Python guide, "Threading"): the session stays responsive and Cancel works; the
    progress, the Read reload and the status come back through nuke.executeInMainThread."""
    group = _group(node)
    name = group.fullName()
    if name in RUNNING:
        raise PluginError("{} is already rendering: wait for it or press Cancel in its progress window".format(group.name()))
    rep = Reporter("reelfix: " + group.name())
    try:
        result, prep = _begin(group, None, None, rep)
    except BaseException:
        rep.close()
        raise
    if prep is None:
        rep.close()
        return result
    ready = prep

    def on_event(event: Dict[str, Any]) -> None:
        nuke.executeInMainThread(_on_event(rep, ready), (event,))

    def finish(outcome: runner.Outcome) -> None:
        try:
            _conclude(group, ready, result, outcome)
        except PluginError as exc:
            nuke.message(str(exc))
        finally:
            rep.close()
            RUNNING.pop(name, None)

    def work() -> None:
        outcome = runner.run_job(_argv(ready), on_event, rep.cancelled)
        nuke.executeInMainThread(finish, (outcome,))

    result.thread = threading.Thread(target=work, name="reelfix " + name, daemon=True)
    RUNNING[name] = result
    result.thread.start()
    return result


def render_node(node: Optional[nuke.Node] = None) -> Optional[Result]:
    """The Render button: the core in a worker thread in the GUI (render() in batch); problems
    become a Nuke message with the core's words."""
    target = node if node is not None else nuke.thisNode()
    try:
        return start(target) if not state.is_batch() else render(target)
    except PluginError as exc:  # the status line says it too
        nuke.message(str(exc))
        return None


def send_to_farm(node: Optional[nuke.Node] = None) -> Optional[str]:
    """The Send to farm button: input render + job + farm files, then submit or say where they are."""
    target = node if node is not None else nuke.thisNode()
    rep = Reporter("reelfix farm: " + target.name())
    try:
        group = _group(target)
        prep = prepare(group, say=rep.message)
        info = jobs.finished(prep.key_dir, prep.output, prep.first, prep.last)
        if info is not None:
            show(group, prep, _finished_frames(info))
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


def _feeds(node: nuke.Node) -> Set[str]:
    """fullName() of every reelfix node above `node`, through Groups (their Output) and the
    Input nodes of the Groups it sits in."""
    found: Set[str] = set()
    seen: Set[str] = set()
    stack = [state.upstream_of(node, i) for i in range(node.inputs())]
    while stack:
        up = stack.pop()
        if up is None or up.fullName() in seen:
            continue
        seen.add(up.fullName())
        if host.is_reelfix(up):
            found.add(up.fullName())
            continue
        if isinstance(up, nuke.Group):
            stack.extend(o.input(0) for o in up.nodes() if o.Class() == "Output")
        if up.Class() == "Input":
            stack.append(state.upstream_of(up.parent(), int(up["number"].value())) if up.parent() is not None and up.parent() is not nuke.root() else None)
            continue
        stack.extend(state.upstream_of(up, i) for i in range(up.inputs()))
    return found


def render_order(found: List[nuke.Node]) -> List[nuke.Node]:
    """Upstream reelfix nodes first (keyed by fullName(), nested Groups included), else as found."""
    names = [n.fullName() for n in found]
    needs = {n.fullName(): _feeds(n) & set(names) for n in found}
    ordered: List[nuke.Node] = []
    left = list(found)
    while left:
        ready = [n for n in left if not (needs[n.fullName()] - {o.fullName() for o in ordered})] or left[:1]  # a cycle: as found
        ordered.append(ready[0])
        left.remove(ready[0])
    return ordered


def render_all(first: Optional[int] = None, last: Optional[int] = None) -> List[Result]:
    """Render every enabled reelfix node of the open script, upstream ones first (`nuke -t`).

    Raises RuntimeError naming every node that failed, after trying them all."""
    found = [n for n in nuke.allNodes(recurseGroups=True) if host.is_reelfix(n)]
    found = [n for n in found if not (n.knob("disable") is not None and n["disable"].value())]
    found = render_order(found)
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

