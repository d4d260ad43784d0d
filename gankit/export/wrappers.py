"""The modules actually handed to the ONNX exporter.

A wrapper gives the graph exactly the I/O of the serving contract: input ``z``
float32 ``[B, latent]`` (and ``labels`` int64 ``[B]`` for conditional models),
output ``images`` float32 ``[B, C, H, W]`` in ``[-1, 1]`` or, with ``uint8``,
uint8 ``[B, H, W, C]`` computed inside the graph. The input names come from the
``forward`` signatures, hence one class per arity.

fp16: :func:`half_precision_copy` converts a copy of the generator to float16
but keeps normalization layers that reduce over activations (LayerNorm,
GroupNorm, InstanceNorm, pixel norm, ...) in float32 behind casts. A module can
ask to stay in float32 by setting ``gankit_keep_fp32 = True`` (e.g. a custom
layer calling ``F.normalize``). BatchNorm in eval mode is an affine map that
folds into the preceding convolution, so it is converted like any other layer.
I/O stays float32 (``z`` is cast on entry, ``images`` on exit).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

#: attribute a module sets to be kept in float32 in an fp16 export
KEEP_FP32_ATTR = "gankit_keep_fp32"


def to_uint8_nhwc(x: torch.Tensor) -> torch.Tensor:
    """Map ``[-1, 1]`` images ``[B, C, H, W]`` to uint8 ``[B, H, W, C]`` (as gankit.images)."""
    return x.clamp(-1.0, 1.0).add(1.0).mul(127.5).round().to(torch.uint8).permute(0, 2, 3, 1)


class _ExportWrapper(nn.Module):
    def __init__(self, generator: nn.Module, *, uint8: bool, fp16: bool) -> None:
        super().__init__()
        self.generator = generator
        self.uint8 = uint8
        self.fp16 = fp16

    def _latent(self, z: torch.Tensor) -> torch.Tensor:
        return z.half() if self.fp16 else z

    def _finish(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        return to_uint8_nhwc(x) if self.uint8 else x


class UnconditionalWrapper(_ExportWrapper):
    """``images = G(z)`` with the serving I/O types."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Generate from latents ``z`` float32 ``[B, latent]``."""
        return self._finish(self.generator(self._latent(z)))


class ConditionalWrapper(_ExportWrapper):
    """``images = G(z, labels)`` with the serving I/O types."""

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Generate from latents ``z`` float32 ``[B, latent]`` and int64 ``labels`` ``[B]``."""
        return self._finish(self.generator(self._latent(z), labels=labels))


def make_wrapper(
    generator: nn.Module, *, conditional: bool, uint8: bool, fp16: bool
) -> _ExportWrapper:
    """Wrap ``generator`` (already converted for fp16 if ``fp16``) for export."""
    cls = ConditionalWrapper if conditional else UnconditionalWrapper
    return cls(generator, uint8=uint8, fp16=fp16).eval()


def keep_in_fp32(module: nn.Module) -> bool:
    """Whether an fp16 export keeps ``module`` (and everything inside it) in float32."""
    if getattr(module, KEEP_FP32_ATTR, False):
        return True
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return False
    if isinstance(
        module,
        (nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm, nn.modules.instancenorm._InstanceNorm),
    ):
        return True
    return "Norm" in type(module).__name__  # PixelNorm, RMSNorm, AdaIN-style "...Norm"


def _to_fp32(_module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(a.float() if torch.is_tensor(a) and a.is_floating_point() else a for a in args)


def _to_fp16(_module: nn.Module, _args: tuple[Any, ...], out: Any) -> Any:
    if torch.is_tensor(out) and out.is_floating_point():
        return out.half()
    return out


def half_precision_copy(generator: nn.Module) -> nn.Module:
    """Return an eval-mode float16 copy of ``generator`` with sensitive layers kept in fp32."""
    # Parametrizations (e.g. spectral norm) are left in place: removing them from a
    # deep copy would edit the dynamic class it shares with the original module.
    half = copy.deepcopy(generator).eval()
    half.half()
    kept: list[str] = []
    for name, sub in half.named_modules():
        if any(name.startswith(prefix + ".") for prefix in kept) or not name:
            continue
        if keep_in_fp32(sub):
            sub.float()
            sub.register_forward_pre_hook(_to_fp32)
            sub.register_forward_hook(_to_fp16)
            kept.append(name)
    return half
