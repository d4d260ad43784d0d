"""Built-in gankit plugin: TensorBoard logging, opt-in with the train option ``tensorboard``.

``gankit train ... tensorboard=true`` writes TensorBoard event files to
``RUN_DIR/tensorboard``: every logged step's scalars (losses, mean D logits,
metrics, ProGAN's alpha and resolution) and every sample grid. It needs the
``tensorboard`` package; with the option on and the package missing, training
stops before the first step with a message that says what to install. Only the
main process writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from gankit import hookimpl

if TYPE_CHECKING:  # imported when a run asks for TensorBoard, not with every command
    from gankit_tensorboard.logger import TensorBoardLogger

#: the logger of each running trainer that asked for TensorBoard
_LOGGERS: WeakKeyDictionary[Any, TensorBoardLogger] = WeakKeyDictionary()


def _logger(trainer: Any) -> TensorBoardLogger | None:
    return _LOGGERS.get(trainer)


@hookimpl
def gankit_on_train_start(trainer: Any) -> None:
    """Open the event file when the run asked for TensorBoard (checked on every process)."""
    if not getattr(trainer.cfg, "tensorboard", False):
        return
    from gankit_tensorboard.logger import TensorBoardLogger, summary_writer_class

    writer_class = summary_writer_class()
    if trainer.dist.is_main:
        _LOGGERS[trainer] = TensorBoardLogger(trainer.out_dir, writer_class, trainer.step)


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
