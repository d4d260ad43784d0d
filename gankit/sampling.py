"""Drawing samples from a generator module: latents, label checks, seeding, batches.

Long sampling and feature-extraction loops report progress through
:func:`progress_bar`, which shows a bar only inside a :func:`progress` block
(``gankit eval`` and the trainer's metric steps open one; in library calls outside
such a block the bars stay off).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from gankit.errors import ArtifactError, ConfigError

#: latents run through the generator per forward pass by :meth:`GeneratorSampler.sample`
DEFAULT_BATCH_SIZE = 256
#: seconds a step runs before its progress bar appears (shorter steps print nothing)
PROGRESS_DELAY_S = 1.0


#: (enabled, label) of the enclosing :func:`progress` block; off outside any
_PROGRESS: ContextVar[tuple[bool | None, str]] = ContextVar("gankit_progress", default=(False, ""))


@contextmanager
def progress(enabled: bool | None = None, label: str = "") -> Iterator[None]:
    """Show progress bars (on stderr) for the sampling and feature extraction in this block.

    ``enabled``: True shows them, False hides them, None shows them only when
    stderr is a terminal (tqdm's ``disable=None``). ``label`` (e.g. the metric's
    name) prefixes each bar's description. A bar appears only once its step has
    run for :data:`PROGRESS_DELAY_S` seconds and is cleared when the step ends.
    Outside any such block no bar is shown.
    """
    token = _PROGRESS.set((enabled, label))
    try:
        yield
    finally:
        _PROGRESS.reset(token)


def progress_bar(total: int, desc: str, unit: str = "sample") -> tqdm:
    """A tqdm bar over ``total`` items that follows the enclosing :func:`progress` setting.

    Call ``update(k)`` as items are done and ``close()`` at the end (or use it as
    a context manager). It is disabled outside a :func:`progress` block.
    """
    enabled, label = _PROGRESS.get()
    return tqdm(
        total=total,
        desc=f"{label}: {desc}" if label else desc,
        unit=unit,
        disable=None if enabled is None else not enabled,  # None: tqdm checks for a terminal
        delay=PROGRESS_DELAY_S,
        leave=False,
        dynamic_ncols=True,
    )


def module_device(module: nn.Module) -> torch.device:
    """The device of a module's first parameter (CPU for a module without any)."""
    for p in module.parameters():
        return p.device
    return torch.device("cpu")


def check_batch_size(batch_size: int) -> int:
    """``batch_size``, or a :class:`ConfigError` naming it unless it is a whole number >= 1."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(
            f"batch_size must be a positive whole number of samples per forward pass, "
            f"got {batch_size!r}; the default is {DEFAULT_BATCH_SIZE}"
        )
    return int(batch_size)


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

    def sample_batches(
        self,
        n: int,
        seed: int | None = None,
        labels: Any = None,
        device: str | torch.device | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Iterator[torch.Tensor]:
        """The samples of ``sample(n, seed, labels)``, yielded ``batch_size`` at a time, in order.

        All ``n`` latents (and labels) are drawn first, exactly as
        :meth:`inputs` draws them, then run through the generator one slice at
        a time in eval mode, so the batches concatenate to the one-pass result
        (up to floating-point rounding) whatever ``batch_size`` is, and only one
        batch of activations is in memory at once. Inside a :func:`progress`
        block a bar counts the samples. Bad arguments fail here, before any
        batch is asked for.
        """
        if n <= 0:
            raise ArtifactError(f"n must be a positive number of samples, got {n}")
        batch_size = check_batch_size(batch_size)
        device = torch.device(device) if device is not None else module_device(self)
        z, lab = self.inputs(n, seed, labels)
        return self._run_batches(z, lab, device, batch_size)

    def _run_batches(
        self, z: torch.Tensor, lab: torch.Tensor | None, device: torch.device, batch_size: int
    ) -> Iterator[torch.Tensor]:
        n = len(z)
        was_training = self.generator.training
        self.generator.eval()
        try:
            with progress_bar(n, "generating") as bar:
                for start in range(0, n, batch_size):
                    stop = min(start + batch_size, n)
                    y = None if lab is None else lab[start:stop].to(device)
                    with torch.no_grad():  # not around the yield: the caller keeps its grad mode
                        out = self(z[start:stop].to(device), y)
                    bar.update(stop - start)
                    yield out
        finally:
            self.generator.train(was_training)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        seed: int | None = None,
        labels: Any = None,
        device: str | torch.device | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> torch.Tensor:
        """Draw ``n`` samples (images in ``[-1, 1]``, ``[n, C, H, W]``; points ``[n, 2]``).

        ``seed`` makes the latents reproducible. A conditional model given no
        labels cycles through its classes (0, 1, ..., K-1, 0, ...). The module
        is run in eval mode, ``batch_size`` latents per forward pass (see
        :meth:`sample_batches`); the result is on ``device`` (default: the
        module's).
        """
        out: torch.Tensor | None = None
        start = 0
        for batch in self.sample_batches(n, seed, labels, device, batch_size):
            if out is None:  # one buffer for all n, rather than a copy made by torch.cat
                out = batch.new_empty((n, *batch.shape[1:]))
            out[start : start + len(batch)] = batch
            start += len(batch)
        assert out is not None
        return out
