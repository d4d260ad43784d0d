"""Features of reference data, kept on disk between runs (gankit's cache directory).

``gankit eval`` and a training run's first metric step compute the features of
the whole reference split, which costs far more than the generated samples'
features (10,000 Fashion-MNIST test images through the domain classifier: about
9.5 s on one CPU thread; through Inception-v3, minutes). The result depends only
on the images, the extractor's weights and how it was run, so it is stored
under a name made from all of them (the SHA-256 of the images' bytes, of the
weights file and what else decides how images reach the extractor, the gankit
and torch versions, the batch size and the device type; the callers name what is
particular to their extractor): a cached
file can never be taken for other data or another extractor. A damaged file is
computed again and replaced. The files are safetensors (never pickle).

``GANKIT_CACHE_DIR`` moves the cache or turns it off (``GANKIT_CACHE_DIR=off``);
see :mod:`gankit.cache`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from gankit import __version__ as gankit_version
from gankit.artifacts import follow_umask
from gankit.cache import CACHE_ENV, cache_dir, make_cache_dir
from gankit.hub import sha256_file

log = logging.getLogger(__name__)

#: the cache's sub-directory and the format its files record
SUBDIR = "reference-features"
FORMAT = "gankit-reference-features/1"
#: the tensor name a computation that returns one tensor (not a dict) is stored under
SINGLE = "__tensor__"

Features = torch.Tensor | dict[str, torch.Tensor]


def tensor_digest(tensor: torch.Tensor) -> str:
    """SHA-256 of a tensor's dtype, shape and bytes (the data being described)."""
    digest = hashlib.sha256(f"{tensor.dtype} {tuple(tensor.shape)}".encode())
    digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().data)
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (computed once per process while it is unchanged)."""
    stat = path.stat()
    return _file_digest(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@cache
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)  # size and mtime_ns: a changed file is digested again


def cached_features(
    images: torch.Tensor, identity: Mapping[str, str], compute: Callable[[torch.Tensor], Features]
) -> Features:
    """``compute(images)``, read from the cache when an earlier run stored it.

    ``identity`` names the extractor and how it runs (for example its weights'
    digest and the batch size); with the images' digest it decides the file.
    A result computed here is stored for the next run; a cache that cannot be
    written is warned about once per run and otherwise ignored.
    """
    directory = cache_dir(SUBDIR)
    if directory is None:
        return compute(images)
    key = {
        "format": FORMAT,
        "images": tensor_digest(images),
        # how images reach an extractor is code: gankit's (resizing, padding) and torch's
        "gankit": gankit_version,
        "torch": torch.__version__,
        **{k: str(v) for k, v in identity.items()},
    }
    name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:40]
    path = directory / f"{name}.safetensors"
    if path.is_file():
        stored = _read(path, key)
        if stored is not None:
            log.debug("reference features read from %s", path)
            with contextlib.suppress(OSError):  # a read-only cache is still read
                make_cache_dir(directory)  # tags a directory an untagging gankit made
            return stored
    value = compute(images)
    _write(directory, path, key, value)
    return value


def _read(path: Path, key: Mapping[str, str]) -> Features | None:
    """The stored features, or None (with a warning) if the file is damaged or not ours."""
    try:
        with safe_open(str(path), framework="pt") as f:
            if dict(f.metadata() or {}) != dict(key):
                raise ValueError("its metadata does not match the name it is stored under")
            tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118
    except (OSError, ValueError, SafetensorError) as exc:
        log.warning("cached reference features %s cannot be read (%s); computing them", path, exc)
        return None
    if list(tensors) == [SINGLE]:
        return tensors[SINGLE]
    return tensors


@cache
def _warn_unwritable(directory: str, reason: str) -> None:
    log.warning(
        "reference features are not cached: cannot write to %s (%s); set %s to a writable "
        "directory, or to off",
        directory,
        reason,
        CACHE_ENV,
    )


#: a temporary file older than this is left over from a run that was killed while writing
STALE_TMP_SECONDS = 3600


def _remove_stale_temporaries(directory: Path) -> None:
    """Remove temporary files that killed runs left behind (older than an hour)."""
    now = time.time()
    for tmp in directory.glob(".*.tmp"):
        with contextlib.suppress(OSError):  # another process may remove it first
            if now - tmp.stat().st_mtime > STALE_TMP_SECONDS:
                tmp.unlink()


def _write(directory: Path, path: Path, key: Mapping[str, str], value: Features) -> None:
    """Store ``value`` at ``path`` atomically (a temporary file renamed into place)."""
    tensors = {SINGLE: value} if isinstance(value, torch.Tensor) else dict(value)
    tmp = directory / f".{path.stem}.{secrets.token_hex(4)}.tmp"
    try:
        make_cache_dir(directory)
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp), dict(key)
        )
        follow_umask(tmp)
        os.replace(tmp, path)
        _remove_stale_temporaries(directory)
    except (OSError, SafetensorError) as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        _warn_unwritable(str(directory), getattr(exc, "strerror", None) or str(exc))
