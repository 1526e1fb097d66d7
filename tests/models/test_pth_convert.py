"""`reelfix models convert WEIGHTS`: PyTorch weights through spandrel to a checked, carded ONNX model.

The weights are real spandrel networks with random weights made here (small, to stay fast);
the converted models run through the real CLI on real EXR plates and are compared with torch.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

from reelfix.cli import app
from reelfix.frames.frame import Frame
from reelfix.frames.image_io import read_image, write_image
from reelfix.models.card import load_card, sha256_of
from reelfix.models.catalog import user_model_dir
from reelfix.models.spandrel_compat import import_spandrel

runner = CliRunner()
import_spandrel()  # spandrel's architecture classes need the torchvision stand-in on this torch build
from spandrel.architectures.Compact import Compact  # noqa: E402
from spandrel.architectures.DnCNN import DnCNN  # noqa: E402
from spandrel.architectures.ESRGAN import ESRGAN  # noqa: E402


def make_compact(path: Path, scale: int = 2, seed: int = 0) -> torch.nn.Module:
    """A Real-ESRGAN Compact (SRVGGNetCompact) network with random weights, saved as
    {'params': state_dict} the way Real-ESRGAN releases its .pth files."""
    torch.manual_seed(seed)
    net = Compact(num_feat=8, num_conv=2, upscale=scale).eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"params": net.state_dict()}, path)
    return net


def make_rrdb(path: Path, scale: int = 4, seed: int = 1) -> torch.nn.Module:
    """An ESRGAN/RRDBNet with one block of 8 features, saved as .safetensors (or a
    {'params_ema': ...} .pth by suffix)."""
    torch.manual_seed(seed)
    net = ESRGAN(num_filters=8, num_blocks=1, scale=scale).eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    else:
        torch.save({"params_ema": net.state_dict()}, path)
    return net


def srgb_plate(folder: Path, height: int, width: int) -> tuple[str, np.ndarray]:
    """One srgb_tx EXR frame, values inside 0..1: the model sees these pixels unchanged."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    pix = np.stack([0.1 + 0.6 * x / width, 0.1 + 0.6 * y / height, 0.4 + 0.3 * np.sin(x / 2 + y / 3)], axis=2)
    pix = np.ascontiguousarray(pix, dtype=np.float32)
    write_image(str(folder / "plate.0001.exr"), Frame(pix, ("R", "G", "B"), "srgb_tx", 1), bit_depth="float")
    return str(folder / "plate.####.exr"), pix


def upscale_with(model: str, plate: str, out: Path, scale: int) -> np.ndarray:
    r = runner.invoke(app, [
        "upscale", plate, str(out / "up.####.exr"), "--model", model, "--scale", str(scale), "--frames", "1",
        "--in-colorspace", "srgb_tx", "--highlights", "clip", "--bit-depth", "float",
    ])  # fmt: skip
    assert r.exit_code == 0, r.output
    return read_image(str(out / "up.0001.exr")).pixels


def torch_result(net: torch.nn.Module, pix: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net(torch.from_numpy(pix.transpose(2, 0, 1).copy())[None])[0].numpy().transpose(1, 2, 0)


def test_compact_pth_converts_and_upscales_an_odd_sized_plate(tmp_path: Path) -> None:
    src = tmp_path / "4x-tiny_compact.pth"
    net = make_compact(src)
    r = runner.invoke(app, ["models", "convert", str(src), "--name", "tiny-compact", "--licence", "MIT"])
    assert r.exit_code == 0, r.output
    assert "RealESRGAN Compact" in r.output and "23x37 random input: max |ONNX - torch|" in r.output
    folder = user_model_dir()
    card = load_card(folder / "tiny-compact.card.json")
    assert (card.architecture, card.scale, card.channels, card.licence, card.multiple_of) == ("RealESRGAN Compact", 2, 3, "MIT", 1)
    assert card.source == f"4x-tiny_compact.pth sha256:{sha256_of(src)}"
    assert card.receptive_field >= 4 and 64 <= card.bytes_per_pixel != 2048 and isinstance(card.fp16_safe, bool)
    assert sorted(p.name for p in folder.iterdir()) == ["tiny-compact.card.json", "tiny-compact.onnx"]  # one file: no .onnx.data
    model = onnx.load(str(folder / "tiny-compact.onnx"), load_external_data=False)
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert isinstance(dims[2], str) and isinstance(dims[3], str)  # dynamic height and width

    plate, pix = srgb_plate(tmp_path / "plates", 21, 27)
    out = upscale_with("tiny-compact", plate, tmp_path / "out", 2)
    assert out.shape == (42, 54, 3)
    assert np.abs(out - torch_result(net, pix)).max() < 1e-4


def test_rrdb_safetensors_converts_with_output_copy_and_matches_torch(tmp_path: Path) -> None:
    net = make_rrdb(tmp_path / "rrdb.safetensors")
    r = runner.invoke(app, ["models", "convert", str(tmp_path / "rrdb.safetensors"), "-o", str(tmp_path / "export" / "rrdb-x4.onnx")])
    assert r.exit_code == 0, r.output
    card = load_card(user_model_dir() / "rrdb-x4.card.json")
    assert (card.architecture, card.scale, card.licence) == ("ESRGAN", 4, "licence unknown")
    assert "use --licence" in card.notes
    assert (tmp_path / "export" / "rrdb-x4.onnx").read_bytes() == (user_model_dir() / "rrdb-x4.onnx").read_bytes()
    assert load_card(tmp_path / "export" / "rrdb-x4.card.json") == card

    plate, pix = srgb_plate(tmp_path / "plates", 13, 19)
    out = upscale_with(str(tmp_path / "export" / "rrdb-x4.onnx"), plate, tmp_path / "out", 4)  # by path, card beside it
    assert out.shape == (52, 76, 3)
    assert np.abs(out - torch_result(net, pix)).max() < 1e-4


def test_corrupt_weights_exit_2_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"PK\x03\x04 this is not a zip archive" * 8)
    r = runner.invoke(app, ["models", "convert", str(bad), "--name", "b"])
    assert r.exit_code == 2 and "broken.pth" in r.output and "corrupt" in r.output and "Traceback" not in r.output
    bad_st = tmp_path / "broken.safetensors"
    bad_st.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    r = runner.invoke(app, ["models", "convert", str(bad_st), "--name", "b"])
    assert r.exit_code == 2 and "broken.safetensors" in r.output and "Traceback" not in r.output
    assert not (user_model_dir() / "b.card.json").exists()


