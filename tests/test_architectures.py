"""Built-in architectures: shapes, paper guidelines, conditioning, and the mixture metric."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import gankit
from gankit.training.config import resolve
from gankit.training.trainer import Trainer


@pytest.mark.parametrize("arch", ["dcgan", "wgan-gp", "cgan"])
@pytest.mark.parametrize("shape", [(1, 16, 16), (3, 32, 32), (1, 64, 64)])
def test_image_shapes(arch: str, shape: tuple[int, int, int]) -> None:
    cfg = {"data_shape": shape, "latent_dim": 8, "g_width": 8, "d_width": 8}
    if arch == "cgan":
        cfg["num_classes"] = 3
    g, d = gankit.create_generator(arch, **cfg), gankit.create_discriminator(arch, **cfg)
    labels = torch.tensor([0, 2, 1, 0]) if arch == "cgan" else None
    x = g(torch.randn(4, 8), labels=labels)
    assert x.shape == (4, *shape) and x.min() >= -1 and x.max() <= 1
    assert d(x, labels=labels).shape == (4,)


def test_unsupported_size_is_a_clear_error() -> None:
    with pytest.raises(gankit.errors.ConfigError, match=r"power-of-two.*got 28.*pad_to_32"):
        gankit.create_generator("dcgan", data_shape=(1, 28, 28))


def test_dcgan_follows_the_paper() -> None:
    g = gankit.create_generator("dcgan", data_shape=(3, 64, 64))
    d = gankit.create_discriminator("dcgan", data_shape=(3, 64, 64))
    g_layers, d_layers = list(g.net), list(d.net[0]) + list(d.net[1:])
    assert isinstance(g_layers[-1], nn.Tanh)
    assert not isinstance(g_layers[-2], nn.BatchNorm2d) and not isinstance(
        d_layers[1], nn.BatchNorm2d
    )
    assert any(isinstance(m, nn.ReLU) for m in g.modules())
    assert all(m.negative_slope == 0.2 for m in d.modules() if isinstance(m, nn.LeakyReLU))
    convs = [m.weight for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    big = torch.cat([w.flatten() for w in convs])
    assert abs(big.std().item() - 0.02) < 0.002 and abs(big.mean().item()) < 0.001


def test_wgan_gp_critic_has_no_batchnorm_and_picks_mlp_for_points() -> None:
    critic = gankit.create_discriminator("wgan-gp", data_shape=(1, 32, 32))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in critic.modules())
    spec = resolve("wgan-gp", "grid25")
    assert spec.train.n_critic == 5 and spec.train.lr_g == 1e-4
    assert spec.train.betas_d == (0.0, 0.9) and spec.train.loss == "wasserstein"
    assert spec.train.regularizers == ("gradient-penalty",)
    assert spec.train.steps == 20000 and spec.train.metrics == ("mixture-modes",)
    g = gankit.create_generator("wgan-gp", data_shape=(2,))
    assert g(torch.randn(5, 128)).shape == (5, 2)
    assert not any(isinstance(m, nn.Conv2d | nn.ConvTranspose2d) for m in g.modules())


def test_wgan_gp_mlp_generator_without_batchnorm_is_per_sample() -> None:
    with_bn = gankit.create_generator("wgan-gp", data_shape=(2,), latent_dim=8)
    assert any(isinstance(m, nn.BatchNorm1d) for m in with_bn.modules())  # the default
    g = gankit.create_generator("wgan-gp", data_shape=(2,), latent_dim=8, mlp_batchnorm=False)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in g.modules())
    z = torch.randn(6, 8)
    # in train mode too, a sample does not depend on the rest of its batch
    assert torch.allclose(g(z)[:2], g(z[:2]), atol=1e-6)
    assert not torch.allclose(with_bn(z)[:2], with_bn(z[:2]), atol=1e-3)


def test_cgan_conditions_on_labels() -> None:
    cfg = {"data_shape": (1, 16, 16), "num_classes": 4, "latent_dim": 8, "g_width": 8, "d_width": 8}
    g, d = gankit.create_generator("cgan", **cfg), gankit.create_discriminator("cgan", **cfg)
    g.eval()
    z = torch.randn(2, 8)
    with pytest.raises(ValueError, match="pass labels"):
        g(z)
    a, b = g(z, labels=torch.tensor([0, 0])), g(z, labels=torch.tensor([1, 1]))
    assert not torch.allclose(a, b)
    x = torch.randn(2, 1, 16, 16)
    assert not torch.allclose(d(x, labels=torch.tensor([0, 0])), d(x, labels=torch.tensor([3, 3])))


def test_cgan_needs_labelled_data_and_samples_per_class(tmp_path: Path) -> None:
    from PIL import Image

    folder = tmp_path / "flat"
    folder.mkdir()
    for i in range(4):
        Image.new("L", (16, 16), color=i * 60).save(folder / f"{i}.png")
    unlabelled = {
        "progress": False,
        "data.root": str(folder),
        "data.size": 16,
        "data.channels": 1,
        "batch_size": 2,
    }
    with pytest.raises(gankit.errors.ConfigError, match="needs labelled data"):
        Trainer(resolve("cgan", "image-folder", overrides=unlabelled), tmp_path / "x")
    spec = resolve(
        "cgan",
        "digits",
        overrides={
            "data.size": 16,
            "g_width": 8,
            "d_width": 8,
            "batch_size": 16,
            "progress": False,
            "ema_bn_batches": 1,
            "grid_size": 20,
        },
        steps=2,
    )
    art = Trainer(spec, tmp_path / "run").fit()
    g = gankit.load_generator(str(art))
    assert (
        g.num_classes == 10 and json.loads((art / "config.json").read_text())["num_classes"] == 10
    )
    assert g.sample(3, seed=0, labels=[0, 5, 9]).shape == (3, 1, 16, 16)
    with pytest.raises(gankit.errors.ArtifactError, match="label 10 is outside"):
        g.sample(1, labels=[10])
    assert "conditional" in (art / "README.md").read_text()


def _stats(samples: torch.Tensor, data: gankit.data.TensorData) -> dict[str, float]:
    from gankit_metrics.mixture import mixture_stats

    assert data.mode_centers is not None and data.mode_std is not None
    return mixture_stats(samples, data.mode_centers, data.mode_std)


@pytest.mark.parametrize("name,k", [("ring8", 8), ("grid25", 25)])
def test_mixture_metric_on_real_and_collapsed_samples(name: str, k: int) -> None:
    data = gankit.create_dataset(name, n=2500, seed=1)
    real = _stats(data.samples, data)
    # a 2-D Gaussian puts 1 - exp(-9/2) = 98.9% of its mass within 3 std
    assert real["modes_covered"] == k
    assert real["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.006)
    assert real["reverse_kl"] < 0.02
    assert data.mode_centers is not None
    collapsed = data.mode_centers[3].repeat(2500, 1)
    bad = _stats(collapsed, data)
    assert bad["modes_covered"] == 1 and bad["high_quality"] == 1.0
    assert bad["reverse_kl"] == pytest.approx(math.log(k))
    far = _stats(data.samples + 10 * data.mode_std, data)
    assert far["high_quality"] < 0.01


def test_metrics_are_logged_during_training_and_in_the_artifact(tmp_path: Path) -> None:
    spec = resolve(
        "wgan-gp",
        "ring8",
        overrides={"progress": False, "metrics_every": 2, "mlp_hidden": 16, "ema_bn_batches": 1},
        steps=4,
    )
    art = Trainer(spec, tmp_path / "run").fit()
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    logged = [r["step"] for r in lines if "mixture-modes/modes_covered" in r]
    assert logged == [2, 4]
    cfg = json.loads((art / "config.json").read_text())
    assert set(cfg["metrics"]) >= {"mixture-modes/modes_covered", "mixture-modes/reverse_kl"}
    assert "mixture-modes/high_quality" in (art / "README.md").read_text()
    g = gankit.load_generator(str(art))
    assert g.sample(7, seed=0).shape == (7, 2)
    # the scatter plot of a 2-D run shows 2500 points by default, not an image grid's 64
    pixels = np.asarray(Image.open(tmp_path / "run" / "samples" / "final.png").convert("RGB"))
    blue = np.all(pixels == (30, 90, 200), axis=-1).sum()
    assert blue > 500, blue


def test_model_card_says_what_sample_returns() -> None:
    from gankit.modelcard import sample_line

    assert sample_line((2,)).endswith("# [16, 2] in the data's coordinates")
    assert sample_line((1, 32, 32)).endswith("# [16, C, H, W] in [-1, 1]")
    card = (Path(__file__).parents[1] / "zoo/gankit_zoo/mlp-r1-grid25/README.md").read_text()
    assert sample_line((2,)) in card
