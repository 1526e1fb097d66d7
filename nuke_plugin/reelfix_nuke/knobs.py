"""Knob specifications generated from the core's node declarations (no Nuke here).

A declaration (`reelfix nodes --json`) lists typed parameters with defaults, help, and
optional `choices`, `min`, `max`. Each becomes one knob on the Group:

    int   -> Int_Knob       float -> Double_Knob (slider range = min..max)
    bool  -> Boolean_Knob  str   -> String_Knob
    choices (any type) -> Enumeration_Knob (values as text, converted back on render)
    a str parameter named `model` -> Enumeration_Knob of `reelfix models list`

Knob names are `<node>_<param>` so they never collide with a Group's own knobs or with
another node's parameters in a Restore Pipeline.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

DEFAULT_MODEL = "(default)"


class KnobSpec(object):
    """What the host needs to create one knob."""

    def __init__(
        self,
        knob_class: str,
        name: str,
        label: str,
        default: Any,
        tooltip: str,
        values: Sequence[str] = (),
        slider: Optional[Tuple[float, float]] = None,
        node: str = "",
        param: str = "",
        ptype: str = "",
    ) -> None:
        self.knob_class = knob_class
        self.name = name
        self.label = label
        self.default = default
        self.tooltip = tooltip
        self.values = list(values)
        self.slider = slider
        self.node = node
        self.param = param
        self.ptype = ptype

    def __repr__(self) -> str:
        return "KnobSpec({}, {}, default={!r})".format(self.knob_class, self.name, self.default)


def knob_name(node: str, param: str) -> str:
    return "{}_{}".format(node, param)


def _label(param: str) -> str:
    return param.replace("_", " ")


def _tooltip(p: Dict[str, Any]) -> str:
    text = str(p.get("help", ""))
    extra = []
    if "choices" in p:
        extra.append("one of " + ", ".join(str(c) for c in p["choices"]))
    if "min" in p:
        extra.append("min {}".format(p["min"]))
    if "max" in p:
        extra.append("max {}".format(p["max"]))
    extra.append("default {!r}".format(p.get("default")))
    return "{} ({})".format(text, "; ".join(extra)) if text else "; ".join(extra)


def _spec(knob_class: str, node: str, p: Dict[str, Any], default: Any, values: Sequence[str] = (), slider: Optional[Tuple[float, float]] = None) -> KnobSpec:
    name = str(p["name"])
    return KnobSpec(
        knob_class, knob_name(node, name), _label(name), default, _tooltip(p),
        values=values, slider=slider, node=node, param=name, ptype=str(p["type"]),
    )


def param_knob(node: str, p: Dict[str, Any], model_names: Optional[Sequence[str]] = None) -> KnobSpec:
    """One parameter declaration -> one knob spec."""
    name, ptype, default = str(p["name"]), str(p["type"]), p.get("default")
    if p.get("choices"):
        values = [_text(c) for c in p["choices"]]
        return _spec("Enumeration_Knob", node, p, _text(default) if _text(default) in values else values[0], values)
    if ptype == "str" and name == "model" and model_names:
        values = [DEFAULT_MODEL] + [m for m in model_names if m != DEFAULT_MODEL]
        if default and default not in values:
            values.append(str(default))
        return _spec("Enumeration_Knob", node, p, str(default) if default else DEFAULT_MODEL, values)
    if ptype == "bool":
        return _spec("Boolean_Knob", node, p, bool(default))
    if ptype == "int":
        return _spec("Int_Knob", node, p, int(default or 0), slider=_slider(p))
    if ptype == "float":
        return _spec("Double_Knob", node, p, float(default or 0.0), slider=_slider(p))
    return _spec("String_Knob", node, p, "" if default is None else str(default))


def _slider(p: Dict[str, Any]) -> Optional[Tuple[float, float]]:
    if "min" in p and "max" in p:
        return float(p["min"]), float(p["max"])
    return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def node_knobs(decl: Dict[str, Any], model_names: Optional[Sequence[str]] = None) -> List[KnobSpec]:
    return [param_knob(str(decl["name"]), p, model_names) for p in decl.get("params", [])]


def param_value(p: Dict[str, Any], raw: Any) -> Any:
    """A knob's value -> the parameter's declared type (Enumeration knobs give text)."""
    ptype = str(p["type"])
    if str(p["name"]) == "model" and raw == DEFAULT_MODEL:
        return ""
    if ptype == "bool":
        if isinstance(raw, str):
            return raw.strip().lower() in ("true", "yes", "on", "1")
        return bool(raw)
    if ptype == "int":
        return int(float(raw))
    if ptype == "float":
        return float(raw)
    return "" if raw is None else str(raw)


def params_from_values(decl: Dict[str, Any], values: Dict[str, Any]) -> Dict[str, Any]:
    """The node's params for a job: knob values by knob name; a knob missing from an older
    script falls back to the declared default (new parameters need no script edits)."""
    node = str(decl["name"])
    params = {}
    for p in decl.get("params", []):
        key = knob_name(node, str(p["name"]))
        params[str(p["name"])] = param_value(p, values[key]) if key in values else p.get("default")
    return params


def find_declaration(decls: Sequence[Dict[str, Any]], name: str) -> Dict[str, Any]:
    for d in decls:
        if d.get("name") == name:
            return d
    raise KeyError(name)
