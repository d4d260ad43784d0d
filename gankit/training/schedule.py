"""Learning-rate schedules of the trainer, as a factor on the base learning rates.

The factor is a pure function of the step and the run's total steps, so a
resumed run recomputes it instead of restoring scheduler state. (torch's
``LambdaLR`` counts its own calls and would have to be checkpointed, and it
cannot follow ``gankit train --resume --steps N`` moving the end of the run.)
Extending a run with ``--resume --steps N`` stretches the decay to the new end.
"""

from __future__ import annotations

#: the schedules ``lr_decay`` accepts
LR_DECAYS = ("none", "linear")


def lr_factor(kind: str, step: int, total: int, start: float, final: float) -> float:
    """The multiplier of the base learning rates at generator step ``step`` of ``total``.

    ``"none"``: always 1. ``"linear"``: 1 until ``start * total`` steps, then a
    straight line reaching ``final`` at the last step (``step = total - 1``).
    """
    if kind == "none" or total <= 0:
        return 1.0
    if kind != "linear":
        raise ValueError(f"lr_decay must be one of {', '.join(LR_DECAYS)}, got {kind!r}")
    begin = int(start * total)
    span = max(1, total - 1 - begin)
    if step <= begin:
        return 1.0
    return 1.0 + (final - 1.0) * min(1.0, (step - begin) / span)
