"""In-memory training data: what a dataset plugin's factory returns.

gankit's datasets are small enough to hold in memory (digits, Fashion-MNIST,
2-D mixtures, modest image folders), which keeps sampling exact and resumable:
the order of batches is a pure function of the seed, the epoch and the position.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class TensorData:
    """Samples in ``[-1, 1]`` with optional integer labels.

    Attributes:
        samples: float tensor ``[N, *data_shape]``, e.g. ``[N, C, H, W]`` images
            or ``[N, 2]`` points, with values in ``[-1, 1]`` for images.
        labels: int64 tensor ``[N]`` or ``None`` for unlabelled data.
        num_classes: number of classes (0 when unlabelled).
        class_names: optional human-readable names, one per class.
        name: the dataset's registered name, recorded in artifacts.
        value_range: the range samples lie in (images: ``(-1, 1)``).
        mode_centers: for mixture data, the ``[K, D]`` centres of the modes.
        mode_std: for mixture data, the standard deviation of each mode.
    """

    samples: torch.Tensor
    labels: torch.Tensor | None = None
    num_classes: int = 0
    class_names: list[str] | None = None
    name: str = ""
    value_range: tuple[float, float] = (-1.0, 1.0)
    mode_centers: torch.Tensor | None = None
    mode_std: float | None = None
    info: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.samples.ndim < 2:
            raise ValueError(f"samples must be [N, ...], got shape {tuple(self.samples.shape)}")
        if self.labels is not None:
            if self.labels.shape != (self.samples.shape[0],):
                raise ValueError(
                    f"labels must have shape [{self.samples.shape[0]}], "
                    f"got {tuple(self.labels.shape)}"
                )
            self.labels = self.labels.long()
            if self.num_classes <= 0:
                self.num_classes = int(self.labels.max().item()) + 1 if len(self.labels) else 0

    def __len__(self) -> int:
        return int(self.samples.shape[0])

    @property
    def data_shape(self) -> tuple[int, ...]:
        """Shape of one sample, without the batch dimension."""
        return tuple(int(s) for s in self.samples.shape[1:])

    @property
    def is_image(self) -> bool:
        """True for ``[C, H, W]`` image data."""
        return len(self.data_shape) == 3
