"""gankit-lsgan: the LSGAN architecture as a third-party gankit plugin.

Least Squares GAN (Mao et al., 2017, https://arxiv.org/abs/1611.04076) replaces the
discriminator's cross-entropy with least squares: D regresses its raw score onto
``b = 1`` for real and ``a = 0`` for generated samples, and G pushes the scores of
its samples towards ``c = 1``. Fakes that are classified correctly but lie far from
the real data still get a gradient proportional to their distance, instead of the
vanishing gradient of a saturated sigmoid.

The loss is gankit's built-in ``least-squares`` component (0-1 coding by default;
``loss.real_target``, ``loss.fake_target`` and ``loss.generator_target`` choose
others, e.g. the paper's -1/1/0 coding); this plugin brings the networks and a
recipe that uses it. Only gankit's public API is used: :data:`gankit.hookimpl`,
the records of :mod:`gankit.components` and :class:`gankit.errors.ConfigError`.
"""

from __future__ import annotations

from gankit import hookimpl
from gankit.components import Architecture, Recipe
from gankit_lsgan.networks import LSGANConfig, LSGANDiscriminator, LSGANGenerator

__version__ = "0.1.0"

#: The paper's optimiser settings (Adam, learning rate 2e-4, beta1 0.5) with the
#: least-squares loss and one D step per G step.
RECIPE = Recipe(
    loss="least-squares",
    regularizers=(),
    n_critic=1,
    lr_g=2e-4,
    lr_d=2e-4,
    betas_g=(0.5, 0.999),
    betas_d=(0.5, 0.999),
    batch_size=64,
)

ARCHITECTURE = Architecture(
    name="lsgan",
    description="LSGAN: least-squares loss; conv nets for 8-256 px images, MLPs for 2-D data",
    config=LSGANConfig,
    generator=LSGANGenerator,
    discriminator=LSGANDiscriminator,
    needs_labels=False,
    recipe=RECIPE,
)


@hookimpl
def gankit_register_architectures(register):
    """Register the LSGAN generator/discriminator pair."""
    register(ARCHITECTURE)


__all__ = [
    "ARCHITECTURE",
    "RECIPE",
    "LSGANConfig",
    "LSGANDiscriminator",
    "LSGANGenerator",
    "gankit_register_architectures",
]
