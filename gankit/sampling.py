"""Drawing samples from a generator module: latents, label checks, seeding."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gankit.errors import ArtifactError


def module_device(module: nn.Module) -> torch.device:
    """The device of a module's first parameter (CPU for a module without any)."""
    for p in module.parameters():
        return p.device
    return torch.device("cpu")


class GeneratorSampler(nn.Module):
    """Wraps a generator module with ``sample(n, seed=None, labels=None)``.

    ``latent_dim`` and ``num_classes`` (0 for unconditional models) describe
    what the module takes; it is called as ``generator(z, labels=...)``.
    """

    def __init__(self, generator: nn.Module, latent_dim: int, num_classes: int = 0) -> None:
        super().__init__()
        self.generator = generator
        self.latent_dim = int(latent_dim)
        self.num_classes = int(num_classes)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Run the generator on latents ``z`` (and labels for conditional models)."""
        return self.generator(z, labels=labels)

    def check_labels(self, labels: Any, n: int | None = None) -> torch.Tensor | None:
        """Validate labels for this model; returns an int64 tensor or None.

        An unconditional model given labels, a label outside ``[0, num_classes)``,
        or a label count other than ``n`` is an error naming the bad value.
        """
        if labels is None:
            return None
        t = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
        if self.num_classes <= 0:
            raise ArtifactError(
                "this generator is unconditional (num_classes = 0): do not pass labels"
            )
        bad = t[(t < 0) | (t >= self.num_classes)]
        if bad.numel():
            raise ArtifactError(
                f"label {int(bad[0])} is outside this generator's classes 0..{self.num_classes - 1}"
            )
        if n is not None and t.numel() != n:
            raise ArtifactError(
                f"got {t.numel()} labels for {n} samples; pass one label per sample"
            )
        return t

    def inputs(
        self, n: int, seed: int | None = None, labels: Any = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The latents and labels (on the CPU) that ``sample(n, seed, labels)`` runs the model on.

        Latents come from a generator seeded with ``seed`` (the global RNG when it
        is None); labels are validated, and a conditional model given none cycles
        through its classes.
        """
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        z = torch.randn(n, self.latent_dim, generator=gen)
        lab = self.check_labels(labels, n)
        if lab is None and self.num_classes > 0:
            lab = torch.arange(n) % self.num_classes
        return z, lab

    @torch.no_grad()
    def sample(
        self,
        n: int,
        seed: int | None = None,
        labels: Any = None,
        device: str | torch.device | None = None,
    ) -> torch.Tensor:
        """Draw ``n`` samples (images in ``[-1, 1]``, ``[n, C, H, W]``; points ``[n, 2]``).

        ``seed`` makes the latents reproducible. A conditional model given no
        labels cycles through its classes (0, 1, ..., K-1, 0, ...). The module
        is run in eval mode.
        """
        if n <= 0:
            raise ArtifactError(f"n must be a positive number of samples, got {n}")
        device = torch.device(device) if device is not None else module_device(self)
        z, lab = self.inputs(n, seed, labels)
        z = z.to(device)
        was_training = self.generator.training
        self.generator.eval()
        try:
            return self(z, lab.to(device) if lab is not None else None)
        finally:
            self.generator.train(was_training)
