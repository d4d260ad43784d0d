"""Choosing onnxruntime execution providers.

``onnxruntime-gpu`` lists the CUDA and TensorRT providers as *available* even on
a machine without a GPU (they are compiled in), and a session asked for them
there silently falls back to CPU after logging errors. So GPU providers are
requested only when a CUDA device is actually present, checked through the
driver (``libcuda``) with ctypes: no torch import, no CUDA context.
"""

from __future__ import annotations

import ctypes
import functools
import logging
from typing import Any

from gankit.errors import GankitError

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
GPU_PROVIDERS = (TENSORRT, CUDA)
DEVICES = ("auto", "cpu", "cuda", "tensorrt")

#: cuDNN: HEURISTIC avoids EXHAUSTIVE's per-shape re-search and DEFAULT's slow paths
CUDA_OPTIONS = {"cudnn_conv_algo_search": "HEURISTIC"}


@functools.lru_cache(maxsize=1)
def cuda_device_count() -> int:
    """Number of CUDA devices the driver reports (0 when there is no driver or GPU)."""
    for name in ("libcuda.so.1", "libcuda.so", "nvcuda.dll"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        count = ctypes.c_int(0)
        try:
            if lib.cuInit(0) != 0 or lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
                return 0
        except AttributeError:
            return 0
        return int(count.value)
    return 0


def choose_providers(
    device: str = "auto", providers: list[Any] | None = None, device_id: int = 0
) -> list[Any]:
    """Return the provider list to pass to ``InferenceSession``.

    ``providers`` (names or ``(name, options)`` pairs) is used as given. Otherwise
    ``device``: ``auto`` is CUDA when a GPU is present else CPU; ``cuda`` and
    ``tensorrt`` demand a GPU (TensorRT also needs TensorRT's libraries; it falls
    back to CUDA for nodes it cannot take); ``cpu`` is CPU only.
    """
    if providers:
        return list(providers)
    if device not in DEVICES:
        raise GankitError(f"unknown device {device!r}; use one of {', '.join(DEVICES)}")
    if device == "cpu":
        return [CPU]
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    have_gpu = cuda_device_count() > 0 and CUDA in available
    if device == "auto":
        return [(CUDA, {"device_id": device_id, **CUDA_OPTIONS}), CPU] if have_gpu else [CPU]
    if not have_gpu:
        raise GankitError(
            f"device {device!r} needs a CUDA GPU and onnxruntime-gpu, but "
            f"{'no CUDA device was found' if CUDA in available else 'CUDA is not available'}; "
            "use --device cpu or auto"
        )
    chosen: list[Any] = [(CUDA, {"device_id": device_id, **CUDA_OPTIONS}), CPU]
    if device == "tensorrt":
        if TENSORRT not in available:
            raise GankitError("TensorrtExecutionProvider is not available; use --device cuda")
        chosen.insert(0, (TENSORRT, {"device_id": device_id}))
    return chosen


def provider_name(entry: Any) -> str:
    """The name of a provider list entry (a name or a ``(name, options)`` pair)."""
    return entry[0] if isinstance(entry, tuple) else str(entry)


def check_providers(requested: list[Any], actual: list[str], source: str) -> None:
    """Log one warning if the session did not get the first provider requested."""
    wanted = provider_name(requested[0]) if requested else CPU
    if wanted not in actual:
        log.warning(
            "%s: asked for %s but onnxruntime runs it on %s (missing CUDA/cuDNN/TensorRT "
            "libraries?); sampling works but is slower",
            source,
            wanted,
            ", ".join(actual),
        )
