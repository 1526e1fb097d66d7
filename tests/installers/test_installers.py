"""installers/: per-OS folders, the core venv + config.json, the Nuke init.py line, the CLI.

Every test points HOME/APPDATA/XDG_* at tmp folders and varies sys.platform; nothing here
touches the real user folders or the network (pip is replaced by a recorder).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from installers import _paths, core, install
from installers import nuke as nuke_installer

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "nuke_plugin"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "APPDATA", "LOCALAPPDATA", "REELFIX_BIN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.setenv("USERPROFILE", str(h))
    monkeypatch.setenv("PATH", str(tmp_path / "nobin"))
    return h


@pytest.mark.parametrize(
    "platform, config, data, nuke",
    [
        ("linux", ".config/reelfix", ".local/share/reelfix", ".nuke"),
        ("darwin", "Library/Application Support/reelfix", "Library/Application Support/reelfix", ".nuke"),
        ("win32", "AppData/Roaming/reelfix", "AppData/Local/reelfix", ".nuke"),
    ],
)
def test_per_user_folders(home, monkeypatch, platform, config, data, nuke):
    monkeypatch.setattr(sys, "platform", platform)
    assert _paths.config_dir() == home / config
    assert _paths.config_file() == home / config / "config.json"
    assert _paths.data_dir() == home / data
    assert _paths.default_venv() == home / data / "venv"
    assert _paths.nuke_home() == home / nuke
    exe = _paths.venv_executable(Path("/v"), "reelfix")
    assert exe == (Path("/v/Scripts/reelfix.exe") if platform == "win32" else Path("/v/bin/reelfix"))


def test_environment_variables_win(home, monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("APPDATA", str(tmp_path / "roaming"))
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    assert _paths.config_file() == tmp_path / "roaming" / "reelfix" / "config.json"
    assert _paths.default_venv() == tmp_path / "local" / "reelfix" / "venv"
    monkeypatch.setenv("HOME", str(tmp_path / "nukehome"))  # Nuke looks at HOME first on Windows
    assert _paths.nuke_home() == tmp_path / "nukehome" / ".nuke"
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert _paths.config_dir() == tmp_path / "xdg" / "reelfix"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/ignored")
    assert _paths.config_dir() == tmp_path / "nukehome" / ".config" / "reelfix"


@pytest.mark.parametrize("platform", ["linux", "darwin", "win32"])
def test_the_nuke_plugin_uses_the_same_folders(home, monkeypatch, platform, tmp_path):
    sys.path.insert(0, str(PLUGIN))
    try:
        from reelfix_nuke import paths as plugin_paths
    finally:
        sys.path.remove(str(PLUGIN))
    for env in ({"HOME": str(home), "USERPROFILE": str(home)},
                {"HOME": str(home), "APPDATA": str(tmp_path / "r"), "LOCALAPPDATA": str(tmp_path / "l"),
                 "XDG_CONFIG_HOME": str(tmp_path / "x"), "XDG_CACHE_HOME": str(tmp_path / "c")}):
        assert Path(plugin_paths.config_file(env, platform)) == _paths.config_file(env, platform)
        assert Path(plugin_paths.cache_dir(env, platform)) == _paths.cache_dir(env, platform)


def test_the_resolve_installer_writes_the_same_config_file(home, tmp_path):
    resolve = pytest.importorskip("installers.resolve")
    for platform in ("linux", "darwin", "win32"):
        env = {"HOME": str(home), "APPDATA": str(tmp_path / "r"), "XDG_CONFIG_HOME": str(tmp_path / "x")}
        assert Path(resolve.config_path(platform, env)) == _paths.config_file(env, platform)


def test_config_is_merged_and_emptied(home):
    _paths.config_file().parent.mkdir(parents=True)
    _paths.config_file().write_text(json.dumps({"other": 1}))
    _paths.write_config({"reelfix_bin": "/x/reelfix"})
    assert _paths.read_config() == {"other": 1, "reelfix_bin": "/x/reelfix"}
    _paths.write_config({}, remove=("reelfix_bin", "other"))
    assert not _paths.config_file().exists()
    _paths.config_file().parent.mkdir(parents=True, exist_ok=True)
    _paths.config_file().write_text("{oops")
    with pytest.raises(ValueError, match="not valid JSON"):
        _paths.read_config()


class FakePip:
    """Records commands; `python -m venv` makes pyvenv.cfg, `pip install` makes bin/reelfix."""

    def __init__(self, platform: str = "linux") -> None:
        self.calls: list[list[str]] = []
        self.platform = platform

    def __call__(self, argv):
        argv = [str(a) for a in argv]
        self.calls.append(argv)
        if argv[1:3] == ["-m", "venv"]:
            Path(argv[3]).mkdir(parents=True)
            (Path(argv[3]) / "pyvenv.cfg").write_text("home = /usr\n")
        elif argv[1:4] == ["-m", "pip", "install"]:
            venv = Path(argv[0]).parent.parent
            exe = _paths.venv_executable(venv, "reelfix", self.platform)
            exe.parent.mkdir(parents=True, exist_ok=True)
            exe.write_text("#!/bin/sh\n")


@pytest.mark.parametrize("platform", ["linux", "darwin", "win32"])
def test_core_install_and_uninstall(home, monkeypatch, platform):
    monkeypatch.setattr(sys, "platform", platform)
    pip = FakePip(platform)
    lines = core.install(extras=["farm"], runner=pip)
    venv = _paths.default_venv()
    exe = _paths.venv_executable(venv, "reelfix")
    vpython = str(_paths.venv_executable(venv, "python"))
    assert pip.calls[0] == [sys.executable, "-m", "venv", str(venv)]
    assert pip.calls[1] == [vpython, "-m", "pip", "install", "--upgrade", "{}[farm]".format(ROOT)]
    assert pip.calls[2] == [str(exe), "--version"]
    assert _paths.read_config() == {"reelfix_bin": str(exe)}
    assert any("config.json" in l for l in lines)

    again = FakePip(platform)
    core.install(source="reelfix==0.1.0", extras=["farm", "gpu"], gpu=True, runner=again)  # upgrade: no new venv
    assert again.calls[0] == [vpython, "-m", "pip", "install", "--upgrade", "reelfix[farm,gpu]==0.1.0"]
    assert again.calls[1][-3:] == ["uninstall", "-y", "onnxruntime"]

    _paths.write_config({"resolve": "kept"})
    lines = core.uninstall()
    assert not venv.exists() and _paths.read_config() == {"resolve": "kept"}
    assert "removed the venv" in lines[0]


def test_core_uninstall_leaves_a_venv_it_did_not_make(home, tmp_path):
    own = tmp_path / "devvenv"
    (own / "bin").mkdir(parents=True)
    (own / "bin" / "reelfix").write_text("")
    _paths.write_config({"reelfix_bin": str(own / "bin" / "reelfix")})
    lines = core.uninstall()
    assert own.exists() and _paths.read_config() == {}
    assert any("left" in l for l in lines)


def test_core_install_reports_a_missing_executable(home):
    with pytest.raises(_paths.InstallError, match="missing"):
        core.install(runner=lambda argv: Path(argv[3]).mkdir(parents=True) if argv[1:3] == ["-m", "venv"] else None)


@pytest.mark.parametrize("platform", ["linux", "darwin", "win32"])
def test_nuke_install_is_one_idempotent_line_and_uninstall_removes_exactly_it(home, monkeypatch, platform):
    monkeypatch.setattr(sys, "platform", platform)
    init = home / ".nuke" / "init.py"
    init.parent.mkdir()
    before = "# studio setup\r\nimport nuke\r\nnuke.pluginAddPath('/studio/tools')\r\n"
    init.write_bytes(before.encode())

    nuke_installer.install(plugin_dir=PLUGIN)
    nuke_installer.install(plugin_dir=PLUGIN)
    text = init.read_bytes().decode()
    ours = [l for l in text.splitlines() if "reelfix" in l]
    assert ours == ['import nuke; nuke.pluginAddPath(r"{}")  {}'.format(PLUGIN, nuke_installer.MARKER)]
    assert text.startswith(before) and text.endswith("\r\n")  # CRLF kept

    moved = home / "elsewhere" / "nuke_plugin"
    nuke_installer.install(plugin_dir=PLUGIN, copy=False)
    (moved / "reelfix_nuke").mkdir(parents=True)
    nuke_installer.install(plugin_dir=moved)
    assert [l for l in init.read_text().splitlines() if "reelfix" in l] == [nuke_installer.init_line(moved)]

    nuke_installer.uninstall()
    assert init.read_bytes().decode() == before


def test_nuke_install_creates_init_py_copies_and_records_the_core(home, tmp_path):
    exe = tmp_path / "venv" / "bin" / "reelfix"
    exe.parent.mkdir(parents=True)
    exe.write_text("")
    lines = nuke_installer.install(plugin_dir=PLUGIN, copy=True, bin_path=str(exe))
    copied = _paths.data_dir() / "nuke_plugin"
    assert (copied / "reelfix_nuke" / "host.py").is_file() and (copied / "menu.py").is_file()
    assert not (copied / "tools").exists()
    init = home / ".nuke" / "init.py"
    assert init.read_text() == nuke_installer.init_line(copied) + "\n"
    assert _paths.read_config()["reelfix_bin"] == str(exe.resolve())
    assert lines[-1].startswith("restart Nuke")
    nuke_installer.uninstall()
    assert not init.exists() and not copied.exists()  # it only loaded reelfix
    assert "does not load reelfix" in nuke_installer.uninstall()[0]


def test_nuke_install_warns_when_no_core_is_found(home):
    lines = nuke_installer.install(plugin_dir=PLUGIN)
    assert any("installers/install.py core" in l for l in lines)
    with pytest.raises(_paths.InstallError, match="not the reelfix Nuke plugin"):
        nuke_installer.install(plugin_dir=home)


def test_install_cli(home, monkeypatch, capsys):
    assert install.main(["nuke", "--nuke-home", str(home / "nk")]) == 0
    assert "added a line to" in capsys.readouterr().out
    assert install.main(["nuke", "--uninstall", "--nuke-home", str(home / "nk")]) == 0
    assert install.main(["nuke", "--bin", str(home / "missing")]) == 1
    assert "no such file" in capsys.readouterr().err

    calls = []
    fake = types.ModuleType("installers.resolve")
    fake.install = lambda bin_path=None, scripts_dir=None: calls.append(("install", bin_path, scripts_dir)) or ["ok"]
    fake.uninstall = lambda scripts_dir=None: calls.append(("uninstall", scripts_dir)) or ["gone"]
    monkeypatch.setitem(sys.modules, "installers.resolve", fake)
    assert install.main(["resolve", "--bin", "/b/reelfix", "--scripts-dir", str(home / "s")]) == 0
    assert install.main(["resolve", "--uninstall", "--scripts-dir", str(home / "s")]) == 0
    assert calls == [("install", "/b/reelfix", str(home / "s")), ("uninstall", str(home / "s"))]
    assert capsys.readouterr().out.split() == ["ok", "gone"]

    monkeypatch.setitem(sys.modules, "installers.resolve", None)  # not written yet
    assert install.main(["resolve"]) == 1
    assert "installers/resolve.py" in capsys.readouterr().err


def test_install_py_runs_as_a_script(home, tmp_path):
    env = dict(os.environ, HOME=str(home))
    out = subprocess.run([sys.executable, str(ROOT / "installers" / "install.py"), "nuke", "--nuke-home", str(tmp_path / "nk")],
                         capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "nk" / "init.py").is_file()
