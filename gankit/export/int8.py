"""int8 export for CPU serving: a CPU-friendly rewrite of the generator, then static quantization.

Why: on a CPU, torch eager already runs a DCGAN-style generator at about 80%
of the machine's fp32 matrix-multiply peak (benchmarks/subpixel_export.py), so
no fp32 graph can be 1.5x faster; int8 arithmetic (VNNI) can. onnxruntime
1.31 has no int8 kernel for ``ConvTranspose`` (a quantized transposed
convolution runs as fp32 between quantize/dequantize nodes and is slower than
plain fp32), but it has a fast one for ``Conv``. So before quantizing:

1. eval-mode BatchNorm is folded into the convolution it follows in an
   ``nn.Sequential`` (torch's ``fuse_conv_bn_eval``), because after step 2 the
   normalization would no longer sit next to a convolution onnxruntime can fold;
2. every stride-s transposed convolution whose output is exactly s times its
   input (``kernel - 2 * padding == stride``; DCGAN's 4/2/1 blocks) becomes
   :class:`SubpixelConvTranspose2d`: one ordinary convolution computing all s*s
   output phases with only their real taps, each phase cropped at its own
   offset, then depth-to-space (in NHWC, see its ``forward``). Same outputs
   up to float rounding, same multiply-adds.

Then onnxruntime's static quantizer writes QDQ int8 (weights int8 per output
channel, activations uint8), calibrated on batches of the generator's own
inputs: standard-normal ``z`` (and uniform labels), so no dataset is needed.
Transposed convolutions the rewrite cannot handle (e.g. kernel 3, stride 2)
stay in float, since quantizing them would only add the Q/DQ work. The
quantizer is onnxruntime's own (``onnxruntime.quantization``); gankit only
supplies the calibration batches.
"""

from __future__ import annotations

import copy
import logging
import tempfile
from pathlib import Path
from typing import TypeGuard

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from gankit.export.verify import random_feeds

log = logging.getLogger(__name__)

#: onnxruntime op types quantized to int8; everything else (activations, the
#: uint8 head, normalization) runs in float between quantize/dequantize nodes.
#: Not ConvTranspose: onnxruntime has no int8 kernel for it (see the module doc).
QUANTIZED_OPS = (
    *("Conv", "Gemm", "MatMul"),
    *("Concat", "Slice", "Reshape", "Transpose", "DepthToSpace", "Pad", "Relu", "LeakyRelu"),
)
#: layers with weights; the first and last of them stay in float (see quantize_int8)
WEIGHT_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
#: calibration batches (each ``CALIBRATION_BATCH`` samples) of the generator's inputs
CALIBRATION_BATCHES = 8
CALIBRATION_BATCH = 64


