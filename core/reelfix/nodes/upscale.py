"""`upscale`: super-resolution through an ONNX model, colour-managed and tiled.

Colour channels go to the model in the space it was trained in (its card says which);
values outside the model's input range (scene-linear highlights above 1, negatives) are
handled by `highlights.py` so that they survive while in-range pictures get exactly the
model's result; alpha and any extra channels are resized with a filter, never fed to a
colour model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import colour
from ..errors import ModelError
from ..frames.frame import Frame, picture_indices
from ..models.catalog import ModelEntry, default_model_for, verify
from ..models.variant_choice import ModelChoice, choose_model
from ..parallel import over_rows
from ..range_map import RangeMap
from ..resize import resize
from ..runtime.providers import GPU_PROVIDERS, gpu_memory_budget, providers_for
from ..runtime.session import ModelSession, get_session
from ..tile_budget import tile_shape_for_budget
from ..tiling import TileSize, interleave, run_plan, run_tiled
from . import highlights as hl
from .spec import NodeContext, NodeSpec, Param, Window

FEATHER = 8  # input pixels of cross-fade between tiles, beyond the model's receptive field
STRIP_ROWS = 256  # output rows post-processed at a time
LINEAR = "lin_srgb"  # where `auto` darkens the neighbourhood of highlights (any linear space gives the same gain)
PROCESS_BYTES = 400 * 1024**2  # the process itself (Python, ONNX Runtime, OpenImageIO), for the tile budget


def tiling_for(card: Any, height: int, width: int, provider: str, max_memory: int) -> tuple[TileSize, int]:
    """(tile, overlap) for a frame: the overlap covers the model's receptive field plus a
    feather; the tile (rows, columns) is the grid whose windows fit the memory budget and
    give the model the fewest pixels (`tile_budget.tile_shape_for_budget`). On CUDA/TensorRT the model's
    working memory is on the card, so the budget is the GPU's (`gpu_memory_budget`), not the
    job's host `max_memory`, which also holds the frame's own float buffers."""
    overlap = card.receptive_field + FEATHER
    in_bytes = height * width * 3 * 4
    on_gpu = provider in GPU_PROVIDERS
    tile = tile_shape_for_budget(
        gpu_memory_budget() if on_gpu else max_memory,
        card.bytes_per_pixel_for(provider),
        overlap=overlap,
        scale=card.scale,
        channels=3,
        frame_hw=(height, width),
        multiple_of=card.multiple_of,
        reserved=0 if on_gpu else PROCESS_BYTES + 3 * in_bytes + in_bytes * card.scale**2 // 2,
    )
    return tile, overlap


class Upscaler:
    """The per-job upscale runner: the model is found, verified and loaded once."""

    def __init__(self, params: dict[str, Any], ctx: NodeContext) -> None:
        self.params = params
        self.ctx = ctx
        name = params["model"] or default_model_for("upscale", params["scale"])
        planned = providers_for(ctx.device)[0].ort_name  # the provider that will run: picks the precision variant
        # on the CPU the model's final pixel shuffle is done here, fused with the colour conversion back
        self.pre_shuffle = planned == "CPUExecutionProvider"
        self.choice: ModelChoice = choose_model(name, planned)
        self.entry: ModelEntry = self.choice.entry
        card = self.entry.card
        if card.task != "upscale":
            raise ModelError(f"model '{card.name}' is a {card.task} model, not an upscaler")
        if card.scale != params["scale"] and (params["model"] or card.scale < params["scale"]):
            raise ModelError(
                f"model '{card.name}' upscales x{card.scale}, but scale={params['scale']} was asked",
                hint=f"set scale: {card.scale} or choose another model (`reelfix models list`)",
            )
        self.session: ModelSession = get_session(verify(self.entry), card, ctx.device, pre_shuffle=self.pre_shuffle)
        if self.session.provider != planned:  # ORT fell back silently: the variant for the provider that runs
            again = choose_model(name, self.session.provider)
            if again.entry.card.name != card.name:
                self.choice, self.entry = again, again.entry
                self.session = get_session(verify(self.entry), self.entry.card, ctx.device, pre_shuffle=self.pre_shuffle)
        self.highlights = params["highlights"]
        self.range_map = RangeMap(*card.input_range)

    def provenance(self) -> dict[str, Any]:
        card = self.entry.card
        return {
            "node": SPEC.name,
            "params": dict(self.params),
            "model": {"name": card.name, "sha256": card.sha256, "colorspace": card.colorspace}
            | ({"precision": card.precision, "variant_of": card.variant_of} if card.variant_of else {}),
            "model_choice": self.choice.reason,
            "provider": self.session.provider,
        } | ({"precision": self.session.precision} if self.session.precision else {})

    def process(self, window: Window) -> Frame:
        frame = window.centre
        scale = self.params["scale"]
        out_h, out_w = frame.height * scale, frame.width * scale
        pix = frame.pixels
        colour_idx = picture_indices(frame.channels)
        rest_idx = [i for i in range(len(frame.channels)) if i not in colour_idx]
        whole = colour_idx == list(range(len(frame.channels)))
        picture = self._model(pix if whole else pix[:, :, colour_idx], frame.colorspace)
        if picture.shape[:2] != (out_h, out_w):  # x3 with no model named: the built-in x4's result resampled to x3
            picture = resize(picture, out_h, out_w, "lanczos3")
        if whole:
            return frame.with_pixels(picture, mattes=self._mattes(frame))  # plain RGB or Y: no extra copy
        out = np.empty((out_h, out_w, len(frame.channels)), dtype=np.float32)
        out[:, :, colour_idx] = picture
        if rest_idx:
            rest = resize(pix[:, :, rest_idx], out_h, out_w, "lanczos3")
            lo = pix[:, :, rest_idx].min(axis=(0, 1))
            hi = pix[:, :, rest_idx].max(axis=(0, 1))
            out[:, :, rest_idx] = np.clip(rest, lo, hi)  # no ringing past the input's own range
        return frame.with_pixels(out, mattes=self._mattes(frame))

    def _mattes(self, frame: Frame) -> dict[str, np.ndarray]:
        """Mattes of earlier repair nodes, scaled with the picture (nearest: masks stay masks)."""
        s = self.params["scale"]
        return {k: np.repeat(np.repeat(m, s, axis=0), s, axis=1) for k, m in frame.mattes.items()}

    def _model(self, rgb: np.ndarray, space: str) -> np.ndarray:
        card = self.entry.card
        grey = rgb.shape[2] == 1
        if grey:
            rgb = np.repeat(rgb, 3, axis=2)
        mode = self.highlights
        lo, hi = card.input_range
        if space and mode != "rolloff":
            # the usual case: OCIO converts straight into the model's planar layout, and back from it into
            # the plate's interleaved one (the values of the general path below, bit for bit, three copies fewer)
            planes = colour.convert_to_planes(rgb, space, card.colorspace)
            if mode == "clip" or not ((planes < lo) | (planes > hi)).any():
                y = self._run_back(np.clip(planes, lo, hi, out=planes), space)
                return y.mean(axis=2, keepdims=True) if grey else y
            x_space = interleave(planes)  # values outside the range: the general path, from the same conversion
        else:
            x_space = colour.convert(rgb, space, card.colorspace) if space else np.array(rgb, dtype=np.float32)
        x = self.range_map.forward(x_space) if mode == "rolloff" else np.clip(x_space, lo, hi)
        outside = mode in ("split", "auto") and bool(((x_space < lo) | (x_space > hi)).any())
        y = self._run(x)
        if outside:  # values outside the range (see nodes/highlights.py); in range, `auto` is exactly `clip`
            hl.add_clipped_residual(y, x_space, x)
            if mode == "auto":
                margin = card.receptive_field + FEATHER
                hl.blend_darkened_near_highlights(
                    y, x_space, self._run, self._to_linear, self._from_linear, card.input_range, card.scale, margin,
                    card.multiple_of,
                )
        del x

        def band(r0: int, r1: int) -> None:  # the rest in bands of rows: no frame-sized temporaries, over threads
            strip = y[r0:r1]
            if mode == "rolloff":
                strip[...] = self._from_rolloff(strip, x_space, r0)
            if space:  # back with OCIO's fast curves, as in `_run_back`
                colour.convert(strip, card.colorspace, space, in_place=True, fast=True)

        over_rows(y.shape[0], band, STRIP_ROWS)
        return y.mean(axis=2, keepdims=True) if grey else y

    def _to_linear(self, x: np.ndarray) -> np.ndarray:
        return colour.convert(x, self.entry.card.colorspace, LINEAR)

    def _from_linear(self, x: np.ndarray) -> np.ndarray:
        return colour.convert(x, LINEAR, self.entry.card.colorspace, in_place=True)

    def _run_back(self, chw: np.ndarray, space: str) -> np.ndarray:
        """The model over in-range 3xHxW planes, then back to the plate's space `space` with OCIO's
        fast curves (2.5x less CPU at output size, ~3e-5 relative: every output pixel is the
        model's anyway; the way in stays exact, so in-range values stay in range): (H*s)x(W*s)x3.
        A model cut before its pixel shuffle is tiled and blended in its own s*s*3 channels (held
        channels-last when there are several tiles), at input resolution (the same feather, in
        input pixels), and the conversion writes each sub-pixel to its place
        (`colour.convert_shuffled`, or over the tiles' own memory: `convert_shuffled_in_place`):
        no shuffled copy of any tile, and no second frame-sized array where tiles are assembled."""
        card, shuffle = self.entry.card, self.session.shuffle
        if shuffle is None:
            return colour.convert_planes(self._run_planes(chw), card.colorspace, space, fast=True)
        tile, overlap, fixed = self._tiling(chw)
        # tiles are assembled channels-last, so the shuffled picture takes the same memory (one
        # frame-sized array, not two); one call's planes are converted straight into a new picture
        tiled = len(run_plan(chw.shape[1], chw.shape[2], tile, overlap, card.multiple_of, fixed)) > 1
        pre = run_tiled(
            self._run_pre, chw, scale=1, tile=tile, overlap=overlap, multiple_of=card.multiple_of,
            receptive_field=card.receptive_field, fixed=fixed, channels_last=tiled,
        )  # fmt: skip
        convert = colour.convert_shuffled_in_place if tiled else colour.convert_shuffled
        return convert(pre, shuffle.block, shuffle.plane, card.colorspace, space, fast=True)

    def _run_pre(self, x: np.ndarray) -> np.ndarray:
        """The model cut before its pixel shuffle on one 1x3xhxw tile: 1x(3*s*s)xhxw, checked."""
        pre = self.session.run(x)
        want = (1, 3 * self.session.shuffle.block**2, x.shape[2], x.shape[3])
        if pre.shape != want:
            raise ModelError(f"model '{self.entry.card.name}' gave {tuple(pre.shape)} before its pixel shuffle, expected {want}")
        return pre

    def _call(self, x: np.ndarray) -> np.ndarray:
        """The model on one 1x3xhxw tile: 1x3x(h*s)x(w*s), shuffled here for a model cut before its shuffle."""
        y = self.session.run(x)
        return self.session.shuffle.apply(y) if self.session.shuffle is not None else y

    def _tiling(self, chw: np.ndarray) -> tuple[TileSize, int, int | None]:
        """(tile, overlap, fixed size or None) for a 3xHxW picture (see `tiling_for`)."""
        tile, overlap = tiling_for(self.entry.card, chw.shape[1], chw.shape[2], self.session.provider, self.ctx.max_memory)
        fixed = self.session.fixed_size  # a model exported for one (square) size: tiles of exactly that size
        if fixed is not None:
            overlap = min(overlap, (fixed[0] - 1) // 2)
        return self.params["tile"] or tile, overlap, fixed[0] if fixed is not None else None

    def _run(self, x: np.ndarray) -> np.ndarray:
        """The model over an HxWx3 picture in its range, tiled within the memory budget: (H*s)x(W*s)x3."""
        return self._run_planes(np.ascontiguousarray(x.transpose(2, 0, 1)), channels_last=True)

    def _run_planes(self, chw: np.ndarray, channels_last: bool = False) -> np.ndarray:
        """`_run` of a 3xHxW picture: 3x(H*s)x(W*s) as the model gives it (`channels_last`: (H*s)x(W*s)x3)."""
        card = self.entry.card
        tile, overlap, fixed = self._tiling(chw)
        return run_tiled(
            self._call,
            chw,
            scale=card.scale,
            tile=tile,
            overlap=overlap,
            multiple_of=card.multiple_of,
            receptive_field=card.receptive_field,
            channels_last=channels_last,
            fixed=fixed,
        )

    def _from_rolloff(self, strip: np.ndarray, source: np.ndarray, r0: int) -> np.ndarray:
        """Inverse range map of the output rows from r0 (see `highlights.bound_outside_band`)."""
        card = self.entry.card
        return hl.bound_outside_band(self.range_map.inverse(strip), source, card.scale, card.input_range, first_row=r0)


SPEC = NodeSpec(
    name="upscale",
    label="Upscale",
    help="Super-resolution with an ONNX model (built-in: SPAN x2/x4), colour-managed and tiled.",
    params=(
        Param("scale", int, 2, "upscale factor (x3 with no model named: the built-in x4 model, resampled to x3 with Lanczos)", choices=(2, 3, 4)),
        Param("model", str, "", "model name or .onnx path; empty = the built-in model for the scale"),
        Param("tile", int, 0, "tile size in input pixels; 0 = from the memory budget", min=0),
        Param(
            "highlights",
            str,
            "auto",
            "values outside the model's range (scene-linear highlights > 1, negatives): 'auto' is 'clip' wherever the "
            "frame is in range, adds back what clipping removed, and only near highlights blends in the model's result "
            "for the picture darkened until they fit; 'rolloff' maps the whole picture reversibly into range for the "
            "model and back (also changes in-range values near the range's ends); 'split' gives the model the in-range "
            "part and adds the rest back resized; 'clip' clips (loses highlights). See docs/bench/upscale_plates.md",
            choices=hl.MODES,
        ),
    ),
    keeps_brightness=True,
    factory=lambda params, ctx: Upscaler(params, ctx),
)
