"""Film-like test clips with synthetic damage and the clean truth kept.

Sources are real pictures: slow pans across scikit-image's CC0 photos, or real camera
footage (opencv-doc's vtest.avi, when installed). Damage is drawn on top and recorded:
dust and dirt specks (bright and dark, 1 px sparkle to `max_size` blobs), vertical line
scratches (1-4 px, bright or dark, drifting slowly), plus an optional small real object
(a disc cut from a photo) moving fast across the shot: real content that must stay.

Everything is sRGB-encoded float32 (H, W, 3) unless converted with `to_linear`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


@dataclass
class Clip:
    clean: list[np.ndarray]
    damaged: list[np.ndarray]
    dust: list[np.ndarray] = field(default_factory=list)  # HxW float: |damage| per pixel (max over channels)
    scratch: list[np.ndarray] = field(default_factory=list)
    protect: list[np.ndarray] = field(default_factory=list)  # HxW bool: the real moving object
    colorspace: str = "srgb_tx"

    def __len__(self) -> int:
        return len(self.clean)


def photo(name: str = "astronaut") -> np.ndarray:
    from skimage import data

    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return img[:, :, :3].astype(np.float32) / 255.0


def pan(
    frames: int,
    height: int,
    width: int,
    name: str = "astronaut",
    velocity: tuple[float, float] = (0.7, 0.3),
    zoom: float = 1.0,
    grain: float = 0.0,
    seed: int = 0,
) -> list[np.ndarray]:
    """A slow sub-pixel pan (pixels per frame, x and y) across a real photo, optionally with
    film grain (independent per frame, part of the truth: grain is the film's own)."""
    src = photo(name)
    need = max(height, width) + int(abs(velocity[0]) * frames + abs(velocity[1]) * frames) + 8
    scale = max(need / src.shape[0], need / src.shape[1], zoom)
    big = cv2.resize(src, (int(src.shape[1] * scale) + 1, int(src.shape[0] * scale) + 1), interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(seed)
    out = []
    for t in range(frames):
        m = np.float32([[1, 0, -4 - velocity[0] * t], [0, 1, -4 - velocity[1] * t]])
        f = cv2.warpAffine(big, m, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        if grain:
            g = cv2.GaussianBlur(rng.standard_normal((height, width)).astype(np.float32), (0, 0), 0.7)
            f = f + grain * g[:, :, None] * np.sqrt(np.clip(f, 0.02, 1.0))
        out.append(np.ascontiguousarray(np.clip(f, 0.0, 1.0), dtype=np.float32))
    return out


def add_grain(picture: np.ndarray, frames: int, grain: float, seed: int = 0) -> list[np.ndarray]:
    """A static shot of one picture: `frames` copies, each with its own film grain (as `pan`)."""
    rng = np.random.default_rng(seed)
    h, w = picture.shape[:2]
    out = []
    for _ in range(frames):
        g = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 0.7)
        f = picture + grain * g[:, :, None] * np.sqrt(np.clip(picture, 0.02, 1.0))
        out.append(np.ascontiguousarray(np.clip(f, 0.0, 1.0), dtype=np.float32))
    return out


def scene_lines(picture: np.ndarray, seed: int = 5) -> np.ndarray:
    """The picture with thin vertical objects of the scene over its whole height, as a camera
    would see them (draw them before the grain): a mast 3 px wide, round (lit in the middle)
    and weathered along its length; a dark wire 1 px wide, nearly opaque; a door's edge (the
    picture darker on its right) with a dark 2-px gap in it."""
    rng = np.random.default_rng(seed)
    out = picture.copy()
    h, w = out.shape[:2]
    along = cv2.GaussianBlur(rng.standard_normal((h, 1)).astype(np.float32), (0, 0), 6.0)[:, 0]
    mast = 0.45 + 0.8 * along / (np.abs(along).max() + 1e-6) * 0.15
    x = int(w * 0.15)
    for dx, shade in zip(range(3), (0.8, 1.0, 0.75)):
        out[:, x + dx] = (mast * shade)[:, None] * np.float32([1.0, 0.95, 0.9])
    x = int(w * 0.62)
    out[:, x] = 0.15 * out[:, x] + 0.85 * 0.08
    x = int(w * 0.86)
    out[:, x + 2 :] *= 0.8
    out[:, x : x + 2] = 0.1 * out[:, x : x + 2] + 0.9 * 0.06
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def sky_with_poles(frames: int, height: int, width: int, seed: int = 7) -> list[np.ndarray]:
    """A static shot of a flat sky (a vertical gradient) with two thin poles over the whole
    height, a dark 1-px one at 0.3 of the width and a bright 2-px one at 0.6, under coarse
    film grain (clumps of about 1.3 px, drawn over the poles, independent per frame)."""
    rng = np.random.default_rng(seed)
    sky = np.repeat((0.55 + 0.25 * np.arange(height, dtype=np.float32) / height)[:, None], width, axis=1)
    picture = np.repeat(sky[:, :, None], 3, axis=2) * np.float32([0.8, 0.9, 1.0])
    picture[:, int(width * 0.3)] = 0.1
    picture[:, int(width * 0.6) : int(width * 0.6) + 2] = 0.85
    out = []
    for _ in range(frames):
        clumps = cv2.GaussianBlur(rng.standard_normal((height, width)).astype(np.float32), (0, 0), 1.3)
        out.append(np.clip(picture + 0.075 * clumps[:, :, None], 0.0, 1.0).astype(np.float32))
    return out


def wallpaper(name: str, height: int, width: int, top: float = 0.0) -> np.ndarray | None:
    """A real photo from the Debian lomiri-wallpapers package (`/usr/share/backgrounds`, never
    committed), scaled to `width` and cut to `height` from `top` (share of the rest), or None."""
    path = Path("/usr/share/backgrounds") / name
    img = cv2.imread(str(path)) if path.exists() else None
    if img is None:
        return None
    img = cv2.resize(img, (width, max(int(round(img.shape[0] * width / img.shape[1])), height)), interpolation=cv2.INTER_AREA)
    y0 = int(round(top * (img.shape[0] - height)))
    rgb = cv2.cvtColor(img[y0 : y0 + height], cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(rgb, dtype=np.float32) / 255.0


def footage(frames: int, start: int = 100, size: tuple[int, int] | None = None) -> list[np.ndarray] | None:
    """Real camera footage (vtest.avi: static camera, people walking), or None if absent."""
    if not VTEST.exists():
        return None
    cap = cv2.VideoCapture(str(VTEST))
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    out = []
    for _ in range(frames):
        ok, bgr = cap.read()
        if not ok:
            break
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
        if size is not None:
            rgb = cv2.resize(rgb, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        out.append(np.ascontiguousarray(rgb))
    cap.release()
    return out if len(out) == frames else None


def _blob(rng: np.random.Generator, size: int) -> np.ndarray:
    """An irregular soft-edged speck of about `size` px across: opacity in [0, 1]."""
    n = size + 6
    if size <= 2:
        a = np.zeros((n, n), np.float32)
        a[3 : 3 + size, 3 : 3 + size] = 1.0
        return cv2.GaussianBlur(a, (0, 0), 0.4)
    noise = cv2.GaussianBlur(rng.standard_normal((n, n)).astype(np.float32), (0, 0), max(size / 4, 0.8))
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) - (n - 1) / 2
    r = np.hypot(xx * rng.uniform(1.0, 1.6), yy) / (size / 2)
    field_ = 1.0 - r + 0.6 * noise / (noise.std() + 1e-6) * 0.3
    inside = np.hypot(xx, yy) <= size / 2 + 0.5  # never larger than `size` across
    return np.clip(field_ * 3.0, 0.0, 1.0) * inside


def add_dust(
    frames: list[np.ndarray], count: int = 12, max_size: int = 16, seed: int = 1, avoid: list[np.ndarray] | None = None
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Dust (dark), dirt/sparkle (bright) specks, each in one frame only. Returns damaged frames
    and the truth |damaged - clean| per pixel."""
    rng = np.random.default_rng(seed)
    damaged, truth = [], []
    for i, f in enumerate(frames):
        h, w = f.shape[:2]
        out = f.copy()
        for _ in range(count):
            size = int(rng.choice([1, 2, 3, 5, 8, 12, max_size]))
            size = min(size, max_size)
            a = _blob(rng, size) * rng.uniform(0.75, 1.0)
            n = a.shape[0]
            y, x = int(rng.integers(0, h - n)), int(rng.integers(0, w - n))
            if avoid is not None and avoid[i][y : y + n, x : x + n].any():
                continue
            value = rng.choice([rng.uniform(0.0, 0.08), rng.uniform(0.92, 1.0)])
            region = out[y : y + n, x : x + n]
            out[y : y + n, x : x + n] = region * (1 - a[:, :, None]) + value * a[:, :, None]
        damaged.append(out.astype(np.float32))
        truth.append(np.abs(out - f).max(axis=2))
    return damaged, truth


def add_scratches(
    frames: list[np.ndarray], specs: list[tuple[float, float, int, float]], seed: int = 2, wobble: float = 0.15
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Vertical line scratches: (x0, drift px/frame, width 1-4, amplitude; > 0 bright, < 0 dark),
    full height, intensity varying slowly along the length, soft edges, weaving by up to
    `wobble` px (0 and no drift: a scratch fixed in the gate)."""
    rng = np.random.default_rng(seed)
    h, w = frames[0].shape[:2]
    along = [0.75 + 0.25 * np.sin(np.arange(h) / rng.uniform(20, 60) + rng.uniform(0, 6)) for _ in specs]
    damaged, truth = [], []
    xs = np.arange(w, dtype=np.float32)
    for t, f in enumerate(frames):
        out = f.copy()
        for (x0, drift, width, amp), prof in zip(specs, along):
            centre = x0 + drift * t + wobble * np.sin(t / 3.0)
            d = np.abs(xs - centre)
            cross = np.clip(width / 2 + 0.5 - d, 0.0, 1.0)  # box of `width` px, anti-aliased
            a = (abs(amp) * prof[:, None] * cross[None, :]).astype(np.float32)
            value = 1.0 if amp > 0 else 0.0
            out = out * (1 - a[:, :, None]) + value * a[:, :, None]
        damaged.append(out.astype(np.float32))
        truth.append(np.abs(out - f).max(axis=2))
    return damaged, truth


def add_object(frames: list[np.ndarray], size: int = 14, speed: tuple[float, float] = (17.0, 5.0)) -> list[np.ndarray]:
    """A small real object (the face of a cat from a photo, shrunk to a disc of `size` px)
    crossing the shot fast: drawn into the frames in place (it is real content). Returns its masks."""
    src = photo("chelsea")[60:220, 140:300]
    patch = cv2.resize(src, (size, size), interpolation=cv2.INTER_AREA)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) - (size - 1) / 2
    alpha = np.clip(size / 2 + 0.5 - np.hypot(xx, yy), 0.0, 1.0)
    h, w = frames[0].shape[:2]
    masks = []
    for t, f in enumerate(frames):
        x = int(round(6 + speed[0] * t)) % max(w - size - 12, 1) + 6
        y = int(round(h / 3 + speed[1] * t)) % max(h - size - 12, 1) + 6
        region = f[y : y + size, x : x + size]
        f[y : y + size, x : x + size] = region * (1 - alpha[:, :, None]) + patch * alpha[:, :, None]
        m = np.zeros((h, w), bool)
        m[y : y + size, x : x + size] = alpha > 0.5
        masks.append(m)
    return masks


def dust_clip(frames: int = 5, height: int = 96, width: int = 128, count: int = 8, obj: bool = True, seed: int = 0, source: list[np.ndarray] | None = None, max_size: int = 12) -> Clip:
    clean = source if source is not None else pan(frames, height, width, seed=seed)
    clean = [c.copy() for c in clean]
    protect = add_object(clean, speed=(min(17.0, clean[0].shape[1] / 6), 3.0)) if obj else []
    damaged, truth = add_dust(clean, count=count, max_size=max_size, seed=seed + 1, avoid=protect or None)
    return Clip(clean, damaged, dust=truth, protect=protect)


def scratch_clip(frames: int = 5, height: int = 96, width: int = 128, seed: int = 0, source: list[np.ndarray] | None = None,
                 gate: bool = False) -> Clip:
    """Three scratches drifting slowly; with `gate`, fixed in the gate (no drift, no weave)."""
    clean = source if source is not None else pan(frames, height, width, seed=seed)
    w = clean[0].shape[1]
    specs = [(w * 0.23, 0.3, 1, 0.45), (w * 0.51, -0.2, 2, -0.5), (w * 0.77, 0.15, 3, 0.4)]
    if gate:
        specs = [(round(x0) + 0.5 * (1 - wd % 2), 0.0, wd, amp) for x0, _, wd, amp in specs]
    damaged, truth = add_scratches(clean, specs, seed=seed, wobble=0.0 if gate else 0.15)
    return Clip(clean, damaged, scratch=truth)


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, ((np.maximum(x, 0) + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.maximum(x, 0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055).astype(np.float32)


def to_linear(clip: Clip, highlight_gain: float = 4.0) -> Clip:
    """The same clip as scene-linear light (`lin_srgb`), bright areas pushed above 1."""

    def lin(x: np.ndarray) -> np.ndarray:
        y = srgb_to_linear(x)
        return np.where(y > 0.6, 0.6 + (y - 0.6) * highlight_gain, y).astype(np.float32)

    return Clip([lin(c) for c in clip.clean], [lin(d) for d in clip.damaged], clip.dust, clip.scratch, clip.protect, "lin_srgb")


def run_node(spec: Any, clip: Clip, params: dict[str, Any] | None = None, warn: Any = None) -> tuple[list[np.ndarray], list[Any]]:
    """Run a node over a clip as the pipeline would (windows inside the clip); returns the
    output pixels and the node's matte per frame."""
    from reelfix.frames.frame import Frame
    from reelfix.nodes.spec import NodeContext, Window

    p = spec.validate(params or {}, "test")
    runner = spec.factory(p, NodeContext(warn=warn or (lambda m: None)))
    r = spec.radius(p)
    frames = {i: Frame(d, ("R", "G", "B"), clip.colorspace, i) for i, d in enumerate(clip.damaged)}
    outs, mattes = [], []
    for i in range(len(clip)):
        win = {n: frames[n] for n in range(i - r, i + r + 1) if n in frames}
        out = runner.process(Window(i, win))
        outs.append(out.pixels)
        mattes.append(getattr(out, "mattes", {}).get(spec.name))
    return outs, mattes


def score(clip: Clip, outs: list[np.ndarray], truth: list[np.ndarray], mattes: Sequence[Any] | None = None,
          defect_level: float = 0.02, dilate: int = 3) -> dict[str, float]:
    """Repair figures, measured on a perceptual scale (display-like):
    repaired: share of defect pixels (damage > defect_level) whose error is at least halved;
    false_changes: share of all pixels changed outside the defects dilated by `dilate` px;
    object_changed: largest share of the moving object's pixels changed in any frame;
    identical_outside_matte: whether every pixel outside the matte is bit-identical."""
    from reelfix.motion import perceptual

    lin = clip.colorspace == "lin_srgb"
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1))
    defect = repaired = changed_out = total = 0
    obj = 0.0
    identical = True
    for i, out in enumerate(outs):
        c, d = perceptual(clip.clean[i], lin), perceptual(clip.damaged[i], lin)
        o = perceptual(out, lin)
        t = truth[i] > defect_level
        e_in = np.abs(d - c).max(axis=2)
        e_out = np.abs(o - c).max(axis=2)
        defect += int(t.sum())
        repaired += int((t & (e_out <= 0.5 * e_in)).sum())
        changed = (out != clip.damaged[i]).any(axis=2)
        near = cv2.dilate((truth[i] > 0.004).astype(np.uint8), k).astype(bool)
        changed_out += int((changed & ~near).sum())
        total += changed.size
        if clip.protect:
            m = clip.protect[i]
            obj = max(obj, float((changed & m).sum()) / max(int(m.sum()), 1))
        if mattes is not None and mattes[i] is not None:
            identical &= bool(not (changed & (mattes[i] == 0)).any())
    return {
        "repaired": repaired / max(defect, 1),
        "defect_pixels": float(defect),
        "false_changes": changed_out / max(total, 1),
        "object_changed": obj,
        "identical_outside_matte": float(identical),
    }
