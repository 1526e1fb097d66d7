"""Job building, cache keys and colour-space naming (no Nuke here).

The plugin hands the core a plain job (the same JSON the CLI and the farm run):

    {"input": {"path": ".../input/in.####.exr", "frames": "1001-1100", "colorspace": WORKING},
     "output": {"path": ".../output/upscale.####.exr", "compression": "zip", "bit_depth": "half"},
     "pipeline": [{"node": "upscale", "params": {...}}], "device": "auto", "max_memory": "2GB"}

A render is reused when its key matches: a hash of every job setting except paths and the
frame range (partial renders accumulate under one key), and each frame's input digest
(pixels and the structural EXR header; volatile header entries such as capture dates or node
hashes are ignored) matches the one its result was made from.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from typing import Any, Dict, Iterable, List, Optional, Sequence

from .core import PluginError

CACHE_VERSION = 2  # bump when the plugin changes how it renders, to invalidate old caches
DONE_MARKER = "reelfix_done.json"
DIGESTS = "frames.json"

# What OCIO roles mean in the configs Nuke ships (their config.ocio `roles:`), by names the core knows.
# The core's own studio config maps scene_linear to ACEScg, which is wrong for a nuke-default script.
NUKE_CONFIG_ROLES = {
    "nuke-default": {"scene_linear": "lin_srgb", "compositing_linear": "lin_srgb", "reference": "lin_srgb",
                     "data": "raw", "default": "lin_srgb", "rendering": "lin_srgb"},
    "aces_1.0.3": {"scene_linear": "ACES - ACEScg", "compositing_linear": "ACES - ACEScg", "rendering": "ACES - ACEScg",
                   "reference": "ACES - ACES2065-1"},
    "aces_1.1": {"scene_linear": "ACES - ACEScg", "compositing_linear": "ACES - ACEScg", "rendering": "ACES - ACEScg",
                 "reference": "ACES - ACES2065-1"},
    "aces_1.2": {"scene_linear": "ACES - ACEScg", "compositing_linear": "ACES - ACEScg", "rendering": "ACES - ACEScg",
                 "reference": "ACES - ACES2065-1"},
    "fn-nuke_cg-config-v1.0.0_aces-v1.3_ocio-v2.1": {"scene_linear": "ACEScg", "compositing_linear": "ACEScg",
                                                     "rendering": "ACEScg", "aces_interchange": "ACES2065-1"},
}
ROLES = ("scene_linear", "compositing_linear", "rendering", "reference", "data", "default", "aces_interchange",
         "color_timing", "compositing_log", "color_picking", "texture_paint", "matte_paint")


def config_roles(path: str) -> Dict[str, str]:
    """The `roles:` of an OCIO config file (a plain YAML mapping, read without a YAML library)."""
    roles: Dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return roles
    inside = False
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            inside = line.split("#")[0].strip() == "roles:"
            continue
        if inside and ":" in line:
            name, _, value = line.strip().partition(":")
            roles[name.strip().strip("'\"")] = value.split("#")[0].strip().strip("'\"")
    return roles


def working_space(color_management: str, ocio_config: str, working_space_lut: str, custom_config: str = "") -> str:
    """The colour space the core must read and write so pixels come back unchanged.

    The plugin renders with `raw` on, so the files hold Nuke's working space as is; the
    core converts into its model's space and exactly back into this one. Nuke's own colour
    management (and the nuke-default config) call linear-sRGB "linear"; an OCIO role
    (`scene_linear`, ...) means what Nuke's config says (NUKE_CONFIG_ROLES, or the roles of the
    custom config file), never what the core's studio config says; other names ("ACES - ACEScg",
    "ACEScg") are names or aliases in the core's config."""
    space = (working_space_lut or "").strip()
    nuke_default = color_management == "Nuke" or ocio_config in ("nuke-default", "")
    if not space or space == "default":
        space = "scene_linear"
    if nuke_default and space.lower() == "linear":
        return "lin_srgb"
    if space not in ROLES:
        return space
    if nuke_default:
        roles = NUKE_CONFIG_ROLES["nuke-default"]
    elif ocio_config in NUKE_CONFIG_ROLES:
        roles = NUKE_CONFIG_ROLES[ocio_config]
    else:
        roles = config_roles(custom_config) if custom_config else {}
        if roles.get(space) and roles[space] not in ROLES:
            return roles[space]
        raise PluginError("the working space is the OCIO role '{}', and reelfix cannot tell what it means in the OCIO "
                          "config '{}'{}. Choose the working space by its colour space name in Project Settings > Color."
                          .format(space, ocio_config, " ({})".format(custom_config) if custom_config else ""))
    if space not in roles:
        raise PluginError("the OCIO config '{}' has no role '{}': choose the working space by name in Project Settings > Color"
                          .format(ocio_config, space))
    return roles[space]


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
    """12 hex digits naming a render: every setting of the job except its paths and frames, + the input
    (the plugin passes "" and checks each frame's input digest itself: partial renders accumulate)."""
    settings = {
        "v": CACHE_VERSION,
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


def frame_digests(pattern: str, frames: Iterable[int]) -> Dict[int, str]:
    """Each frame's digest (pixels and stable header)."""
    return {n: sequence_digest(pattern, [n]) for n in frames}


def digests_file(key_dir: str) -> str:
    return os.path.join(key_dir, DIGESTS)


def read_json(path: str, default: Any) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return default
    return data if isinstance(data, type(default)) else default


def forget_results(key_dir: str, output_pattern: str) -> None:
    """Drop every restored frame of a key (its input changed) and the record of them."""
    folder = os.path.dirname(output_pattern)
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            os.remove(os.path.join(folder, name))
    for path in (done_marker(key_dir), digests_file(key_dir)):
        if os.path.exists(path):
            os.remove(path)


def frames_text(frames: Iterable[int]) -> str:
    """[1001, 1002, 1003, 1010] -> '1001-1003 1010'."""
    spans: List[List[int]] = []
    for n in sorted(set(frames)):
        if spans and spans[-1][1] == n - 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return " ".join(str(a) if a == b else "{}-{}".format(a, b) for a, b in spans)


def parse_frames(text: str) -> List[int]:
    frames: List[int] = []
    for part in (text or "").split():
        m = re.match(r"^(-?\d+)(?:-(-?\d+))?$", part)
        if m:
            a = int(m.group(1))
            frames.extend(range(a, int(m.group(2) or a) + 1))
    return frames


def done_marker(key_dir: str) -> str:
    return os.path.join(key_dir, DONE_MARKER)


def finished(key_dir: str, output_pattern: str, first: int, last: int) -> Optional[Dict[str, Any]]:
    """The marker of a render that finished frames first..last, all still there, else None."""
    info: Dict[str, Any] = read_json(done_marker(key_dir), {})
    if not info:
        return None
    done = set(parse_frames(str(info.get("frames", ""))))
    wanted = range(first, last + 1)
    if all(n in done and os.path.isfile(frame_path(output_pattern, n)) for n in wanted):
        return info
    return None


def record_finished(key_dir: str, frames: Iterable[int], info: Dict[str, Any]) -> Dict[str, Any]:
    """Add finished frames to the key's marker; the marker (with every finished frame)."""
    old = read_json(done_marker(key_dir), {})
    data = dict(info)
    data["frames"] = frames_text(set(parse_frames(str(old.get("frames", "")))) | set(frames))
    write_json(done_marker(key_dir), data)
    return data


def write_json(path: str, data: Any) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = "{}.{}.tmp".format(path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)
