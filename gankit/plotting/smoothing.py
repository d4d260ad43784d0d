"""A centred moving average for noisy training curves."""

from __future__ import annotations

import numpy as np


def default_window(n: int) -> int:
    """An odd window of about 1/15 of ``n`` points (1 for short series: no smoothing)."""
    window = max(1, n // 15)
    return window if window % 2 else window + 1


def smooth(values: np.ndarray, window: int | None = None) -> np.ndarray:
    """Centred moving average of ``values`` over ``window`` points.

    Unlike an exponential average it does not lag behind the data; near the ends
    the window shrinks to the points that exist. ``window`` defaults to
    :func:`default_window`.
    """
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    window = default_window(n) if window is None else window
    half = window // 2
    if half == 0 or n < 3:
        return v.copy()
    sums = np.concatenate([[0.0], np.cumsum(v)])
    i = np.arange(n)
    lo = np.maximum(0, i - half)
    hi = np.minimum(n, i + half + 1)
    return (sums[hi] - sums[lo]) / (hi - lo)
