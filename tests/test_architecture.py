"""Rules of the codebase that keep it pleasant to carry on."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core" / "reelfix"
HOST_MODULES = {"nuke", "nukescripts", "DaVinciResolveScript", "fusionscript", "hiero"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_never_imports_a_host() -> None:
    offenders = {str(p.relative_to(ROOT)): sorted(imported_modules(p) & HOST_MODULES) for p in CORE.rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_import_name_is_never_core() -> None:
    assert not (ROOT / "core" / "__init__.py").exists()


def test_modules_stay_small() -> None:
    big = {str(p.relative_to(ROOT)): n for p in CORE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 450}
    assert big == {}


def test_library_code_has_no_print_or_sys_exit() -> None:
    allowed = {"console.py", "__main__.py"}
    offenders = []
    for p in CORE.rglob("*.py"):
        if p.name in allowed or p.parent.name == "cli":
            continue
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Call):
                f = node.func
                if (isinstance(f, ast.Name) and f.id == "print") or (
                    isinstance(f, ast.Attribute) and f.attr == "exit" and isinstance(f.value, ast.Name) and f.value.id == "sys"
                ):
                    offenders.append(f"{p.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
