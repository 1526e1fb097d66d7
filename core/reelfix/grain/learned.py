"""The learned grain denoiser at run time: `Denoiser(ctx).run(picture, sigma)`.

The model (`grain-denoise`, trained by `reelfix.training.denoiser`) removes film grain from
one picture on the perceptual 0..1 scale, told the grain's standard deviation at every
pixel (`sigma`, same units). It serves frames with no usable neighbours (first and last
frames, cuts, single images) and is the spatial stage of `degrain`.

Values outside 0..1 survive: the model sees the picture clipped to 0..1 and what the clip
removed is added back to its output. A monochrome picture (one channel) goes through the
model as three equal channels and comes back as their mean. Large pictures run in tiles
sized from the job's memory budget (`NodeContext.max_memory`), with overlap beyond the
model's receptive field, so a tiled result equals a whole-picture one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ModelError
from ..models.catalog import ModelEntry, find_model, verify
from ..runtime.session import ModelSession, get_session
from ..tile_budget import tile_shape_for_budget
from ..tiling import run_tiled

if TYPE_CHECKING:  # nodes import this module: no import cycle at run time
    from ..nodes.spec import NodeContext

MODEL = "grain-denoise"
FEATHER = 8  # pixels of cross-fade between tiles beyond the receptive field
PROCESS_BYTES = 400 * 1024**2  # the process itself, kept out of the tile budget


def available(model: str = MODEL) -> bool:
    """Whether the denoiser model is installed (its card is found) and ONNX Runtime imports."""
    try:
        import onnxruntime  # noqa: F401

        find_model(model)
    except (ImportError, ModelError):
        return False
    return True


class Denoiser:
    """The loaded denoiser (model found, sha256-checked and loaded once per process)."""

    def __init__(self, ctx: NodeContext, model: str = MODEL, tile: int = 0) -> None:
        self.ctx = ctx
        self.tile = tile
        self.entry: ModelEntry = find_model(model)
        card = self.entry.card
        if card.task != "denoise" or not card.noise_input:
            raise ModelError(
                f"model '{card.name}' ({self.entry.card_path}) is not a denoiser with a noise-level input "
                f"(task {card.task}, noise_input {card.noise_input})",
                hint=f"use a denoise model such as '{MODEL}' (`reelfix models list`)",
            )
        self.card = card
        self.session: ModelSession = get_session(verify(self.entry), card, ctx.device)

    @property
    def provider(self) -> str:
        return self.session.provider

    def provenance(self) -> dict[str, Any]:
        return {"name": self.card.name, "sha256": self.card.sha256, "provider": self.provider}

    def run(self, picture: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        """`picture` HxWxC float32 (C = 1 or 3, perceptual scale) without the grain whose
        standard deviation at each pixel is `sigma` (HxW, same units); same shape back."""
        if picture.ndim != 3 or picture.shape[2] not in (1, 3):
            raise ModelError(f"{self.card.name}: needs an HxWx1 or HxWx3 picture, got shape {picture.shape}")
        if sigma.shape != picture.shape[:2]:
            raise ModelError(f"{self.card.name}: sigma map {sigma.shape} does not match the picture {picture.shape[:2]}")
        pic = np.asarray(picture, dtype=np.float32)
        if not np.any(sigma > 0):
            return pic.copy()  # nothing to remove: bit-identical
        clipped = np.clip(pic, 0.0, 1.0)
        three = np.repeat(clipped, 3, axis=2) if pic.shape[2] == 1 else clipped
        h, w = pic.shape[:2]
        f = self.card.multiple_of
        hp, wp = -(-h // f) * f, -(-w // f) * f
        stacked = np.empty((4, hp, wp), np.float32)  # picture and sigma tiled together
        stacked[:3] = _pad(three, hp, wp).transpose(2, 0, 1)
        stacked[3] = _pad(np.maximum(sigma, 0.0)[:, :, None], hp, wp)[:, :, 0]
        overlap = self.card.receptive_field + FEATHER
        tile = self.tile or tile_shape_for_budget(
            self.ctx.max_memory,
            self.card.bytes_per_pixel_for(self.provider),
            overlap=overlap,
            scale=1,
            channels=4,
            frame_hw=(hp, wp),
            multiple_of=f,
            reserved=PROCESS_BYTES + 4 * pic.nbytes,
        )
        # The model folds 2x2 blocks twice (shifting its input by less than f changes its result):
        # run_tiled starts every tile on the picture's f x f grid, so tiles equal a whole run.
        den = run_tiled(
            self._run_tile, stacked, scale=1, tile=tile, overlap=overlap, multiple_of=f,
            receptive_field=self.card.receptive_field,
        )  # fmt: skip
        out = np.ascontiguousarray(den[:, :h, :w].transpose(1, 2, 0))
        if pic.shape[2] == 1:
            out = out.mean(axis=2, keepdims=True)
        out += pic - clipped  # what the clip removed (highlights > 1, negatives) comes back untouched
        return out

    def _run_tile(self, tile: np.ndarray) -> np.ndarray:
        card = self.card
        feeds = {card.input_name: np.ascontiguousarray(tile[:, :3]), str(card.noise_input): np.ascontiguousarray(tile[:, 3:4])}
        try:
            (y,) = self.session.session.run([card.output_name], feeds)
        except Exception as exc:  # noqa: BLE001 - ORT raises its own pybind exception types
            raise ModelError(
                f"model {self.session.path} failed on a tile {tuple(tile.shape[2:])} with {self.provider}: {exc}",
                hint="for out-of-memory lower max_memory; otherwise re-install the model",
            ) from None
        return np.asarray(y, dtype=np.float32)


def _pad(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """HxWxC reflected at the bottom and right to h x w (edge-repeated where too small to reflect)."""
    ph, pw = h - img.shape[0], w - img.shape[1]
    if not ph and not pw:
        return img
    if min(img.shape[:2]) > max(ph, pw):
        return np.pad(img, ((0, ph), (0, pw), (0, 0)), mode="reflect")
    return np.pad(img, ((0, ph), (0, pw), (0, 0)), mode="edge")

