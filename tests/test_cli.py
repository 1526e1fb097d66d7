"""The command line: exit codes (0 ok, 1 frames failed, 2 bad input), messages, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml


def reelfix(*args: str, env_extra: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "reelfix", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def test_version_and_nodes() -> None:
    r = reelfix("--version")
    assert r.returncode == 0 and r.stdout.startswith("reelfix ")
    r = reelfix("nodes", "--json")
    assert r.returncode == 0
    nodes = json.loads(r.stdout)
    upscale = next(n for n in nodes if n["name"] == "upscale")
    scale = next(p for p in upscale["params"] if p["name"] == "scale")
    assert scale["help"].startswith("upscale factor")
    assert {k: v for k, v in scale.items() if k != "help"} == {"name": "scale", "type": "int", "default": 2, "choices": [2, 3, 4]}
    r = reelfix("upscale", "--help")
    assert "--scale" in r.stdout and "--highlights" in r.stdout


def test_run_job_file_and_exit_codes(tmp_path: Path, model_dir: Path, make_plate) -> None:
    make_plate()
    job = {
        "input": {"path": "plates/A001.####.exr", "frames": "1001-1005", "colorspace": "lin_srgb"},
        "output": {"path": "out/A001_x2.####.exr", "compression": "zip"},
        "pipeline": [{"node": "upscale", "params": {"scale": 2, "model": "tiny-x2"}}],
        "device": "cpu",
    }
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job))
    env = {"REELFIX_MODEL_PATH": str(model_dir)}
    r = reelfix("run", str(tmp_path / "job.yaml"), env_extra=env)
    assert r.returncode == 0, r.stderr
    assert "5 done, 0 skipped, 0 failed" in r.stdout
    assert "frame 1005 done" in r.stderr  # plain log lines when not on a terminal
    r = reelfix("run", str(tmp_path / "job.yaml"), env_extra=env)
    assert "0 done, 5 skipped" in r.stdout
    bad = tmp_path / "plates" / "A001.1002.exr"
    bad.write_bytes(bad.read_bytes()[:100])
    r = reelfix("run", str(tmp_path / "job.yaml"), "--no-resume", env_extra=env)
    assert r.returncode == 1
    assert "A001.1002.exr" in r.stdout and "4 done" in r.stdout
    assert "Traceback" not in r.stderr + r.stdout


def test_bad_job_exits_2_with_message_not_traceback(tmp_path: Path) -> None:
    (tmp_path / "job.yaml").write_text("input: {path: a.####.exr}\noutput: {path: b.####.exr}\npipeline: [{node: upscale}]\nbogus: 1\n")
    r = reelfix("run", str(tmp_path / "job.yaml"))
    assert r.returncode == 2
    assert "unknown key 'bogus'" in r.stderr and "job.yaml" in r.stderr
    assert "Traceback" not in r.stderr
    r = reelfix("upscale", str(tmp_path / "none.####.exr"), str(tmp_path / "o.####.exr"))
    assert r.returncode == 2 and "none.####.exr" in r.stderr and "Traceback" not in r.stderr


def test_upscale_command_with_builtin_default_model(tmp_path: Path, make_plate) -> None:
    plate = make_plate(frames=[1001, 1002], height=20, width=24)
    r = reelfix("upscale", plate, str(tmp_path / "o" / "A_x2.####.exr"), "--scale", "2", "--frames", "1001-1002", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    from reelfix.frames.image_io import read_header

    header = read_header(str(tmp_path / "o" / "A_x2.1001.exr"))
    assert "span-x2" in header["reelfix:models"]


def test_models_list_and_devices() -> None:
    r = reelfix("models", "list")
    assert r.returncode == 0 and "span-x2" in r.stdout and "span-x4" in r.stdout
    r = reelfix("models", "verify")
    assert r.returncode == 0 and "ok" in r.stdout
    r = reelfix("devices")
    assert r.returncode == 0 and "cpu" in r.stdout
    r = reelfix("models", "info", "nope")
    assert r.returncode == 2 and "unknown model 'nope'" in r.stderr


def test_machine_readable_progress_and_models(tmp_path: Path, model_dir: Path, make_plate) -> None:
    plate = make_plate(frames=[1, 2])
    job = {
        "input": {"path": plate, "colorspace": "lin_srgb"},
        "output": {"path": str(tmp_path / "o" / "A.####.exr")},
        "pipeline": [{"node": "upscale", "params": {"model": "tiny-x2"}}],
        "device": "cpu",
    }
    (tmp_path / "job.json").write_text(json.dumps(job))
    r = reelfix("run", str(tmp_path / "job.json"), "--progress", "json", env_extra={"REELFIX_MODEL_PATH": str(model_dir)})
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stderr.splitlines() if line.startswith("{")]
    assert [e["frame"] for e in events if e["event"] == "frame"] == [1, 2]
    summary = events[-1]
    assert summary["event"] == "summary" and summary["done"] == 2 and summary["providers"] == ["CPUExecutionProvider"]
    r = reelfix("run", str(tmp_path / "job.json"), "--progress", "openjd", env_extra={"REELFIX_MODEL_PATH": str(model_dir)})
    assert "openjd_progress: 100.0" in r.stdout
    r = reelfix("models", "list", "--json")
    names = {m["name"]: m for m in json.loads(r.stdout)}
    assert names["span-x2"]["licence"] == "Apache-2.0" and names["span-x2"]["origin"] == "built-in"
