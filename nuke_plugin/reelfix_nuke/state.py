"""What a reelfix node's result was made from, and what its output shows in the GUI and in batch.

A Group's output Switch is driven by an expression (evaluated by Nuke whenever the Switch is,
in the GUI, in `nuke -x`, on the farm):

    GUI    the restored frames once there are any (marked stale in the status line when the
           knobs or the input changed since), else the input (a preview while setting up);
    batch  the restored frames when they were made from what the script holds now, else an
           error with the plugin's message that stops the render: never the input plate.

"What it was made from" is a signature kept in hidden knobs at each Render: the node's
settings, the script's colour settings and every node upstream (class and knob values, the
files of each Read with their sizes and times; an upstream reelfix node by its own record).
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, List, Optional, Set, Tuple

import nuke

from . import jobs
from .core import PluginError

KIND = "rf_kind"
WRITE, READ, SWITCH = "reelfix_in", "reelfix_out", "reelfix_switch"  # a Group's internal nodes
KEY, SIGNATURE, FRAMES = "rf_key", "rf_signature", "rf_frames"
HIDDEN = (KEY, SIGNATURE, FRAMES)
SWITCH_EXPRESSION = "[python -execlocal {import reelfix_nuke; ret = reelfix_nuke.switch_which(nuke.thisNode())}]"
STALE = "STALE"
# knobs that do not change pixels (layout, looks, our own bookkeeping and buttons)
_IGNORED = {
    "xpos", "ypos", "selected", "name", "label", "note_font", "note_font_size", "note_font_color", "tile_color",
    "gl_color", "hide_input", "cached", "postage_stamp", "postage_stamp_frame", "icon", "indicators", "help",
    "onCreate", "onDestroy", "knobChanged", "updateUI", "autolabel", "panel", "dope_sheet", "bookmark",
    "lifetimeStart", "lifetimeEnd", "useLifetime", "reload", "rf_status", "rf_render", "rf_farm", "rf_report", "rf_chunk",
    "rf_submitter", "rf_first", "rf_last", "rf_range_from_input", "rf_cache_dir", KEY, SIGNATURE, FRAMES,
}
_ROOT_KNOBS = ("colorManagement", "OCIO_config", "customOCIOConfigPath", "workingSpaceLUT")
_MAX_STAT = 20000  # Read frames looked at per node


def is_batch() -> bool:
    """`nuke -x`, `nuke -t`, a farm render: no GUI (nuke.env['gui'], else nuke.GUI)."""
    try:
        return not bool(nuke.env["gui"])
    except (KeyError, TypeError, AttributeError):
        return not nuke.GUI


def is_reelfix(node: nuke.Node) -> bool:
    return node.knob(KIND) is not None and node.knob("rf_render") is not None


def _text(knob: nuke.Knob) -> str:
    try:
        return str(knob.toScript())
    except Exception:  # noqa: BLE001 - a knob that cannot say its value counts as its class
        return knob.Class()


def _knobs_text(node: nuke.Node) -> str:
    parts = ["{}={}".format(name, _text(k)) for name, k in sorted(node.knobs().items()) if name not in _IGNORED]
    return "\n".join(parts)


def _read_files(node: nuke.Node) -> str:
    """Sizes and times of a Read's frames (a re-rendered plate with the same name counts)."""
    knob = node.knob("file")
    pattern = str(knob.value() if knob is not None else "")
    try:
        first, last = int(node["first"].value()), int(node["last"].value())
    except (NameError, TypeError, ValueError):
        first = last = 0
    out = []
    for n in range(first, min(last, first + _MAX_STAT - 1) + 1):
        path = jobs.frame_path(pattern, n)
        try:
            st = os.stat(path)
            out.append("{}:{}:{}".format(n, st.st_size, st.st_mtime_ns))
        except OSError:
            out.append("{}:-".format(n))
    return ",".join(out)


def upstream_of(node: nuke.Node, index: int = 0) -> Optional[nuke.Node]:
    """What feeds input `index`: through an Input node to its Group's input (nested Groups)."""
    up = node.input(index)
    for _ in range(100):
        if up is None or up.Class() != "Input":
            return up
        parent = up.parent()
        if parent is None or parent is nuke.root():
            return None
        up = parent.input(int(up["number"].value()) if up.knob("number") is not None else 0)
    return None


