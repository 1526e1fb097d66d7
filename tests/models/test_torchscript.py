"""`reelfix models export-torchscript`: TorchScript files for NukeX's CatFileCreator -> Inference route.

Each exported file is loaded back with torch.jit.load (as Nuke's libtorch does) and compared
with ONNX Runtime running the same model on real photo crops of odd sizes.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import data
from typer.testing import CliRunner

from reelfix.cli import app
from reelfix.models.catalog import find_model, user_model_dir
from reelfix.models.ncnn_verify import ort_session
from reelfix.models.pth_convert import convert_pth
from tests.models.test_pth_convert import make_compact

runner = CliRunner()
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")  # deprecated in torch 2.x; NukeX reads it


def odd_photo_crops() -> dict[str, np.ndarray]:
    """Real photo crops (CHW float32 0..1) at odd sizes the export's own check does not use."""
    crops = {"chelsea 41x59": data.chelsea()[60:101, 150:209], "rocket 27x33": data.rocket()[200:227, 300:333]}
    return {k: np.ascontiguousarray(v.transpose(2, 0, 1).astype(np.float32) / 255.0) for k, v in crops.items()}


def assert_matches_onnx(pt: Path, onnx_path: Path, scale: int) -> None:
    scripted = torch.jit.load(str(pt), map_location="cpu")
    session = ort_session(onnx_path)
    for label, image in odd_photo_crops().items():
        with torch.no_grad(), torch.jit.optimized_execution(False):  # one plain run, no profiling passes
            got = scripted(torch.from_numpy(image)[None])
        assert isinstance(got, torch.Tensor) and got.dtype == torch.float32, label  # one tensor out
        expected = session.run(None, {session.get_inputs()[0].name: image[None]})[0]
        assert got.shape == (1, 3, image.shape[1] * scale, image.shape[2] * scale), label
        assert np.abs(got.numpy() - expected).max() < 1e-4, label


def test_builtin_span_x2_exports_for_nuke(tmp_path: Path) -> None:
    pt = tmp_path / "nuke" / "span_x2.pt"
    r = runner.invoke(app, ["models", "export-torchscript", "span-x2", "-o", str(pt)])
    assert r.exit_code == 0, r.output
    assert "Output Scale (outputScale): 2" in r.output and "rgba.red, rgba.green, rgba.blue" in r.output and "OCIOColorSpace" in r.output
    assert "(createCatFile)" in r.output and "(torchScriptFile)" in r.output
    assert "Nuke 13.x (torch 1.6): will not load (aten::_convolution (13 arguments) needs torch 1.7)" in r.output
    assert "Nuke 15.1 and later (torch 2.1): loads" in r.output
    with zipfile.ZipFile(pt) as archive:  # torch names the inner folder after the file; CatFileCreator sees it
        assert {n.split("/")[0] for n in archive.namelist()} == {"span_x2"}
    assert sorted(p.name for p in pt.parent.iterdir()) == ["span_x2.pt"]  # no temporary folder left
    assert_matches_onnx(pt, find_model("span-x2").onnx_path, 2)
    scripted = torch.jit.load(str(pt))
    image = torch.from_numpy(odd_photo_crops()["rocket 27x33"])[None]
    hot = image.clone()
    hot[:, :, :5, :5] = 7.0  # a scene-linear highlight: forward clamps to the card's input range first
    clipped = image.clone()
    clipped[:, :, :5, :5] = 1.0
    with torch.no_grad(), torch.jit.optimized_execution(False):
        assert torch.equal(scripted(hot), scripted(clipped))
        assert scripted.clamp_input == 1 and (scripted.input_min, scripted.input_max) == (0.0, 1.0)
        scripted.clamp_input = 0  # the attribute a CatFileCreator custom knob named clamp_input sets
        assert not torch.equal(scripted(hot), scripted(clipped))
    r = runner.invoke(app, ["models", "export-torchscript", "span-x2", "-o", str(pt)])
    assert r.exit_code == 2 and "already exists" in r.output


def test_converted_pth_model_exports_for_nuke(tmp_path: Path) -> None:
    src = tmp_path / "compact.pth"
    make_compact(src, scale=2, seed=3)
    convert_pth(src, "compact-x2", memory_probe_size=64)
    onnx_path = user_model_dir() / "compact-x2.onnx"
    from_weights, from_catalog = tmp_path / "from_weights.pt", tmp_path / "from_catalog.pt"
    r = runner.invoke(app, ["models", "export-torchscript", str(src), "-o", str(from_weights)])
    assert r.exit_code == 0, r.output
    assert "via spandrel" in r.output and "Model Id (modelId): compact" in r.output
    r = runner.invoke(app, ["models", "export-torchscript", "compact-x2", "-o", str(from_catalog)])
    assert r.exit_code == 0, r.output
    assert "via onnx2torch" in r.output
    assert_matches_onnx(from_weights, onnx_path, 2)
    assert_matches_onnx(from_catalog, onnx_path, 2)


def test_export_errors_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r = runner.invoke(app, ["models", "export-torchscript", "no-such-model", "-o", str(tmp_path / "x.pt")])
    assert r.exit_code == 2 and "unknown model 'no-such-model'" in r.output
    r = runner.invoke(app, ["models", "export-torchscript", "span-x2", "-o", str(tmp_path / "x.cat")])
    assert r.exit_code == 2 and ".pt suffix" in r.output
    monkeypatch.setitem(sys.modules, "torch", None)
    r = runner.invoke(app, ["models", "export-torchscript", "span-x2", "-o", str(tmp_path / "x.pt")])
    assert r.exit_code == 2 and "pip install 'reelfix[convert]'" in r.output
    assert not (tmp_path / "x.pt").exists()


class _BakesDevice(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.zeros(1, device=x.device)  # a trace turns x.device into a constant


class _Pads(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 12, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.pixel_shuffle(self.conv(torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")), 2)


def test_traced_graphs_are_checked_for_devices_and_operators_older_nukes_lack() -> None:
    from reelfix.errors import ModelError
    from reelfix.models.torchscript import _nuke_module, check_devices
    from reelfix.models.torchscript_compat import device_constants, nuke_support

    example = torch.rand(1, 3, 8, 8)
    baked = _nuke_module(torch.jit.trace(_BakesDevice().eval(), example, check_trace=False), 0.0, 1.0)
    assert device_constants(baked) == ["cpu"]
    with pytest.raises(ModelError, match="device constants \\(cpu\\)"):
        check_devices(baked, "m")

    padded = _nuke_module(torch.jit.trace(_Pads().eval(), example, check_trace=False), 0.0, 1.0)
    check_devices(padded, "m")  # no device in the graph
    support = {s.nuke: s for s in nuke_support(padded)}
    assert support["13.x"].loads == "no" and "aten::_convolution (13 arguments) needs torch 1.7" in support["13.x"].reasons
    assert support["14.x, 15.0"].loads == "no" and support["14.x, 15.0"].reasons == ["aten::pad needs torch 1.13"]
    assert support["15.1 and later"].loads == "yes"
    no_pad = _nuke_module(torch.jit.trace(torch.nn.Sequential(torch.nn.Conv2d(3, 12, 3, padding=1), torch.nn.PixelShuffle(2)).eval(),
                                          example, check_trace=False), 0.0, 1.0)
    assert {s.nuke: s.loads for s in nuke_support(no_pad)} == {"13.x": "no", "14.x, 15.0": "untested", "15.1 and later": "yes"}
