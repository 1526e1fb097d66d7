"""Real photos for precision variants: calibration crops for int8 ranges, and held-out
photos on which a variant's quality is measured against its fp32 model.

Calibration and measurement never share a photo: ranges fitted on the photos they are then
judged on would flatter the variant.

- Calibration (default): scikit-image's CC0/public-domain colour photos (astronaut,
  coffee, chelsea, rocket, motorcycle), each taken at its own size and area-downscaled by 2
  and 4. The downscaled copies matter: a model's input at inference is often sharper than a
  photo's native pixels, and activations on sharp content reach further. Calibrating on
  native crops only clipped those ranges and cost SPAN x2 over 10 dB on downscaled photos
  (measured while writing this module); with the downscaled copies the loss went below
  0.3 dB. Or a folder of the user's own frames (`--calibration DIR`).
- Measurement: held-out scikit-image photos (hubble_deep_field, immunohistochemistry,
  camera, gravel, grass, brick: photos and photographed textures, none used for calibration),
  or images the caller passes (the benchmark uses Debian wallpaper photos). Each is
  downscaled by the model's scale (area average); PSNR of each model's upscale against
  the original, on 0..1 values.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..errors import UserError

CALIBRATION_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle")
MEASUREMENT_PHOTOS = ("hubble_deep_field", "immunohistochemistry", "camera", "gravel", "grass", "brick")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".dpx", ".exr")


def _skimage_photo(name: str) -> np.ndarray:
    """An HxWx3 float32 sRGB photo from scikit-image's bundled set (grey ones replicated)."""
    from skimage import data

    img = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
    img = np.asarray(img, dtype=np.float32) / 255.0
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3])


