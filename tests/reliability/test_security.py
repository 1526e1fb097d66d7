"""Guarantee: nothing runs that shouldn't. No shell=True, eval/exec, pickle (or marshal, shelve,
dill), yaml.load without a safe loader, torch.load without weights_only=True, np.load with
allow_pickle=True, os.system/os.popen, or a command given as one string, anywhere in the core,
the Nuke and Resolve plugins or the installers; a job file cannot name a program to run."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.reliability.helpers import ROOT, cli, write_job, write_plate

SCANNED = ("core", "nuke_plugin", "resolve_plugin", "installers")
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "shelve", "marshal", "cloudpickle", "joblib"}
SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"}
PROCESS_CALLS = {"run", "Popen", "call", "check_call", "check_output", "getoutput", "getstatusoutput"}


def _name(node: ast.AST) -> str:
    """Dotted name of a call target: `subprocess.run`, `yaml.load`, `eval`."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return ""


def _kw(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def findings(source: str, where: str) -> list[str]:
    """Every unsafe construct in one file's source, as `where:line what`."""
    out = []
    for node in ast.walk(ast.parse(source)):
        line = f"{where}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            out += [f"{line} imports {n}" for n in names if n.split(".")[0] in UNSAFE_MODULES]
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        short = name.rsplit(".", 1)[-1]
        shell = _kw(node, "shell")
        if shell is not None and not (isinstance(shell, ast.Constant) and shell.value is False):
            out.append(f"{line} {name}(shell=...)")
        if name in ("eval", "exec", "builtins.eval", "builtins.exec", "__import__"):
            out.append(f"{line} {name}()")
        if name in ("os.system", "os.popen", "os.execl", "os.execlp", "os.spawnl", "os.spawnlp"):
            out.append(f"{line} {name}()")
        if short in ("load", "loads", "Unpickler") and name.split(".")[0] in UNSAFE_MODULES:
            out.append(f"{line} {name}()")
        if name in ("yaml.unsafe_load", "yaml.full_load", "yaml.load_all") or (
            name == "yaml.load" and _name(_kw(node, "Loader") or ast.Name("")).rsplit(".", 1)[-1] not in SAFE_YAML_LOADERS
        ):
            out.append(f"{line} {name}() without a safe loader")
        if name == "torch.load" and not (isinstance(w := _kw(node, "weights_only"), ast.Constant) and w.value is True):
            out.append(f"{line} torch.load() without weights_only=True")
        if short == "load" and name.split(".")[0] in ("np", "numpy"):
            allow = _kw(node, "allow_pickle")
            if allow is not None and not (isinstance(allow, ast.Constant) and allow.value is False):
                out.append(f"{line} {name}(allow_pickle=...)")
        if name.startswith("subprocess.") and short in PROCESS_CALLS and node.args and isinstance(node.args[0], (ast.Constant, ast.JoinedStr, ast.BinOp)):
            out.append(f"{line} {name}() with a command string, not an argument list")
    return out


def test_the_scan_finds_what_it_looks_for() -> None:
    bad = """
import pickle
import subprocess, yaml, torch, os
subprocess.run("ls -l", shell=True)
subprocess.check_output(f"ls {x}")
eval("1"); exec("x=1")
pickle.loads(b"")
yaml.load(text)
yaml.load(text, Loader=yaml.FullLoader)
torch.load(p)
torch.load(p, weights_only=False)
np.load(p, allow_pickle=True)
os.system("x")
"""
    found = findings(bad, "x.py")
    assert len(found) == 13, found
    ok = """
subprocess.run(["ls", "-l"], shell=False)
yaml.load(text, Loader=yaml.SafeLoader)
yaml.safe_load(text)
torch.load(p, weights_only=True, map_location="cpu")
np.load(p, allow_pickle=False)
json.loads(s)
"""
    assert findings(ok, "y.py") == []


def test_nothing_unsafe_in_the_shipped_code() -> None:
    found = []
    files = [p for d in SCANNED for p in sorted((ROOT / d).rglob("*.py"))]
    assert len(files) > 100
    for path in files:
        found += findings(path.read_text(), str(path.relative_to(ROOT)))
    assert found == []


@pytest.mark.parametrize("entry", [
    {"node": "os.system", "params": {}},
    {"node": "upscale", "params": {"command": "rm -rf /"}},
    {"node": "upscale", "params": {"model": "$(touch pwned)"}},
])
def test_a_job_file_cannot_name_a_program(tmp_path: Path, entry: dict) -> None:
    write_plate(tmp_path / "plates", frames=range(1001, 1003))
    job = write_job(tmp_path / "job.yaml", "plates/A001.####.exr", "out/A.####.exr", [entry], hooks={"pre": "touch pwned"})
    code, text = cli("run", job)
    assert code == 2 and "Traceback" not in text
    job = write_job(tmp_path / "job2.yaml", "plates/A001.####.exr", "out/A.####.exr", [entry])
    code, text = cli("run", job)
    assert code == 2 and "Traceback" not in text
    assert not list(tmp_path.rglob("pwned")) and not (tmp_path / "out").exists()
