"""What goes into every output frame's header: who made it, from what, how.

Header attributes (EXR keeps them all; other formats keep what OpenImageIO can carry):
  reelfix:version    reelfix version
  reelfix:job_hash   hash of everything that decides the pixels (see `job_hash`)
  reelfix:pipeline   JSON: the node chain with every parameter (defaults filled in)
  reelfix:models     JSON: model name -> sha256
  reelfix:provider   the ONNX Runtime execution provider(s) that really ran
  reelfix:source     input file and frame number
  reelfix:colorspace input -> output colour spaces
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .. import __version__
from .spec import Job

PREFIX = "reelfix:"


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def job_hash(job: Job, chain: list[dict[str, Any]], in_space: str, out_space: str) -> str:
    """A hash of what decides the output pixels: version, node chain (params, model sha256),
    colour spaces, output format options and the input's file name pattern.

    Not included on purpose: frame range (chunks of one job share it), device/provider
    (recorded, not hashed, so a rerun elsewhere resumes), absolute folders, of the input and
    output and of files named by node parameters (farm path mapping).
    """
    decisive = {
        "version": __version__,
        "chain": [{k: _without_folders(v) if k == "params" else v for k, v in node.items() if k != "provider"} for node in chain],
        "in": [Path(job.input.path).name, in_space],
        "out": [Path(job.output.path).suffix.lower(), out_space, job.output.compression, job.output.bit_depth],
    }
    return hashlib.sha256(canonical_json(decisive).encode()).hexdigest()[:32]


def _without_folders(params: Any) -> Any:
    """Node parameters with a file named by path (a model) reduced to its file name: the file's
    content is hashed as the model's sha256, and its folder changes under farm path mapping."""
    if not isinstance(params, dict):
        return params
    return {k: v.replace("\\", "/").rsplit("/", 1)[-1] if isinstance(v, str) and ("/" in v or "\\" in v) else v for k, v in params.items()}


def frame_attributes(
    *, job_hash_value: str, chain: list[dict[str, Any]], source: str, number: int, in_space: str, out_space: str
) -> dict[str, str]:
    models = {n["model"]["name"]: n["model"]["sha256"] for n in chain if isinstance(n.get("model"), dict)}
    providers = sorted({str(n["provider"]) for n in chain if n.get("provider")})
    return {
        PREFIX + "version": __version__,
        PREFIX + "job_hash": job_hash_value,
        PREFIX + "pipeline": canonical_json([{"node": n["node"], "params": n["params"]} for n in chain]),
        PREFIX + "models": canonical_json(models),
        PREFIX + "provider": ",".join(providers) or "none",
        PREFIX + "source": f"{source}#{number}",
        PREFIX + "colorspace": f"{in_space} -> {out_space}",
    }
