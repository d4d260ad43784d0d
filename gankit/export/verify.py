"""Parity check of an exported generator: onnxruntime (CPU) against PyTorch."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gankit.errors import ExportError
from gankit.export.metadata import INPUT_LABELS, INPUT_Z, OUTPUT_IMAGES
from gankit.images import to_uint8

log = logging.getLogger(__name__)

#: max abs difference allowed for float output, by precision
FLOAT_TOLERANCE = {"fp32": 1e-4, "fp16": 2e-2}
#: uint8 steps allowed: 1 for rounding ties, plus what the fp16 tolerance spans
UINT8_TOLERANCE = {"fp32": 1, "fp16": 1 + int(np.ceil(FLOAT_TOLERANCE["fp16"] * 127.5))}
#: int8 is checked by the MEAN abs difference: quantization moves every pixel a
#: little (about 2 of 255 levels on average for the Fashion-MNIST zoo generators)
#: and a few by much more, while the samples' distribution is unchanged (Frechet
#: distance within 2%, docs/benchmarks.md); a max bound would refuse every int8 model.
MEAN_TOLERANCE = {"int8": 3e-2}
#: the same in uint8 steps (rounding adds at most half a step on average)
UINT8_MEAN_TOLERANCE = {"int8": 0.5 + MEAN_TOLERANCE["int8"] * 127.5}
_HINTS = {
    "fp32": (
        "A Python-side branch or loop on tensor values, or a tensor turned into a Python or "
        "numpy value, is baked into the graph as a constant; make forward() traceable."
    ),
    "fp16": (
        "Some layer loses too much precision in float16: set gankit_keep_fp32 = True on that "
        "module to keep it in float32, or export without fp16."
    ),
    "int8": (
        "This generator loses too much in 8 bits (its activations span too wide a range, "
        "or its output is not an image in [-1, 1]); export it without int8 (fp32 or fp16)."
    ),
}
#: batch sizes checked for a dynamic-batch export
DYNAMIC_BATCHES = (1, 7, 64)


@dataclass(frozen=True)
class ParityReport:
    """The differences seen per checked batch size, and which one the tolerance bounds."""

    max_abs_diff: dict[int, float]
    tolerance: float
    mean_abs_diff: dict[int, float] = field(default_factory=dict)
    #: "max" (fp32, fp16) or "mean" (int8): which difference ``tolerance`` bounds
    bounded: str = "max"

    @property
    def worst(self) -> float:
        """The largest difference over all checked batches."""
        return max(self.max_abs_diff.values())


def random_feeds(
    rng: np.random.Generator, n: int, latent_dim: int, num_classes: int
) -> dict[str, np.ndarray]:
    """Inputs of an exported generator for ``n`` samples, as the generator samples them.

    Standard-normal float32 ``z`` and, when ``num_classes``, uniform int64 ``labels``,
    drawn from ``rng`` in that order (the parity check and the int8 calibration both
    draw theirs here, so their inputs stay what they were).
    """
    feeds = {INPUT_Z: rng.standard_normal((n, latent_dim), dtype=np.float32)}
    if num_classes > 0:
        feeds[INPUT_LABELS] = rng.integers(0, num_classes, n).astype(np.int64)
    return feeds


def verify_onnx(
    path: Path,
    reference: nn.Module,
    *,
    name: str,
    latent_dim: int,
    num_classes: int,
    batches: Sequence[int],
    precision: str,
    uint8: bool,
    seed: int = 0,
) -> ParityReport:
    """Run the model at ``path`` and the fp32 ``reference`` generator on the same inputs.

    ``reference`` is called as ``reference(z, labels)`` and returns floats in
    ``[-1, 1]``. Raises :class:`ExportError` with the measured difference if the
    outputs differ by more than the tolerance or contain NaN.
    """
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    bounded = "mean" if precision in MEAN_TOLERANCE else "max"
    if bounded == "mean":
        tol = UINT8_MEAN_TOLERANCE[precision] if uint8 else MEAN_TOLERANCE[precision]
    else:
        tol = UINT8_TOLERANCE[precision] if uint8 else FLOAT_TOLERANCE[precision]
    diffs: dict[int, float] = {}
    means: dict[int, float] = {}
    for n in batches:
        feeds = random_feeds(rng, n, latent_dim, num_classes)
        labels = torch.from_numpy(feeds[INPUT_LABELS]) if INPUT_LABELS in feeds else None
        got = session.run([OUTPUT_IMAGES], feeds)[0]
        with torch.no_grad():
            want_t = reference(torch.from_numpy(feeds[INPUT_Z]), labels).float()
        want = to_uint8(want_t) if uint8 else want_t.numpy()
        if got.shape != want.shape or got.dtype != want.dtype:
            raise ExportError(
                f"ONNX export of {name} gives {got.dtype} {list(got.shape)} at batch {n}, "
                f"PyTorch {want.dtype} {list(want.shape)}"
            )
        if not uint8 and np.isnan(got).any():
            raise ExportError(f"ONNX export of {name} ({precision}) outputs NaN at batch {n}")
        abs_diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
        diffs[n], means[n] = float(abs_diff.max()), float(abs_diff.mean())
        diff = diffs[n] if bounded == "max" else means[n]
        if not diff <= tol:  # also catches NaN in the reference
            raise ExportError(
                f"ONNX export of {name} does not match PyTorch: {bounded} abs difference "
                f"{diff:.3g}{' uint8 steps' if uint8 else ''} at batch {n} (tolerance {tol:g}, "
                f"{precision}). {_HINTS[precision]}"
            )
    report = ParityReport(diffs, tol, means, bounded)
    log.info(
        "ONNX parity of %s: max abs difference %s, mean %s (%s bounded by %g)",
        name,
        diffs,
        means,
        bounded,
        tol,
    )
    return report
