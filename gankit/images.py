"""Turning generator outputs into pictures: uint8 conversion, grids, 2-D scatter plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from gankit.grids import make_grid


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Map images in ``[-1, 1]`` (``[B, C, H, W]``) to uint8 ``[B, H, W, C]``."""
    x = images.detach().float().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def grid_image(images: torch.Tensor, nrow: int | None = None, padding: int = 2) -> Image.Image:
    """Arrange images in ``[-1, 1]`` into one PIL image, ``nrow`` per row (default: square)."""
    if images.ndim != 4:
        raise ValueError(f"expected images [B, C, H, W], got shape {tuple(images.shape)}")
    arr = make_grid(to_uint8(images), nrow=nrow, padding=padding)
    return Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)


def scatter_image(
    points: torch.Tensor,
    value_range: tuple[float, float],
    size: int = 384,
    centers: torch.Tensor | None = None,
) -> Image.Image:
    """Draw 2-D points as a scatter plot (mode centres, if given, as red crosses).

    Written with PIL rather than matplotlib so a training run needs no plotting
    stack to show 2-D samples.
    """
    lo, hi = value_range
    pad = 0.1 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)

    def to_px(p: np.ndarray) -> np.ndarray:
        xy = (p - lo) / (hi - lo) * (size - 1)
        xy[:, 1] = size - 1 - xy[:, 1]
        return xy

    pts = to_px(points.detach().float().cpu().numpy()[:, :2].copy())
    for x, y in pts:
        draw.point((float(x), float(y)), fill=(30, 90, 200))
    if centers is not None:
        for x, y in to_px(centers.float().cpu().numpy().copy()):
            draw.line([(x - 4, y), (x + 4, y)], fill=(220, 30, 30))
            draw.line([(x, y - 4), (x, y + 4)], fill=(220, 30, 30))
    return img


def save_samples_image(
    samples: torch.Tensor,
    path: str | Path,
    *,
    nrow: int | None = None,
    value_range: tuple[float, float] = (-1.0, 1.0),
    centers: torch.Tensor | None = None,
) -> Path:
    """Save samples as a PNG: a grid for images, a scatter plot for 2-D points."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if samples.ndim == 4:
        img = grid_image(samples, nrow=nrow)
    elif samples.ndim == 2:
        img = scatter_image(samples, value_range, centers=centers)
    else:
        raise ValueError(f"cannot draw samples of shape {tuple(samples.shape)}")
    img.save(path)
    return path
