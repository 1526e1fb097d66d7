"""The learned grain denoiser's network: a small two-level U-Net with a noise-level input.

FFDNet's ideas in a CPU-sized body: the picture and its per-pixel sigma map are folded
2x2 into channels (pixel unshuffle), so every convolution runs at a quarter of the pixels;
a second level at 1/4 resolution widens the receptive field for coarse (blurred) grain at
little cost; the net predicts the grain and subtracts it (residual learning). The last
convolution also sees the folded input itself, so fine (one-pixel) grain, which is the
picture minus a local mean, is a short linear path rather than one through ten ReLUs;
with He initialisation this trains several times faster on CPU budgets. The sigma
input is on the same perceptual scale as the pixels and may be a 1x1x1x1 tensor (one
level for the whole picture): it is broadcast to the picture's size first.

About 0.1 MFLOP (52k multiply-adds) per pixel; height and width must be multiples of 4.
"""

from __future__ import annotations

import torch
from torch import nn

SIGMA_GAIN = 10.0  # sigma is ~0.005..0.08: bring it to the pixels' order of magnitude
MULTIPLE_OF = 4


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


class GrainNet(nn.Module):
    """picture (N,3,H,W), sigma (N or 1,1,H or 1,W or 1) -> denoised picture (N,3,H,W)."""

    def __init__(self, features: int = 48, inner: int = 96, channels: int = 3) -> None:
        super().__init__()
        self.channels = channels
        f, g = features, inner
        self.unshuffle = nn.PixelUnshuffle(2)
        self.shuffle = nn.PixelShuffle(2)
        self.head = _conv(4 * (channels + 1), f)
        self.enc = nn.Sequential(nn.ReLU(), _conv(f, f), nn.ReLU(), _conv(f, f), nn.ReLU())
        self.down = _conv(f, g, stride=2)
        self.mid = nn.Sequential(nn.ReLU(), _conv(g, g), nn.ReLU(), _conv(g, g), nn.ReLU(), _conv(g, g), nn.ReLU())
        self.up = _conv(g, 4 * f)
        self.dec = nn.Sequential(nn.ReLU(), _conv(f, f), nn.ReLU(), _conv(f, f), nn.ReLU())
        self.tail = _conv(f + 4 * (channels + 1), 4 * channels)  # features and the folded input itself
        for m in self.modules():
            if isinstance(m, nn.Conv2d):  # He init: the signal keeps its scale through the ReLUs
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)  # type: ignore[arg-type]
        with torch.no_grad():
            self.tail.weight.mul_(0.1)  # start near the identity (little grain predicted)

    def forward(self, picture: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        level = sigma.expand(picture.shape[0], 1, picture.shape[2], picture.shape[3]) * SIGMA_GAIN
        x = self.unshuffle(torch.cat([picture, level], dim=1))
        skip = self.enc(self.head(x))
        deep = self.shuffle(self.up(self.mid(self.down(skip))))
        grain = self.shuffle(self.tail(torch.cat([self.dec(skip + deep), x], dim=1)))
        return picture - grain
