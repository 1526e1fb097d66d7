"""The Reelfix Deadline 10 plugin driven by a stand-in for Deadline's plugin API
(tests/farm/deadline_standin.py, documented there as a stand-in): path mapping of the job
file's contents, the argument list, per-OS executables, progress, and failed frames."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

import pytest

from reelfix.farm.deadline import parse_info, write_deadline
from tests.farm import deadline_standin as dl
from tests.farm.helpers import FRAMES, TemporalJob, assert_same_frames, job_with_every_path, move_to_site_b

PLUGIN = Path(__file__).resolve().parents[2] / "installers" / "deadline" / "Reelfix" / "Reelfix.py"


@pytest.fixture
def reelfix_plugin(monkeypatch: pytest.MonkeyPatch) -> Any:
    dl.install(monkeypatch)
    spec = importlib.util.spec_from_file_location("Reelfix", PLUGIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    monkeypatch.setattr(dl.RepositoryUtils, "rules", [])
    return module


def test_tasks_map_the_job_files_contents_and_render_like_one_local_run(reelfix_plugin: Any, temporal_job: TemporalJob, tmp_path: Path) -> None:
    job_file, env, reference = job_with_every_path(temporal_job)
    files = write_deadline(job_file, temporal_job.folder / "deadline", chunk=5)
    job_info, plugin_info = parse_info(files.job_infos[0].read_text()), parse_info(files.plugin_info.read_text())
    assert job_info["Plugin"] == "Reelfix" and plugin_info == {"JobFile": str(files.job_file)}

    site_b = move_to_site_b(tmp_path)  # the worker's mounts differ: every path moves
    dl.RepositoryUtils.rules = [(str(tmp_path), str(site_b))]
    plugin = reelfix_plugin.GetDeadlinePlugin()
    plugin.plugin_info, plugin.temp_root = plugin_info, tmp_path / "worker temp"
    plugin.config = {"Executable_" + reelfix_plugin.os_key(): "/nowhere/reelfix;reelfix"}  # the first does not exist
    for start, end in ((1001, 1005), (1006, 1010)):  # Deadline's tasks of 5
        code, command = dl.run_task(plugin, start, end, env)
        assert code == 0, plugin.log
        assert command[0] == shutil.which("reelfix")
        assert command[1:] == ["run", str(plugin.temp_root / "reelfix-thread0" / "reelfix-job.yaml"),
                               "--frames", f"{start}-{end}", "--progress", "openjd"]
        assert plugin.progress == 100.0 and plugin.status == f"reelfix-job.yaml: frame {end} done"
    mapped = (plugin.temp_root / "reelfix-thread0" / "reelfix-job.yaml").read_text()
    assert str(site_b) in mapped and f"{tmp_path}/" not in mapped  # input, output, mattes, model all moved
    renders_b = site_b / "shot 010" / "renders"
    assert_same_frames(str(renders_b / "A001_x2.####.exr"), reference, FRAMES)
    assert len(list((renders_b / "mattes").glob("*.exr"))) == len(FRAMES)
    assert not (temporal_job.folder / "renders").exists()
    plugin.Cleanup()


def test_a_failed_frame_is_named_with_its_reason_in_the_task_log(reelfix_plugin: Any, temporal_job: TemporalJob, tmp_path: Path) -> None:
    files = write_deadline(temporal_job.job_file, tmp_path / "dl", chunk=4)
    bad = Path(temporal_job.plate.replace("####", "1006"))
    bad.write_bytes(bad.read_bytes()[:200])  # truncated
    plugin = reelfix_plugin.GetDeadlinePlugin()
    plugin.plugin_info, plugin.temp_root = parse_info(files.plugin_info.read_text()), tmp_path / "t"
    with pytest.raises(dl.RenderFailed) as failed:
        dl.run_task(plugin, 1005, 1008, temporal_job.env)
    message = str(failed.value)
    assert message.startswith("reelfix exited with code 1: 1 frame(s) failed: frame 1006: ") and "A001.1006.exr" in message
    assert any(line.startswith("WARNING: reelfix: frame 1006 failed: ") for line in plugin.log)
    assert plugin.progress == 100.0  # the other frames of the chunk were written


def test_executables_arguments_and_refusals(reelfix_plugin: Any, tmp_path: Path) -> None:
    m = reelfix_plugin
    assert m.os_key("win32") == "Windows" and m.os_key("darwin") == "Mac" and m.os_key("linux") == "Linux"
    exe = tmp_path / "bin" / "reelfix"
    exe.parent.mkdir()
    exe.write_text("")
    assert m.choose_executable(f"/nowhere/reelfix;{exe}") == str(exe)
    assert m.choose_executable("/nowhere/reelfix\nnot-a-command-here") == ""
    args = m.build_arguments("/shows/A B/job.yaml", 1001, 1010, "cuda")
    assert args == ["run", "/shows/A B/job.yaml", "--frames", "1001-1010", "--progress", "openjd", "--device", "cuda"]
    assert m.join_arguments(args) == 'run "/shows/A B/job.yaml" --frames 1001-1010 --progress openjd --device cuda'
    assert m.join_arguments(["run", r"C:\Shows\A B\job.yaml"]) == r'run "C:\Shows\A B\job.yaml"'
    with pytest.raises(ValueError):
        m.join_arguments(["run", 'a"b.yaml'])
    with pytest.raises(ValueError):
        m.build_arguments("j.yaml", 1, 2, "gpu")

    plugin = m.GetDeadlinePlugin()
    plugin.config = {"Executable_" + m.os_key(): "/nowhere/reelfix"}
    plugin.InitializeProcessCallback()
    with pytest.raises(dl.RenderFailed, match="Configure Plugins"):
        plugin.RenderExecutableCallback()
    plugin.plugin_info, plugin.temp_root = {"JobFile": str(tmp_path / "j.yaml"), "Device": "gpu"}, tmp_path
    (tmp_path / "j.yaml").write_text("input: {}\n")
    with pytest.raises(dl.RenderFailed, match="Device 'gpu'"):
        plugin.RenderArgumentCallback()
    reader = m.OutputReader()
    assert reader.feed("error: model file not found: /m/x.onnx") == ("error", "model file not found: /m/x.onnx")
    assert reader.failure_message(2) == "reelfix exited with code 2: model file not found: /m/x.onnx"
