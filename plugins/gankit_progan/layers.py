"""ProGAN layers: equalized learning rate and pixelwise feature normalization."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class EqualizedConv2d(nn.Module):
    """Conv2d with the equalized learning rate of Karras et al. (2018).

    Weights are drawn from N(0, 1) and multiplied at run time by the He constant
    ``gain / sqrt(fan_in)``, so every layer learns at the same speed under Adam.
    """

    def __init__(
        self, in_ch: int, out_ch: int, kernel: int, padding: int = 0, gain: float = math.sqrt(2)
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.scale = gain / math.sqrt(in_ch * kernel * kernel)
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve with the run-time scaled weight."""
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class EqualizedLinear(nn.Module):
    """Linear layer with the equalized learning rate (see :class:`EqualizedConv2d`)."""

    def __init__(self, in_features: int, out_features: int, gain: float = math.sqrt(2)) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale = gain / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the run-time scaled weight."""
        return F.linear(x, self.weight * self.scale, self.bias)


class PixelNorm(nn.Module):
    """Normalize each pixel's feature vector to unit average square (ProGAN's G).

    A module (with "Norm" in its name) so that fp16 ONNX export keeps it in fp32.
    """

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x / sqrt(mean(x^2 over channels) + eps).

        eps is added as a 1-element tensor, not a Python float: the same numbers in
        PyTorch, but the ONNX exporter's optimizer (onnxscript's "x + 0" rule, whose
        zero test has an absolute tolerance of 1e-8) deletes an Add of the scalar
        1e-8, and the exported graph then turns an all-zero input into NaN. It
        leaves 1-element tensors alone.
        """
        mean_square = x.pow(2).mean(dim=1, keepdim=True)
        return x * torch.rsqrt(mean_square + mean_square.new_full((1,), self.eps))