def downscale(img: np.ndarray, factor: int) -> np.ndarray:
    """Area-average downscale of an HxWxC image by an integer factor (edges trimmed)."""
    if factor == 1:
        return img
    h, w = img.shape[0] // factor * factor, img.shape[1] // factor * factor
    c = img.shape[2]
    return img[:h, :w].reshape(h // factor, factor, w // factor, factor, c).mean(axis=(1, 3), dtype=np.float32)


def _crops(img: np.ndarray, size: int) -> list[np.ndarray]:
    """Three size x size crops (centre, top-left, bottom-right) as 1x3xSxS, or none if too small."""
    h, w = img.shape[:2]
    if h < size or w < size:
        return []
    spots = ((h // 2 - size // 2, w // 2 - size // 2), (0, 0), (h - size, w - size))
    return [np.ascontiguousarray(img[y : y + size, x : x + size].transpose(2, 0, 1))[None] for y, x in spots]


def folder_images(folder: Path, colorspace: str, input_range: tuple[float, float]) -> list[np.ndarray]:
    """The images of a calibration folder as HxWx3 float32 in the model's colour space.

    PNG/JPEG/TIFF/DPX are taken as encoded in the model's colour space (sRGB photos or
    frames); EXR files as scene-linear (their colour space attribute, else lin_srgb),
    converted and clipped to the model's input range. UserError names the folder when it
    does not exist or holds no image.
    """
    from .. import colour
    from ..frames.frame import picture_indices
    from ..frames.image_io import read_image

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise UserError(
            f"calibration folder {folder} does not exist",
            hint="pass --calibration DIR with a folder of photos or frames (PNG, JPEG, TIFF, DPX, EXR), or leave it out "
            "to calibrate on the built-in photos",
        )
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UserError(
            f"calibration folder {folder} holds no image ({', '.join(IMAGE_SUFFIXES)})",
            hint="put a few photos or frames like the ones you will restore into it",
        )
    out = []
    for path in files:
        frame = read_image(path)
        idx = picture_indices(frame.channels)[:3]
        rgb = frame.pixels[:, :, idx]
        if rgb.shape[2] == 1:
            rgb = np.repeat(rgb, 3, axis=2)
        if path.suffix.lower() == ".exr":
            rgb = colour.convert(rgb, frame.colorspace or "lin_srgb", colorspace)
        out.append(np.clip(rgb, *input_range).astype(np.float32))
    return out


def calibration_crops(
    folder: Path | None = None,
    *,
    size: int = 96,
    colorspace: str = "srgb_tx",
    input_range: tuple[float, float] = (0.0, 1.0),
    limit: int | None = None,
) -> list[np.ndarray]:
    """1x3xSxS float32 crops for int8 calibration: each photo at its own size and
    area-downscaled by 2 and 4, three crops per size (see the module docstring)."""
    if folder is None:
        photos = [_skimage_photo(n) for n in CALIBRATION_PHOTOS]
    else:
        photos = folder_images(folder, colorspace, input_range)
    crops = [c for p in photos for k in (1, 2, 4) for c in _crops(downscale(p, k), size)]
    if not crops:
        where = folder if folder is not None else "the built-in photos"
        raise UserError(f"no image in {where} is at least {size}x{size} pixels", hint="use larger photos or frames")
    return crops[:limit] if limit else crops


def measurement_pairs(scale: int, *, size: int = 192, photos: Sequence[np.ndarray] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(ground truth HxWx3, model input 1x3x(H/scale)x(W/scale)) pairs from held-out photos:
    a centre crop of `size` (a multiple of `scale`), downscaled by `scale`."""
    size = size // scale * scale
    imgs = list(photos) if photos is not None else [_skimage_photo(n) for n in MEASUREMENT_PHOTOS]
    pairs = []
    for img in imgs:
        h, w = img.shape[:2]
        if h < size or w < size:
            continue
        hr = np.ascontiguousarray(img[h // 2 - size // 2 : h // 2 - size // 2 + size, w // 2 - size // 2 : w // 2 - size // 2 + size, :3])
        lr = downscale(hr, scale)
        pairs.append((hr, np.ascontiguousarray(lr.transpose(2, 0, 1))[None]))
    return pairs


def psnr(result: np.ndarray, truth: np.ndarray) -> float:
    """PSNR in dB of `result` (clipped to 0..1, as a display shows it) against `truth`."""
    mse = float(np.mean((np.clip(result, 0.0, 1.0) - truth) ** 2, dtype=np.float64))
    return 99.0 if mse <= 1e-10 else 10.0 * float(np.log10(1.0 / mse))


Runner = Callable[[np.ndarray], np.ndarray]


def quality_against(base: Runner, variant: Runner, pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Mean PSNR (dB) of the fp32 model and of the variant against the ground truth, their
    difference (`psnr_delta_db`, negative = the variant loses) and the PSNR of the variant
    against the fp32 output (`psnr_vs_fp32_db`: how faithfully it reproduces it)."""
    p_base, p_var, p_fid = [], [], []
    for hr, lr in pairs:
        yb = base(lr)[0].transpose(1, 2, 0)
        yv = variant(lr)[0].transpose(1, 2, 0)
        p_base.append(psnr(yb, hr))
        p_var.append(psnr(yv, hr))
        p_fid.append(psnr(yv, np.clip(yb, 0.0, 1.0)))
    return {
        "psnr_fp32_db": round(float(np.mean(p_base)), 4),
        "psnr_db": round(float(np.mean(p_var)), 4),
        "psnr_delta_db": round(float(np.mean(p_var) - np.mean(p_base)), 4),
        "psnr_vs_fp32_db": round(float(np.mean(p_fid)), 3),
        "photos": float(len(pairs)),
    }


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def speed_against(base: Runner, variant: Runner, x: np.ndarray, repeats: int = 3) -> dict[str, float]:
    """Median seconds per run of both on the same input, interleaved (the machine is shared),
    after one warm-up each; `speed_vs_fp32` > 1 means the variant is faster."""
    base(x)
    variant(x)
    tb, tv = [], []
    for _ in range(max(1, repeats)):
        tb.append(median_seconds(lambda: base(x), 1))
        tv.append(median_seconds(lambda: variant(x), 1))
    b, v = float(np.median(tb)), float(np.median(tv))
    return {"seconds_fp32": round(b, 4), "seconds": round(v, 4), "speed_vs_fp32": round(b / v, 3)}
