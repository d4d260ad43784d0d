"""Step time of gankit's trainer vs a plain hand-written PyTorch loop, same networks.

Both train the textbook MNIST GAN (see textbook.py) on 28x28 Fashion-MNIST (or
the bundled digits resized to 28 when Fashion-MNIST is absent), batch 128, in
the same process. Rounds alternate between the two so that machine noise hits
both alike; the reported step time is the median over rounds.

    python benchmarks/train_speed.py                      # CPU, default settings
    python benchmarks/train_speed.py --rounds 7 --steps 40 --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

import gankit
from gankit.training.config import resolve
from gankit.training.trainer import Trainer

try:  # run as a script from the repository root or from benchmarks/
    import textbook
except ImportError:  # pragma: no cover
    from benchmarks import textbook


def build_trainer(data: str, data_cfg: dict[str, object], ema: bool, out: Path) -> Trainer:
    """The gankit trainer for the textbook nets with its default settings."""
    textbook.register()
    overrides = {
        **{f"data.{k}": v for k, v in data_cfg.items()},
        "progress": False,
        "batch_size": 128,
        "ema": ema,
    }
    return Trainer(resolve("textbook", data, overrides=overrides, seed=0), out)


def timed(fn, steps: int) -> float:  # type: ignore[no-untyped-def]
    """Seconds per call of ``fn`` over ``steps`` calls."""
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t0) / steps


def main() -> None:
    """Run the benchmark and print (and optionally save) the results."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=30, help="steps per round")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--no-ema", action="store_true", help="also time gankit without EMA")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    if Path("/usr/share/datasets/fashion-mnist").is_dir():
        data, data_cfg = "fashion-mnist", {"pad_to_32": False}
    else:
        data, data_cfg = "digits", {"size": 28}
    out = Path("benchmarks/results/train_speed_run")
    variants = {"gankit (default, EMA on)": build_trainer(data, data_cfg, True, out)}
    if args.no_ema:
        variants["gankit (EMA off)"] = build_trainer(data, data_cfg, False, out)
    images = variants["gankit (default, EMA on)"].data.samples
    hand = textbook.HandLoop(images, batch_size=128)

    runners = {"hand-written loop": hand.step, **{k: t.train_step for k, t in variants.items()}}
    for fn in runners.values():
        timed(fn, args.warmup)
    times: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(args.rounds):
        for name, fn in runners.items():
            times[name].append(timed(fn, args.steps))
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["hand-written loop"]
    result = {
        "data": data,
        "batch_size": 128,
        "rounds": args.rounds,
        "steps_per_round": args.steps,
        "torch": torch.__version__,
        "gankit": gankit.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "ms_per_step": {k: round(v * 1000, 2) for k, v in med.items()},
        "ratio_to_hand_loop": {k: round(v / base, 3) for k, v in med.items()},
        "all_rounds_ms": {k: [round(x * 1000, 2) for x in v] for k, v in times.items()},
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
