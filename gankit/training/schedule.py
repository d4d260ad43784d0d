"""Learning-rate schedules of the trainer, as a factor on the base learning rates.

The factor is a pure function of the run's progress, so a resumed run recomputes
it instead of restoring scheduler state. (torch's ``LambdaLR`` counts its own
calls and would have to be checkpointed, and it cannot follow ``gankit train
--resume --steps N`` moving the end of the run.)

Two clocks measure progress (``lr_decay_clock``). ``"steps"``: the step over the
run's total steps; extending a run with ``--resume --steps N`` stretches the
decay to the new end. ``"time"``: also the wall time used out of ``max_minutes``,
whichever is further, so the decay ends when the run does even when the machine's
speed, and so the steps that fit in the budget, is not known in advance. A
resumed run spreads what its time progress had left over its new budget.
"""

from __future__ import annotations

#: the schedules ``lr_decay`` accepts
LR_DECAYS = ("none", "linear")
#: what ``lr_decay_clock`` may measure progress by
LR_DECAY_CLOCKS = ("steps", "time")


def _decays(kind: str) -> bool:
    """False for ``"none"``, True for ``"linear"``; an error naming the choices otherwise."""
    if kind not in LR_DECAYS:
        raise ValueError(f"lr_decay must be one of {', '.join(LR_DECAYS)}, got {kind!r}")
    return kind != "none"


def lr_factor(kind: str, step: int, total: int, start: float, final: float) -> float:
    """The multiplier of the base learning rates at generator step ``step`` of ``total``.

    ``"none"``: always 1. ``"linear"``: 1 until ``start * total`` steps, then a
    straight line reaching ``final`` at the last step (``step = total - 1``).
    """
    if not _decays(kind) or total <= 0:
        return 1.0
    begin = int(start * total)
    span = max(1, total - 1 - begin)
    if step <= begin:
        return 1.0
    return 1.0 + (final - 1.0) * min(1.0, (step - begin) / span)


def lr_factor_at(kind: str, progress: float, start: float, final: float) -> float:
    """The multiplier at a fraction ``progress`` in [0, 1] of the run (the time clock).

    ``"linear"``: 1 up to ``start``, then a straight line reaching ``final`` at 1.
    """
    if not _decays(kind) or progress <= start:
        return 1.0
    return 1.0 + (final - 1.0) * min(1.0, (progress - start) / (1.0 - start))


def time_progress(resumed_at: float, elapsed_s: float, budget_s: float) -> float:
    """Progress by the time clock after ``elapsed_s`` of a ``budget_s`` call.

    A call that resumed at progress ``resumed_at`` spreads the rest (up to 1) over
    its own budget, so the progress never goes back and reaches 1 at its deadline.
    """
    if budget_s <= 0:
        raise ValueError(f"the time clock needs a positive budget, got {budget_s} s")
    return resumed_at + (1.0 - resumed_at) * min(1.0, max(0.0, elapsed_s) / budget_s)
