"""Measure a Fashion-MNIST generator the way the zoo catalogue reports it.

Frechet distance between N samples and the 10k Fashion-MNIST test images in the
128-d penultimate feature space of the small classifier of
``benchmarks/fmnist_quality.py`` (trained once and cached in benchmarks/cache/),
plus the classes covered by the samples under that classifier. Prints the
metrics as JSON, ready for ``gankit zoo add ... --metrics FILE``.

    python zoo/measure_fmnist.py zoo:dcgan-fashion-mnist > /tmp/metrics.json

Needs Debian's dataset-fashion-mnist, like the benchmark.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import gankit  # noqa: E402
from benchmarks import fmnist_quality as fq  # noqa: E402


def main() -> None:
    """Run the measurement and print JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("generator", help="artifact dir, zoo:NAME or hf://OWNER/NAME")
    ap.add_argument("--n", type=int, default=10_000, help="number of samples")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    train, test = fq.load_split("train"), fq.load_split("test")
    clf, acc = fq.get_classifier(train, test)
    test_feats, _ = fq.features_and_predictions(clf, test.samples)
    g = gankit.load_generator(args.generator)
    with torch.no_grad():
        x = torch.cat(
            [g.sample(min(1000, args.n - i), seed=args.seed + i) for i in range(0, args.n, 1000)]
        )
    feats, preds = fq.features_and_predictions(clf, x)
    command = f"python zoo/measure_fmnist.py {args.generator} --n {args.n} --seed {args.seed}"
    how = {
        "extractor": "benchmarks/fmnist_quality.py Classifier (128-d penultimate features)",
        "classifier_test_accuracy": round(acc, 4),
        "n": args.n,
        "reference": "Fashion-MNIST test split (10k), padded to 32x32",
        "command": command,
    }
    cov = fq.coverage(preds)
    metrics = {
        "frechet_distance": {"value": round(fq.frechet_distance(feats, test_feats), 3), **how},
        "classes_covered": {"value": cov["classes_covered"], "out_of": 10, **how},
    }
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
