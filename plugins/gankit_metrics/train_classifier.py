"""Train the feature classifier of the domain metrics (``fd``, ``coverage``, ``cond-acc``).

    python -m gankit_metrics.train_classifier --data fashion-mnist --out DIR
    python -m gankit_metrics.train_classifier --data digits --out DIR
    python -m gankit_metrics.train_classifier --data image-folder --out DIR root=photos channels=1

writes ``DIR/DATASET.safetensors`` and its sidecar ``DIR/DATASET.json`` (the
training settings and the test accuracy). Pass the weights to a metric with
``classifier=DIR/DATASET.safetensors``. The data is the dataset's ``train``
split and the accuracy is measured on its ``test`` split; a dataset without
splits holds out every fifth image instead. Images are brought to 32x32 as the
metrics bring them (see :func:`gankit_metrics.classifier.to_classifier_input`).

Procedure (that of ``benchmarks/fmnist_quality.py``): Adam with learning rate
1e-3, batches of 256 in an order drawn from ``--seed``, cross-entropy, weights
initialised after ``torch.manual_seed(seed)``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

import gankit
from gankit import config as config_mod
from gankit.artifacts import follow_umask
from gankit.data import TensorData
from gankit.errors import GankitError
from gankit.registry import get_component
from gankit_metrics.classifier import (
    INPUT_SIZE,
    Classifier,
    ClassifierInfo,
    LoadedClassifier,
    accuracy,
    to_classifier_input,
)

#: epochs when --epochs is not given: Fashion-MNIST has 60000 training images, digits 1442
DEFAULT_EPOCHS = {"fashion-mnist": 3, "digits": 30}
FALLBACK_EPOCHS = 10
#: image sides that a dataset pads (not resizes) to 32 (Fashion-MNIST's pad_to_32)
PADDED_FROM = {"fashion-mnist": [28]}
#: without train/test splits, every HOLDOUT_EVERY-th image is held out for testing
HOLDOUT_EVERY = 5


def load_splits(dataset: str, options: dict[str, Any]) -> tuple[TensorData, TensorData, str]:
    """The training data, the test data and a description of the test split."""
    comp = get_component("dataset", dataset)
    if "split" in config_mod.field_names(comp.config):
        train = gankit.create_dataset(dataset, **{**options, "split": "train"})
        test = gankit.create_dataset(dataset, **{**options, "split": "test"})
        return train, test, "test"
    data = gankit.create_dataset(dataset, **options)
    if data.labels is None:
        raise GankitError(f"dataset {dataset!r} has no labels: a classifier cannot be trained")
    held_out = torch.arange(len(data)) % HOLDOUT_EVERY == HOLDOUT_EVERY - 1
    parts = [
        TensorData(data.samples[m], data.labels[m], data.num_classes, name=data.name)
        for m in (~held_out, held_out)
    ]
    return parts[0], parts[1], f"every {HOLDOUT_EVERY}th image held out"


def train_classifier(
    train: TensorData,
    info: ClassifierInfo,
    epochs: int,
    seed: int = 0,
    batch_size: int = 256,
    lr: float = 1e-3,
    log: bool = True,
) -> Classifier:
    """Train a :class:`Classifier` on ``train`` (labels required) and return it in eval mode."""
    if train.labels is None:
        raise GankitError(f"dataset {train.name!r} has no labels: a classifier cannot be trained")
    torch.manual_seed(seed)
    clf = Classifier(info.in_channels, info.num_classes)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(clf.parameters(), lr=lr)
    images = to_classifier_input(train.samples, info)
    loss = torch.zeros(())
    for epoch in range(epochs):
        perm = torch.randperm(len(train))
        for i in range(0, len(train), batch_size):
            idx = perm[i : i + batch_size]
            loss = F.cross_entropy(clf(images[idx]), train.labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if log:
            print(f"epoch {epoch + 1}/{epochs}: last batch loss {loss.item():.3f}", flush=True)
    return clf.eval()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    ap = argparse.ArgumentParser(
        prog="python -m gankit_metrics.train_classifier",
        description="Train the feature classifier of gankit's fd, coverage and cond-acc metrics.",
    )
    ap.add_argument("--data", required=True, help="a labelled dataset (gankit list dataset)")
    ap.add_argument("--out", required=True, type=Path, help="directory for DATA.safetensors/.json")
    ap.add_argument("--epochs", type=int, help="default: 3 for fashion-mnist, 30 for digits")
    ap.add_argument("--seed", type=int, default=0, help="seeds the initial weights and data order")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("options", nargs="*", help="dataset options as KEY=VALUE (e.g. root=DIR)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> Path:
    """Train, measure the test accuracy, write the weights and sidecar; returns the weights."""
    args = parse_args(argv)
    options = config_mod.parse_overrides(args.options)
    train, test, test_split = load_splits(args.data, options)
    if train.samples.ndim != 4:
        raise GankitError(f"dataset {args.data!r} is not image data: {tuple(train.data_shape)}")
    epochs = args.epochs or DEFAULT_EPOCHS.get(args.data, FALLBACK_EPOCHS)
    info = ClassifierInfo(
        dataset=args.data,
        test_accuracy=0.0,
        test_split=test_split,
        in_channels=int(train.samples.shape[1]),
        num_classes=max(train.num_classes, test.num_classes),
        input_size=INPUT_SIZE,
        padded_from=PADDED_FROM.get(args.data, []),
    )
    t0 = time.perf_counter()
    clf = train_classifier(train, info, epochs, args.seed, args.batch_size, args.lr)
    assert test.labels is not None
    loaded = LoadedClassifier(clf, info, Path())
    info.test_accuracy = round(accuracy(loaded, test.samples, test.labels), 4)
    info.training = {
        "command": "python -m gankit_metrics.train_classifier "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "data_options": options,
        "train_images": len(train),
        "test_images": len(test),
        "epochs": epochs,
        "seed": args.seed,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seconds": round(time.perf_counter() - t0, 1),
        "torch": torch.__version__,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    weights = args.out / f"{args.data}.safetensors"
    save_file({k: v.contiguous() for k, v in clf.state_dict().items()}, str(weights))
    follow_umask(weights)  # safetensors writes 0o600; shared weights should be readable
    sidecar = {k: getattr(info, k) for k in ClassifierInfo.__dataclass_fields__}
    weights.with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n")
    print(f"test accuracy {info.test_accuracy:.4f} on {len(test)} images; wrote {weights}")
    return weights


if __name__ == "__main__":
    try:
        main()
    except GankitError as exc:
        raise SystemExit(f"error: {exc}") from None
