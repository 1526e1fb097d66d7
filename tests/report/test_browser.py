"""The review page in headless Chromium (Debian's `chromium`; `.ci/run` installs it): it renders,
the wipe follows a drag, thumbnails and the matte toggle work, nothing goes to the console, and
every number taken from the manifest reads on the page as in the manifest."""

from __future__ import annotations

import json
from typing import Any, Iterator

import cv2
import numpy as np
import pytest

from tests.report.chromium import Browser, find_chromium
from tests.report.conftest import MISSING, Reviewed

EXE = find_chromium()
pytestmark = pytest.mark.skipif(EXE is None, reason="chromium is not installed (apt-get install chromium; .ci/run does it)")


@pytest.fixture(scope="module")
def page(reviewed: Reviewed) -> Iterator[Browser]:
    assert EXE is not None
    browser = Browser(EXE)
    try:
        browser.open((reviewed.report / "index.html").as_uri())
        yield browser
    finally:
        browser.close()


def _manifest_value(data: Any, path: str) -> Any:
    for key in path.split("."):
        data = data[int(key)] if isinstance(data, list) else data[key]
    return data


def test_page_renders_with_no_console_errors(page: Browser) -> None:
    assert page.eval("document.body.dataset.ready") == "1"
    assert page.eval("[...document.images].filter(i => !i.hidden && i.getAttribute('src') && !i.loading.includes('lazy')).every(i => i.complete && i.naturalWidth > 0)")
    shot = cv2.imdecode(np.frombuffer(page.screenshot(), np.uint8), cv2.IMREAD_COLOR)
    assert shot is not None and shot.std() > 10, "the screenshot is blank"
    box = json.loads(page.eval("JSON.stringify(document.querySelector('.wipe').getBoundingClientRect())"))
    region = shot[int(box["y"]) : int(box["y"] + min(box["height"], 400)), int(box["x"]) : int(box["x"] + box["width"])]
    assert region.size and region.std() > 10, "the wipe shows no picture"
    assert page.errors() == []


def test_the_wipe_follows_a_drag(page: Browser) -> None:
    box = json.loads(page.eval("JSON.stringify(document.querySelector('.wipe').getBoundingClientRect())"))
    page.eval("window.scrollTo(0, 0)")
    box = json.loads(page.eval("JSON.stringify(document.querySelector('.wipe').getBoundingClientRect())"))
    y = box["y"] + min(box["height"], 300) / 2
    assert page.eval("document.querySelector('.wipe').dataset.pos") == "50"
    page.mouse("mousePressed", box["x"] + box["width"] * 0.5, y)
    page.mouse("mouseMoved", box["x"] + box["width"] * 0.25, y)
    page.mouse("mouseReleased", box["x"] + box["width"] * 0.25, y, buttons=0)
    assert abs(float(page.eval("document.querySelector('.wipe').dataset.pos")) - 25.0) < 0.5
    divider = float(page.eval("document.querySelector('.divider').getBoundingClientRect().left"))
    assert abs(divider + 1 - (box["x"] + box["width"] * 0.25)) < 2  # the line is drawn where it was dropped
    page.mouse("mouseMoved", box["x"] + box["width"] * 0.9, y, buttons=0)  # not pressed: no change
    assert abs(float(page.eval("document.querySelector('.wipe').dataset.pos")) - 25.0) < 0.5
    assert page.errors() == []


def test_thumbnails_and_matte_toggle(page: Browser) -> None:
    page.eval("document.querySelectorAll('.thumb')[2].click()")
    frame = int(page.eval("document.querySelectorAll('.thumb')[2].dataset.frame"))
    assert page.eval("document.querySelector('.current').textContent") == f"frame {frame}"
    assert page.eval("document.querySelector('img.after').getAttribute('src')") == f"assets/{frame}_after.jpg"
    assert page.eval("document.querySelector('img.matte').hidden") is True
    page.eval("document.querySelector('.matte-toggle').click()")
    assert page.eval("document.querySelector('img.matte').hidden") is False
    assert page.eval("document.querySelector('img.matte').getAttribute('src')") == f"assets/{frame}_matte.png"
    page.eval("document.querySelector('.matte-toggle').click()")
    assert page.eval("document.querySelector('img.matte').hidden") is True
    assert page.errors() == []


def test_numbers_on_the_page_are_the_manifests(page: Browser, reviewed: Reviewed) -> None:
    manifest = reviewed.manifest_data()
    shown = json.loads(page.eval("JSON.stringify([...document.querySelectorAll('[data-manifest]')].map(e => [e.dataset.manifest, e.textContent]))"))
    paths = {p for p, _ in shown}
    assert {"summary.done", "summary.failed", "job_hash", "runs.-1.seconds", f"frames.{MISSING}.error"} <= paths
    for path, text in shown:
        assert text == str(_manifest_value(manifest, path)), path
    assert manifest["summary"] == {"done": 9, "failed": 1}
    done = [r["seconds"] for r in manifest["frames"].values() if r["status"] == "done"]
    derived = dict(json.loads(page.eval("JSON.stringify([...document.querySelectorAll('[data-derived]')].map(e => [e.dataset.derived, e.textContent]))")))
    assert int(derived["frame_seconds.count"]) == len(done)
    assert float(derived["frame_seconds.max"]) == round(max(done), 4)
    sha = manifest["runs"][-1]["chain"][1]["model"]["sha256"]
    assert page.eval(f"[...document.querySelectorAll('code.hash')].some(e => e.textContent === {json.dumps(sha)})")
