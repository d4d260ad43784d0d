"""The growth schedule: which resolution and fade-in alpha apply after N images.

Phases, each ``images_per_phase`` real images long: 4x4 stabilize, then for every
higher resolution a fade-in (alpha ramps linearly 0 -> 1) and a stabilization
(alpha = 1). The last stabilization lasts until training ends. The schedule is a
pure function of the images seen, so a resumed run continues exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from gankit_progan.networks import ProGANConfig, num_levels


@dataclass(frozen=True)
class Growth:
    """Where the schedule is."""

    level: int
    alpha: float
    stage: str  # "fade-in" or "stabilize"

    @property
    def resolution(self) -> int:
        """Side of the images at this level."""
        return 4 * 2**self.level

    @property
    def phase(self) -> str:
        """Name of the phase, e.g. ``16x16 fade-in``."""
        return f"{self.resolution}x{self.resolution} {self.stage}"


def growth_at(images_seen: int, cfg: ProGANConfig) -> Growth:
    """The growth state after ``images_seen`` real images."""
    last = num_levels(cfg) - 1
    per_phase = max(1, cfg.images_per_phase)
    k = images_seen // per_phase
    if k == 0:
        return Growth(0, 1.0, "stabilize")
    level = min((k + 1) // 2, last)
    if k >= 2 * last or k % 2 == 0:
        return Growth(level, 1.0, "stabilize")
    return Growth(level, (images_seen - k * per_phase) / per_phase, "fade-in")


def per_level(values: tuple[Any, ...], level: int) -> Any:
    """The value for ``level`` from a per-resolution list (the last one beyond its end)."""
    if not values:
        return None
    return values[min(level, len(values) - 1)]


def reals_at(x: torch.Tensor, level: int, alpha: float, last_level: int) -> torch.Tensor:
    """Full-resolution reals as D must see them at ``level``, blended as G's output is."""
    factor = 2 ** (last_level - level)
    cur = F.avg_pool2d(x, factor) if factor > 1 else x
    if level > 0 and alpha < 1.0:
        low = F.interpolate(F.avg_pool2d(cur, 2), scale_factor=2.0, mode="nearest")
        cur = alpha * cur + (1.0 - alpha) * low
    return cur
