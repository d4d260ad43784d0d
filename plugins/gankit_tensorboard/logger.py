"""Mirror a run directory into TensorBoard event files.

The logger follows what the trainer has already written instead of the values
handed to the step hooks: metrics are computed after ``gankit_on_step_end``
runs, so ``metrics.jsonl`` (read from where the logger last stopped) is the one
complete record of every logged step, and ``samples/`` holds every grid.

A logger that starts a run at step 0 deletes the event files already in
``RUN_DIR/tensorboard``: they were written by an earlier start of the run that
stopped before its first checkpoint (``gankit train --out`` starts such a run
over), and TensorBoard would otherwise show both starts as one run. A resumed
run keeps them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gankit.errors import GankitError
from gankit.plotting.grids import STEP_GRID
from gankit.training.trainer import METRICS_FILE, SAMPLES_DIR

log = logging.getLogger(__name__)

#: event files go to RUN_DIR/LOG_DIR (point ``tensorboard --logdir`` at it or at its parent)
LOG_DIR = "tensorboard"
#: how the names of the event files ``SummaryWriter`` writes begin
EVENT_FILE_PREFIX = "events.out.tfevents."
INSTALL_HINT = "pip install tensorboard (or pip install 'gankit[tensorboard]')"


def summary_writer_class() -> Callable[..., Any]:
    """``torch.utils.tensorboard.SummaryWriter``, or a clear error when TensorBoard is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise GankitError(
            f"train option tensorboard=true needs the tensorboard package, which is not "
            f"installed: {INSTALL_HINT}; or train with tensorboard=false"
        ) from None
    return SummaryWriter


def clear_event_files(log_dir: Path) -> list[Path]:
    """Delete the TensorBoard event files directly in ``log_dir``; return their paths.

    Only files named like ``SummaryWriter``'s (:data:`EVENT_FILE_PREFIX`) go; any
    other file or directory a user put there is kept.
    """
    if not log_dir.is_dir():
        return []
    stale = sorted(
        p for p in log_dir.iterdir() if p.name.startswith(EVENT_FILE_PREFIX) and p.is_file()
    )
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def scalar_tag(key: str) -> str:
    """TensorBoard tag of a metrics.jsonl key: metrics keep ``metric/value``, the rest
    (losses, mean logits, images seen, ProGAN's alpha) go under ``train/``."""
    return key if "/" in key else f"train/{key}"


class TensorBoardLogger:
    """Writes new metrics.jsonl records as scalars and new sample grids as images.

    Args:
        run_dir: the run directory.
        writer_class: ``SummaryWriter`` (see :func:`summary_writer_class`).
        start_step: the step training starts from. 0 starts the run afresh: event
            files left by an earlier start are deleted (see :func:`clear_event_files`).
            On a resume they are kept, and events that an interrupted session
            logged for later steps are purged.
        flush_secs: seconds between writes of the event file.
    """

    def __init__(
        self,
        run_dir: Path,
        writer_class: Callable[..., Any],
        start_step: int = 0,
        flush_secs: int = 120,
    ):
        self.metrics_path = run_dir / METRICS_FILE
        self.samples_dir = run_dir / SAMPLES_DIR
        if start_step == 0:  # a new run, or one started over: earlier events are stale
            stale = clear_event_files(run_dir / LOG_DIR)
            if stale:
                log.info(
                    "deleted %d TensorBoard event file(s) of an earlier start of this run in %s",
                    len(stale),
                    run_dir / LOG_DIR,
                )
        # events past the checkpoint we resume from were logged by an interrupted session
        self.writer = writer_class(
            log_dir=str(run_dir / LOG_DIR),
            purge_step=start_step + 1 if start_step > 0 else None,
            flush_secs=flush_secs,
        )
        # what exists already was logged by an earlier (resumed) session
        self.offset = self.metrics_path.stat().st_size if self.metrics_path.exists() else 0
        self.seen = {p.name for p in self._grids()}

    def _grids(self) -> list[Path]:
        if not self.samples_dir.is_dir():
            return []
        return sorted(p for p in self.samples_dir.glob("*.png") if p.name != "final.png")

    def log_new_records(self) -> int:
        """Log the complete metrics.jsonl lines written since the last call; returns how many."""
        if not self.metrics_path.exists():
            return 0
        with self.metrics_path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1  # a line still being written waits for the next call
        if end == 0:
            return 0
        self.offset += end
        records = [json.loads(line) for line in data[:end].splitlines() if line.strip()]
        for record in records:
            step = int(record["step"])
            for key, value in record.items():
                if key != "step" and isinstance(value, int | float) and not isinstance(value, bool):
                    self.writer.add_scalar(scalar_tag(key), float(value), step)
        self.writer.flush()
        return len(records)

    def log_new_grids(self, step: int) -> int:
        """Log sample grids not logged yet; phase grids are logged at ``step``. Returns how many."""
        new = [p for p in self._grids() if p.name not in self.seen]
        for path in new:
            if match := STEP_GRID.match(path.name):
                tag, at = "samples", int(match.group(1))
            else:
                tag, at = f"samples/{path.stem}", step
            with Image.open(path) as img:
                pixels = np.asarray(img.convert("RGB"))
            self.writer.add_image(tag, pixels, at, dataformats="HWC")
            self.seen.add(path.name)
        if new:
            self.writer.flush()
        return len(new)

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.close()
