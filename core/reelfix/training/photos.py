"""The training photos and the held-out split, recorded here so every run uses the same.

Real photos from two Debian packages (install with `apt-get install lomiri-wallpapers-16.04
mate-backgrounds`; they are read from /usr/share/backgrounds and never committed) and the
CC0 / public-domain photos bundled with scikit-image. Licences, per file:
- lomiri-wallpapers-16.04 (/usr/share/backgrounds/*.jpg): CC-BY-4.0, CC-BY-SA-4.0 or
  CC0-1.0 (see /usr/share/doc/lomiri-wallpapers-16.04/copyright);
- mate-backgrounds (/usr/share/backgrounds/mate/nature/*.jpg): GPL-2+;
- scikit-image data: astronaut (NASA, public domain), camera, chelsea, coffee, rocket (CC0).

The trained weights are ours (Apache-2.0); no photo is shipped or embedded in them.
HELD_OUT photos are never used in training: benchmarks measure on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import UserError

LOMIRI = Path("/usr/share/backgrounds")
MATE = Path("/usr/share/backgrounds/mate/nature")
PACKAGES = "lomiri-wallpapers-16.04 mate-backgrounds"

LOMIRI_FILES = (
    "Bridge_by_Sander_Klootwijk.jpg", "Dragonfly_by_Bolly.jpg", "Picture_0B_by_freespace.jpg",
    "Picture_1A_by_freespace.jpg", "Wine_by_Jakkub_Mede.jpg", "aitzgorri_by_Aitzol_Berasategi.jpg",
    "analogpattern_by_Peter_Nerlich.jpg", "free_by_Peter_Nerlich.jpg", "friends_by_Aitzol_Berasategi.jpg",
    "greentock_by_Peter_Nerlich.jpg", "life_by_Aitzol_Berasategi.jpg", "picosdeeuropa_by_Aitzol_Berasategi.jpg",
    "seeding_by_Clements_Engelhardt.jpg", "sunset_by_Aitzol_Berasategi.jpg", "umang_by_Abhishek_Mudgal.jpg",
)  # fmt: skip
MATE_FILES = (
    "Aqua.jpg", "Blinds.jpg", "Dune.jpg", "FreshFlower.jpg", "Garden.jpg", "GreenMeadow.jpg", "LadyBird.jpg",
    "RainDrops.jpg", "Storm.jpg", "TwoWings.jpg", "Wood.jpg", "YellowFlower.jpg",
)  # fmt: skip
SKIMAGE = ("astronaut", "camera", "chelsea", "coffee", "rocket")

# never trained on; the benchmarks measure here
HELD_OUT = frozenset({
    "lomiri/Dragonfly_by_Bolly.jpg", "lomiri/sunset_by_Aitzol_Berasategi.jpg",
    "lomiri/friends_by_Aitzol_Berasategi.jpg", "mate/Garden.jpg", "mate/Storm.jpg", "skimage/chelsea",
    "skimage/coffee",
})  # fmt: skip

MAX_SIDE = 1536  # photos are area-downscaled to this long side: cleaner targets, like a grain-free 2K scan


@dataclass(frozen=True)
class Photo:
    """One photo: a stable key ('lomiri/NAME', 'mate/NAME', 'skimage/NAME') and its pixels."""

    key: str
    pixels: np.ndarray  # HxWx3 uint8, RGB (sRGB-encoded)


def all_keys() -> list[str]:
    return (
        [f"lomiri/{n}" for n in LOMIRI_FILES] + [f"mate/{n}" for n in MATE_FILES] + [f"skimage/{n}" for n in SKIMAGE]
    )


def training_keys() -> list[str]:
    return [k for k in all_keys() if k not in HELD_OUT]


def held_out_keys() -> list[str]:
    return [k for k in all_keys() if k in HELD_OUT]


def _shrink(rgb: np.ndarray, max_side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    f = max_side / max(h, w)
    if f >= 1.0:
        return rgb
    return cv2.resize(rgb, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)


def load(key: str, max_side: int = MAX_SIDE) -> Photo:
    """One photo by key, RGB uint8, area-downscaled to `max_side`; grey photos become 3 equal channels."""
    source, name = key.split("/", 1)
    if source == "skimage":
        from skimage import data

        rgb = np.asarray(getattr(data, name)())
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[:, :, None], 3, axis=2)
        return Photo(key, _shrink(np.ascontiguousarray(rgb[:, :, :3]), max_side))
    path = (LOMIRI if source == "lomiri" else MATE) / name
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise UserError(
            f"training photo {path} is missing or unreadable",
            hint=f"install the photo packages: apt-get install {PACKAGES}",
        )
    return Photo(key, _shrink(np.ascontiguousarray(bgr[:, :, ::-1]), max_side))


def load_many(keys: list[str], max_side: int = MAX_SIDE) -> list[Photo]:
    return [load(k, max_side) for k in keys]
