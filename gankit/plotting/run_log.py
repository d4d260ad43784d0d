"""Reading a run directory's ``metrics.jsonl`` into series for plotting.

No plotting library is imported here: this module only parses what the trainer
logged (see :mod:`gankit.training.trainer` for the keys).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gankit.errors import GankitError
from gankit.training.trainer import METRICS_FILE


@dataclass(frozen=True)
class Phase:
    """A stretch of consecutive log records with the same ``phase`` (e.g. ProGAN's
    ``"8x8 fade-in"``): from ``start`` (the previous phase's last logged step, or 0)
    to ``end`` (its own last logged step)."""

    name: str
    start: int
    end: int


@dataclass
class RunLog:
    """The records of one run's ``metrics.jsonl``, in step order."""

    run_dir: Path
    records: list[dict[str, Any]]

    def series(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """Steps and values of the records that logged a number under ``key``."""
        pairs = [
            (r["step"], float(r[key]))
            for r in self.records
            if isinstance(r.get(key), int | float) and not isinstance(r.get(key), bool)
        ]
        steps = np.array([p[0] for p in pairs], dtype=np.int64)
        values = np.array([p[1] for p in pairs], dtype=np.float64)
        return steps, values

    def has(self, key: str) -> bool:
        """Whether any record logged ``key``."""
        return any(key in r for r in self.records)

    def metric_keys(self) -> list[str]:
        """Metric keys (``metric/value``, e.g. ``mixture-modes/modes_covered``), in log order."""
        keys: dict[str, None] = {}
        for record in self.records:
            for key, value in record.items():
                if "/" in key and isinstance(value, int | float):
                    keys.setdefault(key, None)
        return list(keys)

    def phases(self) -> list[Phase]:
        """Consecutive phases of the run (empty when it logged none)."""
        out: list[Phase] = []
        previous_end = 0
        for record in self.records:
            name = record.get("phase")
            if not isinstance(name, str) or not name:
                continue
            step = int(record["step"])
            if out and out[-1].name == name:
                out[-1] = Phase(name, out[-1].start, step)
            else:
                if out:
                    previous_end = out[-1].end
                out.append(Phase(name, previous_end, step))
        return out

    @property
    def name(self) -> str:
        """The run directory's name, for figure titles."""
        return self.run_dir.resolve().name

    @property
    def last_step(self) -> int:
        """The last logged step."""
        return int(self.records[-1]["step"]) if self.records else 0


def load_run_log(run_dir: str | Path) -> RunLog:
    """Read ``RUN_DIR/metrics.jsonl``.

    A last line that is cut off (a run still writing) is skipped; any other bad
    line, a missing file or a file without records is a :class:`GankitError`.
    """
    run_dir = Path(run_dir)
    path = run_dir / METRICS_FILE
    if not path.is_file():
        what = "does not exist" if not run_dir.exists() else f"has no {METRICS_FILE}"
        raise GankitError(
            f"{str(run_dir)!r} {what}, so it is not a gankit run directory; "
            f"make one with `gankit train --out DIR` and plot that DIR"
        )
    lines = path.read_text(encoding="utf-8").splitlines()
    records: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):  # being written right now
                continue
            raise GankitError(f"{path}:{number} is not a JSON object: {line[:80]!r}") from None
        if not isinstance(record, dict) or not isinstance(record.get("step"), int):
            raise GankitError(f"{path}:{number} has no integer 'step': {line[:80]!r}")
        records.append(record)
    if not records:
        raise GankitError(f"{path} has no logged steps yet; plot the run once it has logged some")
    records.sort(key=lambda r: r["step"])
    return RunLog(run_dir, records)
