"""Train the learned grain denoiser (`grain-denoise`) on real photos with synthetic film grain.

    python -m reelfix.training denoiser [--steps N] [--out DIR]     # or: make train-denoiser

Reproducible: fixed seed, fixed thread count, the photo list and held-out split of
`reelfix.training.photos`. Writes DIR/grain-denoise.onnx with its card (receptive field
and working memory measured) and the torch weights (safetensors, for further
training) in build/training/. The default DIR is the package's built-in model folder.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..models.catalog import BUILTIN_DIR
from ..models.card import write_card
from .degrade import grain_batch
from .export import export_onnx, measured_card
from .grain_net import MULTIPLE_OF, GrainNet
from .loop import CHECKPOINTS, Schedule, fit, load_weights, psnr, save_weights, seeded
from .photos import Photo, load_many, training_keys

NAME = "grain-denoise"
DEFAULT_SIGMA = 0.02  # used when a caller feeds no sigma (ONNX Runtime takes the initializer)


@dataclass(frozen=True)
class DenoiserConfig:
    steps: int = 4000
    batch: int = 16
    patch: int = 64
    lr: float = 1e-3
    seed: int = 5
    threads: int = 1  # one thread: on a shared 2-core machine two threads mostly wait for each other
    features: int = 48
    inner: int = 96


def train(
    photos: list[Photo], cfg: DenoiserConfig, log: Callable[[str], None] = lambda line: None, net: GrainNet | None = None
) -> GrainNet:
    """The trained net (eval mode), new or `net` trained further. L1 loss against the clean patch."""
    rng = seeded(cfg.seed, cfg.threads)
    net = net if net is not None else GrainNet(cfg.features, cfg.inner)
    val = grain_batch(photos, 32, cfg.patch, np.random.default_rng(cfg.seed + 1000))
    val_t = [torch.from_numpy(a) for a in (val.noisy, val.sigma, val.clean)]

    def step_loss(step: int) -> torch.Tensor:
        b = grain_batch(photos, cfg.batch, cfg.patch, rng)
        out = net(torch.from_numpy(b.noisy), torch.from_numpy(b.sigma))
        return torch.mean(torch.abs(out - torch.from_numpy(b.clean)))

    def validate() -> str:
        noisy, sigma, clean = val_t
        return f"val PSNR {psnr(noisy, clean):.2f} -> {psnr(net(noisy, sigma), clean):.2f} dB"

    fit(net, Schedule(cfg.steps, cfg.lr), step_loss, log=log, validate=validate)
    return net


def export(net: GrainNet, out: Path, cfg: DenoiserConfig, minutes: float, stage: str = "") -> Path:
    """ONNX + card into `out`; returns the card's path."""
    onnx_path = export_onnx(
        net,
        (torch.rand(1, 3, 64, 64), torch.full((1, 1, 64, 64), DEFAULT_SIGMA)),
        out / f"{NAME}.onnx",
        ["input", "sigma"],
        defaults={"sigma": np.full((1, 1, 1, 1), DEFAULT_SIGMA, np.float32)},
    )
    card = measured_card(
        onnx_path,
        name=NAME,
        task="denoise",
        scale=1,
        noise_input="sigma",
        colorspace="srgb_tx",
        multiple_of=MULTIPLE_OF,
        architecture="reelfix GrainNet (FFDNet-like two-level U-Net with a noise-level map)",
        licence="Apache-2.0",
        source="trained by reelfix: python -m reelfix.training denoiser (make train-denoiser)",
        authors="reelfix contributors",
        notes=(
            f"Learned spatial film-grain denoiser on the perceptual (sRGB-encoded) 0..1 scale. Inputs: 'input' "
            f"(N,3,H,W; grey pictures as 3 equal channels) and 'sigma' (N,1,H,W or 1,1,1,1: the grain standard "
            f"deviation at each pixel's clean luma, same units; {DEFAULT_SIGMA} when not fed). H, W multiples of "
            f"{MULTIPLE_OF}. {stage}Trained {cfg.steps} steps x {cfg.batch} patches of {cfg.patch}px (seed {cfg.seed}, lr {cfg.lr}, "
            f"{minutes:.0f} min on {cfg.threads} CPU thread(s)) on real photos (lomiri-wallpapers-16.04, mate-backgrounds, "
            "scikit-image) with synthetic grain from reelfix.grain.synth; photos and split in "
            "reelfix.training.photos. See docs/training.md."
        ),
    )
    return write_card(card, out)


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--steps", type=int, default=DenoiserConfig.steps)
    ap.add_argument("--out", type=Path, default=BUILTIN_DIR)
    ap.add_argument("--threads", type=int, default=DenoiserConfig.threads)
    ap.add_argument("--weights", type=Path, default=CHECKPOINTS / f"{NAME}.safetensors", help="torch weights (safetensors)")
    ap.add_argument("--init", type=Path, default=None, help="start from these torch weights (a second stage)")
    ap.add_argument("--lr", type=float, default=DenoiserConfig.lr)
    ap.add_argument("--seed", type=int, default=DenoiserConfig.seed)


def run(args: argparse.Namespace, log: Callable[[str], None]) -> Path:
    """The whole run `python -m reelfix.training denoiser` makes; returns the card's path."""
    cfg = DenoiserConfig(steps=args.steps, threads=args.threads, lr=args.lr, seed=args.seed)
    start = time.monotonic()
    keys = training_keys()
    log(f"loading {len(keys)} training photos")
    photos = load_many(keys)
    init = None
    if args.init is not None:
        init = load_weights(GrainNet(cfg.features, cfg.inner), args.init)
        log(f"starting from {args.init}")
    net = train(photos, cfg, log=log, net=init)
    save_weights(net, args.weights)
    stage = f"Second stage, from the weights of a first run ({args.init.name}; docs/training.md). " if args.init else ""
    card = export(net, args.out, cfg, (time.monotonic() - start) / 60, stage)
    log(f"wrote {card} ({(time.monotonic() - start) / 60:.1f} min)")
    return card
