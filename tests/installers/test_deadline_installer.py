"""installers/install.py deadline: the Reelfix plugin put into (and taken out of) a Deadline
repository's custom/plugins, through the real command line."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "installers" / "deadline" / "Reelfix"


def install(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "installers" / "install.py"), "deadline", *args],
                          capture_output=True, text=True, timeout=60)


def test_install_and_uninstall_into_custom_plugins(tmp_path: Path) -> None:
    repo = tmp_path / "DeadlineRepository10"
    (repo / "custom" / "plugins").mkdir(parents=True)
    done = install("--repository", str(repo))
    assert done.returncode == 0, done.stderr
    target = repo / "custom" / "plugins" / "Reelfix"
    assert sorted(p.name for p in target.iterdir()) == ["Reelfix.options", "Reelfix.param", "Reelfix.py"]
    assert (target / "Reelfix.py").read_bytes() == (PLUGIN / "Reelfix.py").read_bytes()
    assert "Configure Plugins" in done.stdout
    assert install("--repository", str(repo)).returncode == 0  # again: replaced in place
    done = install("--repository", str(repo), "--uninstall")
    assert done.returncode == 0 and not target.exists()


def test_a_folder_that_is_not_a_repository_is_refused(tmp_path: Path) -> None:
    done = install("--repository", str(tmp_path))
    assert done.returncode == 1 and "not a Deadline repository" in done.stderr and "Traceback" not in done.stderr
    done = install()
    assert done.returncode == 1 and "--repository" in done.stderr


def test_the_plugin_files_are_what_deadline_reads() -> None:
    tree = ast.parse((PLUGIN / "Reelfix.py").read_text())  # stdlib only, and no syntax past Python 3.6
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= {"os", "re", "shutil", "subprocess", "sys", "Deadline"}
    assert not any(isinstance(n, ast.NamedExpr) for n in ast.walk(tree))
    assert {n.name for n in tree.body if isinstance(n, ast.FunctionDef)} >= {"GetDeadlinePlugin", "CleanupDeadlinePlugin"}
    param = (PLUGIN / "Reelfix.param").read_text()
    options = (PLUGIN / "Reelfix.options").read_text()
    for key in ("[Executable_Windows]", "[Executable_Linux]", "[Executable_Mac]", "[EnablePathMapping]"):
        assert key in param
    assert "[JobFile]" in options and "[Device]" in options
