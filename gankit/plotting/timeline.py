"""A figure laying out sample grids side by side, each titled with its step."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from gankit.plotting.backend import DPI, new_figure
from gankit.plotting.grids import SampleGrid

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: panels per row, and the smallest size of one panel in inches
COLUMNS = 4
MIN_PANEL = 2.6
GRAY_MODES = ("1", "L", "LA", "I", "I;16")


def _pixels(grid: SampleGrid) -> np.ndarray:
    with Image.open(grid.path) as img:
        return np.asarray(img.convert("L" if img.mode in GRAY_MODES else "RGB"))


def timeline_figure(grids: list[SampleGrid], run_name: str = "") -> Figure | None:
    """Sample grids in step order, ``COLUMNS`` per row; ``None`` if there are none.

    Panels are large enough to show the biggest grid at about its own pixel size,
    so single-pixel points (2-D scatter grids) survive.
    """
    if not grids:
        return None
    images = [_pixels(grid) for grid in grids]
    panel = max(MIN_PANEL, max(max(im.shape[:2]) for im in images) / DPI + 0.3)
    ncols = min(COLUMNS, len(grids))
    nrows = math.ceil(len(grids) / ncols)
    fig = new_figure(panel * ncols, panel * nrows + 0.4)
    for i, (grid, pixels) in enumerate(zip(grids, images, strict=True)):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        if pixels.ndim == 2:
            ax.imshow(pixels, cmap="gray", vmin=0, vmax=255)
        else:
            ax.imshow(pixels)
        ax.set_title(grid.title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_color("0.7")
    title = "Samples of a fixed latent batch during training"
    fig.suptitle(f"{title}: {run_name}" if run_name else title, fontsize=11)
    return fig
