"""torchrun + DDP on CPU (gloo): ranks agree, and 2 x B equals 1 x 2B.

A tiny architecture without batch norm is installed as a real plugin (a module
and a dist-info on PYTHONPATH) so that both the torchrun ranks and the single
process load it; its train-end hook saves every rank's final generator weights.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

PLUGIN = textwrap.dedent(
    '''
    """A batch-norm-free MLP pair for the distributed tests."""
    import os
    from dataclasses import dataclass

    from safetensors.torch import save_file
    from torch import nn

    from gankit import hookimpl
    from gankit.components import ArchConfig, Architecture, Recipe


    @dataclass
    class Cfg(ArchConfig):
        latent_dim: int = 8
        data_shape: tuple = (2,)
        num_classes: int = 0


    class G(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(cfg.latent_dim, 32), nn.ReLU(), nn.Linear(32, 2))

        def forward(self, z, labels=None):
            return self.net(z)


    class D(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))

        def forward(self, x, labels=None):
            return self.net(x).reshape(-1)


    @hookimpl
    def gankit_register_architectures(register):
        register(Architecture(name="ddp-mlp", description="MLP pair without batch norm",
                              config=Cfg, generator=G, discriminator=D,
                              recipe=Recipe(batch_size=16)))


    def _dump(trainer, name):
        rank = os.environ.get("RANK", "single")
        state = {k: v.contiguous() for k, v in trainer.G.state_dict().items()}
        save_file(state, str(trainer.out_dir / f"{name}-rank-{rank}.safetensors"))


    @hookimpl
    def gankit_on_train_start(trainer):
        _dump(trainer, "G-init")


    @hookimpl
    def gankit_on_train_end(trainer):
        _dump(trainer, "G")
    '''
)


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ddp_plugin")
    (root / "gankit_ddp_test.py").write_text(PLUGIN)
    info = root / "gankit_ddp_test-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gankit-ddp-test\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[gankit]\nddp-test = gankit_ddp_test\n")
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


TRAIN = [
    "train",
    "--arch",
    "ddp-mlp",
    "--data",
    "ring8",
    "--seed",
    "4",
    "data.n=2000",
    "progress=false",
    "ema_bn_batches=0",
    "metrics=[]",
]


def gankit(plugin_path: Path, *args: str, procs: int = 1) -> None:
    """Run ``python -m gankit ARGS`` (under torchrun with ``procs`` > 1); it must succeed."""
    env = {**os.environ, "PYTHONPATH": str(plugin_path), "OMP_NUM_THREADS": "1"}
    env.pop("GANKIT_DISABLE_PLUGINS", None)
    launcher = [sys.executable]
    if procs > 1:
        launcher += [
            "-m",
            "torch.distributed.run",
            "--nproc-per-node",
            str(procs),
            "--master-addr",
            "127.0.0.1",
            "--master-port",
            str(_free_port()),
        ]
    run = subprocess.run(
        [*launcher, "-m", "gankit", *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]


@pytest.mark.slow
def test_two_gloo_processes_agree_and_match_one_process_with_double_batch(
    tmp_path: Path, plugin_path: Path
) -> None:
    two, one = tmp_path / "two", tmp_path / "one"
    two.mkdir()  # both ranks write their dumps before rank 0 would create it
    one.mkdir()
    gankit(plugin_path, *TRAIN, "--steps", "10", "--out", str(two), "batch_size=16", procs=2)
    gankit(plugin_path, *TRAIN, "--steps", "10", "--out", str(one), "batch_size=32")

    rank0 = load_file(str(two / "G-rank-0.safetensors"))
    rank1 = load_file(str(two / "G-rank-1.safetensors"))
    single = load_file(str(one / "G-rank-single.safetensors"))
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), f"ranks differ in {key}"
        # gradients are averaged across ranks instead of over one batch: the same
        # sum in another order, so the weights agree to float rounding
        assert torch.allclose(rank0[key], single[key], atol=1e-5, rtol=1e-4), key
    # training moved the weights: the comparison is not between two initial states
    init = load_file(str(two / "G-init-rank-0.safetensors"))
    assert not torch.allclose(init["net.0.weight"], rank0["net.0.weight"], atol=1e-4)
    # only rank 0 wrote the run directory
    assert (two / "artifact" / "model.safetensors").exists()
    assert len((two / "metrics.jsonl").read_text().splitlines()) == 1


@pytest.mark.slow
def test_gradient_penalty_under_ddp_and_resume_on_another_world_size(
    tmp_path: Path, plugin_path: Path
) -> None:
    run_dir = tmp_path / "gp"
    run_dir.mkdir()
    gankit(
        plugin_path,
        *TRAIN,
        "--steps",
        "6",
        "--out",
        str(run_dir),
        "batch_size=16",
        "loss=wasserstein",
        "regularizers=gradient-penalty",
        "checkpoint_every=3",
        procs=2,
    )
    rank0 = load_file(str(run_dir / "G-rank-0.safetensors"))
    rank1 = load_file(str(run_dir / "G-rank-1.safetensors"))
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)  # double backward synced
    # the 2-process checkpoint continues in a single process
    gankit(plugin_path, "train", "--resume", str(run_dir), "--steps", "9")
    resumed = load_file(str(run_dir / "G-rank-single.safetensors"))
    assert not torch.equal(resumed["net.0.weight"], rank0["net.0.weight"])
    assert (run_dir / "checkpoints" / "ckpt-00000009.json").exists()
