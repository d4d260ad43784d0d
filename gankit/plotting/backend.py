"""Import matplotlib on first use and make figures that render with Agg.

Kept out of module import time so that ``gankit --help`` and training never
load matplotlib; a missing installation is a clear :class:`GankitError`.
Figures are plain :class:`matplotlib.figure.Figure` objects, never pyplot's:
saving one to PNG uses the Agg renderer, no GUI backend is selected, and a
caller's own pyplot backend (a notebook's, say) is left alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gankit.errors import GankitError

if TYPE_CHECKING:
    import matplotlib.figure

#: resolution of the PNGs written (pixels per inch)
DPI = 110


def new_figure(width: float, height: float) -> matplotlib.figure.Figure:
    """A matplotlib figure (constrained layout) of ``width`` x ``height`` inches.

    It is not registered with pyplot, so nothing has to be closed.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise GankitError(
            "gankit plot needs matplotlib, which is not installed; install the plot extra: "
            "pip install 'gankit[plot]' (or pip install matplotlib)"
        ) from None

    return Figure(figsize=(width, height), layout="constrained")
