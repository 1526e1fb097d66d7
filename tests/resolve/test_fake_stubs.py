"""The fake Resolve may only have what the real API has: every public method of every fake class
exists in `fusionscript-stubs` (Resolve 21) on the class of the same name, with the same
parameter names (any of its overloads)."""

from __future__ import annotations

import ast
import inspect
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.resolve import fake_resolve

FAKE_CLASSES = ("Resolve", "ProjectManager", "Project", "MediaPool", "Folder", "MediaPoolItem", "Timeline", "TimelineItem")


def stub_files() -> list[Path]:
    roots = {Path(sysconfig.get_paths()["purelib"]), *(Path(p) for p in sys.path if p.endswith("site-packages"))}
    for root in roots:
        folder = root / "fusionscript-stubs"
        if folder.is_dir():
            return sorted(folder.glob("*.pyi"))
    pytest.skip("fusionscript-stubs is not installed")


def stub_methods() -> dict[str, dict[str, list[list[str]]]]:
    """class -> method -> parameter-name lists (one per definition/overload)."""
    classes: dict[str, dict[str, list[list[str]]]] = {}
    for path in stub_files():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef):
                methods = classes.setdefault(node.name, {})
                for fn in node.body:
                    if isinstance(fn, ast.FunctionDef):
                        a = fn.args
                        names = [p.arg for p in a.posonlyargs + a.args] + ([f"*{a.vararg.arg}"] if a.vararg else [])
                        names += [p.arg for p in a.kwonlyargs]
                        methods.setdefault(fn.name, []).append(names)
    return classes


def fake_params(fn: object) -> list[str]:
    out = []
    for p in inspect.signature(fn).parameters.values():  # type: ignore[arg-type]
        out.append(f"*{p.name}" if p.kind is p.VAR_POSITIONAL else p.name)
    return out


def test_stubs_are_found_and_parsed() -> None:
    stubs = stub_methods()
    assert {"Resolve", "TimelineItem", "MediaPool"} <= set(stubs)
    assert stubs["TimelineItem"]["AddTake"] == [["self", "mediaPoolItem", "startFrame", "endFrame"]]
    assert len(stubs["MediaPool"]["ImportMedia"]) == 2  # overloads are all kept


def test_fake_matches_the_stubs() -> None:
    stubs = stub_methods()
    problems = []
    checked = 0
    for name in FAKE_CLASSES:
        cls = getattr(fake_resolve, name)
        if name not in stubs:
            problems.append(f"{name}: no such class in the stubs")
            continue
        for attr, fn in vars(cls).items():
            if attr.startswith("_") or not callable(fn):
                continue
            checked += 1
            if attr not in stubs[name]:
                problems.append(f"{name}.{attr}: not in the stubs")
            elif fake_params(fn) not in stubs[name][attr]:
                problems.append(f"{name}.{attr}{tuple(fake_params(fn))}: the stubs have {stubs[name][attr]}")
    assert problems == []
    assert checked >= 40


def test_the_adapter_calls_only_methods_the_stubs_have() -> None:
    """Every CamelCase attribute the plugin uses on an object (API methods) exists in some stub class,
    apart from the Fusion UIManager ones (no stubs exist for them) and our own constants."""
    stubs = stub_methods()
    known = {m for methods in stubs.values() for m in methods}
    ui = {"UIDispatcher", "AddWindow", "GetItems", "AddItems", "HGroup", "VGroup", "Label", "ComboBox", "LineEdit",
          "SpinBox", "Button", "Show", "Hide", "RunLoop", "ExitLoop", "UIManager", "On", "Clicked", "Close", "Text",
          "CurrentIndex", "Value", "Run", "Cancel", "ReelfixRestore", "FALLBACK_ORIGIN", "FALLBACK_SOURCE_END",
          "FALLBACK_MARK_ORIGIN"}
    plugin = Path(fake_resolve.__file__).resolve().parents[2] / "resolve_plugin"
    called = set()
    for path in plugin.rglob("*.py"):
        tree = ast.parse(path.read_text())
        modules = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr[:1].isupper():  # calls and bound methods passed on
                if not (isinstance(node.value, ast.Name) and node.value.id in modules):  # module.Class(...)
                    called.add(node.attr)
    assert called - known - ui == set()
    assert {"AddTake", "SelectTakeByIndex", "ImportMedia", "GetSourceStartFrame", "AddMarker"} <= called
