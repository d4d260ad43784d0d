"""Helpers shared by the built-in datasets: config fields, checks, the [-1, 1] mapping."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field
from typing import Any

import numpy as np
import torch

from gankit.errors import ConfigError

#: The range every image dataset's samples lie in.
IMAGE_RANGE: tuple[float, float] = (-1.0, 1.0)


def option(default: Any, help: str) -> Any:
    """Declare a config field with a default and the help text ``gankit info`` shows."""
    return field(default=default, metadata={"help": help})


def to_unit_range(pixels: np.ndarray | torch.Tensor, max_value: float) -> torch.Tensor:
    """Map pixel values in ``[0, max_value]`` linearly to float32 in ``[-1, 1]``.

    ``0`` becomes exactly ``-1`` and ``max_value`` exactly ``1``; the result is
    clamped so interpolation round-off never leaves the range.
    """
    values = torch.as_tensor(pixels).to(torch.float32)
    return (values / float(max_value) * 2.0 - 1.0).clamp_(*IMAGE_RANGE)


def check_choice(dataset: str, key: str, value: Any, choices: Sequence[Any]) -> None:
    """Raise :class:`ConfigError` naming ``value`` unless it is one of ``choices``."""
    if value not in choices:
        allowed = " or ".join(repr(c) for c in choices)
        raise ConfigError(f"{dataset}: {key} must be {allowed}, got {value!r}")


def check_positive(dataset: str, key: str, value: int) -> None:
    """Raise :class:`ConfigError` unless ``value`` is at least 1."""
    if value < 1:
        raise ConfigError(f"{dataset}: {key} must be at least 1, got {value!r}")


def check_limit(dataset: str, limit: int) -> None:
    """Raise :class:`ConfigError` for a negative ``limit`` (0 means no limit)."""
    if limit < 0:
        raise ConfigError(f"{dataset}: limit must be 0 (all) or a positive count, got {limit!r}")
