"""The Frechet distance between Gaussians fitted to two feature sets.

``d^2 = |mu_1 - mu_2|^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2))`` (Dowson and Landau,
1982), the formula of FID (Heusel et al., 2017), with the matrix square root from
:func:`scipy.linalg.sqrtm` as in pytorch-fid and ``benchmarks/fmnist_quality.py``.
It needs no optional package; the tests check it against torchmetrics'
``FrechetInceptionDistance`` given the same features.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy import linalg

#: added to the covariance diagonals when the plain square root is not finite
EPS = 1e-6


def frechet_distance(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to features ``a`` [N, D] and ``b`` [M, D]."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or min(len(x), len(y)) < 2:
        raise ValueError(
            f"need two feature sets [N, D] with the same D and N >= 2; got {x.shape} and {y.shape}"
        )
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.atleast_2d(np.cov(x, rowvar=False)), np.atleast_2d(np.cov(y, rowvar=False))
    with warnings.catch_warnings():
        # ReLU features often have dead units, so the covariances are singular;
        # the square root of their product is still well defined
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():  # as pytorch-fid: regularize and retry
            offset = np.eye(len(s1)) * EPS
            covmean = linalg.sqrtm((s1 + offset) @ (s2 + offset))
    covmean = np.real(covmean)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2.0 * covmean))
