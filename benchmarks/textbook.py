"""The reference GAN of the benchmarks: a common textbook MNIST GAN, as a loop and a plugin.

G = Linear(100 -> 256*7*7), reshape, ConvTranspose2d(256, 128, 4, 2, 1) + BatchNorm + ReLU,
ConvTranspose2d(128, 1, 4, 2, 1) + Tanh.
D = Conv2d(1, 64, 4, 2, 1) + LeakyReLU(0.2), Conv2d(64, 128, 4, 2, 1) + BatchNorm +
LeakyReLU(0.2), Flatten, Linear(6272, 1) + Sigmoid; BCELoss; Adam(2e-4, (0.5, 0.999)).

The hand-written loop uses exactly that. The plugin registers the same two networks
for gankit, with D returning the logit (the Sigmoid folded into gankit's loss on
logits, which is the same function, computed stably).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

import gankit
from gankit.components import ArchConfig, Architecture, Recipe


class TextbookG(nn.Module):
    """The textbook generator: z [B, 100] -> [B, 1, 28, 28]."""

    def __init__(self, latent_dim: int = 100) -> None:
        super().__init__()
        self.fc = nn.Linear(latent_dim, 256 * 7 * 7)
        self.net = nn.Sequential(
            nn.ConvTranspose2d(256, 128, 4, 2, 1),
            nn.BatchNorm2d(128),
            nn.ReLU(True),
            nn.ConvTranspose2d(128, 1, 4, 2, 1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Generate 28x28 images."""
        return self.net(self.fc(z).view(-1, 256, 7, 7))


class TextbookD(nn.Module):
    """The textbook discriminator, returning logits (``sigmoid=True`` adds the Sigmoid)."""

    def __init__(self, sigmoid: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(1, 64, 4, 2, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(64, 128, 4, 2, 1),
            nn.BatchNorm2d(128),
            nn.LeakyReLU(0.2, True),
            nn.Flatten(),
            nn.Linear(6272, 1),
        ]
        if sigmoid:
            layers.append(nn.Sigmoid())
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Score images."""
        return self.net(x).view(-1)


@dataclass
class TextbookConfig(ArchConfig):
    """The textbook nets take no options beyond the shared ones."""

    latent_dim: int = 100
    data_shape: tuple[int, ...] = (1, 28, 28)
    num_classes: int = 0


class TextbookPlugin:
    """Registers the textbook nets as architecture ``textbook``."""

    @gankit.hookimpl
    def gankit_register_architectures(self, register):
        register(
            Architecture(
                name="textbook",
                description="the textbook MNIST GAN of the benchmarks",
                config=TextbookConfig,
                generator=lambda c: TextbookG(c.latent_dim),
                discriminator=lambda c: TextbookD(sigmoid=False),
                recipe=Recipe(
                    lr_g=2e-4, lr_d=2e-4, betas_g=(0.5, 0.999), betas_d=(0.5, 0.999), batch_size=128
                ),
            )
        )


def register() -> None:
    """Add the textbook plugin to the process-wide plugin manager (once)."""
    manager = gankit.get_manager()
    if not any(p.name == "benchmark-textbook" for p in manager.plugins()):
        manager.register_plugin(TextbookPlugin(), name="benchmark-textbook")


class HandLoop:
    """The plain hand-written training loop over in-memory images in [-1, 1]."""

    def __init__(self, images: torch.Tensor, batch_size: int = 128, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.images = images
        self.batch_size = batch_size
        self.G = TextbookG()
        self.D = TextbookD(sigmoid=True)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.bce = nn.BCELoss()
        self._batches = self._iterate()

    def _iterate(self) -> Iterator[torch.Tensor]:
        n = len(self.images)
        while True:
            perm = torch.randperm(n)
            for i in range(0, n - self.batch_size + 1, self.batch_size):
                yield self.images[perm[i : i + self.batch_size]]

    def step(self) -> tuple[float, float]:
        """One D step on real + detached fake, then one G step on fresh noise."""
        real = next(self._batches)
        b = real.shape[0]
        ones, zeros = torch.ones(b), torch.zeros(b)
        fake = self.G(torch.randn(b, 100))
        self.opt_d.zero_grad()
        loss_d = self.bce(self.D(real), ones) + self.bce(self.D(fake.detach()), zeros)
        loss_d.backward()
        self.opt_d.step()
        self.opt_g.zero_grad()
        loss_g = self.bce(self.D(self.G(torch.randn(b, 100))), ones)
        loss_g.backward()
        self.opt_g.step()
        return loss_d.item(), loss_g.item()
