"""Guarantee: a job never writes over its sources. Every spelling of "the output is the input"
is refused through the real CLI before anything is written (exit 2, both paths named), and
the source files are byte-identical afterwards."""

from __future__ import annotations

import hashlib
import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from reelfix.frames.frame import Frame
from reelfix.frames.movie_io import MovieWriter
from tests.reliability.helpers import cli, cli_subprocess, digest, write_edit, write_job, write_plate

UPSCALE = [{"node": "upscale", "params": {"scale": 2, "model": "tiny-x2"}}]


@pytest.fixture
def plates(tmp_path: Path) -> Path:
    write_plate(tmp_path / "plates")
    return tmp_path / "plates"


def refused(code: int, output: str, *names: str) -> None:
    assert code == 2, output
    assert "would overwrite" in output and "Traceback" not in output
    for name in names:
        assert name in output, (name, output)


@pytest.mark.parametrize(
    "output",
    [
        "plates/A001.####.exr",  # the same pattern
        "plates/A001.%04d.exr",  # another spelling of the pattern
        "plates/A001.#.exr",  # unpadded: the same names for 4-digit frames
        "out/../plates/A001.####.exr",  # `..`
        "plates/./A001.####.exr",
        "plates/A001.1003.exr",  # one input frame as a single output file
    ],
)
def test_output_spelled_as_the_input_is_refused(tmp_path: Path, plates: Path, model_dir: Path, output: str) -> None:
    before = digest(plates)
    job = write_job(tmp_path / "job.yaml", "plates/A001.####.exr", output, UPSCALE)
    code, text = cli("run", job)
    refused(code, text, "plates/A001.####.exr", os.path.basename(output))
    assert digest(plates) == before
    assert not (tmp_path / "out").exists()


def test_output_folder_symlinked_to_the_input_folder(tmp_path: Path, plates: Path, model_dir: Path) -> None:
    before = digest(plates)
    (tmp_path / "link").symlink_to(plates, target_is_directory=True)
    job = write_job(tmp_path / "job.yaml", "plates/A001.####.exr", "link/A001.####.exr", UPSCALE)
    code, text = cli("run", job)
    refused(code, text, "plates/A001.####.exr")
    assert digest(plates) == before


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_output_frame_that_is_an_input_file_through_a_link(tmp_path: Path, plates: Path, model_dir: Path, link: str) -> None:
    before = digest(plates)
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "B.1004.exr"
    (target.symlink_to if link == "symlink" else target.hardlink_to)(plates / "A001.1002.exr")
    job = write_job(tmp_path / "job.yaml", "plates/A001.####.exr", "out/B.####.exr", UPSCALE)
    code, text = cli("run", job)
    refused(code, text, "out/B.####.exr", "A001.1002.exr", "B.1004.exr")
    assert digest(plates) == before


def test_mattes_on_the_input_are_refused(tmp_path: Path, plates: Path) -> None:
    before = digest(plates)
    job = write_job(tmp_path / "job.yaml", "plates/A001.####.exr", "out/A.####.exr", [{"node": "dustbust", "params": {}}],
                    output={"mattes": "plates/A001.####.exr"})
    code, text = cli("run", job)
    refused(code, text, "mattes", "plates/A001.####.exr")
    assert digest(plates) == before
    assert not list((tmp_path / "out").glob("A.*.exr")) if (tmp_path / "out").exists() else True


def test_mattes_on_the_output_are_refused(tmp_path: Path, plates: Path) -> None:
    job = write_job(tmp_path / "job.yaml", "plates/A001.####.exr", "out/A.####.exr", [{"node": "dustbust", "params": {}}],
                    output={"mattes": "out/A.%04d.exr"})
    code, text = cli("run", job)
    assert code == 2 and "mattes" in text and "would overwrite the output" in text


