"""Is a sub-pixel rewrite of transposed convolutions faster in onnxruntime (CPU)?

An experiment for the OnnxSampler speed goal, kept so its numbers in
docs/benchmarks.md can be reproduced. It takes the DCGAN 64x64 RGB generator
(untrained, with random batch-norm statistics), folds batch norm into the
transposed convolutions (gankit's ``fold_batchnorm``), and exports four
equivalent forms with a dynamic batch:

- ``convtranspose``: the folded network as is (what ``gankit export`` does);
- ``subpixel-3x3``: each stride-2 transposed convolution as one ordinary
  convolution over all output phases, then depth-to-space;
- ``subpixel-phase``: one small convolution per output phase (only real taps),
  then depth-to-space;
- ``subpixel-dense``: gankit's ``SubpixelConvTranspose2d`` (what ``gankit
  export --int8`` uses): one convolution computing every phase with only its
  real taps, each phase cropped at its own offset, the phases interleaved
  channels-last (whole pixels; no DepthToSpace node since commit 04770fd).

It checks the four agree in torch, then times each in onnxruntime (all graph
optimizations) and torch eager on the same batch, all runners taking turns in
interleaved rounds (``benchmarks/timing.py``; speed-ups over torch eager are
medians of the per-round ratios, so the VM's drift favours no form). Each rate
is also given as achieved GFLOP/s (the network's floating-point operations
counted by ``torch.utils.flop_counter``) next to the machine's fp32
matrix-multiply peak (a 4096x4096 ``torch.matmul`` with the same threads): how
far any fp32 form could still go.

With ``--int8`` each form is also quantized by the int8 export's own quantizer
(``gankit.export.int8.quantize_int8``: onnxruntime's static QDQ quantization,
calibrated on standard normal z, first and last layers in float) and timed;
its distance from the fp32 output is given in 8-bit pixel levels (1 level =
2/255 of the [-1, 1] range). The forms are exported by the TorchScript
exporter; ``gankit export`` uses the dynamo one.

    python benchmarks/subpixel_export.py --batch 64 --repeats 20 --rounds 5 --int8
"""

from __future__ import annotations

import argparse
import copy
import functools
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import gankit
from gankit.export.int8 import (
    SubpixelConvTranspose2d,
    fold_batchnorm,
    phase_taps,
    quantize_int8,
)

from report import write_json
from timing import add_rounds_argument, images_per_s, speedup, time_interleaved

LATENT = 100


def depth_to_space(y: torch.Tensor, stride: int, channels: int) -> torch.Tensor:
    """``[B, s*s*C, H, W]`` with phase-major channels -> ``[B, C, H*s, W*s]``."""
    b, _, h, w = y.shape
    y = y.reshape(b, stride, stride, channels, h, w).permute(0, 3, 4, 1, 5, 2)
    return y.reshape(b, channels, h * stride, w * stride)


class SubpixelConv(nn.Module):
    """A stride-s transposed convolution as one convolution over all phases + depth-to-space."""

    def __init__(self, ct: nn.ConvTranspose2d) -> None:
        super().__init__()
        k, s, p = ct.kernel_size[0], ct.stride[0], int(ct.padding[0])
        taps = phase_taps(k, s, p)
        offsets = [d for phase in taps for d, _ in phase]
        lo, hi = min(offsets), max(offsets)
        weight = ct.weight.detach()  # [C_in, C_out, k, k]
        c_in, c_out = weight.shape[:2]
        big = torch.zeros(s, s, c_out, c_in, hi - lo + 1, hi - lo + 1)
        for ry in range(s):
            for rx in range(s):
                for dy, ky in taps[ry]:
                    for dx, kx in taps[rx]:
                        big[ry, rx, :, :, dy - lo, dx - lo] = weight[:, :, ky, kx].t()
        self.weight = nn.Parameter(big.reshape(s * s * c_out, c_in, hi - lo + 1, hi - lo + 1))
        bias = ct.bias.detach().repeat(s * s) if ct.bias is not None else None
        self.bias = nn.Parameter(bias) if bias is not None else None
        self.pad = (-lo, hi, -lo, hi)
        self.stride, self.channels = s, c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same output as the transposed convolution it replaces."""
        y = F.conv2d(F.pad(x, self.pad), self.weight, self.bias)
        return depth_to_space(y, self.stride, self.channels)


class PhaseConv(nn.Module):
    """A stride-s transposed convolution as s*s small convolutions (one per output phase)."""

    def __init__(self, ct: nn.ConvTranspose2d) -> None:
        super().__init__()
        k, s, p = ct.kernel_size[0], ct.stride[0], int(ct.padding[0])
        taps = phase_taps(k, s, p)
        weight = ct.weight.detach()
        c_in, c_out = weight.shape[:2]
        self.convs = nn.ModuleList()
        self.pads: list[tuple[int, int, int, int]] = []
        for ry in range(s):
            for rx in range(s):
                dys, dxs = [d for d, _ in taps[ry]], [d for d, _ in taps[rx]]
                conv = nn.Conv2d(
                    c_in,
                    c_out,
                    (max(dys) - min(dys) + 1, max(dxs) - min(dxs) + 1),
                    bias=ct.bias is not None,
                )
                w = torch.zeros_like(conv.weight)
                for dy, ky in taps[ry]:
                    for dx, kx in taps[rx]:
                        w[:, :, dy - min(dys), dx - min(dxs)] = weight[:, :, ky, kx].t()
                conv.weight.data = w
                if ct.bias is not None and conv.bias is not None:
                    conv.bias.data = ct.bias.detach().clone()
                self.convs.append(conv)
                self.pads.append((-min(dxs), max(dxs), -min(dys), max(dys)))
        self.stride, self.channels = s, c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same output as the transposed convolution it replaces."""
        y = torch.cat([c(F.pad(x, p)) for c, p in zip(self.convs, self.pads, strict=True)], 1)
        return depth_to_space(y, self.stride, self.channels)


