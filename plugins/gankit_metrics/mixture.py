"""Mode-collapse diagnostics for the 2-D Gaussian mixtures (ring8, grid25).

Following the PacGAN protocol (Lin et al., 2018), on ``n`` samples (2500 there):

- a sample is *high quality* if it lies within ``threshold_std`` (3) standard
  deviations of its nearest mode centre;
- a mode is *covered* if at least ``min_per_mode`` high-quality samples are
  registered to it (PacGAN counts a mode as lost below 20);
- *reverse KL* is KL(p || uniform), where p is the distribution of samples over
  their nearest modes: 0 when every mode gets the same share, large on collapse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from gankit.data import TensorData
from gankit.errors import GankitError
from gankit.sampling import GeneratorSampler
from gankit_metrics.samples import draw_samples


@dataclass
class MixtureModesConfig:
    """n: samples drawn. threshold_std: high-quality radius in mode stds.
    min_per_mode: high-quality samples a mode needs to count as covered. seed: latent seed.
    """

    n: int = field(default=2500, metadata={"help": "samples drawn"})
    threshold_std: float = field(
        default=3.0, metadata={"help": "a sample within this many mode stds is high quality"}
    )
    min_per_mode: int = field(
        default=20, metadata={"help": "high-quality samples a mode needs to count as covered"}
    )
    seed: int = field(default=0, metadata={"help": "seed of the latent vectors"})


def mixture_stats(
    samples: torch.Tensor,
    centers: torch.Tensor,
    std: float,
    threshold_std: float = 3.0,
    min_per_mode: int = 20,
) -> dict[str, float]:
    """Modes covered, high-quality share and reverse KL of ``samples`` [N, 2]."""
    d = torch.cdist(samples.double(), centers.double())
    dist, nearest = d.min(dim=1)
    good = dist <= threshold_std * std
    k = centers.shape[0]
    per_mode_good = torch.bincount(nearest[good], minlength=k)
    share = torch.bincount(nearest, minlength=k).double() / len(samples)
    reverse_kl = float(sum(p * math.log(p * k) for p in share.tolist() if p > 0))
    return {
        "modes_covered": float((per_mode_good >= min_per_mode).sum()),
        "modes_total": float(k),
        "high_quality": float(good.double().mean()),
        "reverse_kl": reverse_kl,
    }


class MixtureModes:
    """The ``mixture-modes`` metric."""

    def __init__(self, cfg: MixtureModesConfig) -> None:
        self.cfg = cfg

    def compared_with(self, data: TensorData) -> dict[str, Any] | None:
        """The dataset's mode centres (not its samples), as ``gankit eval`` reports them."""
        if data.mode_centers is None:
            return None
        size = len(data.mode_centers)
        return {"dataset": data.name, "split": None, "size": size, "what": "mode centres"}

    def compute(self, generator: GeneratorSampler, data: TensorData) -> dict[str, float]:
        """Sample the generator and score it against the data's mode centres."""
        if data.mode_centers is None or data.mode_std is None:
            raise GankitError(
                f"metric mixture-modes needs a Gaussian-mixture dataset (ring8, grid25); "
                f"{data.name or 'this dataset'!r} has no mode centres"
            )
        samples = draw_samples(generator, self.cfg.n, self.cfg.seed)
        return mixture_stats(
            samples, data.mode_centers, data.mode_std, self.cfg.threshold_std, self.cfg.min_per_mode
        )
