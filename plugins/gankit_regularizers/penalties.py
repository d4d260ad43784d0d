"""D-step penalties: WGAN-GP gradient penalty, R1, one-sided label smoothing.

Gradient penalties differentiate D *through the data augmentation*: the
penalised input is the batch before ``augment`` and D sees ``augment(x)``, as
the adversarial logits were computed (the StyleGAN2-ADA convention), so the
penalty constrains the function the loss actually trains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from gankit.errors import ConfigError
from gankit.regularizers import Regularizer, StepContext


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


class LazySchedule:
    """Lazy regularization (StyleGAN2): a penalty computed on every ``interval``-th D step.

    Counts calls of :meth:`due` (so ``n_critic > 1`` counts each D update); the
    1st, the ``interval + 1``-th, ... calls are due, and the penalty is then scaled
    by ``interval`` so its average strength is unchanged. The counter is part of
    the regularizer's checkpointed state.
    """

    def __init__(self, interval: int, name: str) -> None:
        if interval < 1:
            raise ConfigError(f"{name} interval must be >= 1 (1: every D step), got {interval}")
        self.interval = interval
        self.calls = 0

    def due(self) -> bool:
        """Count one D step; True when the penalty is computed on it."""
        due = self.calls % self.interval == 0
        self.calls += 1
        return due

    def state_dict(self) -> dict[str, Any]:
        """The number of D steps seen, so lazy steps line up after a resume."""
        return {"calls": self.calls}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the D-step counter."""
        self.calls = int(state.get("calls", 0))


