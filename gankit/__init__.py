"""gankit: a plugin-based toolkit for Generative Adversarial Networks on PyTorch.

The public API:

- :func:`create_generator`, :func:`create_discriminator`, :func:`create_loss`,
  :func:`create_regularizer`, :func:`create_dataset`, :func:`create_metric`
- :func:`load_generator` (artifact directory, ``zoo:NAME`` or ``hf://OWNER/NAME``)
- :func:`train` and :func:`resume`: ``gankit train`` from Python
  (:mod:`gankit.training.runs`, imported on first use)
- :func:`get_manager` (the plugin manager) and :data:`hookimpl` for plugin authors
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

# gankit is a PyTorch library: importing torch here (about 2 s, once) keeps the
# first `load_generator` / `create_*` call fast instead of paying it there.
import torch  # noqa: F401

from gankit.hookspecs import hookimpl
from gankit.plugins import PluginManager, get_manager
from gankit.registry import (
    create_dataset,
    create_discriminator,
    create_generator,
    create_loss,
    create_metric,
    create_regularizer,
)

if TYPE_CHECKING:
    from gankit.training.runs import resume, train

try:
    __version__ = version("gankit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"


def load_generator(source: str, **kwargs: Any) -> Any:
    """Load a generator from an artifact directory, ``zoo:NAME`` or ``hf://OWNER/NAME[@REV]``.

    Returns a :class:`gankit.artifacts.LoadedGenerator` (an ``nn.Module`` with
    ``sample(n, seed=None, labels=None)``, ``latent_dim``, ``num_classes`` and
    ``config``). Weights are read from safetensors only; pickle is refused.
    """
    from gankit.artifacts import load_generator as _load

    return _load(source, **kwargs)


#: public names imported on first use: the trainer's modules (tqdm, the training
#: loop, its config) would slow every ``import gankit``, the CLI's ``--help`` included
_LAZY = {"train": "gankit.training.runs", "resume": "gankit.training.runs"}


def __getattr__(name: str) -> Any:
    """``gankit.train`` and ``gankit.resume``, imported when first used (PEP 562)."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gankit' has no attribute {name!r}")


__all__ = [
    "PluginManager",
    "__version__",
    "create_dataset",
    "create_discriminator",
    "create_generator",
    "create_loss",
    "create_metric",
    "create_regularizer",
    "get_manager",
    "hookimpl",
    "load_generator",
    "resume",
    "train",
]
