"""DCGAN generator and discriminator (Radford et al., 2016).

The paper's guidelines: strided (transposed) convolutions instead of pooling,
batch norm everywhere except G's output and D's input, ReLU in G (tanh at the
output), LeakyReLU(0.2) in D, weights drawn from N(0, 0.02).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from gankit.blocks import check_image_shape, downsampling_stack, init_dcgan, upsampling_stack
from gankit.blocks import widths as level_widths
from gankit.components import ArchConfig, check_unconditional
from gankit.config import check_at_least
from gankit.layers import MinibatchStdDev


@dataclass
class DCGANConfig(ArchConfig):
    """DCGAN options.

    latent_dim: size of z. data_shape: (channels, size, size), channels 1 or 3,
    size a power of two from 16 to 256 (pad or resize 28x28 data to 32).
    g_width / d_width: channels of the highest-resolution layer (ngf / ndf in
    the paper's code); lower resolutions double it, up to 8x.
    minibatch_std: add a minibatch standard-deviation channel before D's last layer.
    """

    latent_dim: int = 100
    data_shape: tuple[int, ...] = (1, 32, 32)
    num_classes: int = 0
    g_width: int = field(
        default=64,
        metadata={"help": "G's channels at the highest resolution; doubled per halving, up to 8x"},
    )
    d_width: int = field(
        default=64,
        metadata={"help": "D's channels at the highest resolution; doubled per halving, up to 8x"},
    )
    minibatch_std: bool = field(
        default=False,
        metadata={"help": "a minibatch standard-deviation channel before D's last layer"},
    )


def _no_labels(labels: torch.Tensor | None) -> None:
    if labels is not None:
        raise ValueError("dcgan is unconditional: labels must be None (use cgan)")


class DCGANGenerator(nn.Module):
    """z [B, latent_dim] -> images [B, C, S, S] in [-1, 1]."""

    def __init__(self, cfg: DCGANConfig) -> None:
        super().__init__()
        check_unconditional(cfg, "dcgan")
        channels, size = check_image_shape(cfg.data_shape, "dcgan")
        check_at_least(cfg, 1, "g_width", "d_width")
        self.latent_dim = cfg.latent_dim
        self.net = upsampling_stack(cfg.latent_dim, channels, size, cfg.g_width)
        init_dcgan(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Generate images; DCGAN is unconditional, so ``labels`` must be None."""
        _no_labels(labels)
        return self.net(z.reshape(z.shape[0], self.latent_dim, 1, 1))


class DCGANDiscriminator(nn.Module):
    """images [B, C, S, S] -> logits [B]."""

    def __init__(self, cfg: DCGANConfig) -> None:
        super().__init__()
        check_unconditional(cfg, "dcgan")
        channels, size = check_image_shape(cfg.data_shape, "dcgan")
        check_at_least(cfg, 1, "g_width", "d_width")
        last = level_widths(cfg.d_width, size)[0]
        layers: list[nn.Module] = [downsampling_stack(channels, size, cfg.d_width, "batch")]
        if cfg.minibatch_std:
            layers.append(MinibatchStdDev())
            last += 1
        layers.append(nn.Conv2d(last, 1, 4, 1, 0))
        self.net = nn.Sequential(*layers)
        init_dcgan(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Score images; returns one logit per image."""
        _no_labels(labels)
        return self.net(x).reshape(x.shape[0])
