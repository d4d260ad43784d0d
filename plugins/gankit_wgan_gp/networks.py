"""WGAN-GP networks (Gulrajani et al., 2017).

The critic has no batch norm (it would make the gradient penalty depend on the
other samples in the batch): layer norm or no normalization. Images use
DCGAN-style convolutional stacks; 1-D data such as the 2-D Gaussian mixtures
uses multilayer perceptrons. The form follows ``data_shape``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from gankit.blocks import (
    check_image_shape,
    downsampling_stack,
    init_dcgan,
    mlp,
    upsampling_stack,
)
from gankit.blocks import widths as level_widths
from gankit.components import ArchConfig, check_unconditional
from gankit.config import check_at_least
from gankit.errors import ConfigError


@dataclass
class WGANGPConfig(ArchConfig):
    """WGAN-GP options.

    data_shape: (C, S, S) images use the convolutional form; (D,) vectors the MLP form.
    g_width / d_width: convolutional widths (as DCGAN). critic_norm: "layer" or "none".
    mlp_hidden / mlp_layers: width and depth of the MLP form.
    mlp_batchnorm: batch norm in G's MLP (the paper's toy G has it; without it G's
    samples do not depend on the rest of the batch, which keeps 2-D modes sharper).
    """

    latent_dim: int = 128
    data_shape: tuple[int, ...] = (1, 32, 32)
    num_classes: int = 0
    g_width: int = field(
        default=64, metadata={"help": "G's channels at the highest resolution (as dcgan; images)"}
    )
    d_width: int = field(
        default=64, metadata={"help": "the critic's channels at the highest resolution (images)"}
    )
    critic_norm: str = field(
        default="layer",
        metadata={"help": "normalization in the critic: layer or none (no batch norm)"},
    )
    mlp_hidden: int = field(
        default=512, metadata={"help": "hidden width of the MLP form (vector data)"}
    )
    mlp_layers: int = field(
        default=3, metadata={"help": "hidden layers of the MLP form (vector data)"}
    )
    mlp_batchnorm: bool = field(
        default=True, metadata={"help": "batch norm in G's MLP (the paper's toy G has it)"}
    )


def is_vector(cfg: WGANGPConfig) -> bool:
    """True when the data are vectors (MLP form); checks the sizes of that form."""
    vector = len(tuple(cfg.data_shape)) == 1
    if vector:
        check_at_least(cfg, 1, "mlp_hidden")
        check_at_least(cfg, 0, "mlp_layers")
    else:
        check_at_least(cfg, 1, "g_width", "d_width")
    return vector


def _no_labels(labels: torch.Tensor | None) -> None:
    if labels is not None:
        raise ValueError("wgan-gp is unconditional: labels must be None (use cgan)")


class WGANGPGenerator(nn.Module):
    """z [B, latent_dim] -> images [B, C, S, S] in [-1, 1], or vectors [B, D]."""

    def __init__(self, cfg: WGANGPConfig) -> None:
        super().__init__()
        check_unconditional(cfg, "wgan-gp")
        self.latent_dim = cfg.latent_dim
        self.vector = is_vector(cfg)
        if self.vector:
            self.net: nn.Module = mlp(
                cfg.latent_dim,
                int(cfg.data_shape[0]),
                cfg.mlp_hidden,
                cfg.mlp_layers,
                norm=cfg.mlp_batchnorm,
            )
        else:
            channels, size = check_image_shape(cfg.data_shape, "wgan-gp")
            self.net = upsampling_stack(cfg.latent_dim, channels, size, cfg.g_width)
            init_dcgan(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Generate samples; unconditional, so ``labels`` must be None."""
        _no_labels(labels)
        if self.vector:
            return self.net(z)
        return self.net(z.reshape(z.shape[0], self.latent_dim, 1, 1))


class WGANGPCritic(nn.Module):
    """samples -> critic scores [B] (no batch norm)."""

    def __init__(self, cfg: WGANGPConfig) -> None:
        super().__init__()
        check_unconditional(cfg, "wgan-gp")
        if cfg.critic_norm not in ("layer", "none"):
            raise ConfigError(
                f"wgan-gp critic_norm must be 'layer' or 'none' (batch norm breaks the "
                f"gradient penalty), got {cfg.critic_norm!r}"
            )
        self.vector = is_vector(cfg)
        if self.vector:
            self.net: nn.Module = mlp(int(cfg.data_shape[0]), 1, cfg.mlp_hidden, cfg.mlp_layers)
        else:
            channels, size = check_image_shape(cfg.data_shape, "wgan-gp")
            last = level_widths(cfg.d_width, size)[0]
            self.net = nn.Sequential(
                downsampling_stack(channels, size, cfg.d_width, cfg.critic_norm),
                nn.Conv2d(last, 1, 4, 1, 0),
            )
            init_dcgan(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Score samples; one value per sample."""
        _no_labels(labels)
        return self.net(x).reshape(x.shape[0])
