"""Mode collapse on the 2-D mixtures (ring8, grid25) with the PacGAN protocol.

For each recipe and dataset, trains MLP GANs with several seeds and reports the
mean and spread of: modes covered, share of high-quality samples (within 3 std
of the nearest mode) and reverse KL of the mode histogram against uniform, on
2500 samples (see plugins/gankit_metrics/mixture.py for the definitions).

    python benchmarks/mixtures.py --seeds 5 --jobs 2 --json benchmarks/results/mixtures.json
    python benchmarks/mixtures.py --data ring8 --recipes wgan-gp --steps 2000 --seeds 2
    python benchmarks/mixtures.py --recipes wgan-gp --equal-d-steps --seeds 5 --jobs 2

Published anchors (PacGAN, Table 1): grid25 PacGAN4 24.8 modes, 93.6% high
quality, reverse KL 0.04; ring8 PacGAN2 7.9 modes, 95.6%.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

from gankit.training.config import replace_train, resolve
from gankit.training.trainer import Trainer

from report import write_json

#: Recipes: overrides of the wgan-gp plugin's MLP form (3 hidden layers of 512,
#: G with batch norm, latent 128). ns-gan and wgan-gp keep those networks, so
#: only the procedure differs; r1 also narrows them and drops G's batch norm.
RECIPES: dict[str, dict[str, Any]] = {
    "ns-gan": {  # the plain non-saturating GAN
        "loss": "non-saturating",
        "regularizers": [],
        "n_critic": 1,
        "lr_g": 1e-4,
        "lr_d": 1e-4,
        "betas_g": [0.5, 0.999],
        "betas_d": [0.5, 0.999],
    },
    "wgan-gp": {},  # the plugin's defaults: Wasserstein + GP 10, n_critic 5, Adam(1e-4, (0, .9))
    # non-saturating loss with a light R1 penalty on every D step, a 10x larger
    # learning rate decayed linearly to 1% over the second half, large batches and
    # a small latent; G without batch norm (with it, high-quality shares stayed at
    # 85-87% on ring8 and 76% on grid25); sampling uses the EMA of G with a
    # half-life of 100k images (390 steps), which averages out the last jitter.
    "r1": {
        "loss": "non-saturating",
        "regularizers": ["r1"],
        "regularizers.r1.gamma": 0.1,
        "regularizers.r1.interval": 1,
        "n_critic": 1,
        "lr_g": 1e-3,
        "lr_d": 1e-3,
        "betas_g": [0.0, 0.9],
        "betas_d": [0.0, 0.9],
        "lr_decay": "linear",
        "lr_decay_start": 0.5,
        "lr_decay_final": 0.01,
        "batch_size": 256,
        "arch.latent_dim": 16,
        "arch.mlp_hidden": 256,
        "arch.mlp_batchnorm": False,
        "ema_kimg": 100.0,
    },
}


def run_one(
    data: str,
    recipe: str,
    seed: int,
    steps: int | None,
    out: Path,
    equal_d_steps: bool = False,
) -> dict[str, float]:
    """Train one model and return its final mixture metrics and its generator steps.

    ``equal_d_steps``: divide the step count (``steps`` or the dataset's default) by
    the recipe's ``n_critic``, so that every recipe makes the same number of D steps.
    """
    overrides = {
        **RECIPES[recipe],
        "progress": False,
        "metrics_every": 0,
        "sample_every": 10**9,
        "checkpoint_every": 10**9,
    }
    spec = resolve("wgan-gp", data, overrides=overrides, steps=steps, seed=seed)
    if equal_d_steps:
        spec = replace_train(spec, steps=max(1, spec.train.steps // spec.train.n_critic))
    trainer = Trainer(spec, out)
    t0 = time.perf_counter()
    trainer.fit()
    metrics = {k.split("/")[1]: v for k, v in trainer.compute_metrics().items()}
    metrics["seconds"] = time.perf_counter() - t0
    metrics["steps"] = spec.train.steps
    return metrics


def summarise(runs: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation of each quantity over seeds."""
    keys = [k for k in runs[0] if k not in ("modes_total", "steps")]
    return {
        k: {
            "mean": statistics.fmean(r[k] for r in runs),
            "std": statistics.pstdev(r[k] for r in runs),
        }
        for k in keys
    }


def _run_job(job: tuple[str, str, int, int | None, bool, Path]) -> dict[str, Any]:
    """One (data, recipe, seed) run in a worker process with one thread."""
    torch.set_num_threads(1)
    data, recipe, seed, steps, equal_d_steps, runs_dir = job
    out = runs_dir / f"{data}-{recipe}-{seed}"
    metrics = run_one(data, recipe, seed, steps, out, equal_d_steps)
    row = {"data": data, "recipe": recipe, "seed": seed, **metrics}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    """Run the benchmark and print a markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", default=["ring8", "grid25"])
    ap.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=None, help="default: the dataset's")
    ap.add_argument(
        "--equal-d-steps",
        action="store_true",
        help="run steps / n_critic generator steps, so every recipe makes as many D steps",
    )
    ap.add_argument(
        "--jobs", type=int, default=1, help="runs in parallel, one thread each (<= CPU cores)"
    )
    ap.add_argument(
        "--runs-dir",
        type=Path,
        default=Path("benchmarks/results/mixture_runs"),
        help="where each run's directory goes (a smoke run can keep the real runs' artifacts)",
    )
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    jobs = [
        (data, recipe, seed, args.steps, args.equal_d_steps, args.runs_dir)
        for data in args.data
        for recipe in args.recipes
        for seed in range(args.seeds)
    ]
    # separate processes, one thread each: two multi-threaded torch jobs on the same
    # cores slow small MLPs down by orders of magnitude (thread oversubscription)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        rows = list(pool.map(_run_job, jobs))
    results: dict[str, Any] = {
        "steps": args.steps,
        "equal_d_steps": args.equal_d_steps,
        "seeds": args.seeds,
        "rows": [],
    }
    for data in args.data:
        for recipe in args.recipes:
            runs = [
                {k: v for k, v in r.items() if k not in ("data", "recipe", "seed")}
                for r in rows
                if r["data"] == data and r["recipe"] == recipe
            ]
            results["rows"].append(
                {"data": data, "recipe": recipe, "runs": runs, "summary": summarise(runs)}
            )
    print("| data | recipe | G steps | modes | high quality | reverse KL | s/run |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in results["rows"]:
        s = row["summary"]
        print(
            f"| {row['data']} | {row['recipe']} | {row['runs'][0]['steps']} | "
            f"{s['modes_covered']['mean']:.1f} ± {s['modes_covered']['std']:.1f} | "
            f"{100 * s['high_quality']['mean']:.1f}% ± {100 * s['high_quality']['std']:.1f} | "
            f"{s['reverse_kl']['mean']:.3f} ± {s['reverse_kl']['std']:.3f} | "
            f"{s['seconds']['mean']:.0f} |"
        )
    write_json(results, args.json, show=False)


if __name__ == "__main__":
    main()
