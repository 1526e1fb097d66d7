"""Static checks of the Nuke plugin: the fake follows the stubs, Python 3.7 syntax (vermin),
types against `types-nuke` (mypy --strict), stdlib-only imports, pure modules without nuke."""

from __future__ import annotations

import ast
import subprocess
import sys
import types
from pathlib import Path

import pytest

from tests.nuke import fake_nuke, stubcheck
from tests.nuke.conftest import PLUGIN, ROOT

VENV_BIN = Path(sys.executable).parent
PURE = ["core", "farm", "jobs", "knobs", "paths", "runner"]


def test_the_fake_follows_the_types_nuke_stubs():
    assert stubcheck.problems(fake_nuke) == []


def test_the_stub_check_catches_what_real_nuke_lacks():
    bad = types.ModuleType("bad_nuke")
    exec(
        "class Knob(object):\n"
        "    def __init__(self, *args, **kwargs): pass\n"
        "    def setValue(self, value, chan=0): pass\n"
        "    def glow(self): pass\n"
        "def createNode(typ, knobs, inpanel=True): pass\n"
        "def executeInBackground(node): pass\n"
        "GPU = True\n",
        bad.__dict__,
    )
    bad.Knob.__module__ = "bad_nuke"
    found = stubcheck.problems(bad)
    assert "nuke.Knob.setValue(): parameter 1 is 'value', the stubs call it 'val'" in found
    assert "nuke.Knob.glow is not in the stubs" in found
    assert "nuke.createNode(): 'knobs' needs a default" in found
    assert "nuke.executeInBackground() is not in the stubs" in found  # hosts.md: there is no such thing
    assert "nuke.GPU is not in the stubs" in found


def test_the_fake_covers_what_the_plugin_calls():
    """Every nuke.X the plugin uses exists in the fake (and so, by the test above, in Nuke)."""
    used = set()
    for path in (PLUGIN / "reelfix_nuke").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "nuke":
                used.add(node.attr)
    assert used and sorted(n for n in used if not hasattr(fake_nuke, n)) == []


def test_plugin_syntax_is_python_3_7():
    vermin = VENV_BIN / "vermin"
    if not vermin.exists():
        pytest.skip("vermin is not installed (pip install -e '.[dev]')")
    out = subprocess.run([str(vermin), "-t=3.7-", "--no-tips", "--violations", str(PLUGIN)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    out = subprocess.run([str(vermin), "-t=3.7-", "--no-tips", str(PLUGIN)], capture_output=True, text=True)
    assert "Minimum required versions: 3.7" in out.stdout or "Minimum required versions: 3.0" in out.stdout, out.stdout


def test_plugin_and_installers_type_check_against_types_nuke():
    mypy = VENV_BIN / "mypy"
    if not mypy.exists():
        pytest.skip("mypy is not installed (pip install -e '.[dev]')")
    plugin = subprocess.run(
        [str(mypy), "--strict", "--cache-dir", "/dev/null" if sys.platform != "win32" else "nul",
         str(PLUGIN / "reelfix_nuke"), str(PLUGIN / "menu.py"), str(PLUGIN / "init.py"), str(PLUGIN / "tools")],
        capture_output=True, text=True, cwd=str(ROOT),
    )
    assert plugin.returncode == 0, plugin.stdout + plugin.stderr
    installers = subprocess.run(
        [str(mypy), "--strict", "--cache-dir", "/dev/null", "--explicit-package-bases",
         "-m", "installers._paths", "-m", "installers.core", "-m", "installers.nuke", "-m", "installers.install"],
        capture_output=True, text=True, cwd=str(ROOT),
    )
    assert installers.returncode == 0, installers.stdout + installers.stderr


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_plugin_imports_only_the_stdlib_and_nuke():
    allowed = set(sys.stdlib_module_names) | {"nuke", "reelfix_nuke", "__future__"}
    offenders = {str(p.relative_to(ROOT)): sorted(_imports(p) - allowed) for p in PLUGIN.rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}
    for name in PURE:
        assert "nuke" not in _imports(PLUGIN / "reelfix_nuke" / (name + ".py")), name


def test_pure_modules_and_the_package_import_without_nuke():
    code = ("import sys; sys.path.insert(0, {!r}); import reelfix_nuke, {}; "
            "assert 'nuke' not in sys.modules, 'nuke imported'").format(
        str(PLUGIN), ", ".join("reelfix_nuke." + m for m in PURE))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_init_and_menu_stay_small():
    assert len((PLUGIN / "init.py").read_text().splitlines()) <= 5
    assert len((PLUGIN / "menu.py").read_text().splitlines()) <= 5
    big = {p.name: n for p in (PLUGIN / "reelfix_nuke").glob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert big == {}
