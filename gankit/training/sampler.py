"""Resumable batch order: a pure function of (seed, epoch, position)."""

from __future__ import annotations

import torch

from gankit.errors import ConfigError


class EpochSampler:
    """Draws batches of indices from a shuffled permutation, one per epoch.

    The permutation of epoch ``e`` depends only on ``seed`` and ``e``, so saving
    ``(epoch, position)`` in a checkpoint is enough to continue exactly.
    Incomplete batches at the end of an epoch are dropped.
    """

    def __init__(self, num_samples: int, batch_size: int, seed: int) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if batch_size > num_samples:
            raise ConfigError(
                f"batch_size {batch_size} is larger than the dataset ({num_samples} samples); "
                f"set batch_size <= {num_samples}"
            )
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0
        self.position = 0
        self._perm: torch.Tensor | None = None

    def _permutation(self) -> torch.Tensor:
        if self._perm is None:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            self._perm = torch.randperm(self.num_samples, generator=gen)
        return self._perm

    def set_batch_size(self, batch_size: int) -> None:
        """Draw batches of a new size from the next call on (same permutation)."""
        if not 0 < batch_size <= self.num_samples:
            raise ValueError(f"batch_size must be in 1..{self.num_samples}, got {batch_size}")
        self.batch_size = batch_size

    def next(self) -> tuple[torch.Tensor, bool]:
        """Return the next batch of indices and whether a new epoch began for it."""
        new_epoch = False
        if self.position + self.batch_size > self.num_samples:
            self.epoch += 1
            self.position = 0
            self._perm = None
            new_epoch = True
        idx = self._permutation()[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return idx, new_epoch

    def state_dict(self) -> dict[str, int]:
        """Where the sampler is: enough to continue the same sequence."""
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue from a :meth:`state_dict`."""
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
        self._perm = None
