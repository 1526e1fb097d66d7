"""The Nuke side: the Nodes > Restore menu and the Groups it creates.

Every entry comes from the core's node declarations (`reelfix nodes --json`), so nodes
added to the core later appear here without touching the plugin. A Group looks like

    Input1 -> reelfix_in (Write, EXR float, raw; disabled except during Render's nuke.execute)
              reelfix_out (Read, raw; before/after: error) -> reelfix_switch -> Output1
    Input1 --------------------------> reelfix_switch     (GUI preview until the first render)

The Switch is driven by an expression (state.py): in batch renders a node that was never
rendered, or changed since, stops the render with a message instead of passing its input.
"""

from __future__ import annotations

import os
import threading
import uuid
from typing import Any, Dict, List, Optional, Sequence, Tuple

import nuke

from . import core, farm, knobs, report, state

HERE = os.path.dirname(os.path.abspath(__file__))
ICONS = os.path.join(HERE, "icons")
PIPELINE = "pipeline"
MENU = "Restore"
WRITE, READ, SWITCH = state.WRITE, state.READ, state.SWITCH
KIND = state.KIND
BIT_DEPTHS = ("half", "float")
OUTSIDE = ("error", "black")  # what the node gives outside its rendered frames


def icon(name: str) -> str:
    path = os.path.join(ICONS, "reelfix_{}.png".format(name))
    return path if os.path.isfile(path) else os.path.join(ICONS, "reelfix_node.png")


def find_core_or_none() -> Tuple[Optional[str], str]:
    try:
        return core.find_core(), ""
    except core.CoreNotFound as exc:
        return None, str(exc)


def declarations() -> Tuple[Optional[str], List[Dict[str, Any]], str]:
    """(core executable or None, declarations, note when the bundled snapshot is used), without
    running the core: the cached declarations, else the bundled snapshot (refresh() updates them)."""
    bin_path, why = find_core_or_none()
    decls, note = core.declarations(bin_path, wait=False)
    return bin_path, decls, "\n\n".join(t for t in (note, why) if t)


REFRESHER: List[threading.Thread] = []  # the background refreshes started (tests join them)


def refresh_in_background(bin_path: str, shown: Optional[List[Dict[str, Any]]]) -> threading.Thread:
    """Ask the core for its declarations, devices and models in a worker thread (Nuke starts and
    creates nodes without waiting on a subprocess); a changed node list rebuilds the menu on the
    main thread."""

    def work() -> None:
        decls, note = core.declarations(bin_path)
        core.devices(bin_path)
        core.models(bin_path)
        if note:
            nuke.executeInMainThread(nuke.warning, ("reelfix: " + note,))
        if shown is not None and decls != shown:
            nuke.executeInMainThread(_fill_menu, (decls,))

    thread = threading.Thread(target=work, name="reelfix refresh", daemon=True)
    REFRESHER.append(thread)
    thread.start()
    return thread


def build_menu() -> Any:
    """Nodes > Restore: one entry per declared node, Restore Pipeline, Refresh node list.
    Built from the cache or the bundled snapshot at once, refreshed in the background."""
    bin_path, decls, note = declarations()
    if note:
        nuke.warning("reelfix: " + note)
    nuke.removeKnobChanged(state.on_knob_changed, nodeClass="Group")
    nuke.addKnobChanged(state.on_knob_changed, nodeClass="Group")
    restore = _fill_menu(decls)
    if bin_path is not None:
        refresh_in_background(bin_path, decls)
    return restore


def _fill_menu(decls: List[Dict[str, Any]]) -> Any:
    restore = nuke.menu("Nodes").addMenu(MENU, icon=os.path.join(ICONS, "reelfix.png"))
    restore.clearMenu()
    for d in decls:
        restore.addCommand(
            str(d.get("label") or d["name"]),
            "import reelfix_nuke; reelfix_nuke.create({!r})".format(str(d["name"])),
            icon=icon(str(d["name"])),
            tooltip=str(d.get("help", "")),
        )
    restore.addSeparator()
    restore.addCommand(
        "Restore Pipeline",
        "import reelfix_nuke; reelfix_nuke.create({!r})".format(PIPELINE),
        icon=icon(PIPELINE),
        tooltip="several reelfix nodes in one pass of the core (nodes listed in order, or a pipeline file)",
    )
    restore.addSeparator()
    restore.addCommand(
        "Open report",
        "import reelfix_nuke; reelfix_nuke.open_report()",
        icon=os.path.join(ICONS, "reelfix.png"),
        tooltip="the review page (before/after, curves, mattes, provenance) of the selected reelfix node's last render",
    )
    restore.addCommand(
        "Refresh node list",
        "import reelfix_nuke; reelfix_nuke.refresh()",
        icon=os.path.join(ICONS, "reelfix.png"),
        tooltip="ask the core again for its nodes (after installing a node plugin or a new core)",
    )
    return restore


