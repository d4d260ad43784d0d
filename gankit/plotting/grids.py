"""Finding a run's sample grids (``samples/step-*.png``, ``samples/phase-*.png``) in order."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gankit.plotting.run_log import RunLog
from gankit.training.trainer import FINAL_GRID as FINAL_GRID_NAME
from gankit.training.trainer import SAMPLES_DIR

STEP_GRID = re.compile(r"^step-(\d+)\.png$")
PHASE_GRID = re.compile(r"^phase-(.+)\.png$")


@dataclass(frozen=True)
class SampleGrid:
    """One sample grid with the step it shows (approximate for phase grids) and a title."""

    path: Path
    step: int
    title: str


FINAL_GRID = f"{FINAL_GRID_NAME}.png"


def find_grids(log: RunLog) -> list[SampleGrid]:
    """The run's step and phase grids, then ``final.png``, sorted by step, one per step.

    A phase grid is written when its phase ends (ProGAN); its step is taken from
    the log as the phase's last logged step, so it is exact to ``log_every``. All
    grids show the same fixed latents, so where a step grid and a phase grid fall
    on the same step only the phase grid (the more telling title) is kept, and
    ``final.png`` (written with the artifact) only when no grid shows the last step.
    """
    samples = log.run_dir / SAMPLES_DIR
    if not samples.is_dir():
        return []
    phase_end = {p.name.replace(" ", "-"): p for p in log.phases()}
    found: list[tuple[int, int, SampleGrid]] = []
    for path in samples.iterdir():
        if match := STEP_GRID.match(path.name):
            step = int(match.group(1))
            found.append((step, 1, SampleGrid(path, step, f"step {step}")))
        elif match := PHASE_GRID.match(path.name):
            phase = phase_end.get(match.group(1))
            name = phase.name if phase else match.group(1).replace("-", " ")
            step = phase.end if phase else log.last_step
            found.append((step, 0, SampleGrid(path, step, f"step ~{step}\nend of {name}")))
    phase_steps = {step for step, kind, _ in found if kind == 0}
    found = [t for t in found if t[1] == 0 or t[0] not in phase_steps]
    final = samples / FINAL_GRID
    if final.is_file() and log.last_step not in {t[0] for t in found}:
        found.append(
            (log.last_step, 2, SampleGrid(final, log.last_step, f"step {log.last_step}\nfinal"))
        )
    return [grid for _, _, grid in sorted(found, key=lambda t: (t[0], t[1], t[2].path.name))]


def pick_evenly(grids: list[SampleGrid], limit: int) -> list[SampleGrid]:
    """Up to ``limit`` grids spread evenly over the list, always the first and the last."""
    if limit <= 0:
        return []
    if len(grids) <= limit:
        return list(grids)
    if limit == 1:
        return [grids[-1]]
    idx = np.unique(np.linspace(0, len(grids) - 1, limit).round().astype(int))
    return [grids[i] for i in idx]
