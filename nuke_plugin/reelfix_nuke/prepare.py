"""Everything before the core: the input render through the internal Write, the key, the job.

    input render  nuke.execute(reelfix_in, first, last, views=[the one view])
                      -> CACHE/<kind>_<id>/_incoming-PID/in.####.exr   (full resolution, proxy off)
    key           hash(job settings except paths and frames) -> CACHE/<kind>_<id>/<key>/
                      input/in.####.exr  frames.json (frame -> input digest)  job.json
                      output/<kind>.####.exr  reelfix_done.json (finished frames)

Renders of several partial ranges with the same settings accumulate under one key; when a
frame's input changed since it was restored, every restored frame of that key is dropped
(temporal nodes look at neighbours, so one changed frame can change several results).
"""

from __future__ import annotations

import os
import shutil
from typing import Any, Dict, List, Optional, Tuple

import nuke

from . import core, host, jobs, knobs
from .core import PluginError


class Cancelled(Exception):
    pass


class Prepared(object):
    def __init__(self, bin_path: str, key: str, key_dir: str, job: Dict[str, Any], job_path: str, first: int, last: int) -> None:
        self.bin_path = bin_path
        self.key = key
        self.key_dir = key_dir
        self.job = job
        self.job_path = job_path
        self.first = first
        self.last = last
        self.signature = ""

    @property
    def output(self) -> str:
        return str(self.job["output"]["path"])


def cache_root(group: nuke.Node) -> str:
    """The cache folder knob; empty: reelfix_cache beside the saved script (relative paths
    count from there too), or the per-user cache for an unsaved script."""
    from . import paths

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
    """The working space by a name the core knows (OCIO roles resolved with Nuke's own config)."""
    return jobs.working_space(_root_value("colorManagement"), _root_value("OCIO_config"), _root_value("workingSpaceLUT"),
                              _root_value("customOCIOConfigPath"))


def one_view(group: nuke.Node) -> List[str]:
    """The script's view when it has one; several views are refused (every view would write the same files)."""
    names = [str(v) for v in nuke.views()]
    if len(names) > 1:
        raise PluginError("{}: this script has {} views ({}); reelfix restores one view per node. Split the views first "
                          "(a OneView node per view above a reelfix node each) or render the views in separate scripts."
                          .format(group.name(), len(names), ", ".join(names)))
    return names


def render_input(group: nuke.Group, folder: str, first: int, last: int) -> str:
    """Render the Group's input through its internal Write at full resolution; the frames' pattern.

    The Write is enabled only for this nuke.execute (farm submitters recurse into Groups), and the
    script's proxy setting is switched off around it and restored (a Write renders at the active scale)."""
    write = host.internal(group, host.WRITE)
    upstream = group.input(0)
    if upstream is None:
        raise PluginError("{}: connect an input first".format(group.name()))
    views = one_view(group)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    pattern = os.path.join(folder, "in.####.exr").replace("\\", "/")
    write["file"].setValue(pattern)
    write["channels"].setValue("rgba" if "rgba.alpha" in upstream.channels() else "rgb")
    proxy = nuke.root().knob("proxy")
    was_proxy = bool(proxy.value()) if proxy is not None else False
    try:
        if was_proxy and proxy is not None:
            proxy.setValue(False)
        write["disable"].setValue(False)
        nuke.execute(write, first, last, views=views)
    except nuke.CancelledError:
        raise Cancelled() from None
    except RuntimeError as exc:
        if "cancel" in str(exc).lower():
            raise Cancelled() from None
        raise PluginError("Nuke could not render the input of {} ({}-{}):\n\n{}".format(group.name(), first, last, exc)) from None
    finally:
        write["disable"].setValue(True)
        if was_proxy and proxy is not None:
            proxy.setValue(True)
    return pattern


def prepare(group: nuke.Group, first: Optional[int] = None, last: Optional[int] = None, say: Any = None) -> Prepared:
    """The input render, the key, the job file (say: a progress-message function)."""
    from . import state

    bin_path = core.find_core()
    decls, _ = core.declarations(bin_path)
    steps = pipeline(group, decls)
    first, last = frame_range(group, first, last)
    if last < first:
        raise PluginError("{}: the frame range {}-{} is empty".format(group.name(), first, last))
    kind = str(group[host.KIND].value())
    node_dir = os.path.join(cache_root(group), "{}_{}".format(kind, group["rf_id"].value()))
    sig = state.signature(group)  # before the input render: a change during it makes the result stale
    if say is not None:
        say("rendering the input, frames {}-{}".format(first, last))
    try:
        prep = _prepare_files(group, bin_path, steps, kind, node_dir, first, last)
    except OSError as exc:
        raise PluginError("{}: cannot write the cache folder {}:\n\n{}\n\nChoose another 'cache folder'.".format(group.name(), node_dir, exc)) from None
    prep.signature = sig
    return prep


def _prepare_files(group: nuke.Group, bin_path: str, steps: List[Dict[str, Any]], kind: str, node_dir: str, first: int, last: int) -> Prepared:
    incoming = os.path.join(node_dir, "_incoming-{}".format(os.getpid()))
    in_pattern = render_input(group, incoming, first, last)
    settings = jobs.build_job(
        "", "", first, last, colorspace(), steps, str(group["rf_device"].value()),
        str(group["rf_bit_depth"].value()), str(group["rf_max_memory"].value()),
    )
    key = jobs.cache_key(settings, "")
    key_dir = os.path.join(node_dir, key)
    input_dir = os.path.join(key_dir, "input")
    out_pattern = os.path.join(key_dir, "output", "{}.####.exr".format(kind))
    os.makedirs(input_dir, exist_ok=True)
    digests = jobs.frame_digests(in_pattern, range(first, last + 1))
    known = jobs.read_json(jobs.digests_file(key_dir), {})
    if any(known.get(str(n), d) != d for n, d in digests.items()):  # an input changed: its results go
        jobs.forget_results(key_dir, out_pattern)
        known = {}
    for name in os.listdir(incoming):  # frame by frame, atomically: a farm task reading them never misses one
        os.replace(os.path.join(incoming, name), os.path.join(input_dir, name))
    shutil.rmtree(incoming, ignore_errors=True)
    known.update({str(n): d for n, d in digests.items()})
    jobs.write_json(jobs.digests_file(key_dir), known)
    job = dict(settings)
    job["input"] = dict(settings["input"], path=os.path.join(input_dir, "in.####.exr"))
    job["output"] = dict(settings["output"], path=out_pattern)
    job_path = os.path.join(key_dir, "job.json")
    jobs.write_json(job_path, job)
    return Prepared(bin_path, key, key_dir, job, job_path, first, last)
