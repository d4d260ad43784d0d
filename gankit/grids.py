"""Tiling images into one grid picture (numpy only).

Both the training/sampling side (``gankit.images``, torch) and the torch-free
server (``gankit.serving.encoding``) draw grids with this one function, so a
grid from ``gankit sample`` and one from ``POST /sample`` have the same layout.

Written here rather than taken from ``torchvision.utils.make_grid``: importing
torchvision pulls in ``torch._dynamo`` through ``torchvision.ops``, which cost
about 2.5 s on every ``gankit train`` and ``gankit sample`` (``python -X
importtime -m gankit sample ...``, 2026-12-07), for a few lines of tiling.
"""

from __future__ import annotations

import math

import numpy as np


def make_grid(images: np.ndarray, nrow: int | None = None, padding: int = 2) -> np.ndarray:
    """Tile uint8 images ``[n, H, W, C]`` into one ``[H', W', C]`` image (black padding).

    ``nrow`` images per row (a square-ish grid by default); ``padding`` black
    pixels around and between the images. A single image comes back as it is.
    """
    if images.ndim != 4:
        raise ValueError(f"expected images [n, H, W, C], got shape {tuple(images.shape)}")
    if nrow is not None and nrow < 1:
        raise ValueError(f"nrow must be at least 1, got {nrow}")
    n, h, w, c = images.shape
    if n == 0:
        raise ValueError("cannot draw a grid of 0 images")
    if n == 1:  # one image is drawn as it is, without a border (as torchvision does)
        return images[0].copy()
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    cols = min(nrow, n)
    rows = math.ceil(n / cols)
    grid = np.zeros(
        (rows * (h + padding) + padding, cols * (w + padding) + padding, c), images.dtype
    )
    for i in range(n):
        y = (i // cols) * (h + padding) + padding
        x = (i % cols) * (w + padding) + padding
        grid[y : y + h, x : x + w] = images[i]
    return grid
