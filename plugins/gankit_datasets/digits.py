"""The ``digits`` dataset: scikit-learn's bundled 8x8 UCI handwritten digits."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gankit.data import TensorData
from gankit_datasets.common import check_positive, option, to_unit_range

NAME = "digits"
#: pixel values of the UCI digits run from 0 to 16
MAX_VALUE = 16.0


@dataclass
class DigitsConfig:
    """Config of ``digits``.

    Attributes:
        size: side of the square images, resized from 8x8 with antialiased
            bilinear interpolation.
    """

    size: int = option(32, "image side in pixels (resized from 8x8)")


def make_digits(config: DigitsConfig) -> TensorData:
    """Load the 1797 digits as ``[1797, 1, size, size]`` images in [-1, 1], labels 0-9."""
    from sklearn.datasets import load_digits  # imported here: slow, and only needed now

    check_positive(NAME, "size", config.size)
    bunch = load_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1)
    if images.shape[-1] != config.size:
        images = F.interpolate(
            images,
            size=(config.size, config.size),
            mode="bilinear",
            align_corners=False,
            antialias=True,
        )
    return TensorData(
        samples=to_unit_range(images, MAX_VALUE),
        labels=torch.as_tensor(bunch.target, dtype=torch.int64),
        num_classes=10,
        class_names=[str(d) for d in range(10)],
        name=NAME,
    )
