"""LSGAN generator and discriminator (Mao et al., 2017), small enough for a CPU.

Images ``(C, S, S)`` with ``S`` a power of two from 8 to 256 use convolutional
networks in the style of the paper: G projects ``z`` to a 4x4 feature map and
doubles the resolution with stride-2 transposed convolutions (batch norm, ReLU,
``tanh`` output); D halves it with stride-2 convolutions (LeakyReLU(0.2), batch norm
after the first layer) and ends in one linear output. 1-D data such as the 2-D
Gaussian mixtures use multilayer perceptrons instead. D returns raw scores: the
least-squares loss regresses them onto its targets, so there is no sigmoid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from gankit.components import ArchConfig
from gankit.errors import ConfigError

MIN_SIZE, MAX_SIZE = 8, 256


@dataclass
class LSGANConfig(ArchConfig):
    """Options of the ``lsgan`` architecture; every field has a default.

    ``latent_dim``, ``data_shape`` and ``num_classes`` come from
    :class:`gankit.components.ArchConfig`; the trainer fills ``data_shape`` from
    the dataset. The widths are those of the highest-resolution layers; lower
    resolutions double them, up to ``max_width``.
    """

    latent_dim: int = 64
    data_shape: tuple[int, ...] = (1, 32, 32)
    num_classes: int = 0
    g_width: int = field(default=32, metadata={"help": "G channels at full resolution"})
    d_width: int = field(default=32, metadata={"help": "D channels after its first layer"})
    max_width: int = field(default=256, metadata={"help": "most channels of any layer"})
    mlp_hidden: int = field(default=128, metadata={"help": "hidden units for 1-D data"})


def image_size(cfg: LSGANConfig) -> tuple[int, int] | None:
    """``(channels, size)`` for image data, ``None`` for 1-D data; raises on others."""
    shape = tuple(cfg.data_shape)
    if len(shape) == 1:
        return None
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ConfigError(f"lsgan needs square images (C, S, S) or vectors (D,); got {shape}")
    channels, size = int(shape[0]), int(shape[1])
    if size < MIN_SIZE or size > MAX_SIZE or size & (size - 1):
        raise ConfigError(
            f"lsgan needs an image size that is a power of two from {MIN_SIZE} to {MAX_SIZE}, "
            f"got {size}"
        )
    for name in ("g_width", "d_width", "max_width", "mlp_hidden"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"lsgan {name} must be positive, got {getattr(cfg, name)}")
    return channels, size


def level_widths(width: int, max_width: int, size: int) -> list[int]:
    """Channels per resolution from 4x4 up to ``size``: ``width`` at ``size``, doubling
    towards 4x4, capped at ``max_width``."""
    levels = int(math.log2(size)) - 1  # 4, 8, ..., size
    return [min(width * 2 ** (levels - 1 - i), max_width) for i in range(levels)]


def _unconditional(labels: torch.Tensor | None) -> None:
    if labels is not None:
        raise ValueError("lsgan is unconditional: labels must be None")


class LSGANGenerator(nn.Module):
    """``z [B, latent_dim]`` -> images ``[B, C, S, S]`` in [-1, 1], or vectors ``[B, D]``."""

    def __init__(self, cfg: LSGANConfig) -> None:
        super().__init__()
        self.latent_dim = cfg.latent_dim
        image = image_size(cfg)
        if image is None:
            dim = int(cfg.data_shape[0])
            self.shape: tuple[int, ...] = (dim,)
            self.net = nn.Sequential(
                nn.Linear(cfg.latent_dim, cfg.mlp_hidden),
                nn.BatchNorm1d(cfg.mlp_hidden),
                nn.ReLU(),
                nn.Linear(cfg.mlp_hidden, cfg.mlp_hidden),
                nn.BatchNorm1d(cfg.mlp_hidden),
                nn.ReLU(),
                nn.Linear(cfg.mlp_hidden, dim),
            )
            return
        channels, size = image
        widths = level_widths(cfg.g_width, cfg.max_width, size)
        self.shape = (widths[0], 4, 4)
        layers: list[nn.Module] = [
            nn.Linear(cfg.latent_dim, widths[0] * 16, bias=False),
            nn.Unflatten(1, self.shape),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        ]
        for w_in, w_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [
                nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(w_out),
                nn.ReLU(),
            ]
        layers += [nn.Conv2d(widths[-1], channels, 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Generate one sample per latent; ``labels`` must be None."""
        _unconditional(labels)
        return self.net(z)


class LSGANDiscriminator(nn.Module):
    """Images ``[B, C, S, S]`` or vectors ``[B, D]`` -> scores ``[B]`` (no sigmoid)."""

    def __init__(self, cfg: LSGANConfig) -> None:
        super().__init__()
        image = image_size(cfg)
        if image is None:
            dim = int(cfg.data_shape[0])
            self.net = nn.Sequential(
                nn.Linear(dim, cfg.mlp_hidden),
                nn.LeakyReLU(0.2),
                nn.Linear(cfg.mlp_hidden, cfg.mlp_hidden),
                nn.LeakyReLU(0.2),
                nn.Linear(cfg.mlp_hidden, 1),
            )
            return
        channels, size = image
        widths = level_widths(cfg.d_width, cfg.max_width, size)[::-1]  # size/1 ... 4x4
        layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 4, 2, 1), nn.LeakyReLU(0.2)]
        for w_in, w_out in zip(widths[:-2], widths[1:-1], strict=True):
            layers += [
                nn.Conv2d(w_in, w_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(w_out),
                nn.LeakyReLU(0.2),
            ]
        # after len(widths) - 1 halvings the map is 4x4 with widths[-2] channels
        layers += [nn.Flatten(), nn.Linear(widths[-2] * 16, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Score samples; one raw value per sample."""
        _unconditional(labels)
        return self.net(x).reshape(x.shape[0])
