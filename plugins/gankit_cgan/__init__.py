"""Built-in gankit plugin: class-conditional GAN with a projection discriminator."""

from __future__ import annotations

from gankit import hookimpl
from gankit.components import Architecture, Recipe
from gankit_cgan.networks import CGANConfig, CGANGenerator, ProjectionDiscriminator

#: Hinge loss with spectral normalization of D, as the projection-discriminator
#: paper trains it; one D step per G step keeps CPU runs short.
RECIPE = Recipe(
    loss="hinge",
    regularizers=("spectral-norm",),
    n_critic=1,
    lr_g=2e-4,
    lr_d=2e-4,
    betas_g=(0.5, 0.999),
    betas_d=(0.5, 0.999),
    batch_size=64,
)


@hookimpl
def gankit_register_architectures(register):
    """Register the conditional generator / projection discriminator pair."""
    register(
        Architecture(
            name="cgan",
            description="conditional GAN: label embedding in G, projection discriminator",
            config=CGANConfig,
            generator=CGANGenerator,
            discriminator=ProjectionDiscriminator,
            needs_labels=True,
            recipe=RECIPE,
        )
    )
