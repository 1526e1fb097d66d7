"""`python -m reelfix.training denoiser|upscaler [options]`: the training runs of
`make train-denoiser` and `make train-upscaler` (docs/training.md)."""

from __future__ import annotations

import argparse
import sys

from . import denoiser, upscaler


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m reelfix.training", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="model", required=True)
    for name, module in (("denoiser", denoiser), ("upscaler", upscaler)):
        module.add_arguments(sub.add_parser(name, help=(module.__doc__ or "").splitlines()[0]))
    args = ap.parse_args(argv)
    module = denoiser if args.model == "denoiser" else upscaler
    module.run(args, log=lambda line: print(line, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
