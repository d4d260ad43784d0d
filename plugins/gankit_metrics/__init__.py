"""Built-in gankit plugin: metrics.

- ``fd``, ``coverage``, ``cond-acc``: in the features of a small classifier
  trained on the dataset (shipped for digits and fashion-mnist; see
  :mod:`gankit_metrics.classifier` and :mod:`gankit_metrics.train_classifier`).
- ``fid``, ``kid``, ``is``, ``pr``: on Inception-v3 features, computed by
  torchmetrics and torch-fidelity (the ``metrics`` extra; see
  :mod:`gankit_metrics.inception`).
- ``mixture-modes``: mode coverage on the 2-D Gaussian mixtures.

torchmetrics and torch-fidelity are imported only when an Inception metric computes.
"""

from __future__ import annotations

from gankit import hookimpl
from gankit.components import Metric
from gankit_metrics.domain import (
    CondAccConfig,
    ConditionalAccuracy,
    Coverage,
    CoverageConfig,
    FDConfig,
    FrechetDistance,
)
from gankit_metrics.inception import (
    FID,
    KID,
    FIDConfig,
    InceptionScore,
    ISConfig,
    KIDConfig,
    PRConfig,
    PrecisionRecall,
)
from gankit_metrics.mixture import MixtureModes, MixtureModesConfig


@hookimpl
def gankit_register_metrics(register):
    """Register the built-in metrics."""
    register(
        Metric(
            name="mixture-modes",
            description="2-D mixtures: modes covered, high-quality share, reverse KL (PacGAN)",
            config=MixtureModesConfig,
            factory=MixtureModes,
        )
    )
    register(
        Metric(
            name="fd",
            description="Frechet distance in a dataset classifier's features (digits, FMNIST)",
            config=FDConfig,
            factory=FrechetDistance,
        )
    )
    register(
        Metric(
            name="coverage",
            description="classes covered under a dataset classifier, with the class histogram",
            config=CoverageConfig,
            factory=Coverage,
        )
    )
    register(
        Metric(
            name="cond-acc",
            description="conditional generators: share of samples classified as their label",
            config=CondAccConfig,
            factory=ConditionalAccuracy,
        )
    )
    for name, factory, config, description in (
        ("fid", FID, FIDConfig, "Frechet Inception Distance (torchmetrics; metrics extra)"),
        ("kid", KID, KIDConfig, "Kernel Inception Distance (torchmetrics; metrics extra)"),
        ("is", InceptionScore, ISConfig, "Inception Score (torchmetrics; metrics extra)"),
        ("pr", PrecisionRecall, PRConfig, "precision/recall, Inception features (torch-fidelity)"),
    ):
        register(Metric(name=name, description=description, config=config, factory=factory))
