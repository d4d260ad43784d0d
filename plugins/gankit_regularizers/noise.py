"""Instance noise (Sønderby et al. 2016; Arjovsky & Bottou 2017)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from gankit.errors import ConfigError
from gankit.regularizers import Regularizer


@dataclass
class InstanceNoiseConfig:
    """Config of the ``instance-noise`` regularizer."""

    sigma: float = field(default=0.1, metadata={"help": "noise std at step 0"})
    anneal_steps: int = field(
        default=10000,
        metadata={"help": "steps over which the std decays linearly to 0 (0: constant sigma)"},
    )


class InstanceNoise(Regularizer):
    """Gaussian instance noise on every batch D sees. Acts on: ``data``.

    ``augment(x, step)`` returns ``x + std(step) * N(0, 1)`` with
    ``std(step) = sigma * max(0, 1 - step / anneal_steps)``: linear decay from
    ``sigma`` at step 0 to 0 at ``anneal_steps`` (``anneal_steps = 0`` keeps
    ``sigma`` constant). Works on batches of any shape.
    """

    acts_on: tuple[str, ...] = ("data",)

    def __init__(self, config: InstanceNoiseConfig | None = None) -> None:
        self.config = config or InstanceNoiseConfig()
        if self.config.sigma < 0:
            raise ConfigError(f"instance-noise sigma must be >= 0, got {self.config.sigma}")
        if self.config.anneal_steps < 0:
            raise ConfigError(
                f"instance-noise anneal_steps must be >= 0, got {self.config.anneal_steps}"
            )

    def std(self, step: int) -> float:
        """The noise standard deviation at training step ``step``."""
        if self.config.anneal_steps == 0:
            return self.config.sigma
        return self.config.sigma * max(0.0, 1.0 - step / self.config.anneal_steps)

    def augment(self, x: torch.Tensor, step: int) -> torch.Tensor:
        """``x`` plus Gaussian noise of std :meth:`std` (``x`` itself once it is 0)."""
        std = self.std(step)
        if std == 0.0:
            return x
        return x + std * torch.randn_like(x)
