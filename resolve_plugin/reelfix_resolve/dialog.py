"""The menu script's questions: a Fusion UIManager dialog where Resolve offers one (without one,
`settings` reads the same answers from a file). The answers are turned into `restore.Options` here.

Answers: select ("color" | "track" | "marks"), which (clip colour or track number),
pipeline ("file" or a node name), params ("name=value, ..." for a node, or the pipeline
file's path), handles, mode ("take" | "track"), where ("local" | "openjd" | "deadline").
"""

import json
import os
from typing import Any, Dict, List, Optional

from .restore import Options, Reporter, RestoreError

SELECT = (("color", "Clips with a clip colour"), ("track", "Clips on a track"), ("marks", "Clips between the in/out marks"))
MODES = (("take", "Add as a take (original kept)"), ("track", "Place on a new track above"))
WHERE = (("local", "Restore here"), ("openjd", "Farm: OpenJD templates"), ("deadline", "Farm: Deadline bundles"))


def _value(text: str, declared: Dict[str, Any]) -> Any:
    kind = declared.get("type")
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "bool":
        return text.strip().lower() in ("1", "true", "yes", "on")
    return text


def pipeline_from_node(node: Dict[str, Any], params_text: str) -> Dict[str, Any]:
    """A pipeline file's data for one node: its defaults, changed by "name=value, ..."."""
    declared = {p["name"]: p for p in node.get("params", [])}
    params = {name: p.get("default") for name, p in declared.items()}
    for part in [p.strip() for p in params_text.replace(";", ",").split(",") if p.strip()]:
        name, sep, text = part.partition("=")
        name = name.strip()
        if not sep or name not in declared:
            raise RestoreError("parameter '{}': write name=value with one of {}".format(part, ", ".join(sorted(declared))))
        try:
            params[name] = _value(text.strip(), declared[name])
        except ValueError:
            raise RestoreError("parameter {}: {!r} is not a {}".format(name, text.strip(), declared[name].get("type")))
    return {"pipeline": [{"node": node["name"], "params": params}]}


def options_from_answers(answers: Dict[str, Any], nodes: List[Dict[str, Any]], pipelines_dir: str) -> Options:
    """Options for `restore.restore` from the dialog's answers (a node's pipeline is saved as JSON)."""
    select, which = answers.get("select"), str(answers.get("which") or "").strip()
    color = which if select == "color" else None
    track = None
    if select == "track":
        try:
            track = int(which.upper().lstrip("V"))
        except ValueError:
            raise RestoreError("track {!r}: give the video track number (1 = V1)".format(which))
    if answers.get("pipeline") == "file":
        path = os.path.expanduser(str(answers.get("params") or "").strip())
        if not os.path.isfile(path):
            raise RestoreError("pipeline file {!r} not found".format(path))
    else:
        node = next((n for n in nodes if n.get("name") == answers.get("pipeline")), None)
        if node is None:
            raise RestoreError("unknown node {!r}".format(answers.get("pipeline")))
        data = pipeline_from_node(node, str(answers.get("params") or ""))
        if not os.path.isdir(pipelines_dir):
            os.makedirs(pipelines_dir)
        path = os.path.join(pipelines_dir, "{}.json".format(node["name"]))
        with open(path, "w") as fh:
            json.dump(data, fh, indent=2)
    where = answers.get("where") or "local"
    return Options(path, clip_color=color, track=track, marks=select == "marks", handles=int(answers.get("handles", 8)),
                   mode=answers.get("mode") or "take", farm=None if where == "local" else where)


def ui_answers(fusion: Any, bmd: Any, nodes: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """Ask with a Fusion UIManager dialog; None when cancelled."""
    ui = fusion.UIManager
    disp = bmd.UIDispatcher(ui)

    def row(label: str, widget: Any) -> Any:
        return ui.HGroup([ui.Label({"Text": label, "Weight": 0.3}), widget])

    win = disp.AddWindow({"ID": "ReelfixRestore", "WindowTitle": "reelfix Restore", "Geometry": [200, 200, 520, 300]}, ui.VGroup([
        row("Clips", ui.ComboBox({"ID": "Select", "Weight": 0.7})),
        row("Colour / track", ui.LineEdit({"ID": "Which", "Text": "Orange", "Weight": 0.7})),
        row("Pipeline", ui.ComboBox({"ID": "Pipeline", "Weight": 0.7})),
        row("Parameters / file", ui.LineEdit({"ID": "Params", "PlaceholderText": "scale=4   or   /path/pipeline.yaml", "Weight": 0.7})),
        row("Handles", ui.SpinBox({"ID": "Handles", "Value": 8, "Minimum": 0, "Maximum": 10000, "Weight": 0.7})),
        row("Result", ui.ComboBox({"ID": "Mode", "Weight": 0.7})),
        row("Run", ui.ComboBox({"ID": "Where", "Weight": 0.7})),
        ui.HGroup([ui.Button({"ID": "Cancel", "Text": "Cancel"}), ui.Button({"ID": "Run", "Text": "Restore"})]),
    ]))
    items = win.GetItems()
    pipes = [n["name"] for n in nodes] + ["Pipeline file..."]
    for key, labels in (("Select", [s[1] for s in SELECT]), ("Pipeline", pipes), ("Mode", [m[1] for m in MODES]), ("Where", [w[1] for w in WHERE])):
        items[key].AddItems(labels)
    answers = {}  # type: Dict[str, Any]

    def run(ev: Any) -> None:
        chosen = int(items["Pipeline"].CurrentIndex)
        answers.update({
            "select": SELECT[int(items["Select"].CurrentIndex)][0],
            "which": items["Which"].Text,
            "pipeline": "file" if chosen >= len(nodes) else nodes[chosen]["name"],
            "params": items["Params"].Text,
            "handles": int(items["Handles"].Value),
            "mode": MODES[int(items["Mode"].CurrentIndex)][0],
            "where": WHERE[int(items["Where"].CurrentIndex)][0],
        })
        disp.ExitLoop()

    def cancel(ev: Any) -> None:
        disp.ExitLoop()

    win.On.Run.Clicked = run
    win.On.Cancel.Clicked = cancel
    win.On.ReelfixRestore.Close = cancel
    win.Show()
    disp.RunLoop()
    win.Hide()
    return answers or None


class UIReporter(Reporter):
    """Progress in a small UIManager window (and the console)."""

    def __init__(self, fusion: Any, bmd: Any) -> None:
        ui = fusion.UIManager
        self.disp = bmd.UIDispatcher(ui)
        self.win = self.disp.AddWindow({"ID": "ReelfixProgress", "WindowTitle": "reelfix", "Geometry": [240, 240, 520, 90]},
                                       ui.VGroup([ui.Label({"ID": "Status", "Text": "starting...", "WordWrap": True})]))
        self.label = self.win.GetItems()["Status"]
        self.win.Show()

    def message(self, text: str) -> None:
        Reporter.message(self, text)
        self.label.Text = text

    def progress(self, label: str, done: int, total: int) -> None:
        Reporter.progress(self, label, done, total)
        self.label.Text = "{}: {}/{} frames".format(label, done, total)

    def close(self) -> None:
        self.win.Hide()