def phase_taps(kernel: int, stride: int, padding: int) -> list[list[tuple[int, int]]]:
    """For each output phase ``r`` of a 1-D transposed convolution, its taps.

    A tap ``(d, k)`` means ``out[stride * m + r] += x[m + d] * weight[k]``.
    """
    return [
        [((r + padding - k) // stride, k) for k in range(kernel) if (r + padding - k) % stride == 0]
        for r in range(stride)
    ]


def subpixel_compatible(layer: nn.Module) -> TypeGuard[nn.ConvTranspose2d]:
    """Whether ``layer`` is a transposed convolution :class:`SubpixelConvTranspose2d` replaces.

    That is a 2-D transposed convolution with stride > 1 whose output is exactly
    ``stride`` times its input in each dimension, without groups, dilation or
    output padding.
    """
    if type(layer) is not nn.ConvTranspose2d:  # subclasses may change forward()
        return False
    kernel, stride, padding = layer.kernel_size, layer.stride, layer.padding
    return (
        isinstance(padding, tuple)
        and max(stride) > 1
        and all(k - 2 * p == s for k, s, p in zip(kernel, stride, padding, strict=True))
        and layer.groups == 1
        and layer.dilation == (1, 1)
        and layer.output_padding == (0, 0)
        and layer.padding_mode == "zeros"
    )


class SubpixelConvTranspose2d(nn.Module):
    """A transposed convolution computed as one ordinary convolution over all output phases.

    For stride ``s``, output pixel ``(s*m + ry, s*n + rx)`` (phase ``(ry, rx)``)
    uses only the kernel taps of that phase. The weight of this module holds,
    for each phase, those taps as a small dense kernel (``s*s*C_out`` output
    channels); one convolution over the padded input computes every phase, each
    phase is read at its own offset, and depth-to-space interleaves them.
    """

    def __init__(self, layer: nn.ConvTranspose2d) -> None:
        super().__init__()
        if not subpixel_compatible(layer):
            raise ValueError(f"{layer} is not a transposed convolution this rewrite handles")
        (kh, kw), (sh, sw) = layer.kernel_size, layer.stride
        ph, pw = (int(p) for p in layer.padding)  # a tuple of ints (checked above)
        taps_h, taps_w = phase_taps(kh, sh, ph), phase_taps(kw, sw, pw)
        first_h = [min(d for d, _ in taps) for taps in taps_h]
        first_w = [min(d for d, _ in taps) for taps in taps_w]
        win_h = max(
            max(d for d, _ in taps) - f + 1 for taps, f in zip(taps_h, first_h, strict=True)
        )
        win_w = max(
            max(d for d, _ in taps) - f + 1 for taps, f in zip(taps_w, first_w, strict=True)
        )
        weight = layer.weight.detach()  # [C_in, C_out, kh, kw]
        c_in, c_out = weight.shape[:2]
        dense = weight.new_zeros(sh, sw, c_out, c_in, win_h, win_w)
        for ry, taps_y in enumerate(taps_h):
            for rx, taps_x in enumerate(taps_w):
                for dy, ky in taps_y:
                    for dx, kx in taps_x:
                        dense[ry, rx, :, :, dy - first_h[ry], dx - first_w[rx]] = weight[
                            :, :, ky, kx
                        ].t()
        self.weight = nn.Parameter(dense.reshape(sh * sw * c_out, c_in, win_h, win_w))
        bias = layer.bias
        self.bias = nn.Parameter(bias.detach().repeat(sh * sw)) if bias is not None else None
        # left/top padding makes every phase's first tap index >= 0; right/bottom
        # padding makes the convolution long enough for the last phase's crop
        self.pad_top, self.pad_left = max(0, -min(first_h)), max(0, -min(first_w))
        self.offsets_h = [f + self.pad_top for f in first_h]
        self.offsets_w = [f + self.pad_left for f in first_w]
        self.pad_bottom = max(self.offsets_h) - self.pad_top + win_h - 1
        self.pad_right = max(self.offsets_w) - self.pad_left + win_w - 1
        self.stride = (sh, sw)
        self.out_channels = c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same output as the transposed convolution this module was built from."""
        h, w = x.shape[-2:]
        sh, sw = self.stride
        c = self.out_channels
        x = F.pad(x, (self.pad_left, self.pad_right, self.pad_top, self.pad_bottom))
        # Channels-last from the convolution's output on. onnxruntime runs its int8
        # convolution in NHWC and inserts a transpose back to NCHW after it, which this
        # permute cancels; and in NHWC, interleaving the phases copies whole pixels (C
        # values each) with Split, Slice and Concat. In NCHW it is a DepthToSpace that moves
        # single values: about a quarter of the int8 graph's time in onnxruntime 1.31
        # (benchmarks/onnx_profile.py, docs/benchmarks.md).
        blocks = F.conv2d(x, self.weight, self.bias).permute(0, 2, 3, 1).split(c, dim=3)
        rows = []
        for ry, oy in enumerate(self.offsets_h):
            # each phase: its channel block, read at its own offset -> [B, H, W, C]
            phases = [
                blocks[ry * sw + rx][:, oy : oy + h, ox : ox + w]
                for rx, ox in enumerate(self.offsets_w)
            ]
            rows.append(torch.stack(phases, 3))  # [B, H, W, sw, C]
        out = torch.stack(rows, 2)  # [B, H, sh, W, sw, C]
        return out.reshape(-1, h * sh, w * sw, c).permute(0, 3, 1, 2)


def fold_batchnorm(module: nn.Module) -> int:
    """Fold each eval-mode BatchNorm2d that directly follows a convolution in an
    ``nn.Sequential`` into that convolution (in place); returns how many were folded."""
    folded = 0
    for seq in [m for m in module.modules() if isinstance(m, nn.Sequential)]:
        children = list(seq.named_children())
        for (_, conv), (bn_name, bn) in zip(children, children[1:], strict=False):
            if (
                isinstance(conv, nn.Conv2d | nn.ConvTranspose2d)
                and type(conv) in (nn.Conv2d, nn.ConvTranspose2d)  # not a subclass' forward
                and type(bn) is nn.BatchNorm2d
                and bn.track_running_stats
                and bn.running_mean is not None
                and not bn.training
                and not conv.training
            ):
                fused = fuse_conv_bn_eval(conv, bn, transpose=isinstance(conv, nn.ConvTranspose2d))
                conv.weight, conv.bias = fused.weight, fused.bias
                setattr(seq, bn_name, nn.Identity())
                folded += 1
    return folded


def cpu_int8_copy(generator: nn.Module) -> nn.Module:
    """An eval-mode copy of ``generator`` rewritten for int8 quantization (see module doc)."""
    out = copy.deepcopy(generator).eval()
    with torch.no_grad():
        folded = fold_batchnorm(out)
        rewritten = 0
        for parent in list(out.modules()):
            for name, child in list(parent.named_children()):
                if subpixel_compatible(child):
                    setattr(parent, name, SubpixelConvTranspose2d(child))
                    rewritten += 1
    log.info("int8 export: folded %d batch norms, rewrote %d transposed convs", folded, rewritten)
    return out


def edge_layers(model_path: Path) -> list[str]:
    """Names of the first and the last weight layer (Conv, ConvTranspose, Gemm, MatMul)."""
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    layers = [n.name for n in graph.node if n.op_type in WEIGHT_OPS]
    return sorted({layers[0], layers[-1]}) if layers else []


def quantize_int8(
    fp32_path: Path,
    out_path: Path,
    *,
    latent_dim: int,
    num_classes: int,
) -> None:
    """Write ``fp32_path`` statically quantized to int8 (QDQ) at ``out_path``.

    Calibrated on :data:`CALIBRATION_BATCHES` batches of standard-normal ``z``
    (and uniform labels when ``num_classes``), the distribution the generator
    samples from. The first and last weight layers stay in float, as is usual:
    the first reads ``z`` itself, the last writes the pixels, and both are cheap.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class LatentBatches(CalibrationDataReader):
        """The generator's input distribution, batch by batch."""

        def __init__(self) -> None:
            rng = np.random.default_rng(0)
            self._feeds = iter(
                [
                    random_feeds(rng, CALIBRATION_BATCH, latent_dim, num_classes)
                    for _ in range(CALIBRATION_BATCHES)
                ]
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._feeds, None)

    with tempfile.TemporaryDirectory(prefix="gankit-int8-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(out_path),
            LatentBatches(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            calibrate_method=CalibrationMethod.MinMax,
            op_types_to_quantize=list(QUANTIZED_OPS),
            nodes_to_exclude=edge_layers(prepared),
        )
