"""Built-in gankit plugin: TensorBoard logging, opt-in with the train option ``tensorboard``.

``gankit train ... tensorboard=true`` writes TensorBoard event files to
``RUN_DIR/tensorboard``: every logged step's scalars (losses, mean D logits,
metrics, ProGAN's alpha and resolution) and every sample grid. It needs the
``tensorboard`` package; with the option on and the package missing, training
stops before the first step with a message that says what to install. Only the
main process writes. A run that starts at step 0 (new, or started over after it
stopped before its first checkpoint) first deletes the event files an earlier
start left in ``RUN_DIR/tensorboard``; a resumed run keeps and extends them.

Its own run option (``gankit info gankit-tensorboard``):
``plugins.gankit-tensorboard.flush_secs=N`` writes the event file every N seconds
(TensorBoard shows new points only after a write; default 120).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from gankit import hookimpl

if TYPE_CHECKING:  # imported when a run asks for TensorBoard, not with every command
    from gankit_tensorboard.logger import TensorBoardLogger

log = logging.getLogger(__name__)

#: the plugin's name, under which its options are set: plugins.gankit-tensorboard.KEY
PLUGIN = "gankit-tensorboard"


@dataclass
class TensorBoardOptions:
    """Run options of the TensorBoard plugin."""

    flush_secs: int = field(
        default=120,
        metadata={"help": "seconds between writes of the event file (new points show after one)"},
    )

    def __post_init__(self) -> None:
        if self.flush_secs < 1:
            raise ValueError(f"flush_secs must be at least 1 second, got {self.flush_secs}")


@hookimpl
def gankit_plugin_options() -> type:
    """The plugin's run options (``plugins.gankit-tensorboard.KEY=VALUE``)."""
    return TensorBoardOptions


#: the logger of each running trainer that asked for TensorBoard
_LOGGERS: WeakKeyDictionary[Any, TensorBoardLogger] = WeakKeyDictionary()


def _logger(trainer: Any) -> TensorBoardLogger | None:
    return _LOGGERS.get(trainer)


@hookimpl
def gankit_on_train_start(trainer: Any) -> None:
    """Open the event file when the run asked for TensorBoard (checked on every process)."""
    if not getattr(trainer.cfg, "tensorboard", False):
        given = trainer.spec.plugin_configs.get(PLUGIN)
        if given and trainer.dist.is_main:
            keys = ", ".join(f"plugins.{PLUGIN}.{key}" for key in given)
            log.warning(
                "%s set, but TensorBoard logging is off (tensorboard=false), so %s no "
                "effect; add tensorboard=true to log to TensorBoard",
                keys,
                "it has" if len(given) == 1 else "they have",
            )
        return
    from gankit_tensorboard.logger import TensorBoardLogger, summary_writer_class

    writer_class = summary_writer_class()
    options: TensorBoardOptions = trainer.plugin_options(PLUGIN)
    if trainer.dist.is_main:
        _LOGGERS[trainer] = TensorBoardLogger(
            trainer.out_dir, writer_class, trainer.step, flush_secs=options.flush_secs
        )


@hookimpl
def gankit_on_step_end(trainer: Any, step: int, logs: dict[str, float]) -> None:
    """Log the records and the grid the trainer wrote after the previous step."""
    logger = _logger(trainer)
    if logger is None:
        return
    logger.log_new_records()
    if step % trainer.cfg.sample_every == 0:
        logger.log_new_grids(step)


@hookimpl
def gankit_on_phase_change(trainer: Any, phase: str) -> None:
    """Log the grid saved at the end of the previous phase (ProGAN)."""
    logger = _logger(trainer)
    if logger is not None:
        logger.log_new_grids(trainer.step)


@hookimpl
def gankit_on_train_end(trainer: Any) -> None:
    """Log what the last step wrote and close the event file."""
    logger = _LOGGERS.pop(trainer, None)
    if logger is not None:
        logger.log_new_records()
        logger.log_new_grids(trainer.step)
        logger.close()
