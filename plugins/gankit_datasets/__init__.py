"""Built-in gankit plugin: the datasets (digits, Fashion-MNIST, image folders, 2-D mixtures)."""

from __future__ import annotations

from gankit.components import Dataset
from gankit.hookspecs import Register, hookimpl
from gankit_datasets.digits import DigitsConfig, make_digits
from gankit_datasets.fashion_mnist import FashionMNISTConfig, make_fashion_mnist
from gankit_datasets.image_folder import ImageFolderConfig, make_image_folder
from gankit_datasets.mixtures import MixtureConfig, make_grid25, make_ring8

# The 2-D mixtures are trained with small MLPs, whose steps are cheap (about a
# millisecond on a CPU), but covering every mode takes many updates: collapse
# and mode hopping show over thousands of steps. 10000 steps covers the 8 ring
# modes; the grid has 3x the modes spread over a wider area, so it gets twice that.
RING8_STEPS = 10_000
GRID25_STEPS = 20_000


@hookimpl
def gankit_register_datasets(register: Register) -> None:
    """Register the built-in datasets."""
    register(
        Dataset(
            name="digits",
            description="scikit-learn's 1797 8x8 UCI digits, resized (bundled, no download)",
            config=DigitsConfig,
            factory=make_digits,
            default_steps=1500,
        )
    )
    register(
        Dataset(
            name="fashion-mnist",
            description="Fashion-MNIST 28x28 clothing images, 10 classes (local IDX files)",
            config=FashionMNISTConfig,
            factory=make_fashion_mnist,
            default_steps=2000,
        )
    )
    register(
        Dataset(
            name="image-folder",
            description="any folder of images; class sub-folders become labels",
            config=ImageFolderConfig,
            factory=make_image_folder,
            default_steps=5000,
        )
    )
    register(
        Dataset(
            name="ring8",
            description="2-D mixture: 8 Gaussians on the unit circle, std 0.01 (PacGAN)",
            config=MixtureConfig,
            factory=make_ring8,
            default_steps=RING8_STEPS,
            default_metrics=("mixture-modes",),
        )
    )
    register(
        Dataset(
            name="grid25",
            description="2-D mixture: 5x5 grid of Gaussians at {-4,...,4}^2, std 0.05 (PacGAN)",
            config=MixtureConfig,
            factory=make_grid25,
            default_steps=GRID25_STEPS,
            default_metrics=("mixture-modes",),
        )
    )
