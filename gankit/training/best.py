"""Keeping the best checkpoint of a run by a logged metric.

With ``best_metric`` set (e.g. ``fd/frechet_distance``, ``best_mode`` "min"),
the trainer asks :class:`BestTracker` at every metric step whether the value
improved; if it did, it writes

- ``RUN_DIR/checkpoints/best/ckpt-N.{safetensors,json}``: the whole checkpoint of
  that step (atomic like the others; the previous best is deleted after the new
  one is complete),
- ``RUN_DIR/artifact-best/``: the generator artifact of that step (written to a
  temporary directory and renamed into place),
- ``RUN_DIR/best.json``: the note (metric, mode, value, step, paths), written last,
  atomically; on resume the best value so far is read back from it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from gankit.errors import GankitError
from gankit.training.checkpoint import atomic_write_bytes
from gankit.training.config import BEST_MODES

NOTE_FILE = "best.json"
CHECKPOINT_DIR = Path("checkpoints") / "best"
ARTIFACT_DIR = "artifact-best"


class BestTracker:
    """Remembers the best value of one metric key and writes the note about it."""

    def __init__(self, run_dir: Path, key: str, mode: str) -> None:
        if mode not in BEST_MODES:
            raise ValueError(f"best_mode must be 'min' or 'max', got {mode!r}")
        self.run_dir = Path(run_dir)
        self.key = key
        self.mode = mode
        self.value: float | None = None
        self.step: int | None = None

    @property
    def checkpoint_dir(self) -> Path:
        """Where the best checkpoint is kept."""
        return self.run_dir / CHECKPOINT_DIR

    @property
    def artifact_dir(self) -> Path:
        """Where the best generator artifact is written."""
        return self.run_dir / ARTIFACT_DIR

    def load(self) -> None:
        """Read the best value so far from ``best.json`` (a resumed run), if it is for this key."""
        path = self.run_dir / NOTE_FILE
        if not path.exists():
            return
        note = json.loads(path.read_text())
        if note.get("metric") == self.key and note.get("mode") == self.mode:
            self.value, self.step = float(note["value"]), int(note["step"])

    def value_of(self, logs: dict[str, Any]) -> float:
        """The tracked value in a step's logged metrics; an error naming the keys if absent."""
        if self.key not in logs:
            logged = sorted(k for k in logs if "/" in k)
            raise GankitError(
                f"best_metric={self.key!r} is not among the logged metric values "
                f"({', '.join(logged) or 'none'}); set best_metric to one of them: for this "
                f"run, in the 'train' section of {self.run_dir / 'run.json'}, then continue "
                f"with `gankit train --resume {self.run_dir}`"
            )
        return float(logs[self.key])

    def improves(self, value: float) -> bool:
        """True if ``value`` is finite and better than the best so far (the first always is)."""
        if not math.isfinite(value):
            return False
        if self.value is None:
            return True
        return value < self.value if self.mode == "min" else value > self.value

    def record(self, step: int, value: float, checkpoint: Path, artifact: Path) -> Path:
        """Remember ``value`` at ``step`` and write ``best.json`` atomically."""
        self.value, self.step = value, step
        note = {
            "metric": self.key,
            "mode": self.mode,
            "value": value,
            "step": step,
            "checkpoint": str(checkpoint.relative_to(self.run_dir)),
            "artifact": str(artifact.relative_to(self.run_dir)),
        }
        path = self.run_dir / NOTE_FILE
        atomic_write_bytes(path, (json.dumps(note, indent=2) + "\n").encode())
        return path