def refresh() -> Any:
    core.clear_cache()
    return build_menu()


def _selected() -> Optional[nuke.Node]:
    try:
        return nuke.selectedNode()
    except ValueError:  # nothing selected
        return None


def create(kind: str) -> nuke.Group:
    """Menu entry: a Group for node `kind` (or PIPELINE) connected to the selected node."""
    bin_path, decls, note = declarations()
    if bin_path is not None and kind != PIPELINE and kind not in [d.get("name") for d in decls]:
        decls, note = core.declarations(bin_path)  # not in the cached list: ask the core now (rare)
    selected = _selected()
    node = nuke.createNode("Group", inpanel=False)
    if not isinstance(node, nuke.Group):
        raise RuntimeError("nuke.createNode('Group') gave a {}".format(type(node).__name__))
    models = core.models(bin_path, kind, wait=False) if _has_model_param(decls, kind) else []
    names, available = core.devices(bin_path, wait=False)
    build_group(node, kind, decls, models, names, available)
    if selected is not None and selected is not node:
        node.setInput(0, selected)
    default_range(node)
    if bin_path is not None:
        refresh_in_background(bin_path, None)  # models installed since: in the next node's list
    if note:
        set_status(node, "core not found: Render will say how to install it" if bin_path is None else "using the bundled node list")
    if nuke.GUI:
        node.showControlPanel()
    return node


def _has_model_param(decls: Sequence[Dict[str, Any]], kind: str) -> bool:
    chosen = decls if kind == PIPELINE else [d for d in decls if d.get("name") == kind]
    return any(p.get("name") == "model" for d in chosen for p in d.get("params", []))


def _label(decls: Sequence[Dict[str, Any]], kind: str) -> str:
    if kind == PIPELINE:
        return "Restore Pipeline"
    try:
        return str(knobs.find_declaration(decls, kind).get("label") or kind)
    except KeyError:
        raise core.PluginError("reelfix has no node '{}' (known: {})".format(kind, ", ".join(str(d["name"]) for d in decls))) from None


def build_group(
    group: nuke.Group,
    kind: str,
    decls: Sequence[Dict[str, Any]],
    models: Sequence[str] = (),
    devices: Sequence[str] = core.DEVICES,
    available: Sequence[str] = (),
) -> None:
    """Internal nodes and knobs of a reelfix Group (also usable on a bare `nuke.nodes.Group()`)."""
    label = _label(decls, kind)
    group.setName(label.replace(" ", ""), uncollide=True)
    with group:
        inp = nuke.nodes.Input()
        write = nuke.nodes.Write()
        write.setName(WRITE)
        write.setInput(0, inp)
        write["file_type"].setValue("exr")
        write["datatype"].setValue("32 bit float")
        write["raw"].setValue(True)
        write["disable"].setValue(True)  # farm submitters recurse into Groups: only Render enables it
        if write.knob("create_directories") is not None:
            write["create_directories"].setValue(True)
        read = nuke.nodes.Read()
        read.setName(READ)
        read["raw"].setValue(True)
        for name in ("before", "after"):
            read[name].setValue("error")
        switch = nuke.nodes.Switch()
        switch.setName(SWITCH)
        switch.setInput(0, inp)
        switch.setInput(1, read)
        switch["which"].setValue(0)
        switch["which"].setExpression(state.SWITCH_EXPRESSION)
        out = nuke.nodes.Output()
        out.setInput(0, switch)

    group.addKnob(nuke.Tab_Knob("rf_tab", label))
    if kind == PIPELINE:
        names = " ".join(str(d["name"]) for d in decls)
        _add(group, nuke.String_Knob("rf_pipeline", "nodes"), "", "node names in the order they run, e.g. 'dustbust upscale' (known: {})".format(names))
        _add(group, nuke.File_Knob("rf_pipeline_file", "pipeline file"), "", "optional JSON file: a list of {\"node\": ..., \"params\": {...}} or a reelfix job; overrides the list above")
        _add(group, nuke.Text_Knob("rf_pipeline_help", "", "each node's settings are on its own tab"), None, "")
    else:
        for spec in knobs.node_knobs(knobs.find_declaration(decls, kind), models):
            add_param_knob(group, spec)
    _common_knobs(group, kind, devices, available)
    if kind == PIPELINE:
        for d in decls:
            group.addKnob(nuke.Tab_Knob("rf_tab_" + str(d["name"]), str(d.get("label") or d["name"])))
            specs = knobs.node_knobs(d, models)
            for spec in specs:
                add_param_knob(group, spec)
            if not specs:
                group.addKnob(nuke.Text_Knob("rf_none_" + str(d["name"]), "", "no settings"))


