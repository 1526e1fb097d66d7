"""The Resolve side runs in whatever Python Resolve uses: stdlib only, Python 3.6 syntax (vermin),
and type-checked against the real API's stubs (mypy + fusionscript-stubs)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.resolve.conftest import PLUGIN, ROOT

FILES = [str(PLUGIN), str(ROOT / "installers" / "resolve.py")]


def tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]')")
    return found


def test_python_3_6_syntax_and_library() -> None:
    r = subprocess.run([tool("vermin"), "-t=3.6-", "--no-tips", "--violations", *FILES], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_type_checked_against_fusionscript_stubs() -> None:
    r = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--cache-dir", os.devnull,
                        str(PLUGIN / "reelfix_resolve"), str(PLUGIN / "Utility" / "reelfix Restore.py"),
                        str(PLUGIN / "Utility" / "reelfix Open Report.py"), FILES[1]],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


def test_stdlib_only() -> None:
    allowed = set(sys.stdlib_module_names) | {"reelfix_resolve", "fusionscript"}
    for path in [*PLUGIN.rglob("*.py"), Path(FILES[1])]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"
