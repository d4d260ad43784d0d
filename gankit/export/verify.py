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
_ZERO_HINT = (
    "Random latents match, so the graph probably lost a guard such as an epsilon added "
    "before a division or square root (the exporter's optimizer deletes an Add of a "
    "scalar of magnitude 1e-8 or less as if it were 0): add it as a 1-element tensor, "
    "e.g. x + x.new_full((1,), eps), which the optimizer keeps."
)
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
    #: max abs difference for all-zero latents (NaN where both outputs are NaN is equal)
    zero_latent_diff: float = 0.0
    #: mean abs difference for all-zero latents (what ``tolerance`` bounds there for int8)
    zero_latent_mean_diff: float = 0.0

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

    options = ort.SessionOptions()
    # errors still raise; onnxruntime's C++ warnings (e.g. constant folding of an fp16
    # graph) would only be noise between the export's own messages
    options.log_severity_level = 3
    session = ort.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )
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
        got, want = _run_both(session, reference, feeds, uint8=uint8)
        where = f"at batch {n}"
        _check_types(got, want, name, where)
        if not uint8 and not np.isfinite(got).all():
            raise ExportError(
                f"ONNX export of {name} ({precision}) outputs NaN or inf {where}. "
                f"{_HINTS[precision]}"
            )
        diffs[n], means[n] = _differences(got, want)
        diff = diffs[n] if bounded == "max" else means[n]
        if not diff <= tol:  # also catches NaN in the reference
            raise ExportError(
                f"ONNX export of {name} does not match PyTorch: {bounded} abs difference "
                f"{diff:.3g}{' uint8 steps' if uint8 else ''} {where} (tolerance {tol:g}, "
                f"{precision}). {_HINTS[precision]}"
            )
    zero_max, zero_mean = _check_zero_latent(
        session,
        reference,
        name=name,
        n=batches[0],
        latent_dim=latent_dim,
        num_classes=num_classes,
        precision=precision,
        uint8=uint8,
        tol=tol,
        bounded=bounded,
    )
    report = ParityReport(diffs, tol, means, bounded, zero_max, zero_mean)
    log.info(
        "ONNX parity of %s: max abs difference %s, mean %s (%s bounded by %g)",
        name,
        diffs,
        means,
        bounded,
        tol,
    )
    return report


def _run_both(
    session: object, reference: nn.Module, feeds: dict[str, np.ndarray], *, uint8: bool
) -> tuple[np.ndarray, np.ndarray]:
    """onnxruntime's and the reference's output for the same inputs (uint8-converted if asked)."""
    labels = torch.from_numpy(feeds[INPUT_LABELS]) if INPUT_LABELS in feeds else None
    got = session.run([OUTPUT_IMAGES], feeds)[0]  # type: ignore[attr-defined]
    with torch.no_grad():
        want_t = reference(torch.from_numpy(feeds[INPUT_Z]), labels).float()
    return got, (to_uint8(want_t) if uint8 else want_t.numpy())


def _check_types(got: np.ndarray, want: np.ndarray, name: str, where: str) -> None:
    if got.shape != want.shape or got.dtype != want.dtype:
        raise ExportError(
            f"ONNX export of {name} gives {got.dtype} {list(got.shape)} {where}, "
            f"PyTorch {want.dtype} {list(want.shape)}"
        )


def _differences(got: np.ndarray, want: np.ndarray) -> tuple[float, float]:
    """Max and mean abs difference (NaN if either output has NaN)."""
    abs_diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    return float(abs_diff.max()), float(abs_diff.mean())


def _check_zero_latent(
    session: object,
    reference: nn.Module,
    *,
    name: str,
    n: int,
    latent_dim: int,
    num_classes: int,
    precision: str,
    uint8: bool,
    tol: float,
    bounded: str,
) -> tuple[float, float]:
    """Compare both on all-zero latents, a degenerate input random ones never reach.

    A normalization of ``z`` (ProGAN's pixel norm) divides 0 by its epsilon there,
    and an exporter that drops a tiny epsilon turns the output into NaN; latent
    interpolation passes near 0. Non-finite values must sit in the same places in
    both outputs; the rest are held to the tolerance the random latents are: ``tol``
    bounds their max abs difference, or for int8 (``bounded="mean"``) their mean,
    as it does at batch 1 for random latents. That is sound for int8: z = 0 is the
    centre of the distribution it is calibrated on, so the activations lie inside
    the calibrated ranges and the rounding error is that of any other latent (for
    the built-in architectures and the zoo's DCGAN, a mean difference at z = 0 no
    larger than for random ones), while a graph that lost what only z = 0 needs is
    off by far more. Returns the max and the mean abs difference over the finite
    values.
    """
    feeds: dict[str, np.ndarray] = {INPUT_Z: np.zeros((n, latent_dim), dtype=np.float32)}
    if num_classes > 0:
        feeds[INPUT_LABELS] = (np.arange(n) % num_classes).astype(np.int64)
    got, want = _run_both(session, reference, feeds, uint8=uint8)
    where = f"for an all-zero latent (batch {n})"
    _check_types(got, want, name, where)
    got_bad, want_bad = ~np.isfinite(got), ~np.isfinite(want)
    if not np.array_equal(got_bad, want_bad):
        raise ExportError(
            f"ONNX export of {name} ({precision}) outputs {int(got_bad.sum())} NaN or inf "
            f"values {where} where PyTorch outputs {int(want_bad.sum())}. {_ZERO_HINT}"
        )
    ok = ~got_bad
    max_diff, mean_diff = _differences(got[ok], want[ok]) if ok.any() else (0.0, 0.0)
    diff = max_diff if bounded == "max" else mean_diff
    if not diff <= tol:
        raise ExportError(
            f"ONNX export of {name} does not match PyTorch: {bounded} abs difference {diff:.3g}"
            f"{' uint8 steps' if uint8 else ''} {where} (tolerance {tol:g}, {precision}). "
            + (_ZERO_HINT if precision == "fp32" else f"{_ZERO_HINT} {_HINTS[precision]}")
        )
    return max_diff, mean_diff
