"""Faint dirt made independently of `dustbust` and of `clips.add_dust` (which it was tuned on).

What film dirt looks like, as described in issue 13: one-frame specks, about a dozen a frame,
irregular blobs from a few pixels to about a dozen across with soft edges; most near-black
(dust on the print) or near-white (dirt on the negative), about a fifth mid-grey, which is
faint wherever the picture beside it is mid-tone. The shapes here are unions of a few random
ellipses rasterised at 4x and reduced (anti-aliased), then softened by a Gaussian of random
width, with a slight texture across each speck; they are composited over display-encoded
values, and clean and damaged frames both go through 10-bit DPX files written and read with
OpenImageIO itself (so the quantisation is a real file's). The pictures: a slow sub-pixel pan
across a scikit-image photo with light Gaussian grain (part of the truth), or real camera footage.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np

from tests.nodes.clips import Clip, footage, photo
from tests.nodes.clips import pan as clips_pan


def blob(rng: np.random.Generator, size: float) -> np.ndarray:
    """Opacity (0..1, peak 1) of one irregular soft speck about `size` px across."""
    ss = 4
    n = int(np.ceil(size)) + 8
    canvas = np.zeros((n * ss, n * ss), np.uint8)
    c = n * ss / 2
    for _ in range(int(rng.integers(2, 6))):
        ox, oy = rng.normal(0, size * ss / 6, 2)
        ax = max(size * ss / 2 * rng.uniform(0.35, 0.8), ss / 2)
        ay = max(ax * rng.uniform(0.4, 1.0), ss / 2)
        cv2.ellipse(canvas, (int(c + ox), int(c + oy)), (int(ax), int(ay)), float(rng.uniform(0, 180)), 0, 360, 255, -1)
    a = cv2.resize(canvas.astype(np.float32) / 255.0, (n, n), interpolation=cv2.INTER_AREA)
    a = cv2.GaussianBlur(a, (0, 0), rng.uniform(0.5, 1.3))
    return a / max(float(a.max()), 1e-6)


def add_dirt(frames: list[np.ndarray], count: int = 12, seed: int = 11, mid_share: float = 0.2,
             sizes: tuple[float, float] = (2.0, 12.0)) -> list[np.ndarray]:
    """Damaged copies of display-encoded frames (H, W, 3): `count` specks in each frame,
    sizes log-uniform in `sizes`, `mid_share` of them mid-grey, the rest near-black or near-white."""
    rng = np.random.default_rng(seed)
    out = []
    for f in frames:
        h, w = f.shape[:2]
        d = f.copy()
        for _ in range(count):
            a = blob(rng, float(np.exp(rng.uniform(*np.log(sizes)))))
            n = a.shape[0]
            y, x = int(rng.integers(0, h - n)), int(rng.integers(0, w - n))
            r = rng.random()
            value = rng.uniform(0.35, 0.6) if r < mid_share else rng.uniform(0.0, 0.12) if r < (1 + mid_share) / 2 else rng.uniform(0.85, 1.0)
            texture = cv2.GaussianBlur(rng.standard_normal((n, n)).astype(np.float32), (0, 0), 1.0) * 0.03
            a = a * rng.uniform(0.7, 1.0)
            region = d[y : y + n, x : x + n]
            d[y : y + n, x : x + n] = region * (1 - a[:, :, None]) + np.clip(value + texture, 0, 1)[:, :, None] * a[:, :, None]
        out.append(d.astype(np.float32))
    return out


def pan(frames: int, height: int, width: int, name: str = "rocket", velocity: tuple[float, float] = (0.45, 0.2),
        grain: float = 0.008, seed: int = 5) -> list[np.ndarray]:
    """A slow sub-pixel pan across a photo (`clips.pan`), with light grain of its own per frame."""
    rng = np.random.default_rng(seed)
    return [np.clip(f + grain * rng.standard_normal(f.shape[:2]).astype(np.float32)[:, :, None], 0, 1).astype(np.float32)
            for f in clips_pan(frames, height, width, name=name, velocity=velocity)]


def through_dpx(frames: list[np.ndarray]) -> list[np.ndarray]:
    """The frames as a 10-bit DPX sequence written and read back by OpenImageIO."""
    import OpenImageIO as oiio

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, f in enumerate(frames):
            path = str(Path(tmp) / f"f.{i:04d}.dpx")
            spec = oiio.ImageSpec(f.shape[1], f.shape[0], 3, "uint16")
            spec.attribute("oiio:BitsPerSample", 10)
            o = oiio.ImageOutput.create(path)
            assert o is not None and o.open(path, spec), oiio.geterror()
            o.write_image(np.clip(f, 0, 1))
            o.close()
            inp = oiio.ImageInput.open(path)
            assert inp is not None, oiio.geterror()
            assert inp.spec().get_int_attribute("oiio:BitsPerSample") == 10
            out.append(np.ascontiguousarray(inp.read_image("float"), dtype=np.float32))
            inp.close()
    return out


def dirt_clip(frames: int = 5, height: int = 96, width: int = 128, count: int = 12, seed: int = 11, mid_share: float = 0.2,
              source: list[np.ndarray] | None = None, **pan_args: object) -> Clip:
    """A clip with faint dirt and its truth, both through 10-bit DPX (display-encoded)."""
    clean = source if source is not None else pan(frames, height, width, **pan_args)  # type: ignore[arg-type]
    damaged = add_dirt(clean, count=count, seed=seed, mid_share=mid_share)
    clean, damaged = through_dpx(clean), through_dpx(damaged)
    truth = [np.abs(d - c).max(axis=2) for d, c in zip(damaged, clean)]
    return Clip(clean, damaged, dust=truth, colorspace="srgb_tx")


def footage_dirt_clip(frames: int = 7, count: int = 12, seed: int = 11, start: int = 200) -> Clip | None:
    """Real camera footage (vtest.avi) with the same dirt, or None when it is not installed."""
    src = footage(frames, start=start)
    return None if src is None else dirt_clip(frames, count=count, seed=seed, source=src)
