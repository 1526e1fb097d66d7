"""The command line: exit codes (0 ok, 1 frames failed, 2 bad input), messages, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
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


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals (Windows hosts terminate the core)")
def test_host_cancel_by_sigint_works_when_the_core_starts_with_sigint_ignored(tmp_path: Path, make_plate) -> None:
    """A host started in the background (`nohup`, `&` in a render script) hands its children
    SIGINT ignored. With `--progress json` (a host's run) the core still stops on the host's
    Cancel (SIGINT): exit 130, the frame it finished reported done, the message said. Handshakes
    on files and on the core's own output, no timing: frame 1001 goes through, 1002 waits for a
    gate file that is made only once the core has said it was interrupted."""
    import signal
    import time

    plate = make_plate(frames=range(1001, 1005), name="S001")
    gate, out = tmp_path / "gate", tmp_path / "out"
    job = {
        "input": {"path": plate, "colorspace": "lin_srgb"},
        "output": {"path": str(out / "S.####.exr")},
        "pipeline": [{"node": "slowcopy", "params": {"gate": str(gate), "free": 1001}}],
        "device": "cpu",
    }
    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps(job))
    env = {**os.environ, "REELFIX_PLUGINS": "tests.nuke.slow_node", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "reelfix", "run", str(job_file), "--progress", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # what a backgrounded host hands on
    )  # fmt: skip
    try:
        ready = lambda: (tmp_path / "gate.waiting").exists() and (out / "S.1001.exr").exists()  # noqa: E731
        while not ready():
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.01)  # polling a file: the handshake, not a timing
        proc.send_signal(signal.SIGINT)
        lines = []
        for line in iter(proc.stderr.readline, ""):  # type: ignore[union-attr]
            lines.append(line)
            if line.startswith("interrupted"):
                break
        gate.write_text("")  # the frame the core held may now finish its wait; nothing more is written
        rest_out, rest_err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = "".join(lines) + rest_err
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert proc.returncode == 130, err
    assert [(e["frame"], e["status"]) for e in events if e.get("event") == "frame"] == [(1001, "done")], err
    assert sorted(p.name for p in out.glob("S.*.exr")) == ["S.1001.exr"]
