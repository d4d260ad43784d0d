"""Built-in gankit plugin: adversarial losses.

Registers ``non-saturating`` (the project default), ``minimax``, ``hinge``,
``wasserstein`` and ``least-squares``; see :mod:`gankit_losses.losses` for the
formulas.
"""

from __future__ import annotations

from typing import Any

from gankit import hookimpl
from gankit.components import Loss
from gankit_losses.losses import (
    HingeLoss,
    LeastSquaresConfig,
    LeastSquaresLoss,
    MinimaxLoss,
    NonSaturatingLoss,
    WassersteinConfig,
    WassersteinLoss,
)

__all__ = [
    "HingeLoss",
    "LeastSquaresConfig",
    "LeastSquaresLoss",
    "MinimaxLoss",
    "NonSaturatingLoss",
    "WassersteinConfig",
    "WassersteinLoss",
]


@hookimpl
def gankit_register_losses(register: Any) -> None:
    """Register the built-in adversarial losses."""
    register(
        Loss(
            name="non-saturating",
            description="Non-saturating GAN loss: D softplus(-r)+softplus(f), G softplus(-f)",
            factory=lambda _cfg: NonSaturatingLoss(),
        )
    )
    register(
        Loss(
            name="minimax",
            description="Original saturating minimax loss (teaching): G minimises log(1-D(G(z)))",
            factory=lambda _cfg: MinimaxLoss(),
        )
    )
    register(
        Loss(
            name="hinge",
            description="Hinge loss: D relu(1-r)+relu(1+f), G -f",
            factory=lambda _cfg: HingeLoss(),
        )
    )
    register(
        Loss(
            name="wasserstein",
            description="Wasserstein critic loss f-r with optional ProGAN drift; use with a GP",
            config=WassersteinConfig,
            factory=WassersteinLoss,
        )
    )
    register(
        Loss(
            name="least-squares",
            description="Least-squares loss (LSGAN, 0-1 coding): D (r-1)^2/2 + f^2/2, G (f-1)^2/2",
            config=LeastSquaresConfig,
            factory=LeastSquaresLoss,
        )
    )
