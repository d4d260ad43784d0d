"""Where a training step's time goes, at the final resolution of the quality benchmark.

Trains an architecture on Fashion-MNIST with the options of
benchmarks/fmnist_quality.py (ProGAN: its ``PROGAN_OVERRIDES``, but with
one-image phases, so that it grows to 32x32 in its first steps; both with
``channels_last``) plus ``--set`` overrides, twice: once timing ``--steps``
steps without a profiler, once running ``--profile-steps`` steps under
torch.profiler. Each run first takes ``--warmup`` steps that are not measured
(ProGAN grows to 32x32 in them), and the data set's loading is never measured
(see :class:`StepWindow`). It reports milliseconds per step and per real image,
and the share of the profiled operator time that went to convolutions (forward
and backward), to element-wise operators, and to everything else.

    OMP_NUM_THREADS=1 python benchmarks/step_profile.py --arch progan \
        --set loss=non-saturating regularizers=r1 regularizers.r1.gamma=0.5 lr_d=1.6e-2
    OMP_NUM_THREADS=1 python benchmarks/step_profile.py --arch dcgan --set batch_size=64
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

import gankit
from gankit import config as config_mod
from gankit.training import Trainer

from fmnist_quality import PROGAN_OVERRIDES, train
from report import write_json

#: operators counted as element-wise work (activations, normalization, scaling, fills)
ELEMENTWISE = (
    "leaky_relu",
    "fill_",
    "copy_",
    "mul",
    "add",
    "div",
    "pow",
    "sqrt",
    "rsqrt",
    "mean",
    "sum",
    "lerp_",
    "addcdiv_",
    "addcmul_",
    "tanh",
    "where",
    "clamp",
    "batch_norm",
    "native_batch_norm",
)


def overrides_for(arch: str, extra: dict[str, object]) -> dict[str, object]:
    """The quality benchmark's options for ``arch``, at the final resolution, plus ``extra``."""
    base: dict[str, object] = {"progress": False, "log_every": 10_000, "channels_last": True}
    if arch == "progan":
        base.update({k: v for k, v in PROGAN_OVERRIDES.items() if k != "max_minutes"})
        base["arch.images_per_phase"] = 1
    return {**base, **extra}


class StepWindow:
    """A benchmark-local plugin: times, and optionally profiles, training steps alone.

    The window opens once ``warmup`` steps have ended and closes after the next
    ``steps`` steps. So loading and preparing the data set (a few large
    element-wise operators over all 60k images), the first steps' one-off costs
    (with ``compile=true``, compiling each growth phase's graphs) and the final
    checkpoint and artifact stay out of both the time and the operator shares.
    """

    def __init__(self, warmup: int, steps: int, profiled: bool) -> None:
        self.warmup = warmup
        self.steps = steps
        self.prof = profile(activities=[ProfilerActivity.CPU]) if profiled else None
        self.seconds = 0.0
        self.images = 0
        self._start = (0.0, 0)

    @gankit.hookimpl
    def gankit_on_step_end(self, trainer: Trainer, step: int, logs: dict[str, float]) -> None:
        """Open the window after the warm-up steps, close it after the measured ones."""
        if step + 1 == self.warmup:
            if self.prof is not None:
                self.prof.start()
            self._start = (time.perf_counter(), trainer.images_seen)
        elif step + 1 == self.warmup + self.steps:
            self.seconds = time.perf_counter() - self._start[0]
            self.images = trainer.images_seen - self._start[1]
            if self.prof is not None:
                self.prof.stop()


def measure(arch: str, out: Path, overrides: dict[str, object], window: StepWindow) -> None:
    """Train ``arch`` for the window's warm-up and measured steps; the window keeps the results."""
    train(arch, out, overrides, window.warmup + window.steps, extra_plugins=(window,))


def op_shares(prof: Any) -> dict[str, float]:
    """Shares of the profiled self CPU time: convolutions, element-wise, other."""
    total = conv = elementwise = 0.0
    for event in prof.key_averages():
        name = event.key.removeprefix("aten::")
        t = float(event.self_cpu_time_total)
        total += t
        if "convolution" in name:
            conv += t
        elif name.removesuffix("_backward") in ELEMENTWISE:
            elementwise += t
    return {
        "convolution": round(conv / total, 3),
        "elementwise": round(elementwise / total, 3),
        "other": round((total - conv - elementwise) / total, 3),
    }


def main() -> None:
    """Time and profile one architecture's training steps."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", choices=["progan", "dcgan"], default="progan")
    ap.add_argument("--steps", type=int, default=300, help="timed steps (no profiler)")
    ap.add_argument("--profile-steps", type=int, default=100)
    ap.add_argument(
        "--warmup", type=int, default=20, help="steps before each measured window (not counted)"
    )
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    ap.add_argument("--json", type=Path)
    ap.add_argument(
        "--top", type=int, default=0, metavar="N", help="print the N operators with most self time"
    )
    args = ap.parse_args()
    overrides = overrides_for(args.arch, config_mod.parse_overrides(args.set))
    root = Path(tempfile.mkdtemp(prefix="gankit-step-profile-"))
    try:
        timed = StepWindow(args.warmup, args.steps, profiled=False)
        measure(args.arch, root / "timed", overrides, timed)
        profiled = StepWindow(args.warmup, args.profile_steps, profiled=True)
        measure(args.arch, root / "profiled", overrides, profiled)
        prof = profiled.prof
        assert prof is not None
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if args.top:
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top))
    result = {
        "arch": args.arch,
        "overrides": {k: str(v) for k, v in overrides.items()},
        "threads": torch.get_num_threads(),
        "warmup_steps": args.warmup,
        "steps": args.steps,
        "ms_per_step": round(1000 * timed.seconds / args.steps, 1),
        "ms_per_image": round(1000 * timed.seconds / timed.images, 2),
        "profiled_steps": args.profile_steps,
        "op_shares": op_shares(prof),
    }
    write_json(result, args.json)


if __name__ == "__main__":
    main()
