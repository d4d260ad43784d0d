"""Adversarial losses computed on discriminator logits.

Every loss takes raw logits (shape ``[B]`` or ``[B, 1]``; any shape is
flattened), casts them to float32 and uses numerically stable functions
(``softplus`` / ``relu`` on logits, never ``sigmoid`` followed by ``log``), so it
is safe under fp16/bf16 autocast and for logits of any magnitude. Every term is
a mean over the batch. Below, ``r`` are D's logits on real data, ``f`` on fakes,
and ``E`` is the batch mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from gankit.errors import ConfigError


def flat(logits: torch.Tensor) -> torch.Tensor:
    """Return ``logits`` as a 1-D float32 tensor (``[B]`` and ``[B, 1]`` alike)."""
    return logits.float().reshape(-1)


class NonSaturatingLoss:
    """The non-saturating GAN loss (Goodfellow et al. 2014), the gankit default.

    D: ``E[softplus(-r)] + E[softplus(f)]`` (= BCE with targets 1 on reals, 0 on fakes)

    G: ``E[softplus(-f)]`` (= ``-E[log sigmoid(f)]``)
    """

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """``E[softplus(-r)] + E[softplus(f)]``."""
        return F.softplus(-flat(real_logits)).mean() + F.softplus(flat(fake_logits)).mean()

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """``E[softplus(-f)]``."""
        return F.softplus(-flat(fake_logits)).mean()


class MinimaxLoss(NonSaturatingLoss):
    """The original saturating minimax loss (for teaching: G's gradient vanishes early on).

    D: ``E[softplus(-r)] + E[softplus(f)]`` (as the non-saturating loss)

    G: ``-E[softplus(f)]`` (= ``E[log(1 - sigmoid(f))]``, minimised)
    """

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """``-E[softplus(f)]``."""
        return -F.softplus(flat(fake_logits)).mean()


class HingeLoss:
    """The hinge loss (Lim & Ye 2017; SNGAN, SAGAN, BigGAN).

    D: ``E[relu(1 - r)] + E[relu(1 + f)]``

    G: ``-E[f]``
    """

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """``E[relu(1 - r)] + E[relu(1 + f)]``."""
        return F.relu(1.0 - flat(real_logits)).mean() + F.relu(1.0 + flat(fake_logits)).mean()

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """``-E[f]``."""
        return -flat(fake_logits).mean()


@dataclass
class WassersteinConfig:
    """Config of the ``wasserstein`` loss."""

    drift: float = field(
        default=0.0,
        metadata={"help": "weight eps of the drift term eps * E[r^2] (ProGAN uses 0.001)"},
    )


class WassersteinLoss:
    """The Wasserstein critic loss (Arjovsky et al. 2017), optionally with ProGAN's drift term.

    D: ``E[f] - E[r] + drift * E[r^2]``

    G: ``-E[f]``

    Pair it with the ``gradient-penalty`` regularizer (WGAN-GP) or weight
    clipping; without a Lipschitz constraint the critic diverges.
    """

    def __init__(self, config: WassersteinConfig | None = None) -> None:
        self.config = config or WassersteinConfig()
        if self.config.drift < 0:
            raise ConfigError(f"wasserstein drift must be >= 0, got {self.config.drift}")

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """``E[f] - E[r] + drift * E[r^2]``."""
        r, f = flat(real_logits), flat(fake_logits)
        loss = f.mean() - r.mean()
        if self.config.drift:
            loss = loss + self.config.drift * r.square().mean()
        return loss

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """``-E[f]``."""
        return -flat(fake_logits).mean()


@dataclass
class LeastSquaresConfig:
    """Config of the ``least-squares`` loss: the targets ``a``, ``b``, ``c`` of Mao et al."""

    real_target: float = field(default=1.0, metadata={"help": "b: D's target on reals"})
    fake_target: float = field(default=0.0, metadata={"help": "a: D's target on fakes"})
    generator_target: float = field(
        default=1.0, metadata={"help": "c: the value G wants D to output on fakes"}
    )


class LeastSquaresLoss:
    """The least-squares GAN loss (LSGAN, Mao et al. 2017), in its 0-1 coding by default.

    With ``a = fake_target``, ``b = real_target``, ``c = generator_target``
    (defaults ``a=0, b=1, c=1``):

    D: ``0.5 * E[(r - b)^2] + 0.5 * E[(f - a)^2]``  (default: ``0.5 E[(r-1)^2] + 0.5 E[f^2]``)

    G: ``0.5 * E[(f - c)^2]``  (default: ``0.5 E[(f-1)^2]``)

    The paper's other coding (``a=-1, b=1, c=0``, which minimises the Pearson
    chi^2 divergence) is ``fake_target=-1 generator_target=0``.
    """

    def __init__(self, config: LeastSquaresConfig | None = None) -> None:
        self.config = config or LeastSquaresConfig()

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """``0.5 * E[(r - b)^2] + 0.5 * E[(f - a)^2]``."""
        r, f = flat(real_logits), flat(fake_logits)
        c = self.config
        return 0.5 * (r - c.real_target).square().mean() + 0.5 * (f - c.fake_target).square().mean()

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """``0.5 * E[(f - c)^2]``."""
        return 0.5 * (flat(fake_logits) - self.config.generator_target).square().mean()
