"""Checkpoints: tensors in safetensors, scalars in JSON, written atomically.

A checkpoint at step N is two files in ``RUN_DIR/checkpoints/``:

- ``ckpt-00000N.safetensors``: every tensor (G, D, EMA, optimizer moments, RNG states)
- ``ckpt-00000N.json``: scalars, optimizer hyper-parameters, sampler position and
  the sha256 of the tensor file

Each is written to a temporary file, flushed to disk and renamed into place; the
JSON goes last, so a checkpoint counts only once both are whole. Loading checks
the sha256 and falls back to the previous checkpoint when the newest is damaged.
Nothing is pickled. Both files get the mode the umask gives any new file
(``0o666 & ~umask``), like the rest of the run directory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from gankit.artifacts import follow_umask

log = logging.getLogger(__name__)

_NAME = re.compile(r"^ckpt-(\d+)\.json$")


@dataclass
class Checkpoint:
    """A loaded checkpoint."""

    step: int
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]
    path: Path


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a synced temp file and a rename (all or nothing)."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def save(
    directory: Path,
    step: int,
    tensors: dict[str, torch.Tensor],
    meta: dict[str, Any],
    keep: int = 3,
) -> Path:
    """Write checkpoint ``step`` atomically and delete all but the newest ``keep``.

    The files get the mode the umask gives any new file, ``0o666 & ~umask``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"ckpt-{step:08d}"
    tensor_path = directory / f"{stem}.safetensors"
    tmp = directory / f"{stem}.safetensors.tmp"
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))
    follow_umask(tmp)  # safetensors writes 0o600
    with tmp.open("rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, tensor_path)
    meta = dict(meta, step=step, tensors=tensor_path.name, sha256=sha256_file(tensor_path))
    json_path = directory / f"{stem}.json"
    atomic_write_bytes(json_path, json.dumps(meta, indent=1).encode())
    _prune(directory, keep)
    return json_path


def _listed(directory: Path) -> list[tuple[int, Path]]:
    if not directory.is_dir():
        return []
    found = []
    for p in directory.iterdir():
        m = _NAME.match(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found, reverse=True)


def newest_step(directory: Path) -> int | None:
    """The step of the newest checkpoint in ``directory`` (None if there is none).

    Only the file names are read (no hash check): it is for messages, not for loading.
    """
    listed = _listed(directory)
    return listed[0][0] if listed else None


def _prune(directory: Path, keep: int) -> None:
    for _, json_path in _listed(directory)[max(keep, 1) :]:
        json_path.unlink(missing_ok=True)
        json_path.with_suffix(".safetensors").unlink(missing_ok=True)


def load_latest(directory: Path) -> Checkpoint | None:
    """Load the newest whole checkpoint, skipping damaged ones with a warning."""
    for step, json_path in _listed(directory):
        try:
            meta = json.loads(json_path.read_text())
            tensor_path = directory / meta["tensors"]
            digest = sha256_file(tensor_path)
            if digest != meta["sha256"]:
                raise ValueError(f"sha256 mismatch ({digest[:12]} != {meta['sha256'][:12]})")
            tensors = load_file(str(tensor_path))
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
            log.warning("checkpoint %s is damaged (%s); trying the previous one", json_path, exc)
            continue
        return Checkpoint(step, tensors, meta, json_path)
    return None


# -- flattening optimizer and RNG state -----------------------------------------


def flatten_optimizer(
    prefix: str, optimizer: torch.optim.Optimizer
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer's state dict into tensors and JSON-able values."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.state.{idx}.{key}"] = value
            else:
                scalars.setdefault(str(idx), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def restore_optimizer(
    optimizer: torch.optim.Optimizer,
    prefix: str,
    tensors: dict[str, torch.Tensor],
    meta: dict[str, Any],
) -> None:
    """Inverse of :func:`flatten_optimizer`."""
    state: dict[int, dict[str, Any]] = {}
    head = f"{prefix}.state."
    for name, value in tensors.items():
        if name.startswith(head):
            idx, key = name[len(head) :].split(".", 1)
            state.setdefault(int(idx), {})[key] = value
    for idx, values in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(values)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def capture_rng() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The global RNG states (torch, CUDA, numpy, Python) as tensors + JSON."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    version, internal, py_gauss = random.getstate()
    tensors["rng.python"] = torch.tensor(internal, dtype=torch.int64)
    meta = {"numpy": [kind, int(pos), int(has_gauss), float(gauss)], "python": [version, py_gauss]}
    return tensors, meta


def restore_rng(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    kind, pos, has_gauss, gauss = meta["numpy"]
    np.random.set_state(
        (kind, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss, gauss)
    )
    version, py_gauss = meta["python"]
    random.setstate((version, tuple(int(x) for x in tensors["rng.python"].tolist()), py_gauss))
