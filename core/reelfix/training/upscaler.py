"""Fine-tune the built-in SPAN upscalers for film: `span-film-x2` and `span-film-x4`.

    python -m reelfix.training upscaler [--scale 2 4] [--steps N ...] [--out DIR]   # or: make train-upscaler

Starts from the built-in span-x2/x4 weights (Apache-2.0), run as a torch module
(`reelfix.training.onnx_graph`, checked against ONNX Runtime to < 1e-4 before training),
and trains on real photos degraded like a film scan (`reelfix.training.degrade.film_scan`:
optical blur of random width, area sampling, mild grain and scanner noise) towards the
clean photo. A small learning rate keeps what SPAN knows about bicubic-like inputs.
Reproducible: fixed seeds and thread count, the photo split of `reelfix.training.photos`.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from ..models.card import load_card, write_card
from ..models.catalog import BUILTIN_DIR
from .degrade import scan_batch
from .export import export_onnx, measured_card
from .loop import CHECKPOINTS, Schedule, fit, psnr, save_weights, seeded
from .onnx_graph import OnnxGraph
from .photos import Photo, load_many, training_keys

MATCH_TOLERANCE = 1e-4
STEPS = {2: 800, 4: 1000}  # per scale: about 20 and 15 minutes on one shared CPU thread
LR_PATCH = {2: 48, 4: 32}


@dataclass(frozen=True)
class UpscalerConfig:
    scale: int = 2
    steps: int = 800
    batch: int = 8
    lr_patch: int = 48  # low-res patch side; the high-res target is lr_patch * scale
    lr: float = 1e-4
    seed: int = 3
    threads: int = 1


def stock_path(scale: int) -> Path:
    return BUILTIN_DIR / f"span-x{scale}.onnx"


def load_stock(scale: int, check: bool = True) -> OnnxGraph:
    """The built-in SPAN as a torch module; with `check`, its output on a photo crop must
    match ONNX Runtime's within MATCH_TOLERANCE (else RuntimeError)."""
    path = stock_path(scale)
    net = OnnxGraph.load(path).eval()
    if check:
        from skimage import data

        x = np.ascontiguousarray(data.astronaut()[100:164, 150:230].transpose(2, 0, 1)[None], dtype=np.float32) / 255
        ref = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
        with torch.no_grad():
            diff = float(np.abs(net(torch.from_numpy(x)).numpy() - ref).max())
        if diff >= MATCH_TOLERANCE:
            raise RuntimeError(f"torch SPAN x{scale} differs from {path.name} by {diff:.3g} (tolerance {MATCH_TOLERANCE})")
    return net


def train(
    photos: list[Photo], cfg: UpscalerConfig, log: Callable[[str], None] = lambda line: None, net: OnnxGraph | None = None
) -> OnnxGraph:
    """Fine-tuned SPAN (eval mode). L1 loss against the clean high-res crop."""
    rng = seeded(cfg.seed + cfg.scale, cfg.threads)
    net = net if net is not None else load_stock(cfg.scale)
    val = scan_batch(photos, 16, cfg.lr_patch, cfg.scale, np.random.default_rng(cfg.seed + 1000))
    val_lr, val_hr = torch.from_numpy(val.lr), torch.from_numpy(val.hr)

    def step_loss(step: int) -> torch.Tensor:
        b = scan_batch(photos, cfg.batch, cfg.lr_patch, cfg.scale, rng)
        return torch.mean(torch.abs(net(torch.from_numpy(b.lr)) - torch.from_numpy(b.hr)))

    def validate() -> str:
        return f"val PSNR {psnr(net(val_lr), val_hr):.3f} dB"

    log(f"x{cfg.scale} start: {validate()}")
    fit(net, Schedule(cfg.steps, cfg.lr, warmup=50), step_loss, log=log, every=50, validate=validate)
    return net


def export(net: OnnxGraph, out: Path, cfg: UpscalerConfig, minutes: float) -> Path:
    name = f"span-film-x{cfg.scale}"
    stock = load_card(BUILTIN_DIR / f"span-x{cfg.scale}.card.json")
    x = torch.rand(1, 3, 32, 32)
    onnx_path = export_onnx(net, (x,), out / f"{name}.onnx", ["input"])
    card = measured_card(
        onnx_path,
        name=name,
        task="upscale",
        scale=cfg.scale,
        colorspace=stock.colorspace,
        architecture="SPAN",
        licence="Apache-2.0",
        source=f"fine-tuned by reelfix from span-x{cfg.scale} (python -m reelfix.training upscaler; make train-upscaler)",
        authors=f"reelfix contributors; base weights: {stock.authors}",
        notes=(
            f"SPAN x{cfg.scale} fine-tuned for film scans: {cfg.steps} steps x {cfg.batch} patches of "
            f"{cfg.lr_patch}px (seed {cfg.seed}, lr {cfg.lr}, {minutes:.0f} min on {cfg.threads} CPU thread(s)) on real "
            "photos degraded like a scan (optical blur, area sampling, mild grain, scanner noise; "
            "reelfix.training.degrade.film_scan). Base weights Apache-2.0 by the SPAN authors (see NOTICE). "
            "Not fp16-safe (as span-x2/x4). See docs/training.md."
        ),
    )
    return write_card(card, out)


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--scale", type=int, nargs="+", default=[2, 4], choices=(2, 4))
    ap.add_argument("--steps", type=int, nargs="+", default=list(STEPS.values()), help="steps for each scale")
    ap.add_argument("--threads", type=int, default=UpscalerConfig.threads)
    ap.add_argument("--out", type=Path, default=BUILTIN_DIR)
    ap.add_argument("--weights", type=Path, default=CHECKPOINTS, help="folder for the torch weights (safetensors)")


def run(args: argparse.Namespace, log: Callable[[str], None]) -> list[Path]:
    """The whole run `python -m reelfix.training upscaler` makes; returns the cards' paths."""
    keys = training_keys()
    log(f"loading {len(keys)} training photos")
    photos = load_many(keys)
    cards = []
    for scale, steps in zip(args.scale, args.steps * len(args.scale) if len(args.steps) == 1 else args.steps):
        start = time.monotonic()
        cfg = UpscalerConfig(scale=scale, steps=steps, threads=args.threads, lr_patch=LR_PATCH[scale])
        net = train(photos, cfg, log=log)
        save_weights(net, args.weights / f"span-film-x{scale}.safetensors")
        cards.append(export(net, args.out, cfg, (time.monotonic() - start) / 60))
        log(f"wrote {cards[-1]} ({(time.monotonic() - start) / 60:.1f} min)")
    return cards
