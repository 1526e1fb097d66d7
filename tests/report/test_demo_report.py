"""`reelfix demo` writes its review page (slow: the whole demo; `pytest -m soak tests/report`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.report.chromium import Browser, find_chromium
from tests.report.conftest import reelfix


@pytest.mark.soak
def test_demo_writes_a_review_page(tmp_path: Path) -> None:
    r = reelfix("demo", "--out", str(tmp_path / "demo"), env={})
    assert r.returncode == 0, r.stdout + r.stderr
    page = tmp_path / "demo" / "report" / "index.html"
    assert "review page: " in r.stdout and page.is_file()
    manifest = json.loads((tmp_path / "demo" / "restored" / "plate_x2.reelfix.json").read_text())
    text = page.read_text()
    assert f'data-manifest="summary.done">{manifest["summary"]["done"]}<' in text
    exe = find_chromium()
    if exe is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run does it)")
    browser = Browser(exe)
    try:
        browser.open(page.as_uri())
        assert browser.eval("document.querySelectorAll('.thumb').length") == manifest["summary"]["done"]
        assert browser.errors() == []
    finally:
        browser.close()
