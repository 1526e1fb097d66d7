"""Job building, cache keys and colour-space naming (no Nuke here).

The plugin hands the core a plain job (the same JSON the CLI and the farm run):

    {"input": {"path": ".../input/in.####.exr", "frames": "1001-1100", "colorspace": WORKING},
     "output": {"path": ".../output/upscale.####.exr", "compression": "zip", "bit_depth": "half"},
     "pipeline": [{"node": "upscale", "params": {...}}], "device": "auto", "max_memory": "2GB"}

A render is reused when its key matches: a hash of every job setting except paths, plus a
digest of the rendered input frames (pixels and the structural EXR header; volatile header
entries such as capture dates or node hashes are ignored).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from typing import Any, Dict, Iterable, List, Optional, Sequence

from .core import PluginError

CACHE_VERSION = 1  # bump when the plugin changes how it renders, to invalidate old caches
DONE_MARKER = "reelfix_done.json"

def working_space(color_management: str, ocio_config: str, working_space_lut: str) -> str:
    """The colour space the core must read and write so pixels come back unchanged.

    The plugin renders with `raw` on, so the files hold Nuke's working space as is; the
    core converts into its model's space and exactly back into this one. Nuke's own colour
    management (and the nuke-default config) call linear-sRGB "linear"; OCIO configs' names
    ("ACES - ACEScg", "ACEScg", "scene_linear") are names or aliases in the core's config."""
    space = (working_space_lut or "").strip()
    nuke_default = color_management == "Nuke" or ocio_config in ("nuke-default", "")
    if not space or space == "default":
        return "lin_srgb" if nuke_default else "scene_linear"
    if nuke_default and space.lower() == "linear":
        return "lin_srgb"
    return space


def frame_path(pattern: str, number: int) -> str:
    """`name.####.exr` / `name.%04d.exr` -> the file of one frame."""
    m = re.search(r"%0?(\d*)d", pattern)
    if m:
        width = int(m.group(1) or 1)
        return pattern[: m.start()] + "{:0{}d}".format(number, width) + pattern[m.end():]
    m = re.search(r"#+", pattern)
    if m:
        width = len(m.group(0))
        return pattern[: m.start()] + "{:0{}d}".format(number, width) + pattern[m.end():]
    return pattern


def split_names(text: str) -> List[str]:
    """'dustbust, upscale' / 'dustbust > upscale' / one per line -> ['dustbust', 'upscale']."""
    return [t for t in re.split(r"[\s,;>|]+", text or "") if t]


def load_pipeline_file(path: str) -> List[Dict[str, Any]]:
    """A pipeline file: JSON, either a list of {"node", "params"} or a job with a "pipeline"."""
    if not path.lower().endswith(".json"):
        raise PluginError("pipeline file {}: use a .json file (a list of {{\"node\": ..., \"params\": {{...}}}} or a reelfix job)".format(path))
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise PluginError("cannot read pipeline file {}: {}".format(path, exc)) from None
    steps = data.get("pipeline") if isinstance(data, dict) else data
    if not isinstance(steps, list) or not steps or not all(isinstance(s, dict) and isinstance(s.get("node"), str) for s in steps):
        raise PluginError("pipeline file {}: expected a list of {{\"node\": name, \"params\": {{...}}}}".format(path))
    return [{"node": s["node"], "params": dict(s.get("params") or {})} for s in steps]


def build_job(
    input_pattern: str,
    output_pattern: str,
    first: int,
    last: int,
    colorspace: str,
    pipeline: Sequence[Dict[str, Any]],
    device: str = "auto",
    bit_depth: str = "half",
    max_memory: str = "2GB",
) -> Dict[str, Any]:
    if last < first:
        raise PluginError("frame range {}-{} is empty: last must be >= first".format(first, last))
    if not pipeline:
        raise PluginError("nothing to run: the pipeline has no nodes")
    return {
        "input": {"path": input_pattern, "frames": "{}-{}".format(first, last), "colorspace": colorspace},
        "output": {"path": output_pattern, "compression": "zip", "bit_depth": bit_depth},
        "pipeline": [{"node": s["node"], "params": dict(s.get("params") or {})} for s in pipeline],
        "device": device,
        "max_memory": max_memory or "2GB",
    }


def cache_key(job: Dict[str, Any], input_digest: str) -> str:
    """12 hex digits naming a render: every setting of the job except its paths, + the input."""
    settings = {
        "v": CACHE_VERSION,
        "frames": job["input"]["frames"],
        "colorspace": job["input"]["colorspace"],
        "output": {k: v for k, v in job["output"].items() if k != "path"},
        "pipeline": job["pipeline"],
        "device": job["device"],
        "max_memory": job["max_memory"],
        "input": input_digest,
    }
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


# EXR header attributes that change between identical renders.
_VOLATILE = re.compile(r"(?i)(date|time(?!code)|mtime|ctime|utcoffset|hash|hostname|writer|software|nuke/version|oiio:sourcepath)")
_EXR_MAGIC = b"\x76\x2f\x31\x01"


def _exr_header_end(data: bytes, h: Any) -> int:
    """Feed the stable header attributes into `h`; return where the header ends (or -1)."""
    if len(data) < 8 or data[:4] != _EXR_MAGIC:
        return -1
    multipart = bool(struct.unpack("<I", data[4:8])[0] & 0x1000)
    pos = 8
    while True:
        if data[pos:pos + 1] == b"\x00":  # end of a header
            pos += 1
            if not multipart or data[pos:pos + 1] == b"\x00":
                return pos + (1 if multipart else 0)
            continue
        name_end = data.index(b"\x00", pos)
        type_end = data.index(b"\x00", name_end + 1)
        (size,) = struct.unpack("<i", data[type_end + 1:type_end + 5])
        value_start = type_end + 5
        name = data[pos:name_end].decode("latin-1")
        if not _VOLATILE.search(name):
            h.update(data[pos:value_start + size])
        pos = value_start + size
        if pos > len(data):
            return -1


def file_digest(path: str, h: Any) -> None:
    """Feed one frame into `h`: EXR pixels + stable header; any other file: its bytes."""
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        end = _exr_header_end(data, h)
    except (ValueError, struct.error):
        end = -1
    h.update(data if end < 0 else data[end:])


def sequence_digest(pattern: str, frames: Iterable[int]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for n in frames:
        path = frame_path(pattern, n)
        h.update(str(n).encode("ascii"))
        try:
            file_digest(path, h)
        except OSError as exc:
            raise PluginError("the input render has no frame {} ({}): {}".format(n, path, exc)) from None
    return h.hexdigest()


def done_marker(key_dir: str) -> str:
    return os.path.join(key_dir, DONE_MARKER)


def finished(key_dir: str, output_pattern: str, first: int, last: int) -> Optional[Dict[str, Any]]:
    """The marker of a finished render whose frames are all still there, else None."""
    try:
        with open(done_marker(key_dir), encoding="utf-8") as fh:
            info = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict):
        return None
    if all(os.path.isfile(frame_path(output_pattern, n)) for n in range(first, last + 1)):
        return info
    return None


def write_json(path: str, data: Any) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = "{}.{}.tmp".format(path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)
