"""The Deadline Cloud job bundle lists every file the tasks read and every folder they write.

`read_bundle_transfers` reads a bundle the way the deadline client's job-bundle code is
documented to (deadline-cloud ``job_bundle/parameters.py``: ``read_job_bundle_parameters``,
``apply_job_parameters``; ``job_bundle/submission.py``: ``AssetReferences.from_dict``): the
template is ``template.yaml``/``.json``; a PATH parameter's default must be relative and inside
the bundle, and is joined to it; PATH parameters with ``dataFlow`` IN/OUT/INOUT become input
files (``objectType: FILE``) or directories, and output directories (a FILE's folder); and
``asset_references.yaml`` adds ``assetReferences.inputs.filenames/directories`` and
``outputs.directories``, each path normalised. Written here from that description, not copied.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from reelfix.farm.openjd import write_openjd
from tests.farm.helpers import FRAMES, TemporalJob, reelfix


def _read_object(bundle: Path, stem: str) -> dict | None:
    for suffix, load in ((".yaml", yaml.safe_load), (".json", json.loads)):
        path = bundle / (stem + suffix)
        if path.is_file():
            return load(path.read_text())
    return None


def read_bundle_transfers(bundle: Path) -> dict[str, set[str]]:
    template = _read_object(bundle, "template")
    assert template is not None, "a job bundle needs template.yaml or template.json"
    assert template["specificationVersion"] == "jobtemplate-2023-09"
    refs: dict[str, set[str]] = {"input_files": set(), "input_dirs": set(), "output_dirs": set(), "referenced": set()}
    for param in template.get("parameterDefinitions", []):
        if param["type"] != "PATH":
            continue
        default = param.get("default", "")
        assert not os.path.isabs(default), f"{param['name']}: PATH defaults must be relative"
        value = os.path.realpath(os.path.join(os.path.realpath(bundle), default))
        assert os.path.commonpath([os.path.realpath(bundle), value]) == os.path.realpath(bundle), "outside the bundle"
        flow, kind = param.get("dataFlow", "NONE"), param.get("objectType")
        if flow == "NONE":
            refs["referenced"].add(value)
        if "IN" in flow:
            refs["input_files" if kind == "FILE" else "input_dirs"].add(value)
        if "OUT" in flow:
            refs["output_dirs"].add(os.path.dirname(value) if kind == "FILE" else value)
    assets = (_read_object(bundle, "asset_references") or {}).get("assetReferences", {})
    refs["input_files"] |= {os.path.normpath(p) for p in assets.get("inputs", {}).get("filenames", [])}
    refs["input_dirs"] |= {os.path.normpath(p) for p in assets.get("inputs", {}).get("directories", [])}
    refs["output_dirs"] |= {os.path.normpath(p) for p in assets.get("outputs", {}).get("directories", [])}
    refs["referenced"] |= {os.path.normpath(p) for p in assets.get("referencedPaths", [])}
    return refs


def test_the_bundle_lists_every_input_frame_model_and_output_folder(temporal_job: TemporalJob, model_dir: Path) -> None:
    Path(temporal_job.plate.replace("####", "1005")).unlink()  # a gap: that frame is not asked for
    pipeline = [{"node": "tmean", "params": {"radius": 1}}, {"node": "upscale", "params": {"scale": 2, "model": "../models/tiny-x2.onnx"}}]
    job_file = temporal_job.write_variant("bundle.yaml", "renders/A001_x2.####.exr", pipeline=pipeline)
    data = yaml.safe_load(job_file.read_text())
    data["output"]["mattes"] = "mattes/A001_m.####.exr"
    job_file.write_text(yaml.safe_dump(data))
    bundle = temporal_job.folder / "bundle"
    r = reelfix("farm", "openjd", str(job_file), "-o", str(bundle / "template.yaml"), env=temporal_job.env)
    assert r.returncode == 0, r.stderr
    assert "deadline bundle submit" in r.stdout and "asset_references.yaml" in r.stdout

    refs = read_bundle_transfers(bundle)
    frames = [n for n in FRAMES if n != 1005]
    plates = {temporal_job.plate.replace("####", str(n)) for n in frames}
    model = str(model_dir / "tiny-x2.onnx")
    assert refs["input_files"] == plates | {model, str(model_dir / "tiny-x2.card.json"), str((bundle / "template.farm-job.yaml").resolve())}
    assert refs["output_dirs"] == {str(temporal_job.folder / "renders"), str(temporal_job.folder / "mattes")}
    assert refs["input_dirs"] == set() and refs["referenced"] == set()
    assert all(Path(p).is_file() for p in refs["input_files"])


def test_a_movie_input_is_one_file(temporal_job: TemporalJob, tmp_path: Path) -> None:
    from reelfix.farm.bundle import input_files, output_folders
    from reelfix.farm.prepare import FarmJob
    from reelfix.jobs.load import job_from_data

    job = job_from_data({"input": {"path": "/shows/a/scan.mov"}, "output": {"path": "/shows/a/out/A.####.exr"},
                         "pipeline": [{"node": "upscale", "params": {"model": "span-x2"}}]}, "t")
    farm = FarmJob(tmp_path / "job.yaml", job, [1, 2, 3])
    assert input_files(farm) == [os.path.normpath("/shows/a/scan.mov")]  # a catalog model travels with reelfix
    assert output_folders(farm) == [os.path.normpath("/shows/a/out")]


@pytest.mark.skipif(not os.environ.get("REELFIX_DEADLINE_PYTHON"), reason="set REELFIX_DEADLINE_PYTHON to a Python with the deadline client")
def test_the_real_deadline_client_reads_the_same_transfers(temporal_job: TemporalJob, model_dir: Path) -> None:
    """Opt-in: the deadline client's own job-bundle code (REELFIX_DEADLINE_PYTHON: a Python where
    `pip install deadline` was run) agrees with `read_bundle_transfers`."""
    pipeline = [{"node": "tmean", "params": {"radius": 1}}, {"node": "upscale", "params": {"scale": 2, "model": "../models/tiny-x2.onnx"}}]
    job_file = temporal_job.write_variant("client.yaml", "renders/A001_x2.####.exr", pipeline=pipeline)
    bundle = temporal_job.folder / "client bundle"
    write_openjd(job_file, bundle / "template.yaml")
    done = subprocess.run([os.environ["REELFIX_DEADLINE_PYTHON"], str(Path(__file__).with_name("deadline_client_read.py")), str(bundle)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    theirs = json.loads(done.stdout)
    ours = read_bundle_transfers(bundle)
    assert set(theirs["filenames"]) == ours["input_files"] and set(theirs["directories"]) == ours["input_dirs"]
    assert set(theirs["outputs"]) == ours["output_dirs"] and set(theirs["referenced"]) == ours["referenced"]
