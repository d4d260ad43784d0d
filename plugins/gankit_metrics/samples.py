"""Drawing the generated samples a metric scores, in batches, reproducibly."""

from __future__ import annotations

import torch

from gankit.sampling import DEFAULT_BATCH_SIZE, GeneratorSampler


def draw_samples(
    generator: GeneratorSampler,
    n: int,
    seed: int,
    labels: torch.Tensor | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> torch.Tensor:
    """``n`` samples (float32, on the CPU) from latents drawn with ``seed``, in batches.

    This is :meth:`GeneratorSampler.sample_batches`: the latents and labels are
    the ones ``generator.sample(n, seed, labels)`` uses, so the result does not
    depend on ``batch_size``; each batch is moved to the CPU as it is made, so
    the device holds one batch at a time. Inside a :func:`gankit.sampling.progress`
    block a bar counts the samples.
    """
    batches = generator.sample_batches(n, seed, labels, batch_size=batch_size)
    return torch.cat([batch.float().cpu() for batch in batches])
