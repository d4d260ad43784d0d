"""Drawing the generated samples a metric scores, in batches, reproducibly."""

from __future__ import annotations

from typing import Any

import torch

from gankit.sampling import GeneratorSampler, module_device


@torch.no_grad()
def draw_samples(
    generator: GeneratorSampler,
    n: int,
    seed: int,
    labels: torch.Tensor | None = None,
    batch_size: int = 500,
) -> torch.Tensor:
    """``n`` samples (on the CPU) from latents drawn with ``seed``, run ``batch_size`` at a time.

    The latents and labels are the ones ``generator.sample(n, seed, labels)``
    uses (:meth:`GeneratorSampler.inputs`), so the result does not depend on
    ``batch_size``.
    """
    if n <= 0:
        raise ValueError(f"n must be a positive number of samples, got {n}")
    z, lab = generator.inputs(n, seed, labels)
    device = module_device(generator)
    module: Any = generator.generator
    was_training = module.training
    module.eval()
    try:
        out = []
        for i in range(0, n, batch_size):
            y = None if lab is None else lab[i : i + batch_size].to(device)
            out.append(generator(z[i : i + batch_size].to(device), y).float().cpu())
        return torch.cat(out)
    finally:
        module.train(was_training)
