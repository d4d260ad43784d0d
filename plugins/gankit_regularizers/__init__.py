"""Built-in gankit plugin: regularizers.

Registers ``gradient-penalty``, ``r1``, ``label-smoothing`` (D step),
``spectral-norm`` (architecture), ``instance-noise`` and ``diffaugment`` (data).
The ProGAN minibatch standard deviation layer is an architecture option, not a
regularizer: see :class:`gankit.layers.MinibatchStdDev`.
"""

from __future__ import annotations

from typing import Any

from gankit import hookimpl
from gankit.components import Regularizer
from gankit.regularizers import Regularizer as RegularizerBase
from gankit_regularizers.augment import DiffAugment, DiffAugmentConfig
from gankit_regularizers.noise import InstanceNoise, InstanceNoiseConfig
from gankit_regularizers.penalties import (
    GradientPenalty,
    GradientPenaltyConfig,
    LabelSmoothing,
    LabelSmoothingConfig,
    R1Config,
    R1Penalty,
)
from gankit_regularizers.spectral import SpectralNorm, SpectralNormConfig

__all__ = [
    "DiffAugment",
    "DiffAugmentConfig",
    "GradientPenalty",
    "GradientPenaltyConfig",
    "InstanceNoise",
    "InstanceNoiseConfig",
    "LabelSmoothing",
    "LabelSmoothingConfig",
    "R1Config",
    "R1Penalty",
    "SpectralNorm",
    "SpectralNormConfig",
]

_COMPONENTS: tuple[tuple[str, str, type, type[RegularizerBase]], ...] = (
    (
        "gradient-penalty",
        "WGAN-GP gradient penalty on real/fake interpolates (one- or two-sided)",
        GradientPenaltyConfig,
        GradientPenalty,
    ),
    ("r1", "R1 gradient penalty on real data, with lazy regularization", R1Config, R1Penalty),
    (
        "spectral-norm",
        "Spectral normalization of the discriminator's Linear/Conv/Embedding weights",
        SpectralNormConfig,
        SpectralNorm,
    ),
    (
        "label-smoothing",
        "One-sided label smoothing of D's real targets (non-saturating/minimax losses)",
        LabelSmoothingConfig,
        LabelSmoothing,
    ),
    (
        "instance-noise",
        "Gaussian noise on every batch D sees, annealed linearly to 0",
        InstanceNoiseConfig,
        InstanceNoise,
    ),
    (
        "diffaugment",
        "DiffAugment: differentiable color/translation/cutout on every image batch D sees",
        DiffAugmentConfig,
        DiffAugment,
    ),
)


@hookimpl
def gankit_register_regularizers(register: Any) -> None:
    """Register the built-in regularizers."""
    for name, description, config, cls in _COMPONENTS:
        register(
            Regularizer(
                name=name,
                description=description,
                config=config,
                factory=cls,
                acts_on=cls.acts_on,
            )
        )
