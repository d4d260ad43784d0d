"""Built-in gankit plugin: metrics."""

from __future__ import annotations

from gankit import hookimpl
from gankit.components import Metric
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