def folded_generator() -> nn.Sequential:
    """The DCGAN 64x64 RGB generator body, input ``[B, LATENT]``, with random batch-norm
    statistics folded into its convolutions (gankit's ``fold_batchnorm``, as the int8 export)."""
    g = gankit.create_generator("dcgan", data_shape=(3, 64, 64), latent_dim=LATENT)
    torch.manual_seed(0)
    with torch.no_grad():
        for layer in g.net:
            if isinstance(layer, nn.BatchNorm2d):
                assert layer.running_mean is not None and layer.running_var is not None
                layer.running_mean.normal_()
                layer.running_var.uniform_(0.5, 2.0)
        g.net.eval()
        assert fold_batchnorm(g.net) > 0
    layers = [layer for layer in g.net if not isinstance(layer, nn.Identity)]
    return nn.Sequential(nn.Unflatten(1, (LATENT, 1, 1)), *layers).eval()


def rewritten(net: nn.Sequential, form: type[nn.Module]) -> nn.Sequential:
    """``net`` with every stride-2 transposed convolution replaced by ``form``."""
    net = copy.deepcopy(net)
    for i, layer in enumerate(net):
        if isinstance(layer, nn.ConvTranspose2d) and layer.stride[0] > 1:
            net[i] = form(layer)
    return net


def matmul_peak_gflops(n: int = 4096, repeats: int = 5) -> float:
    """fp32 GFLOP/s of an ``n x n`` matrix product in torch (the machine's practical peak)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(2):
        a @ b
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - t0) / 1e9


def gflop_per_batch(net: nn.Module, z: torch.Tensor) -> float:
    """Floating-point operations (GFLOP) of one forward pass on ``z``."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(z)
    return counter.get_total_flops() / 1e9


def main() -> None:
    """Check the rewrites are exact, then time them; prints and optionally writes JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=20, help="timed calls per form")
    add_rounds_argument(ap)
    ap.add_argument("--int8", action="store_true", help="also time int8-quantized forms")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    base = folded_generator()
    forms = {
        "convtranspose": base,
        "subpixel-3x3": rewritten(base, SubpixelConv),
        "subpixel-phase": rewritten(base, PhaseConv),
        # what `gankit export --int8` uses: one 2x2 convolution over all phases
        "subpixel-dense": rewritten(base, SubpixelConvTranspose2d),
    }
    z = torch.randn(args.batch, LATENT, generator=torch.Generator().manual_seed(1))
    peak = matmul_peak_gflops()
    results: dict[str, Any] = {
        "batch": args.batch,
        "repeats": args.repeats,
        "rounds": args.rounds,
        "threads": torch.get_num_threads(),
        "matmul_peak_gflops": round(peak, 1),
    }
    feed = {"z": z.numpy()}
    # every timed runner (onnxruntime sessions and torch eager) and its GFLOP per call
    runners: dict[str, Callable[[], object]] = {}
    gflops: dict[str, float] = {}
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL

    def add_session(name: str, path: str, gflop: float) -> ort.InferenceSession:
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        runners[name] = functools.partial(session.run, None, feed)
        gflops[name] = gflop
        return session

    with torch.no_grad(), tempfile.TemporaryDirectory() as tmp:
        want = base(z)
        for name, net in forms.items():
            diff = float((net(z) - want).abs().max())
            gflop = gflop_per_batch(net, z)
            path = f"{tmp}/{name}.onnx"
            torch.onnx.export(
                net,
                (z[:2],),
                path,
                input_names=["z"],
                output_names=["images"],
                dynamic_axes={"z": {0: "batch"}, "images": {0: "batch"}},
                dynamo=False,
            )
            session = add_session(name, path, gflop)
            ort_diff = float(np.abs(session.run(None, feed)[0] - want.numpy()).max())
            results[name] = {
                "gflop_per_batch": round(gflop, 2),
                "max_abs_diff_torch": diff,
                "max_abs_diff_onnxruntime": ort_diff,
            }
            if args.int8:
                qpath = Path(f"{tmp}/{name}.int8.onnx")
                quantize_int8(Path(path), qpath, latent_dim=LATENT, num_classes=0)
                qsession = add_session(f"{name}-int8", str(qpath), gflop)
                err = np.abs(qsession.run(None, feed)[0] - want.numpy()) * 127.5
                results[f"{name}-int8"] = {
                    "mean_abs_diff_levels": round(float(err.mean()), 3),
                    "max_abs_diff_levels": round(float(err.max()), 2),
                }
        runners["torch-eager"] = functools.partial(base, z)
        gflops["torch-eager"] = gflops["convtranspose"]  # the same network as that form
        times = time_interleaved(runners, args.repeats, args.rounds)
    for name, per_round in times.items():
        rate = images_per_s(per_round, args.batch)
        achieved = gflops[name] * rate / args.batch
        row = results.setdefault(name, {})
        row["images_per_s"] = round(rate, 1)
        row["gflops"] = round(achieved, 1)
        row["share_of_matmul_peak"] = round(achieved / peak, 3)
        if name != "torch-eager":
            row["speedup_over_torch_eager"] = speedup(times, name, "torch-eager")
    # the 1.5x goal as a share of the peak: what the best fp32 graph would need
    eager_share = results["torch-eager"]["share_of_matmul_peak"]
    results["needed_for_1.5x_share_of_matmul_peak"] = round(1.5 * eager_share, 3)
    write_json(results, args.json)


if __name__ == "__main__":
    main()
