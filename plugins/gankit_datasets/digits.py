"""The ``digits`` dataset: scikit-learn's bundled 8x8 UCI handwritten digits.

The 1797 images have no official train/test split. ``split="test"`` holds every
fifth image of each class (the 5th, 10th, ... occurrence of each digit in
scikit-learn's order: 355 images, 34 to 36 per class) and ``split="train"`` the
other 1442, so a classifier or a metric can hold images out. ``split="all"``
(the default) keeps all 1797.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gankit.data import TensorData
from gankit_datasets.common import check_choice, check_positive, option, to_unit_range

NAME = "digits"
#: pixel values of the UCI digits run from 0 to 16
MAX_VALUE = 16.0
SPLITS = ("all", "train", "test")
#: every TEST_EVERY-th image of each class is in the test split
TEST_EVERY = 5


@dataclass
class DigitsConfig:
    """Config of ``digits``.

    Attributes:
        size: side of the square images, resized from 8x8 with antialiased
            bilinear interpolation.
        split: ``"all"`` (1797 images), ``"train"`` (1442) or ``"test"``
            (355: every fifth image of each class).
    """

    size: int = option(32, "image side in pixels (resized from 8x8)")
    split: str = option("all", "'all' (1797), 'train' (1442) or 'test' (355, every 5th per class)")


def split_mask(labels: torch.Tensor, split: str) -> torch.Tensor:
    """Boolean mask over images with ``labels`` selecting ``split`` (see the module docstring)."""
    rank = torch.zeros_like(labels)  # 0-based occurrence of each image within its class
    for c in labels.unique():
        members = labels == c
        rank[members] = torch.arange(int(members.sum()))
    is_test = rank % TEST_EVERY == TEST_EVERY - 1
    if split == "test":
        return is_test
    if split == "train":
        return ~is_test
    return torch.ones_like(labels, dtype=torch.bool)


def make_digits(config: DigitsConfig) -> TensorData:
    """Load ``config.split`` as ``[N, 1, size, size]`` images in [-1, 1] with labels 0-9."""
    from sklearn.datasets import load_digits  # imported here: slow, and only needed now

    check_positive(NAME, "size", config.size)
    check_choice(NAME, "split", config.split, SPLITS)
    bunch = load_digits()
    labels = torch.as_tensor(bunch.target, dtype=torch.int64)
    keep = split_mask(labels, config.split)
    images = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1)[keep]
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
        labels=labels[keep],
        num_classes=10,
        class_names=[str(d) for d in range(10)],
        name=NAME,
    )
