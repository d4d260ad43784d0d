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


def _shifted_sum(weight: torch.Tensor) -> torch.Tensor:
    """A 3x3 kernel as the 4x4 kernel of the same filter on a grid of doubled spacing.

    The sum of the kernel shifted to each corner of a 4x4 window: what a 3x3
    convolution does to an image upsampled by 2 (nearest), or, divided by 4, what it
    does before a 2x2 average, expressed on the coarse grid (ProGAN's "fused scale").
    """
    padded = F.pad(weight, (1, 1, 1, 1))
    return padded[..., 1:, 1:] + padded[..., :-1, 1:] + padded[..., 1:, :-1] + padded[..., :-1, :-1]


class EqualizedUpConv2d(EqualizedConv2d):
    """Upsample by 2 (nearest), then a 3x3 equalized convolution: in one operation.

    Training runs it as a stride-2 transposed convolution with the 4x4 kernel of
    :func:`_shifted_sum`, the same function at under half the multiply-adds (no
    3x3 window over an image four times larger with every pixel repeated).
    Evaluation, sampling and ONNX export run the two plain operations, which
    exporters and int8 quantizers handle as they always have. The parameters are
    a 3x3 convolution's either way, so artifacts and checkpoints are unchanged.
    """

    def __init__(self, in_ch: int, out_ch: int, gain: float = math.sqrt(2)) -> None:
        super().__init__(in_ch, out_ch, 3, padding=1, gain=gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Twice the resolution of ``x``, convolved."""
        weight = self.weight * self.scale
        if not self.training:
            up = F.interpolate(x, scale_factor=2.0, mode="nearest")
            return F.conv2d(up, weight, self.bias, padding=1)
        # conv_transpose2d takes [in, out, k, k] and flips the kernel
        kernel = _shifted_sum(weight).flip(2, 3).transpose(0, 1)
        return F.conv_transpose2d(x, kernel, self.bias, stride=2, padding=1)


class EqualizedDownConv2d(EqualizedConv2d):
    """A 3x3 equalized convolution, then a 2x2 average: one stride-2 4x4 convolution.

    The same function as the two operations (the bias commutes with the
    average), at under half the multiply-adds: the 3x3 window is evaluated only at
    the pixels the average keeps. ProGAN's D applies its activation after the
    average, as Karras et al.'s code does.
    """

    def __init__(self, in_ch: int, out_ch: int, gain: float = math.sqrt(2)) -> None:
        super().__init__(in_ch, out_ch, 3, padding=1, gain=gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Half the resolution of ``x``, convolved."""
        kernel = _shifted_sum(self.weight * self.scale) * 0.25
        return F.conv2d(x, kernel, self.bias, stride=2, padding=1)


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
