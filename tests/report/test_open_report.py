""""Open report" in the Nuke and Resolve adapters: the real core writes the page of a run's
manifest beside it and the browser is asked to open it (the opener is recorded, not launched)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from tests.report.conftest import Reviewed

ROOT = Path(__file__).resolve().parents[2]
CORE_EXE = Path(sys.executable).parent / "reelfix"


@pytest.mark.parametrize(("folder", "package"), [("nuke_plugin", "reelfix_nuke"), ("resolve_plugin", "reelfix_resolve")])
def test_open_report_writes_and_opens_the_page(reviewed: Reviewed, folder: str, package: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if not CORE_EXE.is_file():
        pytest.skip(f"no reelfix executable beside {sys.executable}")
    monkeypatch.syspath_prepend(str(ROOT / folder))
    module = importlib.import_module(f"{package}.report")
    for key, value in reviewed.env.items():
        monkeypatch.setenv(key, value)
    opened: list[str] = []
    page = module.open_report(str(reviewed.manifest), str(CORE_EXE), opener=opened.append)
    assert Path(page) == reviewed.manifest.parent / "review" / "index.html"
    assert opened == [Path(page).as_uri()]
    assert "reelfix review" in Path(page).read_text()
    with pytest.raises(Exception, match="no finished run to report on"):
        module.open_report(str(reviewed.root / "nothing.reelfix.json"), str(CORE_EXE), opener=opened.append)
