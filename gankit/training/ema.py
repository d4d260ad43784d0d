"""Exponential moving average of the generator's weights, with ramp-up."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn


class EMA:
    """Keeps an averaged copy of a module's parameters.

    The decay follows StyleGAN: the half-life is ``kimg`` thousand images, and
    with ``rampup`` it is at most ``rampup`` times the images seen so far, so
    early, poor weights are forgotten quickly in short runs.
    """

    def __init__(self, model: nn.Module, kimg: float = 10.0, rampup: float | None = 0.05) -> None:
        self.kimg = kimg
        self.rampup = rampup
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    def beta(self, images_seen: int, batch_size: int) -> float:
        """The decay used after ``images_seen`` images at this batch size."""
        half_life = self.kimg * 1000.0
        if self.rampup:
            half_life = min(half_life, images_seen * self.rampup)
        return 0.5 ** (batch_size / max(half_life, 1e-8))

    @torch.no_grad()
    def update(self, model: nn.Module, images_seen: int, batch_size: int) -> None:
        """Move the average towards ``model``'s current weights; copy its buffers."""
        beta = self.beta(images_seen, batch_size)
        ema_params: list[torch.Tensor] = list(self.model.parameters())
        params: list[torch.Tensor] = [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(ema_params, params, 1.0 - beta)
        for b_ema, b in zip(self.model.buffers(), model.buffers(), strict=True):
            b_ema.copy_(b)


def has_batchnorm(model: nn.Module) -> bool:
    """True if the module contains batch-norm layers."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


@torch.no_grad()
def refresh_batchnorm(model: nn.Module, forward: Callable[[int], object], batches: int) -> None:
    """Recompute batch-norm running statistics of ``model`` for its own weights.

    An averaged generator must not reuse the live generator's statistics (they
    belong to other weights). ``forward(i)`` runs batch ``i`` through the model;
    the statistics become the plain average over ``batches`` batches.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns or batches <= 0:
        return
    momenta = [m.momentum for m in bns]
    was_training = model.training
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for i in range(batches):
        forward(i)
    for m, mom in zip(bns, momenta, strict=True):
        m.momentum = mom
    model.train(was_training)
