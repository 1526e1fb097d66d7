"""Guarantee: a bad model is refused with a clear error (exit 2) and nothing is written from
it: a corrupt ONNX file, a file whose sha256 is not its card's, inputs/outputs that do not match
the card, a model that outputs NaN; a .pth holding pickled objects is refused (weights only)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from reelfix.models.card import write_card
from tests.onnx_models import make_card, make_nearest_model, make_sr_model, write_corrupt_model
from tests.reliability.helpers import ROOT, cli, write_job, write_plate


def nan_model(path: Path, scale: int = 2) -> Path:
    """x2 nearest-neighbour upscale times NaN: every output value is NaN."""
    make_nearest_model(path, scale=scale)
    model = onnx.load(str(path))
    graph = model.graph
    graph.initializer.append(numpy_helper.from_array(np.array(np.nan, np.float32), "nan"))
    graph.node[0].output[0] = "resized"
    graph.node.append(helper.make_node("Mul", ["resized", "nan"], ["output"]))
    onnx.save(model, str(path))
    return path


def install(folder: Path, name: str, kind: str) -> None:
    path = folder / f"{name}.onnx"
    if kind == "corrupt":
        write_corrupt_model(path)
        write_card(make_card(path, name=name, scale=2), folder)
    elif kind == "sha256":
        make_sr_model(path, scale=2, layers=2)
        card = make_card(path, name=name, scale=2)
        make_sr_model(path, scale=2, layers=2, seed=5)  # the file changed after its card was written
        write_card(card, folder)
    elif kind == "io":
        make_sr_model(path, scale=2, layers=2)
        write_card(make_card(path, name=name, scale=2, input_name="image"), folder)
    elif kind == "scale":
        make_sr_model(path, scale=2, layers=2)
        write_card(make_card(path, name=name, scale=4), folder)
    elif kind == "nan":
        nan_model(path)
        write_card(make_card(path, name=name, scale=2), folder)


@pytest.mark.parametrize("kind,message", [
    ("corrupt", "bad"),
    ("sha256", "sha256"),
    ("io", "image"),
    ("scale", "scale"),
    ("nan", "NaN"),
])
def test_bad_model_is_refused_and_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, message: str) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    install(folder, "bad", kind)
    monkeypatch.setenv("REELFIX_MODEL_PATH", str(folder))
    write_plate(tmp_path / "plates", frames=range(1001, 1004))
    job = write_job(tmp_path / "job.yaml", "plates/A001.####.exr", "out/A.####.exr", [{"node": "upscale", "params": {"scale": 2, "model": "bad"}}])
    code, text = cli("run", job)
    assert code in (1, 2) and "Traceback" not in text
    assert message.lower() in text.lower(), text
    assert not list(tmp_path.glob("out/A.*.exr"))


EVIL = '''
import os, pickle, sys, zipfile

class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + sys.argv[2],))

# a .pth as torch saves it (a zip holding data.pkl), whose pickle would run a command when unpickled
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("archive/data.pkl", pickle.dumps({"weight": Evil()}, protocol=2))
    z.writestr("archive/version", "3\\n")
'''


@pytest.mark.parametrize("kind", ["zip", "legacy"])
def test_a_pth_with_pickled_objects_is_refused(tmp_path: Path, kind: str) -> None:
    pytest.importorskip("torch")
    evil, pwned = tmp_path / "evil.pth", tmp_path / "pwned"
    script = EVIL if kind == "zip" else EVIL.split("# a .pth")[0] + "open(sys.argv[1], 'wb').write(pickle.dumps({'weight': Evil()}))\n"
    subprocess.run([sys.executable, "-c", script, str(evil), str(pwned)], check=True)
    code, text = cli("models", "convert", evil, "--name", "evil")
    assert code == 2 and "Traceback" not in text, text
    assert "weights" in text.lower() and "evil.pth" in text
    assert not pwned.exists()
