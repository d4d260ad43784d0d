"""The options of a tiny DCGAN run on 16x16 digits, shared by the tests: a step takes
milliseconds. ``TINY`` is for :func:`gankit.training.config.resolve`, ``TINY_ARGS``
the same as ``KEY=VALUE`` words for ``gankit train``."""

from __future__ import annotations

from typing import Any

TINY: dict[str, Any] = {
    "data.size": 16,
    "arch.g_width": 8,
    "arch.d_width": 8,
    "arch.latent_dim": 16,
    "batch_size": 16,
    "progress": False,
    "ema_bn_batches": 2,
    "grid_size": 16,
}
TINY_ARGS = [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in TINY.items()]
