"""``OnnxSampler``: sample an exported generator with onnxruntime, without torch.

The sampler owns provider choice, warm-up, IO binding and thread safety. It
reads everything it needs from the model's gankit ``metadata_props``.

Determinism: the latents for ``sample(n, seed)`` are
``np.random.default_rng(seed).standard_normal((n, latent_dim), dtype=np.float32)``,
so a seed gives the same images whatever the batching. (They are not the
latents of ``LoadedGenerator.sample``, which draws them with torch.)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gankit.errors import ArtifactError
from gankit.export.metadata import (
    FORMAT_UINT8,
    INPUT_LABELS,
    INPUT_Z,
    OUTPUT_IMAGES,
    OnnxModelInfo,
    parse_metadata,
)
from gankit.serving.errors import InvalidInputError
from gankit.serving.providers import GPU_PROVIDERS, check_providers, choose_providers

log = logging.getLogger(__name__)

MAX_SEED = 2**64 - 1
#: seed of the warm-up latents
WARMUP_SEED = 0


def float_to_uint8(images: np.ndarray) -> np.ndarray:
    """Map float images in ``[-1, 1]`` ``[B, C, H, W]`` to uint8 ``[B, H, W, C]``.

    The same arithmetic (float32, round half to even) as ``gankit.images.to_uint8``
    and the in-graph conversion of ``export_onnx(..., uint8=True)``.
    """
    x = np.clip(images.astype(np.float32, copy=False), -1.0, 1.0)
    x = np.round((x + np.float32(1.0)) * np.float32(127.5))
    return x.astype(np.uint8).transpose(0, 2, 3, 1)


def default_buckets(max_batch: int, gpu: bool) -> tuple[int, ...]:
    """Warm-up batch sizes: powers of two up to ``max_batch`` on GPU, ``1`` and it on CPU."""
    if not gpu:
        return tuple(sorted({1, max_batch}))
    sizes = {max_batch}
    b = 1
    while b < max_batch:
        sizes.add(b)
        b *= 2
    return tuple(sorted(sizes))


class OnnxSampler:
    """Draw samples from a gankit ONNX export.

    Args:
        path: the ``.onnx`` file written by ``gankit export``.
        device: ``auto`` (CUDA when a GPU is present), ``cpu``, ``cuda`` or ``tensorrt``.
        providers: explicit onnxruntime providers (overrides ``device``).
        max_batch: most images per onnxruntime run; larger requests run in chunks.
            A fixed-batch export uses its batch size instead (chunks are padded).
        batch_buckets: batch sizes warmed up at load (and, on GPU, the sizes runs
            are padded up to, so cuDNN never meets a new shape while serving).
        warmup: run each bucket once at load.
        intra_op_threads: onnxruntime's intra-op thread count (0: its default).
        spin_threads: let onnxruntime's idle intra-op threads spin-wait for work (its
            default). Faster back-to-back runs; a server whose HTTP work shares the
            cores turns it off so idle threads do not take CPU from it.
    """

    def __init__(
        self,
        path: str | Path,
        device: str = "auto",
        providers: list[Any] | None = None,
        *,
        max_batch: int = 64,
        batch_buckets: Sequence[int] | None = None,
        warmup: bool = True,
        intra_op_threads: int = 0,
        spin_threads: bool = True,
    ) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise ArtifactError(f"ONNX model {str(path)!r} does not exist")
        if max_batch < 1:
            raise InvalidInputError(f"max_batch must be >= 1, got {max_batch}", "max_batch")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # our own warning replaces the fallback error spam
        options.intra_op_num_threads = intra_op_threads
        if not spin_threads:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        requested = choose_providers(device, providers)
        try:
            self.session = ort.InferenceSession(
                str(self.path), sess_options=options, providers=requested
            )
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises several types
            raise ArtifactError(f"onnxruntime cannot load {str(path)!r}: {exc}") from None
        self.providers = self.session.get_providers()
        check_providers(requested, self.providers, str(self.path))
        meta = self.session.get_modelmeta().custom_metadata_map
        self.info: OnnxModelInfo = parse_metadata(meta, str(self.path))
        self.on_gpu = any(p in GPU_PROVIDERS for p in self.providers)
        self.fixed_batch = self.info.batch
        if self.fixed_batch is not None and self.fixed_batch != max_batch:
            log.info("%s has a fixed batch of %d; using it as max_batch", path, self.fixed_batch)
        self.max_batch = self.fixed_batch or max_batch
        buckets = batch_buckets or default_buckets(self.max_batch, self.on_gpu)
        self.buckets = tuple(sorted({min(int(b), self.max_batch) for b in buckets if b >= 1}))
        # CPU: InferenceSession.run is thread-safe. GPU: serialize the IO-binding path
        # (one session must not be run from several threads with CUDA graphs).
        self._gpu_lock = threading.Lock()
        self.ready = False
        if warmup:
            self.warmup()
        self.ready = True

    # -- what the model is ----------------------------------------------------------

    @property
    def latent_dim(self) -> int:
        """Size of one latent vector."""
        return self.info.latent_dim

    @property
    def num_classes(self) -> int:
        """Number of classes (0 for an unconditional model)."""
        return self.info.num_classes

    @property
    def data_shape(self) -> tuple[int, ...]:
        """Shape of one sample as the generator makes it (``(C, H, W)`` or ``(2,)``)."""
        return self.info.data_shape

    @property
    def is_image(self) -> bool:
        """True for image models."""
        return self.info.is_image

    def output_shape(self, n: int) -> tuple[int, ...]:
        """Shape of ``sample(n)``: ``(n, H, W, C)`` for images, ``(n, 2)`` for points."""
        if self.is_image:
            c, h, w = self.data_shape
            return (n, h, w, c)
        return (n, *self.data_shape)

    # -- inputs -----------------------------------------------------------------------

    def latents(self, n: int, seed: int | None = None) -> np.ndarray:
        """The latents ``sample(n, seed)`` uses: float32 ``[n, latent_dim]``."""
        check_n(n)
        if seed is not None and (
            isinstance(seed, bool)
            or not isinstance(seed, (int, np.integer))
            or not 0 <= seed <= MAX_SEED
        ):
            raise InvalidInputError(
                f"seed must be an integer in 0..2**64-1 or null, got {seed!r}", "seed"
            )
        rng = np.random.default_rng(seed)
        return rng.standard_normal((n, self.latent_dim), dtype=np.float32)

    def check_labels(self, labels: Any, n: int) -> np.ndarray | None:
        """Validate labels for ``n`` samples; a conditional model without labels cycles classes.

        Raises :class:`InvalidInputError` (field ``labels``) for labels given to an
        unconditional model, a wrong count, a non-integer or an out-of-range class:
        onnxruntime's CUDA provider would silently read garbage for the latter.
        """
        if labels is None:
            if self.num_classes > 0:
                return (np.arange(n) % self.num_classes).astype(np.int64)
            return None
        if self.num_classes <= 0:
            raise InvalidInputError(
                "this generator is unconditional (num_classes = 0): do not send labels", "labels"
            )
        if isinstance(labels, (list, tuple)):
            # Python ints (JSON's) can exceed int64: say which class is out of range
            for value in labels:
                if (
                    isinstance(value, int)
                    and not isinstance(value, bool)
                    and not 0 <= value < self.num_classes
                ):
                    raise InvalidInputError(self._label_range_message(value), "labels")
        arr = np.asarray(labels)
        if arr.ndim != 1 or not (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)):
            raise InvalidInputError("labels must be a flat list of integers", "labels")
        if arr.shape[0] != n:
            raise InvalidInputError(
                f"got {arr.shape[0]} labels for {n} samples; send one label per sample", "labels"
            )
        bad = arr[(arr < 0) | (arr >= self.num_classes)]
        if bad.size:
            raise InvalidInputError(self._label_range_message(int(bad[0])), "labels")
        return arr.astype(np.int64)

    def _label_range_message(self, label: int) -> str:
        return f"label {label} is outside this generator's classes 0..{self.num_classes - 1}"

    # -- sampling -------------------------------------------------------------------

    def sample(self, n: int, seed: int | None = None, labels: Any = None) -> np.ndarray:
        """Draw ``n`` samples: uint8 ``[n, H, W, C]`` images, or float32 ``[n, 2]`` points."""
        z = self.latents(n, seed)
        return self.sample_latents(z, self.check_labels(labels, n))

    def sample_latents(self, z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """Run the generator on given latents (float32 ``[n, latent_dim]``), in chunks."""
        z = np.ascontiguousarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_dim or z.shape[0] < 1:
            raise InvalidInputError(
                f"latents must have shape [n, {self.latent_dim}], got {list(z.shape)}", "z"
            )
        n = z.shape[0]
        if labels is None and self.num_classes > 0:
            labels = self.check_labels(None, n)
        elif labels is not None:
            labels = self.check_labels(labels, n)
        parts = []
        for start in range(0, n, self.max_batch):
            stop = min(start + self.max_batch, n)
            chunk_labels = None if labels is None else labels[start:stop]
            parts.append(self._run_chunk(z[start:stop], chunk_labels))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def warmup(self) -> None:
        """Run each batch bucket once (cuDNN picks its algorithms per shape).

        The latents are seeded standard-normal ones, what the model meets in
        service: all-zero latents are a degenerate input (a normalization of z
        divides 0 by 0 without its epsilon) and would warm up nothing better.
        """
        rng = np.random.default_rng(WARMUP_SEED)
        for b in self.buckets:
            z = rng.standard_normal((b, self.latent_dim), dtype=np.float32)
            labels = np.arange(b, dtype=np.int64) % self.num_classes if self.num_classes else None
            self._run_chunk(z, labels)
        log.info(
            "warmed up %s at batch sizes %s on %s", self.path.name, self.buckets, self.providers[0]
        )

    def _padded_size(self, n: int) -> int:
        if self.fixed_batch is not None:
            return self.fixed_batch
        if self.on_gpu:
            return next((b for b in self.buckets if b >= n), n)
        return n

    def _run_chunk(self, z: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        """One onnxruntime run of at most ``max_batch`` samples; returns the converted output."""
        n = z.shape[0]
        size = self._padded_size(n)
        if size > n:
            z = np.concatenate([z, np.zeros((size - n, z.shape[1]), np.float32)])
            if labels is not None:
                labels = np.concatenate([labels, np.zeros(size - n, np.int64)])
        feeds = {INPUT_Z: z}
        if labels is not None:
            feeds[INPUT_LABELS] = np.ascontiguousarray(labels, dtype=np.int64)
        out = self._run_gpu(feeds) if self.on_gpu else self.session.run([OUTPUT_IMAGES], feeds)[0]
        out = out[:n]
        if self.info.output_format == FORMAT_UINT8 or not self.is_image:
            return np.ascontiguousarray(out)
        return float_to_uint8(out)

    # -- GPU path (cannot run on a CPU-only machine) -------------------------------------

    def _run_gpu(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """Run with IO binding: inputs copied to the device once, output bound on the device."""
        with self._gpu_lock:
            binding = self.session.io_binding()
            for name, value in feeds.items():
                binding.bind_cpu_input(name, value)
            binding.bind_output(OUTPUT_IMAGES, "cuda")
            self.session.run_with_iobinding(binding)
            return binding.copy_outputs_to_cpu()[0]


def check_n(n: Any, max_n: int | None = None) -> int:
    """Validate a sample count (field ``n``): a positive integer, at most ``max_n``."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise InvalidInputError(f"n must be an integer, got {n!r}", "n")
    if n <= 0:
        raise InvalidInputError(f"n must be a positive number of samples, got {n}", "n")
    if max_n is not None and n > max_n:
        raise InvalidInputError(f"n must be at most {max_n}, got {n}", "n")
    return int(n)
