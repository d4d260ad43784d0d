"""Convolutional building blocks shared by architectures (DCGAN-style stacks).

Plugins build on these so that, e.g., DCGAN, WGAN-GP and the conditional GAN
do not each carry a copy of the same up- and down-sampling stacks.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gankit.errors import ConfigError

MIN_SIZE, MAX_SIZE = 16, 256


def check_image_shape(data_shape: tuple[int, ...], arch: str) -> tuple[int, int]:
    """Return (channels, size) of a square power-of-two image shape, or raise ConfigError."""
    shape = tuple(data_shape)
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ConfigError(f"{arch} needs square images (channels, size, size); got {shape}")
    channels, size = int(shape[0]), int(shape[1])
    if channels not in (1, 3):
        raise ConfigError(f"{arch} supports 1 or 3 channels, got {channels}")
    if size < MIN_SIZE or size > MAX_SIZE or size & (size - 1):
        raise ConfigError(
            f"{arch} needs a power-of-two size from {MIN_SIZE} to {MAX_SIZE}, got {size}; "
            f"pad or resize the data to such a size (the dataset's options, `gankit info "
            f"DATASET`, say how: e.g. data.size=32 for digits, data.pad_to_32=true for "
            f"fashion-mnist)"
        )
    return channels, size


def widths(base: int, size: int) -> list[int]:
    """Channel widths from the 4x4 level (widest, at most 8x base) up to size/2."""
    levels = int(math.log2(size)) - 2
    return [base * min(2 ** (levels - 1 - i), 8) for i in range(levels)]


def norm_layer(kind: str, channels: int) -> nn.Module:
    """``"batch"``: BatchNorm2d; ``"layer"``: per-sample layer norm (GroupNorm with one
    group, safe under a gradient penalty); ``"none"``: identity."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind == "none":
        return nn.Identity()
    raise ConfigError(f"unknown norm {kind!r}; expected 'batch', 'layer' or 'none'")


def upsampling_stack(in_dim: int, channels: int, size: int, width: int) -> nn.Sequential:
    """DCGAN generator body: ``[B, in_dim, 1, 1]`` -> ``[B, channels, size, size]`` in [-1, 1].

    A 4x4 transposed convolution, then stride-2 transposed convolutions with batch
    norm and ReLU, and a tanh output without normalization.
    """
    ws = widths(width, size)
    layers: list[nn.Module] = [
        nn.ConvTranspose2d(in_dim, ws[0], 4, 1, 0, bias=False),
        nn.BatchNorm2d(ws[0]),
        nn.ReLU(True),
    ]
    for w_in, w_out in zip(ws[:-1], ws[1:], strict=True):
        layers += [
            nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=False),
            nn.BatchNorm2d(w_out),
            nn.ReLU(True),
        ]
    layers += [nn.ConvTranspose2d(ws[-1], channels, 4, 2, 1), nn.Tanh()]
    return nn.Sequential(*layers)


def downsampling_stack(channels: int, size: int, width: int, norm: str = "batch") -> nn.Sequential:
    """DCGAN discriminator body: ``[B, channels, size, size]`` -> ``[B, W, 4, 4]``.

    Stride-2 convolutions with LeakyReLU(0.2); no normalization on the input layer.
    The output width ``W`` is ``widths(width, size)[0]``.
    """
    ws = list(reversed(widths(width, size)))
    layers: list[nn.Module] = [nn.Conv2d(channels, ws[0], 4, 2, 1), nn.LeakyReLU(0.2, True)]
    for w_in, w_out in zip(ws[:-1], ws[1:], strict=True):
        layers += [
            nn.Conv2d(w_in, w_out, 4, 2, 1, bias=norm != "batch"),
            norm_layer(norm, w_out),
            nn.LeakyReLU(0.2, True),
        ]
    return nn.Sequential(*layers)


def init_dcgan(module: nn.Module) -> None:
    """DCGAN initialisation: weights N(0, 0.02), batch-norm scale N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear | nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)
            bias = getattr(m, "bias", None)
            if isinstance(bias, torch.Tensor):
                nn.init.zeros_(bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def mlp(in_dim: int, out_dim: int, hidden: int, layers: int, norm: bool = False) -> nn.Sequential:
    """A ReLU multilayer perceptron with ``layers`` hidden layers (optional batch norm)."""
    mods: list[nn.Module] = []
    d = in_dim
    for _ in range(layers):
        mods.append(nn.Linear(d, hidden))
        if norm:
            mods.append(nn.BatchNorm1d(hidden))
        mods.append(nn.ReLU(True))
        d = hidden
    mods.append(nn.Linear(d, out_dim))
    return nn.Sequential(*mods)
