"""Spectral normalization of the discriminator (Miyato et al. 2018)."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from gankit.errors import ConfigError
from gankit.regularizers import Regularizer

#: Layer types whose ``weight`` is spectrally normalized.
SN_LAYERS: tuple[type[nn.Module], ...] = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
)


@dataclass
class SpectralNormConfig:
    """Config of the ``spectral-norm`` regularizer."""

    n_power_iterations: int = field(
        default=1, metadata={"help": "power iterations per forward pass in train mode"}
    )
    embeddings: bool = field(
        default=True,
        metadata={"help": "also normalize nn.Embedding weights (projection discriminators)"},
    )


def _has_spectral_norm(module: nn.Module) -> bool:
    if not parametrize.is_parametrized(module, "weight"):
        return False
    plist = module.parametrizations["weight"]  # type: ignore[index]
    return any(type(p).__name__ == "_SpectralNorm" for p in plist)


def apply_spectral_norm(
    module: nn.Module, n_power_iterations: int = 1, embeddings: bool = True
) -> list[str]:
    """Spectrally normalize every Linear/Conv/ConvTranspose (and Embedding) layer of ``module``.

    Uses :func:`torch.nn.utils.parametrizations.spectral_norm`; layers already
    normalized are left alone. Returns the qualified names of the layers changed.
    """
    kinds = SN_LAYERS + ((nn.Embedding,) if embeddings else ())
    done = []
    for name, layer in list(module.named_modules()):
        if not isinstance(layer, kinds) or _has_spectral_norm(layer):
            continue
        weight = getattr(layer, "weight", None)
        if weight is None:
            continue
        if isinstance(weight, nn.parameter.UninitializedParameter):
            raise ValueError(
                f"spectral-norm: layer {name!r} is lazy and not initialized yet; "
                "run one forward pass of the discriminator before setup"
            )
        spectral_norm(layer, n_power_iterations=n_power_iterations)
        done.append(name)
    return done


class SpectralNorm(Regularizer):
    """Spectral normalization of D's weights. Acts on: ``architecture``.

    ``setup`` wraps the ``weight`` of every ``Linear``, ``Conv*d``,
    ``ConvTranspose*d`` and (with ``embeddings``) ``Embedding`` layer of the
    discriminator with :func:`torch.nn.utils.parametrizations.spectral_norm`,
    so each weight matrix (reshaped to ``[out, -1]``) has spectral norm ~1. The
    power iteration runs on every forward pass in train mode. The generator is
    untouched. D's state dict keys change (``...parametrizations.weight.original``),
    so load a D checkpoint only after ``setup``.
    """

    acts_on: tuple[str, ...] = ("architecture",)

    def __init__(self, config: SpectralNormConfig | None = None) -> None:
        self.config = config or SpectralNormConfig()
        if self.config.n_power_iterations < 1:
            raise ConfigError(
                f"spectral-norm n_power_iterations must be >= 1, "
                f"got {self.config.n_power_iterations}"
            )
        self.wrapped: list[str] = []

    def setup(self, generator: nn.Module, discriminator: nn.Module) -> None:
        """Apply spectral normalization to the discriminator's layers."""
        self.wrapped = apply_spectral_norm(
            discriminator, self.config.n_power_iterations, self.config.embeddings
        )
