"""The generic adversarial trainer and its configuration.

- :class:`Trainer`: trains one run (see :mod:`gankit.training.trainer`).
- :class:`TrainConfig`, :class:`RunSpec`, :func:`resolve`: what a run is made of.
"""

from gankit.training.config import RunSpec, TrainConfig, resolve
from gankit.training.trainer import Trainer, TrainingDiverged

__all__ = ["RunSpec", "TrainConfig", "Trainer", "TrainingDiverged", "resolve"]
