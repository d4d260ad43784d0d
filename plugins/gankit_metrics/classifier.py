"""The domain feature classifier of the ``fd``, ``coverage`` and ``cond-acc`` metrics.

A small CNN on 32x32 images (three 3x3 convolutions with max pooling, then a
128-d fully connected layer, the *features*, then the class logits): the
architecture of ``benchmarks/fmnist_quality.py``'s ``Classifier``, so its
weights load here unchanged. Inception-v3 features say little about 32x32
grayscale clothing or digits; features of a classifier trained on the dataset
itself do.

Weights are safetensors files with a JSON sidecar of the same stem
(``fashion-mnist.safetensors`` + ``fashion-mnist.json``) that records how they
were trained, the input they expect and their test accuracy. The plugin ships
weights for :data:`SHIPPED` in ``gankit_metrics/weights/``;
``python -m gankit_metrics.train_classifier`` trains them (and weights for any
other labelled dataset).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from gankit.errors import GankitError
from gankit.sampling import progress_bar

WEIGHTS_DIR = Path(__file__).parent / "weights"
#: datasets the plugin ships classifier weights for
SHIPPED = ("digits", "fashion-mnist")
#: the side of the images the classifier takes (three 2x poolings down to 4x4)
INPUT_SIZE = 32
FEATURE_DIM = 128


class Classifier(nn.Module):
    """Three conv + pool stages, a 128-d feature layer and a linear head, on 32x32 images."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(128 * (INPUT_SIZE // 8) ** 2, FEATURE_DIM),
            nn.ReLU(),
        )
        self.head = nn.Linear(FEATURE_DIM, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 128-d penultimate features of ``[N, C, 32, 32]`` images in [-1, 1]."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits of ``[N, C, 32, 32]`` images in [-1, 1]."""
        return self.head(self.body(x))


@dataclass
class ClassifierInfo:
    """The JSON sidecar of a classifier's weights.

    ``padded_from`` lists image sides that were padded (with the background -1)
    rather than resized to 32 when the classifier was trained (Fashion-MNIST's
    28x28 images); images of other sides are resized.
    """

    dataset: str
    test_accuracy: float
    test_split: str = "test"
    in_channels: int = 1
    num_classes: int = 10
    input_size: int = INPUT_SIZE
    padded_from: list[int] = field(default_factory=list)
    training: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoadedClassifier:
    """A classifier in eval mode, its weights file and its sidecar."""

    model: Classifier
    info: ClassifierInfo
    path: Path


def no_weights_error(dataset: str, metric: str) -> GankitError:
    """The error for a dataset without shipped weights: how to train and pass some."""
    return GankitError(
        f"metric {metric} needs a feature classifier for dataset {dataset!r}, and gankit ships "
        f"classifier weights only for {', '.join(SHIPPED)}. Train one on its labelled data "
        f"with `python -m gankit_metrics.train_classifier --data {dataset} --out DIR` "
        f"(dataset options as KEY=VALUE, e.g. root=...), then pass the weights: "
        f"classifier=DIR/{dataset}.safetensors (`gankit eval ... -o {metric}.classifier=PATH`, "
        f"or `metrics.{metric}.classifier=PATH` when training)"
    )


def weights_for(dataset: str, path: str, metric: str) -> Path:
    """The weights file to use: ``path`` if given, else the shipped weights of ``dataset``."""
    if path:
        weights = Path(path).expanduser()
        if not weights.is_file():
            raise GankitError(
                f"metric {metric}: classifier weights {str(weights)!r} do not exist; pass the "
                f".safetensors file written by `python -m gankit_metrics.train_classifier`"
            )
        return weights
    if dataset not in SHIPPED:
        raise no_weights_error(dataset or "(unnamed)", metric)
    return WEIGHTS_DIR / f"{dataset}.safetensors"


def read_info(weights: Path) -> ClassifierInfo:
    """Read the JSON sidecar next to ``weights`` (same stem, ``.json``)."""
    sidecar = weights.with_suffix(".json")
    try:
        raw = json.loads(sidecar.read_text())
    except FileNotFoundError:
        raise GankitError(
            f"classifier weights {str(weights)!r} have no sidecar {sidecar.name!r}; "
            f"`python -m gankit_metrics.train_classifier` writes both files"
        ) from None
    except json.JSONDecodeError as exc:
        raise GankitError(f"classifier sidecar {str(sidecar)!r} is not valid JSON: {exc}") from None
    fields = ClassifierInfo.__dataclass_fields__
    missing = [n for n in ("dataset", "test_accuracy") if not isinstance(raw, dict) or n not in raw]
    if missing:
        raise GankitError(
            f"{str(sidecar)!r} is not a classifier sidecar (it lacks {', '.join(missing)}): "
            f"classifier= takes the .safetensors file that "
            f"`python -m gankit_metrics.train_classifier` writes"
        )
    return ClassifierInfo(**{k: v for k, v in raw.items() if k in fields})


@cache
def _load(weights: Path) -> LoadedClassifier:
    if weights.suffix != ".safetensors":
        raise GankitError(
            f"classifier weights must be a .safetensors file, got {str(weights)!r} "
            f"(pickled weights are never loaded)"
        )
    info = read_info(weights)
    model = Classifier(info.in_channels, info.num_classes)
    model.load_state_dict(load_file(str(weights)), strict=True)
    model.eval().requires_grad_(False)
    return LoadedClassifier(model, info, weights)


def load_classifier(dataset: str, path: str = "", metric: str = "fd") -> LoadedClassifier:
    """Load (once per process) the classifier for ``dataset``, or the weights at ``path``."""
    return _load(weights_for(dataset, path, metric).resolve())


def to_classifier_input(images: torch.Tensor, info: ClassifierInfo) -> torch.Tensor:
    """Bring ``[N, C, H, W]`` images in [-1, 1] to the classifier's input size.

    A side listed in ``info.padded_from`` is padded with the background value -1
    (as in training); any other side is resized with antialiased bilinear
    interpolation. A channel count other than the classifier's is an error.
    """
    if images.ndim != 4:
        raise GankitError(
            f"the feature classifier takes images [N, C, H, W]; got shape {tuple(images.shape)}"
        )
    if images.shape[1] != info.in_channels:
        raise GankitError(
            f"the {info.dataset} feature classifier takes {info.in_channels}-channel images; "
            f"got {images.shape[1]} channels. Train a classifier on your data with "
            f"`python -m gankit_metrics.train_classifier` and pass classifier=PATH"
        )
    x = images.float()
    height, width = x.shape[-2:]
    size = info.input_size
    if (height, width) == (size, size):
        return x
    if height == width and height in info.padded_from:
        top = (size - height) // 2
        return F.pad(x, (top, size - height - top, top, size - height - top), value=-1.0)
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


@torch.no_grad()
def classify(
    loaded: LoadedClassifier, images: torch.Tensor, batch_size: int = 500, desc: str = "features"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features ``[N, 128]`` (float64) and predicted classes ``[N]`` of images in [-1, 1].

    Inside a :func:`gankit.sampling.progress` block a bar titled ``desc`` counts the images.
    """
    feats, preds = [], []
    with progress_bar(len(images), desc, unit="img") as bar:
        for chunk in images.split(batch_size):
            f = loaded.model.features(to_classifier_input(chunk.cpu(), loaded.info))
            feats.append(f.double())
            preds.append(loaded.model.head(f).argmax(1))
            bar.update(len(chunk))
    return torch.cat(feats), torch.cat(preds)


def accuracy(loaded: LoadedClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of ``images`` the classifier assigns to their ``labels``."""
    _, preds = classify(loaded, images)
    return float((preds == labels.cpu()).double().mean())
