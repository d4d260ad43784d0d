"""Pieces every image metric of this plugin shares: config fields, checks, a feature cache."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import field
from typing import Any

import torch

from gankit.data import TensorData
from gankit.errors import ConfigError, GankitError
from gankit_metrics.feature_cache import cached_features

#: the help text of the ``split`` field, shared by the metrics that compare with data
SPLIT_HELP = "the dataset split the samples are compared with (default: its test split)"


def option(default: Any, help: str) -> Any:
    """A config field with a default and the help text ``gankit info`` shows."""
    return field(default=default, metadata={"help": help})


def check_count(metric: str, key: str, value: int, minimum: int = 1) -> None:
    """Raise :class:`ConfigError` naming the value unless ``value >= minimum``."""
    if value < minimum:
        raise ConfigError(f"metric {metric}: {key} must be at least {minimum}, got {value!r}")


def check_images(metric: str, data: TensorData) -> None:
    """Raise a :class:`GankitError` unless ``data`` holds images ``[N, C, H, W]``."""
    if not data.is_image:
        raise GankitError(
            f"metric {metric} compares images, but dataset {data.name or '(unnamed)'!r} holds "
            f"samples of shape {data.data_shape}; for 2-D mixtures use mixture-modes"
        )


class ReferenceFeatures:
    """Features of the reference data, computed once per dataset object and key.

    The trainer scores the same reference data at every metric step; caching
    its features means only the generated samples are run through the
    feature extractor again. With an ``identity`` the features are also kept
    on disk for later runs (:mod:`gankit_metrics.feature_cache`).
    """

    def __init__(self) -> None:
        self._data: TensorData | None = None
        self._key: Any = None
        self._value: Any = None

    def get(
        self,
        data: TensorData,
        key: Any,
        compute: Callable[[torch.Tensor], Any],
        identity: Mapping[str, str] | None = None,
    ) -> Any:
        """``compute(data.samples)``, or the cached result for the same ``data`` and ``key``.

        ``identity`` describes the extractor and how it runs (its weights' digest,
        batch size, device), everything but the images that the features depend
        on; given, the result is also read from and stored in gankit's cache.
        """
        if self._data is not data or self._key != key:
            if identity is None:
                self._value = compute(data.samples)
            else:
                self._value = cached_features(data.samples, identity, compute)
            self._data, self._key = data, key
        return self._value
