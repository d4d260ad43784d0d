"""ProGAN: fade-in, equalized learning rate, the schedule, exact resume, plain artifacts."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import gankit
from gankit.training import checkpoint as ckpt
from gankit.training.config import resolve
from gankit.training.trainer import Trainer
from gankit_progan.growth import growth_at, reals_at
from gankit_progan.layers import (
    EqualizedConv2d,
    EqualizedDownConv2d,
    EqualizedLinear,
    EqualizedUpConv2d,
)
from gankit_progan.networks import ProGANConfig

from run_state import assert_networks_close, assert_same_state, latest_state

SMALL = {"data_shape": (1, 32, 32), "latent_dim": 16, "max_width": 16, "fmap_base": 64}


def _pair() -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    return gankit.create_generator("progan", **SMALL), gankit.create_discriminator(
        "progan", **SMALL
    )


def test_fade_in_endpoints_match_previous_and_new_outputs() -> None:
    g, _ = _pair()
    z = torch.randn(3, 16)
    with torch.no_grad():
        g.set_growth(1, 1.0)
        prev = g(z)  # 8x8, fully faded in
        g.set_growth(2, 0.0)
        start = g(z)  # 16x16 at alpha 0
        g.set_growth(2, 1.0)
        new = g(z)
        g.set_growth(2, 0.3)
        mid = g(z)
    assert prev.shape == (3, 1, 8, 8) and start.shape == (3, 1, 16, 16)
    assert torch.allclose(start, F.interpolate(prev, scale_factor=2.0, mode="nearest"), atol=1e-6)
    assert not torch.allclose(new, start)
    # alpha blends before the tanh: check the pre-activation mix
    pre = 0.3 * torch.atanh(new.clamp(-0.999999, 0.999999)) + 0.7 * torch.atanh(
        start.clamp(-0.999999, 0.999999)
    )
    assert torch.allclose(mid, torch.tanh(pre), atol=1e-4)


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_fused_scale_convolutions_compute_the_plain_operations(
    memory_format: torch.memory_format,
) -> None:
    """Training's stride-2 forms equal upsample-then-convolve and convolve-then-average,
    values and gradients, at the borders too; evaluation runs the plain operations."""
    torch.manual_seed(0)
    up, down = EqualizedUpConv2d(6, 5), EqualizedDownConv2d(5, 7)
    with torch.no_grad():
        for layer in (up, down):
            layer.bias.normal_()
    x = torch.randn(3, 6, 4, 4).contiguous(memory_format=memory_format).requires_grad_()

    def upsampled(x: torch.Tensor) -> torch.Tensor:
        big = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return F.conv2d(big, up.weight * up.scale, up.bias, padding=1)

    def plain(x: torch.Tensor) -> torch.Tensor:
        h = upsampled(x)
        return F.avg_pool2d(F.conv2d(h, down.weight * down.scale, down.bias, padding=1), 2)

    fused = down(up(x))
    assert fused.shape == (3, 7, 4, 4) and up(x).shape == (3, 5, 8, 8)
    want = plain(x)
    assert torch.allclose(fused, want, atol=1e-5)
    grads = torch.autograd.grad(fused.square().sum(), [x, up.weight, down.weight, down.bias])
    wants = torch.autograd.grad(want.square().sum(), [x, up.weight, down.weight, down.bias])
    for got, expected in zip(grads, wants, strict=True):
        assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4)
    up.eval()
    with torch.no_grad():
        # the same operations as before the fused form: export and int8 see no change
        assert torch.equal(up(x), upsampled(x))


def test_discriminator_fade_in_at_alpha_zero_uses_the_previous_path() -> None:
    _, d = _pair()
    x = torch.randn(4, 1, 16, 16)
    with torch.no_grad():
        d.set_growth(2, 0.0)
        faded = d(x)
        d.set_growth(1, 1.0)
        previous = d(F.avg_pool2d(x, 2))
    assert torch.allclose(faded, previous, atol=1e-5)


def test_equalized_learning_rate_scales_weights_by_he_constant() -> None:
    conv = EqualizedConv2d(8, 4, 3, padding=1)
    assert abs(conv.weight.std().item() - 1.0) < 0.15  # stored unscaled, N(0, 1)
    x = torch.randn(2, 8, 5, 5)
    expected = F.conv2d(x, conv.weight * math.sqrt(2.0 / (8 * 9)), conv.bias, padding=1)
    assert torch.allclose(conv(x), expected, atol=1e-6)
    lin = EqualizedLinear(32, 3)
    y = torch.randn(5, 32)
    assert torch.allclose(lin(y), F.linear(y, lin.weight * math.sqrt(2.0 / 32), lin.bias))


def test_schedule_phases_and_real_blending() -> None:
    cfg = ProGANConfig(data_shape=(1, 32, 32), images_per_phase=100)
    seen = [growth_at(n, cfg) for n in (0, 99, 100, 150, 200, 300, 500, 600, 10_000)]
    assert [g.phase for g in seen] == [
        "4x4 stabilize",
        "4x4 stabilize",
        "8x8 fade-in",
        "8x8 fade-in",
        "8x8 stabilize",
        "16x16 fade-in",
        "32x32 fade-in",
        "32x32 stabilize",
        "32x32 stabilize",
    ]
    assert seen[3].alpha == 0.5 and seen[2].alpha == 0.0 and seen[4].alpha == 1.0
    x = torch.rand(2, 1, 32, 32)
    assert reals_at(x, 3, 1.0, 3).equal(x)
    at8 = reals_at(x, 1, 0.0, 3)
    assert at8.shape == (2, 1, 8, 8)
    assert torch.allclose(at8, F.interpolate(F.avg_pool2d(x, 8), scale_factor=2.0))


TINY = {
    "data.size": 16,
    "latent_dim": 16,
    "max_width": 16,
    "fmap_base": 64,
    "images_per_phase": 48,
    "batch_size": 16,
    "progress": False,
    "grid_size": 8,
    "checkpoint_every": 3,
    "sample_every": 100,
}


def test_resume_mid_fade_in_equals_uninterrupted_run(tmp_path: Path) -> None:
    spec = resolve("progan", "digits", overrides=TINY, steps=9, seed=1)
    Trainer(spec, tmp_path / "straight").fit()
    Trainer(spec, tmp_path / "halves").fit(6)  # 96 images seen: 8x8 fade-in
    latest = ckpt.load_latest(tmp_path / "halves" / "checkpoints")
    assert latest is not None
    assert latest.meta["phase"] == "8x8 fade-in" and 0 < latest.meta["plugin_state"]["alpha"] < 1
    Trainer(spec, tmp_path / "halves").fit(9)
    assert_same_state(latest_state(tmp_path / "straight"), latest_state(tmp_path / "halves"))
    logs = [
        json.loads(line)
        for line in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()
    ]
    assert {"alpha", "resolution", "phase"} <= set(logs[-1])
    assert (tmp_path / "straight" / "samples" / "phase-4x4-stabilize.png").exists()


def test_artifact_is_the_plain_final_resolution_generator(tmp_path: Path) -> None:
    spec = resolve("progan", "digits", overrides={**TINY, "images_per_phase": 16}, steps=4)
    art = Trainer(spec, tmp_path / "run").fit()
    g = gankit.load_generator(str(art))
    assert g.sample(2, seed=0).shape == (2, 1, 16, 16)
    cfg = json.loads((art / "config.json").read_text())
    assert "level" not in cfg["arch_config"] and "alpha" not in cfg["arch_config"]


def test_rejects_unsupported_shapes() -> None:
    with pytest.raises(gankit.errors.ConfigError, match="power-of-two"):
        gankit.create_generator("progan", data_shape=(1, 28, 28))


def test_rejects_bad_widths() -> None:
    with pytest.raises(gankit.errors.ConfigError, match=r"arch.d_fmap_base must be >= 0.*-8"):
        gankit.create_discriminator("progan", **{**SMALL, "d_fmap_base": -8})
    with pytest.raises(gankit.errors.ConfigError, match=r"arch.max_width must be >= 1, got 0"):
        gankit.create_generator("progan", **{**SMALL, "max_width": 0})


def test_discriminator_width_is_its_own_option() -> None:
    def conv_widths(module: torch.nn.Module) -> list[int]:
        return [m.weight.shape[0] for m in module.modules() if isinstance(m, EqualizedConv2d)]

    g = gankit.create_generator("progan", **SMALL, d_fmap_base=128)
    d_same = gankit.create_discriminator("progan", **SMALL)
    d_wide = gankit.create_discriminator("progan", **SMALL, d_fmap_base=128, d_max_width=32)
    assert g.to_rgb[3].weight.shape[1] == 8  # G keeps fmap_base 64: 16, 16, 16, 8
    assert max(conv_widths(d_same)) == 16
    assert d_wide.from_rgb[3][0].weight.shape[0] == 16  # 128 >> 3 at 32x32
    assert max(conv_widths(d_wide)) == 32  # capped by d_max_width
    assert d_wide(torch.zeros(2, 1, 32, 32)).shape == (2,)


@pytest.mark.skipif(shutil.which("c++") is None, reason="torch.compile on CPU needs a C++ compiler")
def test_compile_builds_one_graph_per_phase_and_trains_like_eager(tmp_path: Path) -> None:
    """Each phase gets one compiled graph per network, whatever alpha does, and the
    trainer drops a past phase's graphs: with a recompile limit of 1, a second graph
    of the same function (alpha specialized at 0, or a phase beyond the limit, which
    at the default limit of 8 a 64x64 ProGAN reaches) fails the run."""
    overrides = {**TINY, "data.size": 8, "images_per_phase": 32}  # 2 steps per phase
    runs = {}
    for compiled in (False, True):
        spec = resolve("progan", "digits", overrides={**overrides, "compile": compiled}, steps=6)
        out = tmp_path / f"compile-{compiled}"
        graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
        with torch._dynamo.config.patch(recompile_limit=1, fail_on_recompile_limit_hit=True):
            Trainer(spec, out).fit()
        graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"] - graphs
        assert graphs == (6 if compiled else 0)  # G and D in each of 3 phases
        latest = ckpt.load_latest(out / "checkpoints")
        assert latest is not None
        assert latest.meta["phase"] == "8x8 stabilize"
        runs[compiled] = latest.tensors
    assert_networks_close(runs[True], runs[False])
