"""Reusable layers that architectures can offer as config options.

:class:`MinibatchStdDev` is the ProGAN minibatch standard deviation layer; an
architecture typically inserts it before D's last block behind a config flag
(e.g. ``minibatch_std: bool``) and adds 1 to that block's input channels. It is
an architecture option, not a regularizer.
"""

from __future__ import annotations

import torch
from torch import nn


class MinibatchStdDev(nn.Module):
    """Append the minibatch standard deviation as one extra channel (Karras et al. 2018).

    The batch is split into groups of ``group_size`` samples (sample ``n`` is in
    group member ``n % (B // group_size)``, as in ProGAN); for each group the
    standard deviation of every feature and pixel over the group is computed
    (``sqrt(var + eps)``, with the biased variance), averaged over features and
    pixels into one number, and appended to each of the group's samples as a
    constant channel. If ``B`` is not divisible by ``group_size`` (or smaller),
    the whole batch is one group.

    Accepts ``[B, C, *spatial]`` (images ``[B, C, H, W]``) and ``[B, F]``
    feature batches; the output has ``C + 1`` channels (``F + 1`` features).

    Args:
        group_size: samples per group (default 4).
        eps: added to the variance before the square root.
    """

    def __init__(self, group_size: int = 4, eps: float = 1e-8) -> None:
        super().__init__()
        if group_size < 1:
            raise ValueError(f"MinibatchStdDev group_size must be >= 1, got {group_size}")
        self.group_size = group_size
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x`` with the std channel appended along dimension 1."""
        if x.dim() < 2:
            raise ValueError(
                f"MinibatchStdDev expects [B, C, ...] or [B, F]; got shape {list(x.shape)}"
            )
        batch = x.shape[0]
        group = min(self.group_size, batch)
        if batch % group:
            group = batch
        rest = x.shape[1:]
        y = x.float().reshape(group, batch // group, *rest)  # [G, M, C, ...]
        y = y - y.mean(dim=0, keepdim=True)
        y = torch.sqrt(y.square().mean(dim=0) + self.eps)  # [M, C, ...]
        y = y.reshape(y.shape[0], -1).mean(dim=1)  # [M]
        y = y.repeat(group).to(x.dtype)  # [B]: sample n gets y[n % M]
        stat = y.reshape(batch, 1, *[1] * (x.dim() - 2)).expand(batch, 1, *rest[1:])
        return torch.cat([x, stat], dim=1)

    def extra_repr(self) -> str:
        """Shown in ``print(module)``."""
        return f"group_size={self.group_size}"