def _add(group: nuke.Group, knob: nuke.Knob, value: Any, tooltip: str) -> nuke.Knob:
    if value is not None:
        knob.setValue(value)
    if tooltip:
        knob.setTooltip(tooltip)
    group.addKnob(knob)
    return knob


def add_param_knob(group: nuke.Group, spec: knobs.KnobSpec) -> nuke.Knob:
    knob: nuke.Knob
    if spec.knob_class == "Enumeration_Knob":
        knob = nuke.Enumeration_Knob(spec.name, spec.label, list(spec.values))
    elif spec.knob_class == "Int_Knob":
        knob = nuke.Int_Knob(spec.name, spec.label)
    elif spec.knob_class == "Double_Knob":
        knob = nuke.Double_Knob(spec.name, spec.label)
    elif spec.knob_class == "Boolean_Knob":
        knob = nuke.Boolean_Knob(spec.name, spec.label)
    else:
        knob = nuke.String_Knob(spec.name, spec.label)
    if spec.slider is not None and isinstance(knob, nuke.Array_Knob):
        knob.setRange(spec.slider[0], spec.slider[1])
    return _add(group, knob, spec.default, spec.tooltip)


def _common_knobs(group: nuke.Group, kind: str, devices: Sequence[str], available: Sequence[str]) -> None:
    group.addKnob(nuke.Text_Knob("rf_div_render", "render"))
    _add(group, nuke.Boolean_Knob("rf_range_from_input", "frame range from input"), True, "render the input's frame range; off: use first/last")
    _add(group, nuke.Int_Knob("rf_first", "first"), 1, "first frame (when 'frame range from input' is off)")
    last = _add(group, nuke.Int_Knob("rf_last", "last"), 1, "last frame (when 'frame range from input' is off)")
    last.clearFlag(nuke.STARTLINE)
    here = " (available here: {})".format(", ".join(available)) if available else ""
    _add(group, nuke.Enumeration_Knob("rf_device", "device", list(devices)), "auto", "where the core runs the models; auto picks the fastest that works" + here)
    _add(group, nuke.Enumeration_Knob("rf_bit_depth", "output depth", list(BIT_DEPTHS)), "half", "EXR sample type of the restored frames")
    _add(group, nuke.String_Knob("rf_max_memory", "memory budget"), "2GB", "the core tiles frames to stay within this, e.g. 2GB, 512MB")
    _add(group, nuke.File_Knob("rf_cache_dir", "cache folder"), "",
         "where input and restored frames go (use shared storage for the farm); empty: reelfix_cache beside the script "
         "(the per-user cache for an unsaved script); a relative path counts from the script's folder")
    _add(group, nuke.PyScript_Knob("rf_render", "Render", "import reelfix_nuke; reelfix_nuke.render_node(nuke.thisNode())"), None,
         "render the input to the cache, restore it with the core, show the result (reuses an unchanged render)")
    send = _add(group, nuke.PyScript_Knob("rf_farm", "Send to farm", "import reelfix_nuke; reelfix_nuke.send_to_farm(nuke.thisNode())"), None,
                "render the input, write the job and farm files, submit with deadlinecommand or deadline when found")
    send.clearFlag(nuke.STARTLINE)
    opener = _add(group, nuke.PyScript_Knob("rf_report", "Open report", "import reelfix_nuke; reelfix_nuke.open_report(nuke.thisNode())"), None,
                  "write the review page of the last render (before/after, curves, mattes, provenance) and open it in the browser")
    opener.clearFlag(nuke.STARTLINE)
    _add(group, nuke.Int_Knob("rf_chunk", "farm chunk"), 10, "frames per farm task")
    submitter = _add(group, nuke.Enumeration_Knob("rf_submitter", "submitter", list(farm.SUBMITTERS)), "auto", "auto: deadlinecommand, else the Deadline Cloud CLI, else only write the files")
    submitter.clearFlag(nuke.STARTLINE)
    _add(group, nuke.Enumeration_Knob("rf_outside", "outside rendered frames", list(OUTSIDE)), "error",
         "error: frames that were not rendered stop a render (never the input, never a held frame); black: they are black")
    _add(group, nuke.Text_Knob("rf_status", "status", "not rendered yet"), None, "")
    for name, value in ((KIND, kind), ("rf_id", uuid.uuid4().hex[:8])) + tuple((n, "") for n in state.HIDDEN):
        hidden = _add(group, nuke.String_Knob(name, name), value, "")
        hidden.setFlag(nuke.INVISIBLE)