@pytest.mark.parametrize("mattes", ["mattes/A.####.exr", "out/../elsewhere/A.####.exr", "/tmp/reelfix-escape/A.####.exr"])
def test_mattes_outside_the_output_folder_are_refused(tmp_path: Path, plates: Path, mattes: str) -> None:
    job = write_job(tmp_path / "job.yaml", "plates/A001.####.exr", "out/A.####.exr", [{"node": "dustbust", "params": {}}],
                    output={"mattes": mattes})
    code, text = cli("run", job)
    assert code == 2 and "outside the output's folder" in text and "mattes" in text
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.exr"))
    assert not (tmp_path / "mattes").exists() and not (tmp_path / "elsewhere").exists()


def test_mattes_inside_the_output_folder_are_written(tmp_path: Path, plates: Path) -> None:
    job = write_job(tmp_path / "job.yaml", "plates/A001.####.exr", "out/A.####.exr", [{"node": "dustbust", "params": {}}],
                    output={"mattes": "out/mattes/A_matte.####.exr"})
    code, text = cli("run", job)
    assert code == 0, text
    assert sorted(p.name for p in (tmp_path / "out" / "mattes").glob("*.exr"))


def test_movie_output_named_as_the_input_movie(tmp_path: Path) -> None:
    movie = tmp_path / "media" / "clip.mov"
    with MovieWriter(movie, fps=Fraction(24), width=32, height=24, alpha=False, timecode="01:00:00:00") as writer:
        for i in range(4):
            writer.write(Frame(np.full((24, 32, 3), 0.1 * i, np.float32), ("R", "G", "B"), "bt709", i))
    before = hashlib.sha256(movie.read_bytes()).hexdigest()
    job = write_job(tmp_path / "job.yaml", "media/clip.mov", "media/../media/clip.mov")
    code, text = cli("run", job)
    refused(code, text, "clip.mov")
    assert hashlib.sha256(movie.read_bytes()).hexdigest() == before


def test_node_command_output_equal_to_input(tmp_path: Path, plates: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`reelfix upscale IN OUT` (a node command) in a child process, as the README shows it."""
    before = digest(plates)
    r = cli_subprocess("upscale", "plates/A001.%04d.exr", "plates/A001.####.exr", "--scale", "2", "--model", "tiny-x2",
                       "--in-colorspace", "lin_srgb", cwd=tmp_path, env={"REELFIX_MODEL_PATH": str(model_dir)})
    refused(r.returncode, r.stderr, "A001.%04d.exr", "A001.####.exr")
    assert digest(plates) == before


def test_host_adapter_job_with_cache_on_the_plates(tmp_path: Path, plates: Path) -> None:
    """Nuke and Resolve hand the core a JSON job and run `reelfix run JOB --progress json`: a cache
    folder pointed at the plates' folder is refused the same way, with no frame event emitted."""
    before = digest(plates)
    job = write_job(tmp_path / "cache" / "job.json", str(plates / "A001.####.exr"), str(plates / "A001.%04d.exr"))
    r = cli_subprocess("run", job, "--progress", "json")
    refused(r.returncode, r.stderr, "A001.%04d.exr")
    assert '"event": "frame"' not in r.stderr
    assert digest(plates) == before


def test_conform_into_a_folder_holding_the_sources(tmp_path: Path, plates: Path) -> None:
    """`reelfix conform`: when the restored media of a clip would land on its source (here the
    conform's media folder reaches the plates through a symlink) nothing runs, nothing is written."""
    import yaml

    from reelfix.conform.media import media_of

    ref = write_edit(tmp_path / "edit.otio", plates, frames=5, start=1, duration=3)
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({"pipeline": [{"node": "deflicker"}], "colorspace": "lin_srgb", "device": "cpu"}))
    out = tmp_path / "restored"
    (out / "media").mkdir(parents=True)
    (out / "media" / media_of(ref, 24).folder_name).symlink_to(plates, target_is_directory=True)
    before = digest(plates)
    code, text = cli("conform", tmp_path / "edit.otio", "-p", tmp_path / "p.yaml", "-o", out)
    refused(code, text, "A001.####.exr")
    assert digest(plates) == before
    assert not (out / "jobs").exists() and not list(out.glob("*.otio"))