def _walk(start: Optional[nuke.Node], h: Any) -> None:
    stack: List[Optional[nuke.Node]] = [start]
    seen: Set[str] = set()
    while stack:
        node = stack.pop()
        if node is not None and node.Class() == "Input":  # inside a Group: on to the Group's input
            parent = node.parent()
            number = int(node["number"].value()) if node.knob("number") is not None else 0
            stack.append(parent.input(number) if parent is not None and parent is not nuke.root() else None)
            continue
        if node is None:
            h.update(b"|none")
            continue
        name = node.fullName()
        if name in seen:
            h.update(b"|seen")
            continue
        seen.add(name)
        if is_reelfix(node):  # its record covers everything above it
            h.update("|reelfix {} {} {}".format(*recorded(node)).encode("utf-8"))
            continue
        h.update("|{}\n{}".format(node.Class(), _knobs_text(node)).encode("utf-8"))
        if node.Class() == "Read":
            h.update(_read_files(node).encode("utf-8"))
        if isinstance(node, nuke.Group):
            for child in sorted(node.nodes(), key=lambda c: c.name()):
                if child.Class() not in ("Input", "Output"):
                    h.update("|child {}\n{}".format(child.Class(), _knobs_text(child)).encode("utf-8"))
            stack.extend(c.input(0) for c in node.nodes() if c.Class() == "Output")
            continue
        stack.extend(node.input(i) for i in range(node.inputs()))


def signature(group: nuke.Node) -> str:
    """What the node's result depends on now (knobs, colour settings, everything upstream)."""
    h = hashlib.sha256()
    h.update(_knobs_text(group).encode("utf-8"))
    root = nuke.root()
    for name in _ROOT_KNOBS:
        knob = root.knob(name)
        h.update("|root {}={}".format(name, _text(knob) if knob is not None else "").encode("utf-8"))
    _walk(upstream_of(group, 0), h)
    return h.hexdigest()[:20]


def record(group: nuke.Node, key: str, sig: str, frames: str) -> None:
    """After a render: what the shown result was made from."""
    for name, value in ((KEY, key), (SIGNATURE, sig), (FRAMES, frames)):
        knob = group.knob(name)
        if knob is None:
            knob = nuke.String_Knob(name, name)
            knob.setFlag(nuke.INVISIBLE)
            group.addKnob(knob)
        knob.setValue(value)


def recorded(group: nuke.Node) -> Tuple[str, str, str]:
    values = []
    for name in HIDDEN:
        knob = group.knob(name)
        values.append(str(knob.value()) if knob is not None else "")
    return values[0], values[1], values[2]


def stale_reason(group: nuke.Node) -> str:
    """Empty when the shown result matches what the script holds now, else why not."""
    key, sig, frames = recorded(group)
    name = group.fullName()
    if not key or not frames:
        return ("reelfix: {} has not been rendered, so it has no restored frames. Open the script in Nuke and press "
                "Render on it (or run reelfix_nuke.render_all() in `nuke -t`) before rendering the script; "
                "reelfix never passes its input through in a batch render.").format(name)
    if sig != signature(group):
        return ("reelfix: {} changed since its render (its knobs, the colour settings or a node above it), so its "
                "restored frames are stale. Press Render on it again (or run reelfix_nuke.render_all() in `nuke -t`) "
                "before rendering the script.").format(name)
    return ""


def switch_which(switch: nuke.Node) -> int:
    """The Switch expression: 1 shows the restored frames, 0 the input (GUI preview only)."""
    group = switch.parent()
    if group is None or not is_reelfix(group):
        raise PluginError("reelfix: {} is not inside a reelfix node".format(switch.fullName()))
    if not is_batch():
        return 1 if recorded(group)[0] else 0
    problem = stale_reason(group)
    if problem:
        raise PluginError(problem)
    return 1


def on_knob_changed() -> None:
    """knobChanged (GUI): a rendered node whose settings or input moved on says it is stale."""
    if is_batch():
        return
    node, knob = nuke.thisNode(), nuke.thisKnob()
    if node is None or knob is None or knob.name() in _IGNORED or not is_reelfix(node) or not recorded(node)[0]:
        return
    status = node.knob("rf_status")
    if status is None:
        return
    text = str(status.value())
    problem = stale_reason(node)
    if problem and not text.startswith(STALE):
        status.setValue("{} (changed since the render: press Render) · {}".format(STALE, text))
    elif not problem and text.startswith(STALE):
        status.setValue(text.split(" · ", 1)[-1])


def upgrade(group: nuke.Group) -> bool:
    """A node made by an older plugin (a static Switch, an enabled internal Write, a Read that
    holds): made safe for batch renders. True when something changed."""
    changed = False
    switch, write, read = (group.node(n) for n in (SWITCH, WRITE, READ))
    if switch is not None and not switch["which"].hasExpression():
        switch["which"].setExpression(SWITCH_EXPRESSION)
        changed = True
    if write is not None and not write["disable"].value():
        write["disable"].setValue(True)
        changed = True
    for name in ("before", "after"):
        if read is not None and read.knob(name) is not None and read[name].value() == "hold":
            read[name].setValue("error")
            changed = True
    for name in HIDDEN:
        if group.knob(name) is None:
            knob = nuke.String_Knob(name, name)
            knob.setFlag(nuke.INVISIBLE)
            group.addKnob(knob)
            changed = True
    return changed


def upgrade_script() -> int:
    """onScriptLoad (registered by init.py, so also in `nuke -x` and on the farm): every reelfix
    node of the script upgraded; how many changed."""
    return sum(1 for n in nuke.allNodes(recurseGroups=True) if is_reelfix(n) and isinstance(n, nuke.Group) and upgrade(n))
