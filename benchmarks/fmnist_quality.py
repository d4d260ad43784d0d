"""Sample quality on Fashion-MNIST: gankit's default DCGAN recipe vs the hand-written loop.

Both train 2000 steps at batch 128 on CPU. Quality is the Frechet distance between
10k samples and the 10k test images in the 128-d penultimate feature space of a
small Fashion-MNIST classifier that this script trains once and caches as
safetensors (benchmarks/cache/), plus class coverage of the samples under that
classifier. Real train images vs the test images give the floor.

    python benchmarks/fmnist_quality.py --json benchmarks/results/fmnist_quality.json

Needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from scipy import linalg
from torch import nn

import gankit
from gankit.training.config import resolve
from gankit.training.trainer import Trainer

try:
    import textbook
except ImportError:  # pragma: no cover
    from benchmarks import textbook

CACHE = Path("benchmarks/cache")
N_EVAL = 10_000


class Classifier(nn.Module):
    """A small CNN for 32x32 Fashion-MNIST; ``features`` is the 128-d penultimate layer."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(128 * 16, 128),
            nn.ReLU(),
        )
        self.head = nn.Linear(128, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features of images in [-1, 1]."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits."""
        return self.head(self.body(x))


def load_split(split: str) -> gankit.data.TensorData:
    """Fashion-MNIST padded to 32x32."""
    return gankit.create_dataset("fashion-mnist", split=split, pad_to_32=True)


def get_classifier(
    train: gankit.data.TensorData, test: gankit.data.TensorData, epochs: int = 3
) -> tuple[Classifier, float]:
    """Train (or load from the cache) the feature classifier; returns it and test accuracy."""
    path = CACHE / "fmnist_classifier.safetensors"
    clf = Classifier()
    if path.exists():
        clf.load_state_dict(load_file(str(path)))
    else:
        torch.manual_seed(0)
        opt = torch.optim.Adam(clf.parameters(), lr=1e-3)
        assert train.labels is not None
        for epoch in range(epochs):
            perm = torch.randperm(len(train))
            for i in range(0, len(train), 256):
                idx = perm[i : i + 256]
                loss = F.cross_entropy(clf(train.samples[idx]), train.labels[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
            print(f"classifier epoch {epoch + 1}/{epochs}: last loss {loss.item():.3f}")
        CACHE.mkdir(parents=True, exist_ok=True)
        save_file(clf.state_dict(), str(path))
    clf.eval()
    assert test.labels is not None
    with torch.no_grad():
        pred = torch.cat(
            [clf(test.samples[i : i + 1000]).argmax(1) for i in range(0, len(test), 1000)]
        )
    return clf, float((pred == test.labels).float().mean())


@torch.no_grad()
def features_and_predictions(
    clf: Classifier, images: torch.Tensor
) -> tuple[np.ndarray, np.ndarray]:
    """Classifier features and predicted classes of images in [-1, 1]."""
    feats, preds = [], []
    for i in range(0, len(images), 1000):
        f = clf.features(images[i : i + 1000])
        feats.append(f)
        preds.append(clf.head(f).argmax(1))
    return torch.cat(feats).double().numpy(), torch.cat(preds).numpy()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = linalg.sqrtm(s1 @ s2, disp=False)
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def coverage(preds: np.ndarray, num_classes: int = 10) -> dict[str, object]:
    """Classes covered: classes predicted for at least half their uniform share of samples."""
    hist = np.bincount(preds, minlength=num_classes) / len(preds)
    return {
        "classes_covered": int((hist >= 0.5 / num_classes).sum()),
        "class_histogram": [round(float(h), 4) for h in hist],
    }


def evaluate(
    name: str,
    images: torch.Tensor,
    clf: Classifier,
    test_feats: np.ndarray,
    seconds: float | None = None,
) -> dict[str, object]:
    """Frechet distance and coverage of one set of images."""
    feats, preds = features_and_predictions(clf, images)
    out = {
        "name": name,
        "frechet_distance": round(frechet_distance(feats, test_feats), 3),
        **coverage(preds),
    }
    if seconds is not None:
        out["train_seconds"] = round(seconds, 1)
    print(json.dumps(out))
    return out


def train_gankit(
    steps: int, batch: int, arch: str, out: Path, extra: dict[str, object] | None = None
) -> tuple[torch.Tensor, float]:
    """Train a gankit architecture with its default recipe; return 10k samples and seconds."""
    t0 = time.perf_counter()
    spec = resolve(
        arch, "fashion-mnist", overrides={"batch_size": batch, **(extra or {})}, steps=steps, seed=0
    )
    artifact = Trainer(spec, out).fit()
    seconds = time.perf_counter() - t0
    g = gankit.load_generator(str(artifact))
    return torch.cat([g.sample(1000, seed=i) for i in range(N_EVAL // 1000)]), seconds


def train_hand_loop(train: torch.Tensor, steps: int, batch: int) -> tuple[torch.Tensor, float]:
    """Train the textbook loop on 28x28 images; return 10k samples padded to 32x32."""
    t0 = time.perf_counter()
    loop = textbook.HandLoop(train[:, :, 2:30, 2:30].contiguous(), batch_size=batch)
    for _ in range(steps):
        loop.step()
    seconds = time.perf_counter() - t0
    loop.G.eval()
    with torch.no_grad():
        torch.manual_seed(1)
        x = torch.cat([loop.G(torch.randn(1000, 100)) for _ in range(N_EVAL // 1000)])
    return F.pad(x, (2, 2, 2, 2), value=-1.0), seconds


def main() -> None:
    """Run the benchmark."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--skip-hand", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    train, test = load_split("train"), load_split("test")
    clf, acc = get_classifier(train, test)
    print(f"classifier test accuracy: {acc:.4f}")
    test_feats, _ = features_and_predictions(clf, test.samples)
    rows = [evaluate("floor: real train (10k) vs test", train.samples[:N_EVAL], clf, test_feats)]
    out_root = Path("benchmarks/results/fmnist_runs")
    x, sec = train_gankit(args.steps, args.batch, "dcgan", out_root / "dcgan")
    rows.append(evaluate("gankit dcgan (default recipe)", x, clf, test_feats, sec))
    if not args.skip_hand:
        x, sec = train_hand_loop(train.samples, args.steps, args.batch)
        rows.append(evaluate("hand-written loop (textbook GAN)", x, clf, test_feats, sec))
    result = {
        "steps": args.steps,
        "batch": args.batch,
        "n_eval": N_EVAL,
        "extractor": "benchmarks/fmnist_quality.py Classifier (128-d penultimate)",
        "classifier_test_accuracy": round(acc, 4),
        "torch": torch.__version__,
        "rows": rows,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
