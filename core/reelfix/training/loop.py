"""What both trainers share: seeding, the optimiser schedule, progress lines and
safetensors checkpoints (no pickle)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

CHECKPOINTS = Path("build/training")  # torch weights of finished runs (not shipped; git-ignored)


@dataclass(frozen=True)
class Schedule:
    """Adam with a short warm-up and cosine decay to `lr * floor` over `steps`."""

    steps: int
    lr: float
    warmup: int = 100
    floor: float = 0.02

    def factor(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        t = (step - self.warmup) / max(1, self.steps - self.warmup)
        return self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


def seeded(seed: int, threads: int) -> np.random.Generator:
    """Fix torch's and numpy's randomness (and the thread count, which changes float sums)."""
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    return np.random.default_rng(seed)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(torch.mean((a.detach().clamp(0, 1) - b) ** 2))
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def fit(
    net: torch.nn.Module,
    schedule: Schedule,
    step_loss: Callable[[int], torch.Tensor],
    *,
    log: Callable[[str], None] = lambda line: None,
    every: int = 100,
    validate: Callable[[], str] | None = None,
) -> None:
    """Run `schedule.steps` optimiser steps; `step_loss(step)` draws a batch and returns the loss."""
    opt = torch.optim.Adam(net.parameters(), lr=schedule.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule.factor)
    start, running, count = time.monotonic(), 0.0, 0
    net.train()
    for step in range(schedule.steps):
        loss = step_loss(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running += float(loss.detach())
        count += 1
        if (step + 1) % every == 0 or step + 1 == schedule.steps:
            extra = ""
            if validate is not None:
                net.eval()
                with torch.no_grad():
                    extra = "  " + validate()
                net.train()
            log(f"step {step + 1}/{schedule.steps}  loss {running / count:.5f}  {time.monotonic() - start:.0f}s{extra}")
            running, count = 0.0, 0
    net.eval()


def save_weights(net: torch.nn.Module, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return path


def load_weights(net: torch.nn.Module, path: Path) -> torch.nn.Module:
    net.load_state_dict(load_file(str(path)))
    return net