def set_status(group: nuke.Node, text: str) -> None:
    knob = group.knob("rf_status")
    if knob is not None:
        knob.setValue(text)


def default_range(group: nuke.Node) -> Tuple[int, int]:
    """The input's frame range (the script's when nothing is connected) into first/last."""
    upstream = group.input(0)
    if upstream is not None:
        first, last = int(upstream.firstFrame()), int(upstream.lastFrame())
    else:
        first, last = int(nuke.root().firstFrame()), int(nuke.root().lastFrame())
    group["rf_first"].setValue(first)
    group["rf_last"].setValue(last)
    return first, last


def is_reelfix(node: nuke.Node) -> bool:
    return state.is_reelfix(node)


def internal(group: nuke.Group, name: str) -> nuke.Node:
    node = group.node(name)
    if node is None:
        raise core.PluginError("{}: its internal node '{}' is missing; create the node again from Nodes > Restore".format(group.name(), name))
    return node


REPORTS: List[threading.Thread] = []  # "Open report" runs of the core (tests join them)


def node_manifest(group: nuke.Node) -> str:
    """The manifest of the node's last render (its internal Read shows that render's output)."""
    read = group.node(READ) if isinstance(group, nuke.Group) else None
    output = str(read["file"].value()) if read is not None and state.recorded(group)[0] else ""
    if not output:
        raise core.PluginError("{} has not been rendered yet: press Render on it, then Open report".format(group.name()))
    return report.manifest_for(output)


def open_node_report(node: Optional[nuke.Node] = None) -> Optional[threading.Thread]:
    """The Open report button (nuke.thisNode()) and Restore > Open report (the selected node): the
    core writes the page in a worker thread (the GUI stays responsive), the browser opens it;
    problems become a Nuke message. In batch it runs at once and returns None."""
    target: Optional[nuke.Node] = node if node is not None else nuke.thisNode()
    if target is None or not is_reelfix(target):
        target = _selected()
    if target is None or not is_reelfix(target):
        nuke.message("reelfix: select a reelfix node, then Restore > Open report")
        return None
    try:
        manifest, bin_path = node_manifest(target), core.find_core()
    except core.PluginError as exc:
        nuke.message(str(exc))
        return None
    batch = state.is_batch()

    def say(text: str) -> None:
        if batch:
            nuke.message(text)
        else:
            nuke.executeInMainThread(nuke.message, (text,))

    def work() -> None:
        try:
            report.open_report(manifest, bin_path)
        except core.PluginError as exc:
            say(str(exc))
        except Exception as exc:  # noqa: BLE001 - a button ends with a message, never a traceback in a thread
            say("reelfix: Open report stopped on an unexpected error ({}: {})".format(type(exc).__name__, exc))

    if batch:
        work()
        return None
    thread = threading.Thread(target=work, name="reelfix report " + target.fullName(), daemon=True)
    REPORTS.append(thread)
    thread.start()
    return thread
