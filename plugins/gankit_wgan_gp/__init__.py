"""Built-in gankit plugin: WGAN-GP (Gulrajani et al., 2017)."""

from __future__ import annotations

from gankit import hookimpl
from gankit.components import Architecture, Recipe
from gankit_wgan_gp.networks import WGANGPConfig, WGANGPCritic, WGANGPGenerator

#: The paper's defaults: Wasserstein loss + gradient penalty (weight 10),
#: five critic steps per generator step, Adam(1e-4, betas (0.0, 0.9)).
RECIPE = Recipe(
    loss="wasserstein",
    regularizers=("gradient-penalty",),
    n_critic=5,
    lr_g=1e-4,
    lr_d=1e-4,
    betas_g=(0.0, 0.9),
    betas_d=(0.0, 0.9),
    batch_size=64,
)


@hookimpl
def gankit_register_architectures(register):
    """Register the WGAN-GP generator/critic pair."""
    register(
        Architecture(
            name="wgan-gp",
            description="WGAN-GP: critic without batch norm; conv for images, MLP for 2-D data",
            config=WGANGPConfig,
            generator=WGANGPGenerator,
            discriminator=WGANGPCritic,
            recipe=RECIPE,
        )
    )
