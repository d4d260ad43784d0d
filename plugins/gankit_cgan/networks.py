"""Class-conditional GAN: label embedding in G, projection discriminator (Miyato & Koyama, 2018).

G concatenates a learned label embedding to z and runs a DCGAN-style stack.
D computes features phi(x) (a DCGAN-style stack without batch norm, summed over
space) and scores ``linear(phi(x)) + <embed(y), phi(x)>``: the projection
discriminator, which conditions through an inner product rather than by
concatenating labels to the input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from gankit.blocks import check_image_shape, downsampling_stack, init_dcgan, upsampling_stack
from gankit.blocks import widths as level_widths
from gankit.components import ArchConfig
from gankit.config import check_at_least
from gankit.errors import ConfigError


@dataclass
class CGANConfig(ArchConfig):
    """Conditional GAN options.

    num_classes: number of classes (taken from the data when unset). embed_dim:
    size of G's label embedding concatenated to z. g_width / d_width: as DCGAN.
    """

    latent_dim: int = 100
    data_shape: tuple[int, ...] = (1, 32, 32)
    num_classes: int = 10
    embed_dim: int = field(
        default=32, metadata={"help": "size of G's label embedding, concatenated to z"}
    )
    g_width: int = field(
        default=64, metadata={"help": "G's channels at the highest resolution (as dcgan)"}
    )
    d_width: int = field(
        default=64, metadata={"help": "D's channels at the highest resolution (as dcgan)"}
    )


def _check(cfg: CGANConfig) -> tuple[int, int]:
    if cfg.num_classes < 2:
        raise ConfigError(f"cgan needs num_classes >= 2, got {cfg.num_classes}")
    check_at_least(cfg, 1, "embed_dim", "g_width", "d_width")
    return check_image_shape(cfg.data_shape, "cgan")


def _need_labels(labels: torch.Tensor | None) -> torch.Tensor:
    if labels is None:
        raise ValueError("cgan is conditional: pass labels (int64 [B])")
    return labels


class CGANGenerator(nn.Module):
    """(z [B, latent_dim], labels [B]) -> images [B, C, S, S] in [-1, 1]."""

    def __init__(self, cfg: CGANConfig) -> None:
        super().__init__()
        channels, size = _check(cfg)
        self.latent_dim = cfg.latent_dim
        self.embed = nn.Embedding(cfg.num_classes, cfg.embed_dim)
        self.net = upsampling_stack(cfg.latent_dim + cfg.embed_dim, channels, size, cfg.g_width)
        init_dcgan(self)
        nn.init.normal_(self.embed.weight, 0.0, 1.0)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Generate images of the given classes."""
        h = torch.cat([z, self.embed(_need_labels(labels))], dim=1)
        return self.net(h.reshape(h.shape[0], -1, 1, 1))


class ProjectionDiscriminator(nn.Module):
    """(images, labels) -> logits [B]."""

    def __init__(self, cfg: CGANConfig) -> None:
        super().__init__()
        channels, size = _check(cfg)
        width = level_widths(cfg.d_width, size)[0]
        self.features = downsampling_stack(channels, size, cfg.d_width, norm="none")
        self.linear = nn.Linear(width, 1)
        self.embed = nn.Embedding(cfg.num_classes, width)
        init_dcgan(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Score images given their classes."""
        h = self.features(x).sum(dim=(2, 3))
        return self.linear(h).reshape(-1) + (self.embed(_need_labels(labels)) * h).sum(dim=1)
