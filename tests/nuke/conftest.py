"""Fixtures for the Nuke plugin: the fake `nuke` module, the real core, small plates."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.nuke import fake_nuke

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "nuke_plugin"
CORE_BIN = ROOT / ".venv" / "bin" / "reelfix"
if str(PLUGIN) not in sys.path:
    sys.path.insert(0, str(PLUGIN))


@pytest.fixture
def nk(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """The fake nuke as `nuke`, reset to an empty GUI session."""
    monkeypatch.setitem(sys.modules, "nuke", fake_nuke)
    fake_nuke._reset()
    yield fake_nuke
    _join_background_threads()  # a refresh still running would write the next test's caches from this test's environment
    fake_nuke._reset()


def _join_background_threads() -> None:
    host = sys.modules.get("reelfix_nuke.host")
    for name in ("REFRESHER", "REPORTS"):
        threads = getattr(host, name, None) if host is not None else None
        while threads:
            threads.pop().join()


@pytest.fixture(scope="session")
def plugin_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One plugin cache for the session: declarations are keyed by core binary and plugin list,
    so sharing it only saves `reelfix nodes --json`/`devices` calls."""
    return tmp_path_factory.mktemp("xdg_cache")


@pytest.fixture
def user_dirs(tmp_path: Path, plugin_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME and the XDG folders in tmp: no installer config."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(plugin_cache))
    monkeypatch.delenv("REELFIX_BIN", raising=False)
    monkeypatch.delenv("REELFIX_PLUGINS", raising=False)
    monkeypatch.setenv("REELFIX_PYTHONPATH", str(ROOT))  # the core finds tests.plugins / tests.nuke node plugins
    return home


@pytest.fixture
def core_env(user_dirs: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real core through REELFIX_BIN, with the tiny `tiny-x2` model on REELFIX_MODEL_PATH."""
    if not CORE_BIN.exists():
        pytest.skip("no .venv/bin/reelfix (run `make install`)")
    monkeypatch.setenv("REELFIX_BIN", str(CORE_BIN))
    return CORE_BIN


@pytest.fixture
def plate(make_plate: Callable[..., str]) -> str:
    """plates/A001.1001-1004.exr, 24x32 RGB float with values above 1."""
    return make_plate(frames=range(1001, 1005))


def read_plate(nk, pattern: str, first: int = 1001, last: int = 1004):
    read = nk.nodes.Read(file=pattern, first=first, last=last)
    read["origfirst"].setValue(first)
    read["origlast"].setValue(last)
    return read


def finish(nk, result):
    """A GUI render (the core in a worker thread): wait for the thread, then run what it queued with
    nuke.executeInMainThread, as Nuke's event loop does. None when it failed, as render_node gives
    for problems found before the core starts."""
    if result is not None and result.thread is not None:
        assert result.wait(300), "the core's worker thread did not end"
        nk._run_main_calls()
    return None if result is not None and result.status in ("failed", "error") else result


def gui_render(nk, group):
    """The Render button's function in a GUI session, waited for."""
    import reelfix_nuke

    return finish(nk, reelfix_nuke.render_node(group))


def settle(nk):
    """Let the plugin's background refreshes (node list, devices, models) finish and apply."""
    from reelfix_nuke import host

    while host.REFRESHER:
        assert host.REFRESHER.pop().join(300) is None
    nk._run_main_calls()
