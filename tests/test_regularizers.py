"""Tests of the built-in regularizers (plugin ``gankit-regularizers``) and gankit.layers."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gankit
from gankit.errors import ConfigError
from gankit.layers import MinibatchStdDev
from gankit.regularizers import Regularizer, StepContext

NAMES = {
    "gradient-penalty": ("d_step",),
    "r1": ("d_step",),
    "spectral-norm": ("architecture",),
    "label-smoothing": ("d_step",),
    "instance-noise": ("data",),
    "diffaugment": ("data",),
}


def quadratic_d(x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """D(x) = 0.5 ||x||^2 per sample, so grad_x D = x."""
    return 0.5 * x.flatten(1).square().sum(dim=1)


class TinyD(nn.Module):
    def __init__(self, features: int = 4, classes: int = 0) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(features, 8), nn.Tanh(), nn.Linear(8, 1))
        self.embed = nn.Embedding(classes, features) if classes else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None and labels is not None:
            x = x * self.embed(labels)
        return self.body(x)


def make_ctx(
    d: Callable[..., torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    step: int = 0,
    real_labels: torch.Tensor | None = None,
    real_logits: torch.Tensor | None = None,
    augment: Callable[[torch.Tensor], torch.Tensor] = lambda x: x,
) -> StepContext:
    return StepContext(
        step=step,
        generator=nn.Identity(),
        discriminator=d,
        real=real,
        fake=fake,
        real_labels=real_labels,
        fake_labels=None,
        real_logits=real_logits,
        fake_logits=torch.zeros(real.shape[0]),
        augment=augment,
    )


def direct_grad_norms(d: Callable[..., torch.Tensor], x: torch.Tensor, labels=None) -> list[float]:
    """Per-sample input-gradient norms, one autograd call per sample."""
    norms = []
    for i in range(x.shape[0]):
        xi = x[i : i + 1].detach().clone().requires_grad_(True)
        li = None if labels is None else labels[i : i + 1]
        (g,) = torch.autograd.grad(d(xi, li).sum(), xi)
        norms.append(g.norm().item())
    return norms


# -- registry -------------------------------------------------------------------


def test_all_regularizers_reachable() -> None:
    comps = {c.name: c for c in gankit.get_manager().components("regularizer")}
    for name, acts_on in NAMES.items():
        assert comps[name].acts_on == acts_on
        assert comps[name].plugin == "gankit-regularizers"
        assert comps[name].description and "\n" not in comps[name].description
        reg = gankit.create_regularizer(name)
        assert isinstance(reg, Regularizer)
        assert reg.acts_on == acts_on


def test_config_defaults_and_validation() -> None:
    assert gankit.create_regularizer("gradient-penalty").config.weight == 10.0
    assert gankit.create_regularizer("gradient-penalty").config.one_sided is False
    assert gankit.create_regularizer("r1").config.gamma == 10.0
    assert gankit.create_regularizer("r1").config.interval == 16
    assert gankit.create_regularizer("spectral-norm").config.n_power_iterations == 1
    assert gankit.create_regularizer("label-smoothing").config.real_target == 0.9
    noise = gankit.create_regularizer("instance-noise").config
    assert (noise.sigma, noise.anneal_steps) == (0.1, 10000)
    assert gankit.create_regularizer("diffaugment").ops == ("color", "translation", "cutout")
    assert gankit.create_regularizer("diffaugment", policy=["cutout"]).ops == ("cutout",)
    with pytest.raises(ConfigError, match="rotation"):
        gankit.create_regularizer("diffaugment", policy="color,rotation")
    assert gankit.create_regularizer("gradient-penalty").config.interval == 1
    with pytest.raises(ConfigError, match="interval must be >= 1"):
        gankit.create_regularizer("r1", interval=0)
    with pytest.raises(ConfigError, match="gradient-penalty interval"):
        gankit.create_regularizer("gradient-penalty", interval=0)
    with pytest.raises(ConfigError):
        gankit.create_regularizer("label-smoothing", real_target=1.5)


# -- gradient penalty ----------------------------------------------------------------


def test_gradient_penalty_closed_form() -> None:
    real = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
    fake = torch.tensor([[-3.0, -4.0], [1.0, 1.0]])
    eps = torch.tensor([1.0, 1.0])  # x_hat = real: norms 5 and 0.5
    two = gankit.create_regularizer("gradient-penalty")
    one = gankit.create_regularizer("gradient-penalty", one_sided=True)
    assert two.penalty(quadratic_d, real, fake, eps=eps).item() == pytest.approx(
        10 * ((5 - 1) ** 2 + (0.5 - 1) ** 2) / 2
    )
    assert one.penalty(quadratic_d, real, fake, eps=eps).item() == pytest.approx(
        10 * ((5 - 1) ** 2 + 0.0) / 2
    )
    # eps = 0.5: x_hat = [[0, 0], [0.65, 0.7]]
    half = torch.tensor([0.5, 0.5])
    n2 = math.hypot(0.65, 0.7)
    assert two.penalty(quadratic_d, real, fake, eps=half).item() == pytest.approx(
        10 * (1 + (n2 - 1) ** 2) / 2, rel=1e-5
    )


def test_gradient_penalty_goes_through_augment() -> None:
    real = torch.tensor([[3.0, 4.0]])
    gp = gankit.create_regularizer("gradient-penalty", weight=1.0)
    # D(2x) = 2 ||x||^2, gradient 4x: norm 20
    value = gp.penalty(quadratic_d, real, real, eps=torch.ones(1), augment=lambda x: 2 * x)
    assert value.item() == pytest.approx((20 - 1) ** 2)


@pytest.mark.parametrize("one_sided", [False, True])
def test_gradient_penalty_matches_direct_autograd(one_sided: bool) -> None:
    torch.manual_seed(0)
    d = TinyD(classes=3)
    with torch.no_grad():
        d.body[2].weight.mul_(4.0)  # grad norms on both sides of 1
    real, fake = torch.randn(16, 4), torch.randn(16, 4)
    labels = torch.randint(0, 3, (16,))
    gen = torch.Generator().manual_seed(123)
    eps = torch.rand(16, generator=torch.Generator().manual_seed(123))
    x_hat = eps[:, None] * real + (1 - eps[:, None]) * fake
    norms = direct_grad_norms(d, x_hat, labels)
    assert min(norms) < 1 < max(norms)
    terms = [max(0.0, n - 1) ** 2 if one_sided else (n - 1) ** 2 for n in norms]
    expected = 10 * sum(terms) / len(terms)
    gp = gankit.create_regularizer("gradient-penalty", one_sided=one_sided)
    got = gp.penalty(d, real, fake, labels, generator=gen)
    assert got.item() == pytest.approx(expected, rel=1e-5)
    got.backward()  # create_graph: the penalty trains D
    assert d.body[0].weight.grad is not None and d.body[0].weight.grad.abs().sum() > 0


def test_gradient_penalty_d_loss_uses_real_labels_and_augment() -> None:
    seen: list[torch.Tensor | None] = []
    augmented: list[int] = []

    def d(x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        seen.append(labels)
        return quadratic_d(x)

    def aug(x: torch.Tensor) -> torch.Tensor:
        augmented.append(x.shape[0])
        return x

    labels = torch.tensor([0, 1, 2])
    real, fake = torch.randn(3, 2), torch.randn(3, 2)
    ctx = make_ctx(d, real, fake, real_labels=labels, augment=aug)
    out = gankit.create_regularizer("gradient-penalty").d_loss(ctx)
    assert out is not None and out.shape == ()
    assert seen[0] is labels and augmented == [3]
    assert gankit.create_regularizer("gradient-penalty").g_loss(ctx) is None


# -- R1 ---------------------------------------------------------------------------------


def test_r1_closed_form_and_direct() -> None:
    r1 = gankit.create_regularizer("r1", interval=1)
    real = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
    assert r1.penalty(quadratic_d, real).item() == pytest.approx(10 / 2 * (25 + 0.25) / 2)
    torch.manual_seed(1)
    d = TinyD()
    x = torch.randn(8, 4)
    norms = direct_grad_norms(d, x)
    expected = 10 / 2 * sum(n**2 for n in norms) / len(norms)
    out = r1.d_loss(make_ctx(d, x, torch.randn(8, 4)))
    assert out is not None and out.item() == pytest.approx(expected, rel=1e-5)
    out.backward()
    assert d.body[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "name,value",
    [
        ("r1", 10 / 2 * (25 + 0.25) / 2),
        # real == fake, so every interpolate is a real point: norms 5 and 0.5
        ("gradient-penalty", 10 * ((5 - 1) ** 2 + (0.5 - 1) ** 2) / 2),
    ],
)
def test_lazy_interval(name: str, value: float) -> None:
    real = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
    reg = gankit.create_regularizer(name, interval=4)
    ctx = make_ctx(quadratic_d, real, real)
    outs = [reg.d_loss(ctx) for _ in range(9)]
    for i, out in enumerate(outs):
        if i % 4 == 0:
            assert out is not None and out.item() == pytest.approx(4 * value)
        else:
            assert out is None
    # the counter survives a checkpoint
    state = reg.state_dict()
    resumed = gankit.create_regularizer(name, interval=4)
    resumed.load_state_dict(state)
    assert [resumed.d_loss(ctx) is None for _ in range(4)] == [True, True, True, False]


# -- spectral norm ----------------------------------------------------------------------


class ConvD(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.up = nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 1)
        self.embed = nn.Embedding(5, 4 * 8 * 8)
        with torch.no_grad():
            for m in (self.conv, self.up, self.fc, self.embed):
                m.weight.mul_(7.0)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = F.leaky_relu(self.up(F.leaky_relu(self.conv(x), 0.2)), 0.2).flatten(1)
        out = self.fc(h)
        if labels is not None:
            out = out + (self.embed(labels) * h).sum(dim=1, keepdim=True)
        return out


def sigma_max(w: torch.Tensor, transposed: bool = False) -> float:
    if transposed:
        w = w.transpose(0, 1)
    return torch.linalg.matrix_norm(w.reshape(w.shape[0], -1), ord=2).item()


def test_spectral_norm_normalizes_every_layer() -> None:
    torch.manual_seed(0)
    d, g = ConvD(), nn.Linear(2, 2)
    g_weight = g.weight.detach().clone()
    assert sigma_max(d.conv.weight) > 2
    sn = gankit.create_regularizer("spectral-norm")
    sn.setup(g, d)
    assert sorted(sn.wrapped) == ["conv", "embed", "fc", "up"]
    sn.setup(g, d)  # idempotent
    assert sorted(sn.wrapped) == []
    d.train()
    x, labels = torch.randn(2, 3, 4, 4), torch.tensor([0, 1])
    for _ in range(50):
        d(x, labels)
    with torch.no_grad():
        for layer, transposed in ((d.conv, False), (d.up, True), (d.fc, False), (d.embed, False)):
            assert sigma_max(layer.weight, transposed) == pytest.approx(1.0, rel=0.05)
    assert torch.equal(g.weight, g_weight)  # generator untouched
    assert any("parametrizations.weight.original" in k for k in d.state_dict())


def test_spectral_norm_can_skip_embeddings() -> None:
    d = ConvD()
    sn = gankit.create_regularizer("spectral-norm", embeddings=False, n_power_iterations=3)
    sn.setup(nn.Identity(), d)
    assert "embed" not in sn.wrapped and len(sn.wrapped) == 3


# -- label smoothing ------------------------------------------------------------------------


def test_label_smoothing_turns_ns_loss_into_bce() -> None:
    r, f = torch.tensor([2.0, -1.0, 0.3]), torch.tensor([0.5, -3.0, 1.0])
    ls = gankit.create_regularizer("label-smoothing")
    term = ls.d_loss(make_ctx(quadratic_d, torch.zeros(3, 1), torch.zeros(3, 1), real_logits=r))
    plain = gankit.create_loss("non-saturating").d_loss(r, f)
    bce = F.binary_cross_entropy_with_logits(r, torch.full_like(r, 0.9)) + F.softplus(f).mean()
    assert term is not None
    assert (plain + term).item() == pytest.approx(bce.item(), rel=1e-6)

    def sig(x: float) -> float:
        return 1 / (1 + math.exp(-x))

    bce_real = [-0.9 * math.log(sig(x)) - 0.1 * math.log(1 - sig(x)) for x in r.tolist()]
    plain_real = [-math.log(sig(x)) for x in r.tolist()]
    by_hand = (sum(bce_real) - sum(plain_real)) / 3
    assert term.item() == pytest.approx(by_hand, rel=1e-5)
    g_ctx = make_ctx(quadratic_d, torch.zeros(3, 1), torch.zeros(3, 1), real_logits=None)
    assert ls.d_loss(g_ctx) is None


# -- instance noise -----------------------------------------------------------------------------


def test_instance_noise_anneals_to_zero() -> None:
    noise = gankit.create_regularizer("instance-noise")
    assert noise.std(0) == pytest.approx(0.1)
    assert noise.std(5000) == pytest.approx(0.05)
    assert noise.std(10000) == 0.0
    assert noise.std(20000) == 0.0
    x = torch.zeros(200, 3, 16, 16)
    assert noise.augment(x, 0).std().item() == pytest.approx(0.1, rel=0.05)
    assert noise.augment(x, 7500).std().item() == pytest.approx(0.025, rel=0.05)
    assert torch.equal(noise.augment(x, 10000), x)
    const = gankit.create_regularizer("instance-noise", sigma=0.2, anneal_steps=0)
    assert const.std(10**6) == pytest.approx(0.2)
    # differentiable, and any shape works
    p = torch.randn(5, 2, requires_grad=True)
    noise.augment(p, 0).sum().backward()
    assert torch.equal(p.grad, torch.ones(5, 2))


# -- DiffAugment -------------------------------------------------------------------------------


def coords(batch: int, size: int) -> torch.Tensor:
    """Images whose pixel (i, j) holds 1 + i * size + j (so 0 means 'padding')."""
    grid = 1.0 + torch.arange(size * size, dtype=torch.float32).reshape(1, 1, size, size)
    return grid.repeat(batch, 1, 1, 1)


def test_diffaugment_same_transform_on_identical_inputs() -> None:
    da = gankit.create_regularizer("diffaugment")
    x = torch.randn(6, 3, 16, 16)
    a, b = da.apply(x, x.clone())
    assert torch.equal(a, b)
    assert not torch.equal(a, x)


def test_diffaugment_translation_shifts_pair_by_same_offset() -> None:
    torch.manual_seed(0)
    da = gankit.create_regularizer("diffaugment", policy="translation")
    size = 16
    a_in, b_in = coords(8, size), torch.randn(8, 3, size, size)
    a, b = da.apply(a_in, b_in)
    shifts = set()
    for n in range(8):
        src = a[n, 0].long() - 1  # source pixel index, -1 where padded
        inside = src >= 0
        ii, jj = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
        di, dj = (src // size - ii)[inside], (src % size - jj)[inside]
        # one offset per sample, within 0.125 * 16 = 2 pixels
        assert di.unique().numel() == 1 and dj.unique().numel() == 1
        assert abs(di[0].item()) <= 2 and abs(dj[0].item()) <= 2
        shifts.add((di[0].item(), dj[0].item()))
        expected = torch.zeros(3, size, size)
        expected[:, inside] = b_in[n].reshape(3, -1)[:, src[inside]]
        assert torch.equal(b[n], expected)
    assert len(shifts) > 1  # per-sample offsets


def test_diffaugment_cutout_and_color_consistent_on_pair() -> None:
    torch.manual_seed(0)
    cut = gankit.create_regularizer("diffaugment", policy="cutout")
    ones, x = torch.ones(4, 1, 16, 16), torch.randn(4, 3, 16, 16)
    mask, out = cut.apply(ones, x)
    assert torch.equal(out, x * mask)
    assert (mask == 0).any() and (mask == 1).any()
    # the same seeded draw gives the same transform; a pair gets one draw
    color = gankit.create_regularizer("diffaugment", policy="color")
    y1 = color.apply(x, generator=torch.Generator().manual_seed(7))
    y2 = color.apply(x, generator=torch.Generator().manual_seed(7))
    assert torch.equal(y1, y2)
    p1, p2 = color.apply(x, 2 * x, generator=torch.Generator().manual_seed(7))
    assert torch.equal(p1, y1)
    params = color.sample(x, generator=torch.Generator().manual_seed(7))
    assert torch.equal(color.transform(2 * x, params), p2)
    params = color.sample(x, generator=torch.Generator().manual_seed(7))
    assert torch.equal(color.transform(x, params), y1)


def test_diffaugment_is_differentiable_and_random() -> None:
    da = gankit.create_regularizer("diffaugment")
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    out = da.augment(x, 0)
    out.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with torch.no_grad():
        assert not torch.equal(da.augment(x, 0), da.augment(x, 0))
        a1, _ = da.apply(x, x)
        a2, _ = da.apply(x, x)
        assert not torch.equal(a1, a2)


def test_diffaugment_rejects_non_images() -> None:
    da = gankit.create_regularizer("diffaugment")
    with pytest.raises(ValueError, match=r"\[8, 2\]"):
        da.augment(torch.randn(8, 2), 0)
    with pytest.raises(ValueError, match="drawn for"):
        da.apply(torch.randn(2, 3, 8, 8), torch.randn(2, 3, 16, 16))


# -- MinibatchStdDev ---------------------------------------------------------------------------


def test_minibatch_stddev_single_group() -> None:
    # feature 0 over the batch: 0, 2, 0, 2 -> std 1; feature 1: constant -> std 0
    x = torch.tensor([[0.0, 5.0], [2.0, 5.0], [0.0, 5.0], [2.0, 5.0]]).reshape(4, 2, 1, 1)
    x = x.expand(4, 2, 3, 3)
    out = MinibatchStdDev(group_size=4, eps=0.0)(x)
    assert out.shape == (4, 3, 3, 3)
    assert torch.equal(out[:, :2], x)
    assert torch.allclose(out[:, 2], torch.full((4, 3, 3), 0.5))


def test_minibatch_stddev_groups_and_fallback() -> None:
    # groups of 4 in a batch of 8: sample n belongs to member n % 2
    # member 0 (samples 0,2,4,6): 0,2,0,2 -> std 1; member 1 (1,3,5,7): 0,4,0,4 -> std 2
    vals = torch.tensor([0.0, 0.0, 2.0, 4.0, 0.0, 0.0, 2.0, 4.0])
    out = MinibatchStdDev(eps=0.0)(vals.reshape(8, 1, 1, 1).expand(8, 1, 2, 2))
    assert torch.allclose(out[:, 1, 0, 0], torch.tensor([1.0, 2.0] * 4))
    # 6 is not divisible by 4: one group of 6 -> values 0,0,2,4,0,0: std of that set
    six = vals[:6]
    expected = math.sqrt(sum((v - six.mean().item()) ** 2 for v in six.tolist()) / 6 + 1e-8)
    out6 = MinibatchStdDev()(six.reshape(6, 1))
    assert out6.shape == (6, 2)
    assert torch.allclose(out6[:, 1], torch.full((6,), expected))
