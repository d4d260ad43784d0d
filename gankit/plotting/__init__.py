"""Figures of a training run: ``gankit plot RUN_DIR``.

:func:`plot_run` reads ``RUN_DIR/metrics.jsonl`` and ``RUN_DIR/samples/`` and
writes PNG figures. matplotlib (the ``plot`` extra) is imported only when a
figure is drawn.

Modules: :mod:`~gankit.plotting.run_log` (parse the log),
:mod:`~gankit.plotting.smoothing`, :mod:`~gankit.plotting.curves` (line charts),
:mod:`~gankit.plotting.grids` and :mod:`~gankit.plotting.timeline` (sample grids),
:mod:`~gankit.plotting.backend` (lazy matplotlib).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from gankit.plotting.backend import DPI
from gankit.plotting.curves import logits_figure, losses_figure, metrics_figure
from gankit.plotting.grids import find_grids, pick_evenly
from gankit.plotting.run_log import RunLog, load_run_log
from gankit.plotting.timeline import timeline_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: output file name -> the function drawing it (skipped when it returns None)
CURVES: dict[str, Callable[[RunLog], Figure | None]] = {
    "losses.png": losses_figure,
    "logits.png": logits_figure,
    "metrics.png": metrics_figure,
}
TIMELINE = "samples.png"


def plot_run(run_dir: str | Path, out_dir: str | Path | None = None, grids: int = 8) -> list[Path]:
    """Write the figures of the run in ``run_dir`` to ``out_dir`` (default ``RUN_DIR/plots``).

    Figures: ``losses.png``, ``logits.png`` (mean D logits), ``metrics.png`` (if
    the run logged metrics) and ``samples.png`` (up to ``grids`` sample grids,
    evenly spaced over the run, if it saved any). Returns the paths written.
    Raises :class:`~gankit.errors.GankitError` for a directory without
    ``metrics.jsonl`` or when matplotlib is missing.
    """
    log = load_run_log(run_dir)
    out = Path(out_dir) if out_dir is not None else log.run_dir / "plots"
    figures: list[tuple[str, Figure | None]] = [(name, draw(log)) for name, draw in CURVES.items()]
    chosen = pick_evenly(find_grids(log), grids)
    figures.append((TIMELINE, timeline_figure(chosen, log.name)))
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fig in figures:
        if fig is None:
            continue
        fig.savefig(out / name, dpi=DPI)
        written.append(out / name)
    return written


__all__ = ["plot_run"]
