"""Timing shared by the benchmark scripts: runners compared in interleaved rounds.

This VM's speed drifts by tens of percent within minutes, and a runner timed
right after another shares the cores with the other's still-spinning threads;
timing runners one after another in blocks measured both effects as speed-ups
(docs/benchmarks.md, the sampler section).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

#: seconds of rest before each runner's block of timed calls (see time_interleaved)
PAUSE_S = 0.5


def time_interleaved(
    runners: dict[str, Callable[[], object]], repeats: int, rounds: int
) -> dict[str, list[list[float]]]:
    """Wall time of each call of every runner, in interleaved rounds.

    Each runner is called twice to warm up; then in each of ``rounds`` rounds every
    runner makes ``repeats // rounds`` timed calls, the runners' order rotating from
    round to round. This VM's speed drifts by tens of percent within minutes, so
    runners timed one after another, each in one block, were compared at different
    machine speeds; interleaved, each round compares them at (nearly) the same one.
    Between two runners' blocks the benchmark sleeps ``PAUSE_S``: after a call,
    both torch's OpenMP threads and onnxruntime's thread pool keep spinning for a
    while, and a runner started at once would share the cores with them.
    Returns, per runner, one list of call seconds per round.
    """
    if rounds < 1 or repeats < rounds:
        raise ValueError(f"need 1 <= rounds <= repeats, got rounds={rounds}, repeats={repeats}")
    for fn in runners.values():
        fn()
        fn()
    names = list(runners)
    times: dict[str, list[list[float]]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            time.sleep(PAUSE_S)
            calls = []
            for _ in range(repeats // rounds):
                t0 = time.perf_counter()
                runners[name]()
                calls.append(time.perf_counter() - t0)
            times[name].append(calls)
    return times


def speedup(times: dict[str, list[list[float]]], runner: str, baseline: str) -> dict[str, float]:
    """``runner``'s images/s over ``baseline``'s: median, min and max over the rounds."""
    ratios = [sum(b) / sum(r) for r, b in zip(times[runner], times[baseline], strict=True)]
    return {
        "median": round(statistics.median(ratios), 2),
        "min": round(min(ratios), 2),
        "max": round(max(ratios), 2),
    }


def all_calls(per_round: list[list[float]]) -> list[float]:
    """Every timed call of one runner, the rounds pooled."""
    return [t for calls in per_round for t in calls]


def images_per_s(per_round: list[list[float]], batch: int) -> float:
    """Images/s over every timed call of one runner (``batch`` images per call)."""
    calls = all_calls(per_round)
    return batch * len(calls) / sum(calls)


def add_rounds_argument(ap: argparse.ArgumentParser) -> None:
    """Add the scripts' ``--rounds`` option: interleaved rounds ``--repeats`` is split into."""
    ap.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="interleaved rounds the repeats are split into (speed-ups: median over rounds)",
    )
