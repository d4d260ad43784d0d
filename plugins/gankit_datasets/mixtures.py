"""2-D Gaussian mixtures of the mode-collapse literature (``ring8``, ``grid25``).

Following the PacGAN protocol (Lin et al., 2018): each sample picks a mode
uniformly at random and adds isotropic Gaussian noise. ``ring8`` has 8 modes
equally spaced on the unit circle with std 0.01; ``grid25`` has the 25 means
``{-4, -2, 0, 2, 4}^2`` with std 0.05. Samples stay in raw coordinates (not
rescaled to [-1, 1]); ``value_range`` is the bounding box of the means +- 4 std.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from gankit.data import TensorData
from gankit_datasets.common import check_positive, option

RING8_STD = 0.01
GRID25_STD = 0.05
#: how many std around the extreme means ``value_range`` reaches
RANGE_STDS = 4.0


@dataclass
class MixtureConfig:
    """Config of ``ring8`` and ``grid25``.

    Attributes:
        n: number of samples drawn.
        seed: random seed; the same seed gives the same samples.
    """

    n: int = option(100_000, "number of samples")
    seed: int = option(0, "random seed (same seed, same samples)")


def ring8_centers() -> torch.Tensor:
    """The ``[8, 2]`` means of ``ring8``: angles ``2*pi*k/8`` on the unit circle."""
    angles = [2.0 * math.pi * k / 8 for k in range(8)]
    # round away cos(pi/2) = 6e-17 and the like (and -0.0), so the centres are exact
    points = [(round(math.cos(a), 12) + 0.0, round(math.sin(a), 12) + 0.0) for a in angles]
    return torch.tensor(points, dtype=torch.float32)


def grid25_centers() -> torch.Tensor:
    """The ``[25, 2]`` means of ``grid25``: ``{-4, -2, 0, 2, 4}^2``, row-major in x then y."""
    coords = [-4.0, -2.0, 0.0, 2.0, 4.0]
    return torch.tensor([(x, y) for x in coords for y in coords], dtype=torch.float32)


def sample_mixture(
    centers: torch.Tensor, std: float, n: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` points: a uniformly chosen mode's centre plus ``N(0, std^2)`` noise.

    Returns ``(samples [n, D] float32, labels [n] int64 mode indices)``.
    """
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(len(centers), (n,), generator=generator)
    noise = torch.randn(n, centers.shape[1], generator=generator)
    return centers[labels] + std * noise, labels


def make_mixture(name: str, centers: torch.Tensor, std: float, config: MixtureConfig) -> TensorData:
    """Build the :class:`TensorData` of mixture ``name`` with its centres and std."""
    check_positive(name, "n", config.n)
    samples, labels = sample_mixture(centers, std, config.n, config.seed)
    low = round(float(centers.min()) - RANGE_STDS * std, 10)
    high = round(float(centers.max()) + RANGE_STDS * std, 10)
    return TensorData(
        samples=samples,
        labels=labels,
        num_classes=len(centers),
        name=name,
        value_range=(low, high),
        mode_centers=centers,
        mode_std=std,
    )


def make_ring8(config: MixtureConfig) -> TensorData:
    """``ring8``: 8 Gaussians on the unit circle, std 0.01."""
    return make_mixture("ring8", ring8_centers(), RING8_STD, config)


def make_grid25(config: MixtureConfig) -> TensorData:
    """``grid25``: a 5x5 grid of Gaussians at ``{-4, -2, 0, 2, 4}^2``, std 0.05."""
    return make_mixture("grid25", grid25_centers(), GRID25_STD, config)
