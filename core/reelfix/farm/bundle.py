"""What a Deadline Cloud job bundle must declare so that job attachments carry the job's files.

On Deadline Cloud the ``deadline`` client uploads a job's inputs and syncs its outputs back only
for what the bundle declares (``deadline bundle submit``; hosts.md, "Farms"): PATH job
parameters with a ``dataFlow`` and the bundle's ``asset_references.yaml``. Its format, as the
client reads it (``read_yaml_or_json_object(bundle, "asset_references")`` then
``AssetReferences.from_dict``, deadline-cloud ``job_bundle/submission.py``)::

    assetReferences:
      inputs:  {filenames: [...], directories: [...]}   # uploaded before the tasks run
      outputs: {directories: [...]}                      # synced back after each task
      referencedPaths: [...]                             # mapped, not transferred

reelfix declares the exact input frames the tasks read (the job's frames that exist, not the
whole folder), every file a node parameter names (a model and its card) as inputs, and the
output and mattes folders as outputs (the manifest and ``.reelfix-analysis`` live there). The
farm job itself is the ``JobFile`` PATH parameter (``dataFlow: IN``). On the worker the
session's path mapping rules carry the submitting machine's folders to where the files
landed, and ``reelfix run --path-mapping-rules`` applies them to every path in the job.
"""

from __future__ import annotations

import os
from typing import Any

from ..frames.sequence import SequencePattern
from .paths import model_files, node_paths
from .prepare import FarmJob

ASSET_REFERENCES = "asset_references.yaml"


def input_files(farm: FarmJob) -> list[str]:
    """Every file the tasks read: the input frames that exist, and node files (models + cards)."""
    pattern = SequencePattern.parse(farm.job.input.path)
    files = [pattern.path_for(n) for n in farm.frames] if pattern.is_sequence else [farm.job.input.path]
    for _, _, value in node_paths(farm.job):
        files += [str(p) for p in model_files(value)] if value.lower().endswith(".onnx") else [value]
    return list(dict.fromkeys(os.path.normpath(f) for f in files))


def output_folders(farm: FarmJob) -> list[str]:
    """The folders the tasks write: the output's and the mattes' (when the job writes mattes)."""
    outputs = [farm.job.output.path] + ([farm.job.output.mattes] if farm.job.output.mattes else [])
    return list(dict.fromkeys(os.path.normpath(os.path.dirname(p)) for p in outputs))


def asset_references(farm: FarmJob) -> dict[str, Any]:
    """The ``asset_references.yaml`` document for the farm job."""
    return {
        "assetReferences": {
            "inputs": {"filenames": input_files(farm), "directories": []},
            "outputs": {"directories": output_folders(farm)},
            "referencedPaths": [],
        }
    }
