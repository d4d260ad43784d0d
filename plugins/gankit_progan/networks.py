"""Progressive growing of GANs (Karras et al., 2018): G and D that grow by doubling.

Both networks hold every resolution's layers from the start; ``level`` (0 for
4x4, 1 for 8x8, ...) says how far they currently run, and ``alpha`` in [0, 1]
fades the newest block in: G's output is ``alpha * new + (1 - alpha) *
upsample(previous)``, D's input path mixes the same way. A module built from a
config is at its final level with alpha 1: a plain generator with no growth
state, which is what artifacts and ONNX export use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from gankit.components import ArchConfig, check_unconditional
from gankit.config import check_at_least
from gankit.errors import ConfigError
from gankit.layers import MinibatchStdDev
from gankit_progan.layers import (
    EqualizedConv2d,
    EqualizedDownConv2d,
    EqualizedLinear,
    EqualizedUpConv2d,
    PixelNorm,
)


@dataclass
class ProGANConfig(ArchConfig):
    """ProGAN options.

    data_shape: (channels, R, R), R a power of two from 8 to 1024.
    max_width / fmap_base: channels at level l are min(max_width, fmap_base >> l).
    d_max_width / d_fmap_base: the same for D alone (0: G's value), e.g. a wider D
    than G.
    images_per_phase: real images shown in each fade-in and each stabilization phase.
    batch_sizes / learning_rates: per resolution from 4x4 up (empty: the train config's);
    the last value is used for any higher resolution.
    """

    latent_dim: int = 128
    data_shape: tuple[int, ...] = (1, 32, 32)
    num_classes: int = 0
    max_width: int = field(default=128, metadata={"help": "most channels at any level"})
    fmap_base: int = field(
        default=1024,
        metadata={"help": "channels at level l (4x4 is 0): min(max_width, fmap_base >> l)"},
    )
    d_max_width: int = field(default=0, metadata={"help": "D's max_width (0: G's)"})
    d_fmap_base: int = field(
        default=0, metadata={"help": "D's fmap_base (0: G's), e.g. a wider D than G"}
    )
    images_per_phase: int = field(
        default=60000, metadata={"help": "real images in each fade-in and each stabilization"}
    )
    batch_sizes: tuple[int, ...] = field(
        default=(),
        metadata={
            "help": "batch size per resolution from 4x4 up; the last one beyond (empty: batch_size)"
        },
    )
    learning_rates: tuple[float, ...] = field(
        default=(),
        metadata={"help": "G and D learning rate per resolution from 4x4 up (empty: lr_g, lr_d)"},
    )


def num_levels(cfg: ProGANConfig) -> int:
    """Levels from 4x4 to the final resolution (4x4 is level 0); checks the shape and widths."""
    shape = tuple(cfg.data_shape)
    if len(shape) != 3 or shape[1] != shape[2] or shape[1] < 8 or shape[1] & (shape[1] - 1):
        raise ConfigError(
            f"progan needs square power-of-two images of at least 8x8, got data_shape {shape}"
        )
    if shape[1] > 1024:
        raise ConfigError(f"progan supports resolutions up to 1024, got {shape[1]}")
    if shape[0] not in (1, 3):
        raise ConfigError(f"progan supports 1 or 3 channels, got {shape[0]}")
    check_at_least(cfg, 1, "max_width", "fmap_base")
    check_at_least(cfg, 0, "d_max_width", "d_fmap_base", note=" (0: the same as G's)")
    return int(math.log2(shape[1])) - 1


def _feature_maps(max_width: int, fmap_base: int, level: int) -> int:
    return max(1, min(max_width, fmap_base >> level))


def width(cfg: ProGANConfig, level: int) -> int:
    """G's feature maps at ``level``."""
    return _feature_maps(cfg.max_width, cfg.fmap_base, level)


def d_width(cfg: ProGANConfig, level: int) -> int:
    """D's feature maps at ``level`` (G's where ``d_max_width`` / ``d_fmap_base`` are 0)."""
    return _feature_maps(cfg.d_max_width or cfg.max_width, cfg.d_fmap_base or cfg.fmap_base, level)


def _act() -> nn.Module:
    return nn.LeakyReLU(0.2)


class GrowingModule(nn.Module):
    """Shared growth state: ``level``, ``alpha`` and ``fading`` (plain attributes).

    ``forward`` branches only on ``level`` and ``fading`` and reads alpha from the
    0-d buffer ``fade_alpha`` (not saved in the state dict). So ``torch.compile``
    builds one graph per level and stage and does not recompile as alpha ramps, nor
    specialize on alpha = 0 at the start of a fade-in, whatever the torch version's
    handling of Python floats.
    """

    max_level: int
    fade_alpha: torch.Tensor

    def _init_growth(self, max_level: int) -> None:
        self.max_level = max_level
        self.register_buffer("fade_alpha", torch.ones(()), persistent=False)
        self.set_growth(max_level, 1.0)

    def set_growth(self, level: int, alpha: float) -> None:
        """Run up to ``level`` with the newest block faded in by ``alpha``."""
        if not 0 <= level <= self.max_level:
            raise ValueError(f"level must be in 0..{self.max_level}, got {level}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.level = level
        self.alpha = float(alpha)
        self.fading = level > 0 and self.alpha < 1.0
        with torch.no_grad():
            self.fade_alpha.fill_(self.alpha)


class ProGANGenerator(GrowingModule):
    """z [B, latent_dim] -> images [B, C, r, r] in [-1, 1] at the current resolution r."""

    def __init__(self, cfg: ProGANConfig) -> None:
        super().__init__()
        check_unconditional(cfg, "progan")
        max_level = num_levels(cfg) - 1
        channels = int(cfg.data_shape[0])
        self.latent_dim = cfg.latent_dim
        w0 = width(cfg, 0)
        self.input_norm = PixelNorm()
        self.dense = EqualizedLinear(cfg.latent_dim, w0 * 16, gain=math.sqrt(2) / 4)
        self.initial = nn.Sequential(
            _act(), PixelNorm(), EqualizedConv2d(w0, w0, 3, 1), _act(), PixelNorm()
        )
        self.blocks = nn.ModuleList()
        for level in range(1, max_level + 1):
            w_in, w_out = width(cfg, level - 1), width(cfg, level)
            self.blocks.append(
                nn.Sequential(
                    EqualizedUpConv2d(w_in, w_out),  # doubles the resolution
                    _act(),
                    PixelNorm(),
                    EqualizedConv2d(w_out, w_out, 3, 1),
                    _act(),
                    PixelNorm(),
                )
            )
        self.to_rgb = nn.ModuleList(
            EqualizedConv2d(width(cfg, level), channels, 1, gain=1.0)
            for level in range(max_level + 1)
        )
        self._init_growth(max_level)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Generate images at the current level, fading the newest block in by alpha."""
        if labels is not None:
            raise ValueError("progan is unconditional: labels must be None")
        h = self.dense(self.input_norm(z)).reshape(z.shape[0], -1, 4, 4)
        h = self.initial(h)
        prev = h
        for level in range(1, self.level + 1):
            prev = h
            h = self.blocks[level - 1](h)
        out = self.to_rgb[self.level](h)
        if self.fading:
            low = F.interpolate(self.to_rgb[self.level - 1](prev), scale_factor=2.0, mode="nearest")
            out = self.fade_alpha * out + (1.0 - self.fade_alpha) * low
        return torch.tanh(out)


class ProGANDiscriminator(GrowingModule):
    """images [B, C, r, r] at the current resolution -> critic scores [B]."""

    def __init__(self, cfg: ProGANConfig) -> None:
        super().__init__()
        check_unconditional(cfg, "progan")
        channels = int(cfg.data_shape[0])
        max_level = num_levels(cfg) - 1
        self.from_rgb = nn.ModuleList(
            nn.Sequential(EqualizedConv2d(channels, d_width(cfg, level), 1), _act())
            for level in range(max_level + 1)
        )
        self.blocks = nn.ModuleList()  # blocks[l - 1] takes level l down to level l - 1
        for level in range(1, max_level + 1):
            w_in, w_out = d_width(cfg, level), d_width(cfg, level - 1)
            self.blocks.append(
                nn.Sequential(
                    EqualizedConv2d(w_in, w_in, 3, 1),
                    _act(),
                    EqualizedDownConv2d(w_in, w_out),  # halves the resolution
                    _act(),
                )
            )
        w0 = d_width(cfg, 0)
        self.final = nn.Sequential(
            MinibatchStdDev(),
            EqualizedConv2d(w0 + 1, w0, 3, 1),
            _act(),
            EqualizedConv2d(w0, w0, 4, 0),
            _act(),
            nn.Flatten(),
            EqualizedLinear(w0, 1, gain=1.0),
        )
        self._init_growth(max_level)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Score images of the current resolution."""
        if labels is not None:
            raise ValueError("progan is unconditional: labels must be None")
        h = self.from_rgb[self.level](x)
        if self.level > 0:
            h = self.blocks[self.level - 1](h)
            if self.fading:
                low = self.from_rgb[self.level - 1](F.avg_pool2d(x, 2))
                h = self.fade_alpha * h + (1.0 - self.fade_alpha) * low
            for level in range(self.level - 1, 0, -1):
                h = self.blocks[level - 1](h)
        return self.final(h).reshape(-1)
