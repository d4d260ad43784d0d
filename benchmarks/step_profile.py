"""Where a training step's time goes, at the final resolution of the quality benchmark.

Trains an architecture on Fashion-MNIST with the options of
benchmarks/fmnist_quality.py (ProGAN: its ``PROGAN_OVERRIDES``, but with
one-image phases, so that it grows to 32x32 in its first steps; both with
``channels_last``) plus ``--set`` overrides, first ``--steps`` steps timed
without a profiler, then ``--profile-steps`` steps under torch.profiler. It
reports milliseconds per step and per real image, and the share of the
profiled operator time that went to convolutions (forward and backward), to
element-wise operators, and to everything else.

    OMP_NUM_THREADS=1 python benchmarks/step_profile.py --arch progan \
        --set loss=non-saturating regularizers=r1 regularizers.r1.gamma=0.5 lr_d=1.6e-2
    OMP_NUM_THREADS=1 python benchmarks/step_profile.py --arch dcgan --set batch_size=64
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

from gankit import config as config_mod

from fmnist_quality import PROGAN_OVERRIDES, train, training_counts
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
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    overrides = overrides_for(args.arch, config_mod.parse_overrides(args.set))
    root = Path(tempfile.mkdtemp(prefix="gankit-step-profile-"))
    try:
        g, seconds = train(args.arch, root / "timed", overrides, args.steps)
        images = training_counts(g)["images_seen"]
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            train(args.arch, root / "profiled", overrides, args.profile_steps)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result = {
        "arch": args.arch,
        "overrides": {k: str(v) for k, v in overrides.items()},
        "threads": torch.get_num_threads(),
        "steps": args.steps,
        "ms_per_step": round(1000 * seconds / args.steps, 1),
        "ms_per_image": round(1000 * seconds / images, 2),
        "profiled_steps": args.profile_steps,
        "op_shares": op_shares(prof),
    }
    write_json(result, args.json)


if __name__ == "__main__":
    main()
