"""Built-in gankit plugin: DCGAN (Radford et al., 2016)."""

from __future__ import annotations

from gankit import hookimpl
from gankit.components import Architecture, Recipe
from gankit_dcgan.networks import DCGANConfig, DCGANDiscriminator, DCGANGenerator

#: The tuned default recipe (see docs/benchmarks.md for how it was chosen).
RECIPE = Recipe(
    loss="non-saturating",
    n_critic=1,
    lr_g=2e-4,
    lr_d=2e-4,
    betas_g=(0.5, 0.999),
    betas_d=(0.5, 0.999),
    batch_size=64,
)


@hookimpl
def gankit_register_architectures(register):
    """Register the DCGAN generator/discriminator pair."""
    register(
        Architecture(
            name="dcgan",
            description="DCGAN: strided convolutions, batch norm, 16-256 px, 1 or 3 channels",
            config=DCGANConfig,
            generator=DCGANGenerator,
            discriminator=DCGANDiscriminator,
            needs_labels=False,
            recipe=RECIPE,
        )
    )
