"""The interfaces of losses and regularizers, as the trainer uses them.

A loss plugin's factory returns an object with::

    d_loss(real_logits, fake_logits) -> Tensor   # scalar
    g_loss(fake_logits) -> Tensor                # scalar

A regularizer plugin's factory returns a :class:`Regularizer`. The trainer
calls its methods at fixed places, so combining several is predictable:

1. ``setup(G, D)`` once, before optimizers are built (architecture: e.g.
   spectral normalization wraps D's layers).
2. ``augment(x, step)`` on every batch D sees, real and fake alike, in both the
   D and the G step (data: DiffAugment, instance noise). It must be
   differentiable with respect to ``x``.
3. ``d_loss(ctx)`` in the D step, added to the adversarial D loss (gradient
   penalty, R1, label smoothing).
4. ``g_loss(ctx)`` in the G step, added to the adversarial G loss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn


class Loss(Protocol):
    """An adversarial loss computed on logits."""

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """The discriminator's loss (scalar) from its logits on real and fake data."""
        ...

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """The generator's loss (scalar) from the discriminator's logits on fakes."""
        ...


@dataclass
class StepContext:
    """What a regularizer sees in a D or G step.

    ``real`` and ``fake`` are the batches *before* ``augment``; ``real_logits``
    and ``fake_logits`` are D's outputs on the augmented batches (``real_logits``
    is ``None`` in the G step). In the D step ``fake`` is detached.
    ``discriminator(x, labels)`` runs D on a batch (never through torch.compile,
    so a penalty may differentiate D's input gradient again); ``augment(x)``
    applies the data regularizers, as the trainer did for the logits above.
    """

    step: int
    generator: nn.Module
    discriminator: Callable[..., torch.Tensor]
    real: torch.Tensor
    fake: torch.Tensor
    real_labels: torch.Tensor | None
    fake_labels: torch.Tensor | None
    real_logits: torch.Tensor | None
    fake_logits: torch.Tensor
    augment: Callable[[torch.Tensor], torch.Tensor]


class Regularizer:
    """Base class of regularizers: every method is a no-op until overridden.

    Set ``acts_on`` to the places the subclass acts (``"architecture"``,
    ``"data"``, ``"d_step"``, ``"g_step"``); the docs and ``gankit info`` show it.
    """

    acts_on: tuple[str, ...] = ()

    def setup(self, generator: nn.Module, discriminator: nn.Module) -> None:
        """Modify the modules once, before the optimizers are built."""

    def augment(self, x: torch.Tensor, step: int) -> torch.Tensor:
        """Transform a batch D is about to see (real or fake)."""
        return x

    def d_loss(self, ctx: StepContext) -> torch.Tensor | None:
        """An extra term for D's loss, or None."""
        return None

    def g_loss(self, ctx: StepContext) -> torch.Tensor | None:
        """An extra term for G's loss, or None."""
        return None

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state to checkpoint (e.g. an annealing counter)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