def input_gradients(
    discriminator: Callable[..., torch.Tensor],
    x: torch.Tensor,
    labels: torch.Tensor | None = None,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Return ``d sum(D(augment(x), labels)) / dx`` per sample, as a float32 ``[B, N]`` tensor.

    The graph is kept (``create_graph=True``) so a penalty on the result can be
    backpropagated into D's parameters. ``x`` must be a leaf that requires grad.
    """
    logits = discriminator((augment or _identity)(x), labels)
    (grad,) = torch.autograd.grad(logits.float().sum(), x, create_graph=True)
    return grad.float().reshape(grad.shape[0], -1)


@dataclass
class GradientPenaltyConfig:
    """Config of the ``gradient-penalty`` regularizer."""

    weight: float = field(default=10.0, metadata={"help": "lambda, the penalty weight"})
    one_sided: bool = field(
        default=False,
        metadata={"help": "penalise max(0, ||g||-1)^2 instead of (||g||-1)^2"},
    )
    interval: int = field(
        default=1,
        metadata={
            "help": "lazy regularization: compute every N-th D step, scaled by N (1: always)"
        },
    )


class GradientPenalty(Regularizer):
    """WGAN-GP gradient penalty (Gulrajani et al. 2017). Acts on: ``d_step``.

    ``weight * E[(||grad_x D(augment(x_hat))||_2 - 1)^2]`` with
    ``x_hat = eps * real + (1 - eps) * fake``, ``eps ~ U[0, 1]`` per sample;
    with ``one_sided`` the term is ``max(0, ||g|| - 1)^2``. Conditional D's see
    the interpolates with the *real* labels. With ``interval`` N > 1 it is
    computed on every N-th D step only and scaled by N (as R1's lazy form), which
    saves most of the double backward passes; the paper's form is N = 1.
    """

    acts_on: tuple[str, ...] = ("d_step",)

    def __init__(self, config: GradientPenaltyConfig | None = None) -> None:
        self.config = config or GradientPenaltyConfig()
        if self.config.weight < 0:
            raise ConfigError(f"gradient-penalty weight must be >= 0, got {self.config.weight}")
        self.schedule = LazySchedule(self.config.interval, "gradient-penalty")

    def penalty(
        self,
        discriminator: Callable[..., torch.Tensor],
        real: torch.Tensor,
        fake: torch.Tensor,
        labels: torch.Tensor | None = None,
        *,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
        eps: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The weighted penalty on interpolates of ``real`` and ``fake``.

        ``eps`` (shape ``[B]``, values in [0, 1]) fixes the interpolation;
        otherwise it is drawn uniformly per sample (from ``generator`` if given).
        """
        if real.shape != fake.shape:
            raise ValueError(
                f"gradient-penalty interpolates real and fake batches of the same shape; "
                f"got real {tuple(real.shape)} and fake {tuple(fake.shape)}"
            )
        batch = real.shape[0]
        if eps is None:
            gen_device = generator.device if generator is not None else real.device
            eps = torch.rand(batch, generator=generator, device=gen_device)
        eps = eps.to(device=real.device, dtype=real.dtype).reshape(batch, *[1] * (real.dim() - 1))
        x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
        norms = input_gradients(discriminator, x_hat, labels, augment).norm(2, dim=1)
        excess = norms - 1.0
        if self.config.one_sided:
            excess = excess.clamp(min=0)
        return self.config.weight * excess.square().mean()

    def d_loss(self, ctx: StepContext) -> torch.Tensor | None:
        """``interval`` x the penalty on fresh interpolates on due D steps, else ``None``."""
        if not self.schedule.due() or not self.config.weight:
            return None
        value = self.penalty(
            ctx.discriminator, ctx.real, ctx.fake, ctx.real_labels, augment=ctx.augment
        )
        return self.config.interval * value

    def state_dict(self) -> dict[str, Any]:
        """The lazy schedule's D-step counter."""
        return self.schedule.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the lazy schedule's D-step counter."""
        self.schedule.load_state_dict(state)


@dataclass
class R1Config:
    """Config of the ``r1`` regularizer."""

    gamma: float = field(default=10.0, metadata={"help": "R1 weight: gamma/2 * E||grad||^2"})
    interval: int = field(
        default=16,
        metadata={
            "help": "lazy regularization: compute every N-th D step, scaled by N (1: always)"
        },
    )


class R1Penalty(Regularizer):
    """R1 penalty (Mescheder et al. 2018) with lazy regularization (StyleGAN2). Acts on: ``d_step``.

    ``gamma / 2 * E[||grad_x D(augment(x))||^2]`` on real ``x``. Lazily, it is
    computed on every ``interval``-th call of :meth:`d_loss` (the 1st, the
    ``interval+1``-th, ...) and multiplied by ``interval``; the other calls
    return ``None`` (see :class:`LazySchedule`).
    """

    acts_on: tuple[str, ...] = ("d_step",)

    def __init__(self, config: R1Config | None = None) -> None:
        self.config = config or R1Config()
        if self.config.gamma < 0:
            raise ConfigError(f"r1 gamma must be >= 0, got {self.config.gamma}")
        self.schedule = LazySchedule(self.config.interval, "r1")

    def penalty(
        self,
        discriminator: Callable[..., torch.Tensor],
        real: torch.Tensor,
        labels: torch.Tensor | None = None,
        *,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """``gamma / 2 * E[||grad_x D(augment(x))||^2]`` on ``real`` (not lazy-scaled)."""
        x = real.detach().requires_grad_(True)
        grads = input_gradients(discriminator, x, labels, augment)
        return 0.5 * self.config.gamma * grads.square().sum(dim=1).mean()

    def d_loss(self, ctx: StepContext) -> torch.Tensor | None:
        """``interval * penalty`` on every ``interval``-th call, else ``None``."""
        if not self.schedule.due() or not self.config.gamma:
            return None
        value = self.penalty(ctx.discriminator, ctx.real, ctx.real_labels, augment=ctx.augment)
        return self.config.interval * value

    def state_dict(self) -> dict[str, Any]:
        """The lazy schedule's D-step counter."""
        return self.schedule.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the lazy schedule's D-step counter."""
        self.schedule.load_state_dict(state)


@dataclass
class LabelSmoothingConfig:
    """Config of the ``label-smoothing`` regularizer."""

    real_target: float = field(
        default=0.9, metadata={"help": "target of D on real data, in (0, 1]"}
    )


class LabelSmoothing(Regularizer):
    """One-sided label smoothing (Salimans et al. 2016). Acts on: ``d_step``.

    Adds ``(1 - t) * E[r]`` to D's loss, with ``t = real_target`` and ``r`` D's
    logits on (augmented) reals. Since ``BCE(r, t) = softplus(-r) + (1 - t) * r``,
    this turns the real part ``E[softplus(-r)]`` of the ``non-saturating`` and
    ``minimax`` D losses into BCE with target ``t``. Meant for those two losses
    only: with other losses it is just a linear term on the real logits.
    """

    acts_on: tuple[str, ...] = ("d_step",)

    def __init__(self, config: LabelSmoothingConfig | None = None) -> None:
        self.config = config or LabelSmoothingConfig()
        if not 0.0 < self.config.real_target <= 1.0:
            raise ConfigError(
                f"label-smoothing real_target must be in (0, 1], got {self.config.real_target}"
            )

    def d_loss(self, ctx: StepContext) -> torch.Tensor | None:
        """``(1 - real_target) * E[real_logits]``; ``None`` without real logits."""
        if ctx.real_logits is None:
            return None
        return (1.0 - self.config.real_target) * ctx.real_logits.float().mean()