class _Marker:
    """Unpickling this creates the marker file: what a malicious .pth would do."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.path, "w"))


def test_pickled_object_is_refused_and_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"params": {"body.0.weight": torch.zeros(1)}, "hook": _Marker(marker)}, evil)
    r = runner.invoke(app, ["models", "convert", str(evil), "--name", "evil"])
    assert r.exit_code == 2 and "evil.pth" in r.output and "pickled Python object" in r.output, r.output
    assert not marker.exists()
    # the object is real: an unrestricted unpickler would have created the marker
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(_Marker(control))).close()
    assert control.exists()


def test_undetectable_and_non_sr_models_are_refused_with_what_was_found(tmp_path: Path) -> None:
    odd = tmp_path / "mystery.pth"
    torch.save({"encoder.stem.weight": torch.zeros(4, 3, 3, 3), "encoder.stem.bias": torch.zeros(4), "head.fc.weight": torch.zeros(2, 4)}, odd)
    r = runner.invoke(app, ["models", "convert", str(odd)])
    assert r.exit_code == 2 and "mystery.pth" in r.output and "does not recognise" in r.output
    assert "encoder.stem.weight" in r.output and "3 entries" in r.output

    dncnn = tmp_path / "dncnn.pth"
    torch.save(DnCNN(in_nc=3, out_nc=3, nc=8, nb=8, act_mode="R").state_dict(), dncnn)
    r = runner.invoke(app, ["models", "convert", str(dncnn)])
    assert r.exit_code == 2 and "dncnn.pth" in r.output and "Restoration model" in r.output and "super-resolution" in r.output

    empty = tmp_path / "notes.pth"
    torch.save({"epoch": 3, "lr": 0.1}, empty)
    r = runner.invoke(app, ["models", "convert", str(empty)])
    assert r.exit_code == 2 and "no tensors" in r.output and "epoch" in r.output


def test_without_torch_exit_2_and_say_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "m.pth"
    make_compact(src)
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    r = runner.invoke(app, ["models", "convert", str(src)])
    assert r.exit_code == 2 and "pip install 'reelfix[convert]'" in r.output


_BROKEN_TORCHVISION = """
raise RuntimeError("operator torchvision::nms does not exist")
"""

_PROBE = """
import sys
from reelfix.errors import ModelError
from reelfix.models.spandrel_compat import import_onnx2torch, import_spandrel, torchvision_problem
spandrel = import_spandrel()
import_onnx2torch()
print("problem:", torchvision_problem())
print("left in sys.modules:", "torchvision" in sys.modules)
import spandrel.architectures.RestoreFormer as rf  # imported torchvision's normalize at import time
try:
    rf.tv_normalize(None, None, None)
except ModelError as exc:
    print("call:", exc.message.split(":")[0])
"""


def test_spandrel_imports_beside_a_broken_torchvision(tmp_path: Path) -> None:
    """A torchvision that is installed but fails on import (PyPI's wheel beside this torch build)."""
    (tmp_path / "torchvision").mkdir()
    (tmp_path / "torchvision" / "__init__.py").write_text(_BROKEN_TORCHVISION)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(__file__).resolve().parents[2] / "core")])}
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "problem: RuntimeError: operator torchvision::nms does not exist" in out.stdout
    assert "left in sys.modules: False" in out.stdout
    assert "call: torchvision.transforms.functional.normalize is not available" in out.stdout


def test_export_falls_back_when_the_dynamo_child_fails(tmp_path: Path) -> None:
    """torch's dynamo exporter runs in a child process (it segfaults on SPAN with torch 2.13);
    when the child fails, the TorchScript-based exporter runs here and says why."""
    from reelfix.models.torch_export import export_onnx

    net = Compact(num_feat=4, num_conv=1, upscale=2).eval()
    out = tmp_path / "fallback.onnx"
    used = export_onnx(tmp_path / "gone.pth", net, 3, 0, 1, out)  # the child cannot read the weights: it fails
    assert used.startswith("torch.onnx TorchScript exporter (the dynamo exporter: model file not found")
    from reelfix.models.ncnn_verify import ort_session

    x = np.random.default_rng(0).random((1, 3, 19, 23), dtype=np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    assert np.abs(ort_session(out).run(None, {"input": x})[0] - expected).max() < 1e-5

