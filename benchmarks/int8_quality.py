"""Does an int8 export sample as well as the fp32 one? Frechet distance on Fashion-MNIST.

For each Fashion-MNIST zoo generator it exports fp32 and int8 (``gankit export
--int8``) ONNX files, draws the same N_EVAL samples (same seed; labels cycling
0..9 for the conditional one) from each with OnnxSampler, and reports for both
the Frechet distance to the test set in the shipped classifier's features
(the fd metric of ``gankit eval``) and the classes covered, plus the per-pixel
difference between the two sample sets in 8-bit levels.

    python benchmarks/int8_quality.py --json benchmarks/results/int8_quality.json
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import torch

import gankit
from gankit.export import export_onnx
from gankit.serving import OnnxSampler

from fmnist_quality import N_EVAL, evaluate, features_and_predictions, get_classifier, load_split
from report import write_json

ZOO_NAMES = ("dcgan-fashion-mnist", "cgan-fashion-mnist", "progan-fashion-mnist")


def main() -> None:
    """Export, sample and score each zoo generator at both precisions."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--names", nargs="+", default=list(ZOO_NAMES))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    test = load_split("test")
    clf, acc = get_classifier(test)
    test_feats, _ = features_and_predictions(clf, test.samples)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="gankit-int8-quality-") as tmp:
        for name in args.names:
            g = gankit.load_generator(f"zoo:{name}")
            labels = np.arange(N_EVAL) % g.num_classes if g.num_classes else None
            images = {}
            for precision in ("fp32", "int8"):
                path = export_onnx(
                    g, Path(tmp) / f"{name}.{precision}.onnx", int8=precision == "int8"
                )
                sampler = OnnxSampler(path, device="cpu")
                images[precision] = sampler.sample(N_EVAL, seed=0, labels=labels)  # uint8 NHWC
                x = torch.from_numpy(images[precision]).permute(0, 3, 1, 2).float() / 127.5 - 1
                rows.append(evaluate(f"zoo:{name} {precision}", x, clf, test_feats))
            levels = np.abs(images["int8"].astype(int) - images["fp32"].astype(int))
            rows[-1]["levels_vs_fp32"] = {
                "mean": round(float(levels.mean()), 3),
                "p99": float(np.quantile(levels, 0.99)),
                "max": int(levels.max()),
            }
    write_json(
        {
            "n_eval": N_EVAL,
            "classifier_test_accuracy": round(acc, 4),
            "onnxruntime": onnxruntime.__version__,
            "rows": rows,
        },
        args.json,
    )


if __name__ == "__main__":
    main()
