"""Metrics in the feature space of a classifier trained on the dataset itself.

For 32x32 grayscale data (Fashion-MNIST, digits, a user's own data) Inception-v3
features mean little; these metrics use :mod:`gankit_metrics.classifier`
instead. Every result carries ``classifier_accuracy``, the classifier's accuracy
on its dataset's test split, since a distance means only as much as the
features it is measured in.

- ``fd``: Frechet distance between ``n`` generated samples and the images of
  the reference ``split`` (all of them), in the 128-d penultimate features.
- ``coverage``: the classes the classifier assigns to ``n`` samples; a class is
  covered if it receives at least half its uniform share (``0.5 / K``).
- ``cond-acc``: for a conditional generator, the share of samples the
  classifier assigns to the label they were generated for (labels cycle
  through the classes, so every class gets ``n / K`` samples).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gankit.data import TensorData
from gankit.errors import GankitError
from gankit.evaluation import shared
from gankit.sampling import GeneratorSampler
from gankit_metrics.classifier import LoadedClassifier, classify, load_classifier
from gankit_metrics.common import (
    SPLIT_HELP,
    ReferenceFeatures,
    check_count,
    check_images,
    option,
)
from gankit_metrics.feature_cache import file_digest
from gankit_metrics.frechet import frechet_distance
from gankit_metrics.samples import draw_samples

CLASSIFIER_HELP = (
    "classifier weights (.safetensors from `python -m gankit_metrics.train_classifier`); "
    "default: the weights shipped for the dataset (digits, fashion-mnist)"
)


@dataclass
class FDConfig:
    """Config of ``fd`` (Frechet distance in the domain classifier's features)."""

    n: int = option(10_000, "generated samples")
    seed: int = option(0, "seed of the latents")
    split: str = option("test", SPLIT_HELP)
    classifier: str = option("", CLASSIFIER_HELP)
    batch_size: int = option(500, "samples per generator and classifier batch")


@dataclass
class CoverageConfig:
    """Config of ``coverage`` (classes covered under the domain classifier)."""

    n: int = option(10_000, "generated samples")
    seed: int = option(0, "seed of the latents")
    classifier: str = option("", CLASSIFIER_HELP)
    batch_size: int = option(500, "samples per generator and classifier batch")


@dataclass
class CondAccConfig:
    """Config of ``cond-acc`` (conditional accuracy under the domain classifier)."""

    n: int = option(10_000, "generated samples (labels cycle through the classes)")
    seed: int = option(0, "seed of the latents")
    classifier: str = option("", CLASSIFIER_HELP)
    batch_size: int = option(500, "samples per generator and classifier batch")


class _DomainMetric:
    """What the three metrics share: checks, the classifier and sampling."""

    name = ""

    def __init__(self, cfg: FDConfig | CoverageConfig | CondAccConfig) -> None:
        check_count(self.name, "n", cfg.n, 2 if self.name == "fd" else 1)
        check_count(self.name, "batch_size", cfg.batch_size)
        self.cfg = cfg

    def classifier(self, data: TensorData) -> LoadedClassifier:
        """The classifier for ``data`` (shipped for its name, or the configured weights)."""
        check_images(self.name, data)
        return load_classifier(data.name, self.cfg.classifier, self.name)

    def predict(
        self,
        clf: LoadedClassifier,
        generator: GeneratorSampler,
        labels: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Features and predicted classes of ``n`` generated samples.

        Within one :func:`gankit.evaluation.metric_pass` (``gankit eval``, a
        trainer metric step) the metrics asking for the same samples and
        classifier (``fd`` and ``coverage`` with equal ``n``, ``seed`` and
        ``batch_size``) draw and classify them once.
        """
        cfg = self.cfg
        key = (
            "gankit-metrics.predict",
            id(generator),
            str(clf.path),
            cfg.n,
            cfg.seed,
            cfg.batch_size,
            None if labels is None else tuple(labels.tolist()),
        )

        def run() -> tuple[torch.Tensor, torch.Tensor]:
            images = draw_samples(generator, cfg.n, cfg.seed, labels, cfg.batch_size)
            return classify(clf, images, cfg.batch_size)

        return shared(key, run)


class FrechetDistance(_DomainMetric):
    """The ``fd`` metric."""

    name = "fd"

    def __init__(self, cfg: FDConfig) -> None:
        super().__init__(cfg)
        self._reference = ReferenceFeatures()

    def compute(self, generator: GeneratorSampler, data: TensorData) -> dict[str, float]:
        """Frechet distance of ``n`` samples to all of ``data`` (the reference split)."""
        clf = self.classifier(data)
        if len(data) < 2:
            raise GankitError(f"metric fd needs at least 2 reference images, got {len(data)}")
        # kept (in memory and on disk) at the classifier's float32, which is exact
        ref = self._reference.get(
            data,
            clf.path,
            lambda x: classify(clf, x, self.cfg.batch_size, "reference features")[0].float(),
            identity={
                "extractor": "gankit-metrics classifier features",
                "weights": file_digest(clf.path),
                # the sidecar says how images are fitted to the classifier (pad or resize)
                "sidecar": file_digest(clf.path.with_suffix(".json")),
                "batch_size": str(self.cfg.batch_size),
            },
        )
        feats, _ = self.predict(clf, generator)
        return {
            "frechet_distance": frechet_distance(feats, ref),
            "classifier_accuracy": clf.info.test_accuracy,
        }


def coverage_stats(preds: torch.Tensor, num_classes: int) -> dict[str, float]:
    """Classes covered (at least half their uniform share) and the share of each class."""
    share = torch.bincount(preds, minlength=num_classes).double() / len(preds)
    out = {
        "classes_covered": float((share >= 0.5 / num_classes).sum()),
        "num_classes": float(num_classes),
    }
    out.update({f"share_{c}": float(s) for c, s in enumerate(share.tolist())})
    return out


class Coverage(_DomainMetric):
    """The ``coverage`` metric."""

    name = "coverage"

    def compared_with(self, data: TensorData) -> None:
        """None: the class histogram is measured against a uniform share, not against data."""
        return None

    def compute(self, generator: GeneratorSampler, data: TensorData) -> dict[str, float]:
        """Classes covered by ``n`` samples and the histogram (``share_K``) over classes."""
        clf = self.classifier(data)
        _, preds = self.predict(clf, generator)
        return {
            **coverage_stats(preds, clf.info.num_classes),
            "classifier_accuracy": clf.info.test_accuracy,
        }


class ConditionalAccuracy(_DomainMetric):
    """The ``cond-acc`` metric."""

    name = "cond-acc"

    def compared_with(self, data: TensorData) -> None:
        """None: the predicted classes are compared with the requested labels, not with data."""
        return None

    def compute(self, generator: GeneratorSampler, data: TensorData) -> dict[str, float]:
        """Share of samples classified as their requested label, overall and for the worst class."""
        clf = self.classifier(data)
        k = generator.num_classes
        if k <= 0:
            raise GankitError(
                "metric cond-acc needs a conditional generator (one trained with class labels, "
                "e.g. --arch cgan); this generator is unconditional (num_classes = 0). "
                "Use the coverage metric to see which classes an unconditional generator produces"
            )
        if k != clf.info.num_classes:
            raise GankitError(
                f"metric cond-acc: the generator has {k} classes but the {clf.info.dataset} "
                f"classifier knows {clf.info.num_classes}; evaluate on its training dataset"
            )
        labels = torch.arange(self.cfg.n) % k
        _, preds = self.predict(clf, generator, labels)
        hit = (preds == labels).double()
        per_class = [hit[labels == c].mean() for c in range(min(k, self.cfg.n))]
        return {
            "conditional_accuracy": float(hit.mean()),
            "worst_class_accuracy": float(min(per_class)),
            "classifier_accuracy": clf.info.test_accuracy,
        }
