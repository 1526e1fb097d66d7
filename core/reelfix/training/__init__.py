"""Training of reelfix's own models: the learned grain denoiser and the film-tuned SPAN
upscalers. Needs torch (the `train` extra); nothing else in reelfix imports this package.

    make train-denoiser     # python -m reelfix.training.denoiser
    make train-upscaler     # python -m reelfix.training.upscaler

See docs/training.md for the data, the split, the degradations and the timings.
"""
