"""Tests of the installed gankit-lsgan plugin (run them after `pip install -e .`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import gankit
from gankit.errors import ConfigError
from gankit_lsgan import ARCHITECTURE, LSGANConfig


def test_plugin_is_installed_and_loaded() -> None:
    info = {p.name: p for p in gankit.get_manager().plugins()}["gankit-lsgan"]
    assert info.status == "loaded", info.error
    assert info.version == "0.1.0"
    assert info.components == [("architecture", "lsgan")]


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 16, 16), (3, 32, 32), (2,)])
def test_shapes_and_range(shape: tuple[int, ...]) -> None:
    g = gankit.create_generator("lsgan", latent_dim=8, data_shape=shape, g_width=4, d_width=4)
    d = gankit.create_discriminator("lsgan", latent_dim=8, data_shape=shape, g_width=4, d_width=4)
    x = g(torch.randn(5, 8))
    assert x.shape == (5, *shape)
    if len(shape) == 3:
        assert x.abs().max() <= 1
    assert d(x).shape == (5,)


def test_every_config_field_has_a_default() -> None:
    g = gankit.create_generator("lsgan")
    assert g(torch.randn(2, LSGANConfig().latent_dim)).shape == (2, 1, 32, 32)


def test_recipe_uses_the_least_squares_loss() -> None:
    assert ARCHITECTURE.recipe.loss == "least-squares"
    loss = gankit.create_loss(ARCHITECTURE.recipe.loss)
    real, fake = torch.ones(4), torch.zeros(4)
    assert float(loss.d_loss(real, fake)) == pytest.approx(0.0)  # D at its targets
    assert float(loss.g_loss(fake)) == pytest.approx(0.5)  # (0 - 1)^2 / 2


def test_bad_config_and_labels_are_errors() -> None:
    with pytest.raises(ConfigError, match="power of two"):
        gankit.create_generator("lsgan", data_shape=(1, 28, 28))
    with pytest.raises(ConfigError, match="square"):
        gankit.create_discriminator("lsgan", data_shape=(1, 16, 32))
    g = gankit.create_generator("lsgan", data_shape=(2,))
    with pytest.raises(ValueError, match="unconditional"):
        g(torch.randn(2, 64), labels=torch.zeros(2, dtype=torch.long))


def gankit_cli(*args: str, cwd: Path) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "gankit", *args]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_cli_trains_and_samples(tmp_path: Path) -> None:
    plugins = {p["name"]: p for p in json.loads(gankit_cli("plugins", "--json", cwd=tmp_path))}
    assert plugins["gankit-lsgan"]["status"] == "loaded"
    gankit_cli(
        "train", "--arch", "lsgan", "--data", "ring8", "--steps", "2", "--out", "run",
        "arch.mlp_hidden=16", "batch_size=16", "data.n=256", "progress=false",
        cwd=tmp_path,
    )  # fmt: skip
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["train"]["loss"] == "least-squares"
    g = gankit.load_generator(str(tmp_path / "run" / "artifact"))
    assert g.sample(7, seed=0).shape == (7, 2)
