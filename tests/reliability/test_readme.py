"""Guarantee: every command the README shows works after `make install` (base + farm extra):
exit 0, or exit 2 with one line naming the extra to install - never a traceback.

The README's code blocks are parsed; each `reelfix ...` line must have a concrete form below
(a new README command fails this test until it gets one). The commands run in one child
process where the packages only the convert/train/dev extras bring cannot be imported
(tests/reliability/no_extras.py), in a folder holding what the README's examples name."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.onnx_models import make_sr_model
from tests.reliability.helpers import ROOT, write_edit, write_plate

NEEDS_CONVERT = "install reelfix's 'convert' extra"
# README line (comment and [optional] brackets kept as written) -> the commands that stand for it
CONCRETE: dict[str, list[list[str]]] = {
    "reelfix --version": [["--version"]],
    "reelfix upscale plates/A001.####.exr out/A001_x2.####.exr --scale 2 --frames 1001-1100": [
        ["upscale", "plates/A001.####.exr", "out/A001_x2.####.exr", "--scale", "2", "--frames", "1001-1100"]],
    "reelfix run job.yaml [--frames 1021-1030] [--no-resume] [--fail-fast] [--device cpu]": [
        ["run", "job.yaml", "--frames", "1021-1030", "--no-resume", "--fail-fast", "--device", "cpu"], ["run", "job.yaml", "--frames", "1021-1022"]],
    "reelfix run job.yaml --report review/": [["run", "job.yaml", "--frames", "1021-1022", "--report", "review/"]],
    "reelfix report out/A001.reelfix.json -o review/": [["report", "out/A001.reelfix.json", "-o", "review/"]],
    "reelfix nodes": [["nodes"]],
    "reelfix models list|info NAME|verify": [["models", "list"], ["models", "info", "span-x2"], ["models", "verify"]],
    "reelfix models install realesrgan-x4plus": [["models", "install", "realesrgan-x4plus"]],
    "reelfix models convert mymodel.pth [--name N]": [["models", "convert", "mymodel.pth", "--name", "N"]],
    "reelfix models convert other.onnx --name foo": [["models", "convert", "other.onnx", "--name", "foo"]],
    "reelfix models variant span-x2 --int8|--fp16": [],  # slow (18 s and more): test_slow_readme_commands (soak)
    "reelfix models export-torchscript span-x2 -o span_x2.pt": [["models", "export-torchscript", "span-x2", "-o", "span_x2.pt"]],
    "reelfix devices": [["devices"]],
    "reelfix colorspaces": [["colorspaces"]],
    "reelfix demo": [],  # 25 s: test_slow_readme_commands (soak)
    "reelfix farm openjd job.yaml --chunk 10 -o farm/job.template.yaml": [["farm", "openjd", "job.yaml", "--chunk", "10", "-o", "farm/job.template.yaml"]],
    "reelfix farm deadline job.yaml --chunk 10 -o deadline/": [["farm", "deadline", "job.yaml", "--chunk", "10", "-o", "deadline/"]],
    "reelfix conform EDIT.otio -p pipeline.yaml -o restored/ [--handles 8]": [["conform", "EDIT.otio", "-p", "pipeline.yaml", "-o", "restored/", "--handles", "8"]],
}
SLOW = [["models", "variant", "span-x2", "--fp16"], ["models", "variant", "span-x2", "--int8"], ["demo", "--out", "demo_out"]]
# a missing extra is the expected outcome of these after `make install`
EXIT_2 = {("models", "install"), ("models", "convert", "mymodel.pth"), ("models", "export-torchscript")}


def readme_commands() -> list[str]:
    """Every `reelfix ...` line in the README's code blocks, without its trailing comment."""
    text = (ROOT / "README.md").read_text()
    lines = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = re.split(r"\s#\s", line)[0].strip()
            line = re.sub(r"^\.venv/bin/", "", line)
            if line.startswith("reelfix "):
                lines.append(line)
    return lines


def workspace(folder: Path) -> Path:
    """What the README's examples name: plates, the README's own job file, an edit, models."""
    write_plate(folder / "plates", frames=range(1001, 1101), height=12, width=16)
    readme = (ROOT / "README.md").read_text()
    job_text = re.search(r"```yaml\n(input:.*?)```", readme, re.S).group(1)  # type: ignore[union-attr]
    job = yaml.safe_load(job_text)
    assert job["input"]["path"] == "plates/A001.####.exr"
    (folder / "job.yaml").write_text(job_text)
    make_sr_model(folder / "other.onnx", scale=2, layers=2)
    (folder / "mymodel.pth").write_bytes(b"PK\x03\x04" + bytes(200))
    write_edit(folder / "EDIT.otio", folder / "plates", frames=100, start=10, duration=4)
    (folder / "pipeline.yaml").write_text(yaml.safe_dump({"pipeline": [{"node": "upscale", "params": {"scale": 2}}], "colorspace": "lin_srgb"}))
    return folder


def run_without_extras(folder: Path, commands: list[list[str]], timeout: float = 300) -> list[dict[str, object]]:
    env = {"PYTHONPATH": str(ROOT), "REELFIX_HOME": str(folder / "home"), "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"}
    r = subprocess.run([sys.executable, str(ROOT / "tests" / "reliability" / "no_extras.py"), json.dumps(commands)],
                       capture_output=True, text=True, cwd=folder, env=env, timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


def check(result: dict[str, object]) -> None:
    args, code, output = result["args"], result["code"], str(result["output"])
    assert not result["traceback"] and "Traceback" not in output, (args, result["traceback"] or output)
    if any(tuple(args[: len(k)]) == k for k in EXIT_2):  # type: ignore[index]
        assert code == 2 and "convert" in output and output.count("\n") <= 2, (args, output)
        assert "ModuleNotFoundError" not in output
    else:
        assert code == 0, (args, output)


def test_every_readme_command_has_a_concrete_form() -> None:
    found = readme_commands()
    assert len(found) >= 15
    assert [c for c in found if c not in CONCRETE] == []


def test_readme_commands_after_a_plain_install(tmp_path: Path) -> None:
    folder = workspace(tmp_path)
    commands = [c for line in readme_commands() for c in CONCRETE[line]]
    results = run_without_extras(folder, commands)
    assert len(results) == len(commands)
    for result in results:
        check(result)
    by = {" ".join(r["args"][:2]): str(r["output"]) for r in results}  # type: ignore[index]
    assert NEEDS_CONVERT in by["models install"] and "ncnn" in by["models install"]
    assert len(list((folder / "out").glob("A001_x2.*.exr"))) == 100
    assert len(list((folder / "out").glob("A001.*.exr"))) == 10  # the README's job file, frames 1021-1030
    assert list((folder / "restored").glob("*.restored.otio"))


@pytest.mark.soak
def test_slow_readme_commands(tmp_path: Path) -> None:
    folder = workspace(tmp_path)
    for result in run_without_extras(folder, SLOW, timeout=1800):
        check(result)
