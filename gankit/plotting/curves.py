"""Line charts of a run's log: losses, mean discriminator logits, metrics.

Each ``*_figure`` function returns a matplotlib figure, or ``None`` when the run
did not log what it draws. Runs with phases (ProGAN) get them shaded and named
along the top edge of every chart.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from gankit.plotting.backend import new_figure
from gankit.plotting.run_log import Phase, RunLog
from gankit.plotting.smoothing import default_window, smooth

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: colours of the two curves on each chart (matplotlib's default blue and orange)
COLORS = ("tab:blue", "tab:orange")
WIDE = (9.0, 4.2)


def shade_phases(ax: Axes, phases: list[Phase]) -> None:
    """Shade every other phase, mark the boundaries and name the phases on a top axis."""
    if not phases:
        return
    for i, phase in enumerate(phases):
        if i % 2:
            ax.axvspan(phase.start, phase.end, color="0.5", alpha=0.12, lw=0)
        if i:
            ax.axvline(phase.start, color="0.4", lw=0.6, ls=":")
    top = ax.secondary_xaxis("top")
    top.set_xticks(
        [(p.start + p.end) / 2 for p in phases],
        labels=[p.name for p in phases],
        fontsize=7,
        rotation=30,
        ha="left",
        rotation_mode="anchor",
    )
    top.tick_params(length=0)


def _raw_and_smoothed(ax: Axes, log: RunLog, key: str, label: str, color: str) -> bool:
    """Draw ``key`` as a light raw line plus a darker moving average; False if not logged."""
    steps, values = log.series(key)
    if len(steps) == 0:
        return False
    ax.plot(steps, values, color=color, alpha=0.25, lw=0.8)
    ax.plot(steps, smooth(values), color=color, lw=1.6, label=label)
    return True


def _two_curve_figure(
    log: RunLog,
    curves: tuple[tuple[str, str], tuple[str, str]],
    title: str,
    ylabel: str,
    zero_line: bool = False,
) -> Figure | None:
    fig = new_figure(*WIDE)
    ax = fig.add_subplot()
    drawn = [
        _raw_and_smoothed(ax, log, key, label, color)
        for (key, label), color in zip(curves, COLORS, strict=True)
    ]
    if not any(drawn):
        return None
    if zero_line:
        ax.axhline(0.0, color="0.3", lw=0.6)
    window = default_window(len(log.records))
    note = f"light: logged values; dark: moving average of {window} logs" if window > 1 else ""
    title = f"{title}: {log.name}"
    ax.set_title(f"{title}\n{note}" if note else title, fontsize=10)
    ax.set_xlabel("step (generator updates)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    ax.margins(x=0.01)
    shade_phases(ax, log.phases())
    return fig


def losses_figure(log: RunLog) -> Figure | None:
    """D and G loss against the step."""
    return _two_curve_figure(
        log, (("loss_d", "D loss"), ("loss_g", "G loss")), "Losses", "loss (incl. regularizers)"
    )


def logits_figure(log: RunLog) -> Figure | None:
    """The logged ``d_real`` and ``d_fake``: D's mean logit on a real and a generated batch."""
    return _two_curve_figure(
        log,
        (("d_real", "D(x): real batch"), ("d_fake", "D(G(z)): generated batch")),
        "Discriminator outputs",
        "mean D logit over the batch\n(before any sigmoid)",
        zero_line=True,
    )


def metrics_figure(log: RunLog) -> Figure | None:
    """One panel per logged metric key (``metric/value``) against the step."""
    keys = log.metric_keys()
    if not keys:
        return None
    nrows = math.ceil(len(keys) / 3)
    ncols = math.ceil(len(keys) / nrows)  # balanced rows: 4 keys make 2 x 2
    fig = new_figure(4.0 * ncols, 3.2 * nrows)
    phases = log.phases()
    for i, key in enumerate(keys):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        steps, values = log.series(key)
        ax.plot(steps, values, color=COLORS[0], marker="o", ms=3, lw=1.2)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel(key.partition("/")[2])
        ax.grid(alpha=0.3)
        if len(steps):
            ax.set_xlim(0, max(int(np.max(steps)), log.last_step) * 1.02)
        shade_phases(ax, phases)
    fig.suptitle(f"Metrics during training: {log.name}", fontsize=11)
    return fig
