"""The five most likely mistakes give the messages docs/RELIABILITY.md quotes, word for word
(paths shown from /shots): a wrong pattern, a log DPX without a colour space, an unwritable
output, a missing model, the output named as the input."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from reelfix.frames.frame import Frame
from reelfix.frames.image_io import write_image
from tests.reliability.helpers import ROOT, cli, write_plate

DOC = ROOT / "docs" / "RELIABILITY.md"
MISTAKES = {
    "wrong pattern": (["upscale", "plates/A001_####.exr", "out/A001_x2.####.exr", "--scale", "2"], 2),
    "log DPX without a colour space": (["upscale", "scans/R1.#######.dpx", "out/R1.#######.exr", "--scale", "2"], 0),
    "unwritable output": (["upscale", "plates/A001.####.exr", "/proc/restored/A001.####.exr", "--scale", "2"], 2),
    "missing model": (["upscale", "plates/A001.####.exr", "out/A001_x4.####.exr", "--scale", "4", "--model", "realesrgan-x4plus"], 2),
    "output = input": (["upscale", "plates/A001.####.exr", "plates/A001.####.exr", "--scale", "2"], 2),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_the_doc_quotes_what_the_user_sees(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mistake: str) -> None:
    write_plate(tmp_path / "plates", frames=range(1001, 1003), height=8, width=8)
    for n in range(1001, 1003):  # a scan as many scanners write it: 10-bit, no transfer in the header
        write_image(str(tmp_path / "scans" / f"R1.{n:07d}.dpx"), Frame(np.full((8, 8, 3), 0.4, np.float32), ("R", "G", "B"), "", n), bit_depth="10")
    monkeypatch.chdir(tmp_path)
    args, expected = MISTAKES[mistake]
    code, out = cli(*args)
    assert code == expected, out
    lines = [line for line in out.replace(str(tmp_path), "/shots").splitlines() if line.startswith(("error:", "warning:", "  -> "))]
    assert lines
    doc = DOC.read_text()
    section = doc.split(f"\n### {mistake}\n")[1].split("\n### ")[0]
    quoted = re.sub(r"\s+", " ", section)
    for line in lines:
        assert re.sub(r"\s+", " ", line.strip()) in quoted, (mistake, line)
