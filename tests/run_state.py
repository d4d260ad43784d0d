"""Comparing the training state of two runs, for the resume and compile tests.

A run's state is the tensors of its newest checkpoint: the networks (``G``, ``D``,
``G_ema``) and the optimizers' moments (``opt_g``, ``opt_d``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from gankit.training import checkpoint as ckpt

#: checkpoint tensor groups that a resumed run must reproduce bit for bit
TRAINED = ("G", "D", "G_ema", "opt_g", "opt_d")


def latest_state(run_dir: Path) -> dict[str, torch.Tensor]:
    """The tensors of the run's newest checkpoint (failing the test if there is none)."""
    latest = ckpt.load_latest(run_dir / "checkpoints")
    assert latest is not None, f"{run_dir} has no checkpoint"
    return latest.tensors


def _keys(a: dict[str, torch.Tensor], groups: tuple[str, ...]) -> list[str]:
    keys = [k for k in a if k.split(".")[0] in groups]
    assert keys, f"no tensors of {groups} in the state"
    return keys


def assert_same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    """Networks, average and optimizer moments equal bit for bit (exact resume)."""
    keys = _keys(a, TRAINED)
    assert set(keys) <= set(b), sorted(set(keys) - set(b))
    for k in keys:
        assert torch.equal(a[k], b[k]), f"{k} differs"


def assert_networks_close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    """G's and D's weights equal up to float reordering (e.g. compiled against eager)."""
    for k in _keys(a, ("G", "D")):
        torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=1e-4, msg=k)
