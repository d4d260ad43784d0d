"""DCGAN generator and discriminator (Radford et al., 2016).

The paper's guidelines: strided (transposed) convolutions instead of pooling,
batch norm everywhere except G's output and D's input, ReLU in G (tanh at the
output), LeakyReLU(0.2) in D, weights drawn from N(0, 0.02).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from gankit.components import ArchConfig
from gankit.errors import ConfigError
from gankit.layers import MinibatchStdDev

MIN_SIZE, MAX_SIZE = 16, 256


@dataclass
class DCGANConfig(ArchConfig):
    """DCGAN options.

    latent_dim: size of z. data_shape: (channels, size, size), channels 1 or 3,
    size a power of two from 16 to 256 (pad or resize 28x28 data to 32).
    g_width / d_width: channels of the widest-resolution layer (ngf / ndf in
    the paper's code); deeper layers double it, up to 8x.
    minibatch_std: add a minibatch standard-deviation channel before D's last layer.
    """

    latent_dim: int = 100
    data_shape: tuple[int, ...] = (1, 32, 32)
    num_classes: int = 0
    g_width: int = 64
    d_width: int = 64
    minibatch_std: bool = False


def check_shape(cfg: DCGANConfig) -> tuple[int, int]:
    """Return (channels, size), or raise a ConfigError explaining the supported shapes."""
    shape = tuple(cfg.data_shape)
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ConfigError(
            f"dcgan needs square images (channels, size, size); got data_shape {shape}"
        )
    channels, size = shape[0], shape[1]
    if channels not in (1, 3):
        raise ConfigError(f"dcgan supports 1 or 3 channels, got {channels}")
    if size < MIN_SIZE or size > MAX_SIZE or size & (size - 1):
        raise ConfigError(
            f"dcgan needs a power-of-two size from {MIN_SIZE} to {MAX_SIZE}, got {size}; "
            f"pad or resize the data (e.g. data.pad_to_32=true or data.size=32)"
        )
    return channels, size


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights N(0, 0.02), batch-norm scale N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def _widths(base: int, levels: int) -> list[int]:
    """Channel widths from the 4x4 level (widest) to the last level before the output."""
    return [base * min(2 ** (levels - 1 - i), 8) for i in range(levels)]


class DCGANGenerator(nn.Module):
    """z [B, latent_dim] -> images [B, C, S, S] in [-1, 1]."""

    def __init__(self, cfg: DCGANConfig) -> None:
        super().__init__()
        channels, size = check_shape(cfg)
        self.latent_dim = cfg.latent_dim
        levels = int(math.log2(size)) - 2  # 4x4 -> size takes `levels` doublings
        widths = _widths(cfg.g_width, levels)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(cfg.latent_dim, widths[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(True),
        ]
        for w_in, w_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [
                nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(w_out),
                nn.ReLU(True),
            ]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Generate images; DCGAN is unconditional, so ``labels`` must be None."""
        if labels is not None:
            raise ValueError("dcgan is unconditional: labels must be None (use cgan)")
        return self.net(z.reshape(z.shape[0], self.latent_dim, 1, 1))


class DCGANDiscriminator(nn.Module):
    """images [B, C, S, S] -> logits [B]."""

    def __init__(self, cfg: DCGANConfig) -> None:
        super().__init__()
        channels, size = check_shape(cfg)
        levels = int(math.log2(size)) - 2
        widths = list(reversed(_widths(cfg.d_width, levels)))  # narrow -> wide
        layers: list[nn.Module] = [
            nn.Conv2d(channels, widths[0], 4, 2, 1),
            nn.LeakyReLU(0.2, True),
        ]
        for w_in, w_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [
                nn.Conv2d(w_in, w_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(w_out),
                nn.LeakyReLU(0.2, True),
            ]
        last = widths[-1]
        if cfg.minibatch_std:
            layers.append(MinibatchStdDev())
            last += 1
        layers.append(nn.Conv2d(last, 1, 4, 1, 0))
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Score images; returns one logit per image."""
        if labels is not None:
            raise ValueError("dcgan is unconditional: labels must be None (use cgan)")
        return self.net(x).reshape(x.shape[0])
