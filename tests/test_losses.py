"""Tests of the built-in adversarial losses (plugin ``gankit-losses``)."""

from __future__ import annotations

import math

import pytest
import torch

import gankit

NAMES = ["non-saturating", "minimax", "hinge", "wasserstein", "least-squares"]

R = [2.0, -1.0]
F = [0.5, -3.0]


def softplus(x: float) -> float:
    return math.log(1.0 + math.exp(x))


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


# expected (D loss, G loss) on r = R, f = F, written from the formulas with math
EXPECTED = {
    "non-saturating": (
        mean([softplus(-r) for r in R]) + mean([softplus(f) for f in F]),
        mean([-math.log(1 / (1 + math.exp(-f))) for f in F]),
    ),
    "minimax": (
        mean([-math.log(1 / (1 + math.exp(-r))) for r in R])
        + mean([-math.log(1 - 1 / (1 + math.exp(-f))) for f in F]),
        mean([math.log(1 - 1 / (1 + math.exp(-f))) for f in F]),
    ),
    "hinge": ((0.0 + 2.0) / 2 + (1.5 + 0.0) / 2, -(0.5 - 3.0) / 2),
    "wasserstein": ((0.5 - 3.0) / 2 - (2.0 - 1.0) / 2, -(0.5 - 3.0) / 2),
    "least-squares": (
        0.5 * ((2.0 - 1) ** 2 + (-1.0 - 1) ** 2) / 2 + 0.5 * (0.5**2 + 3.0**2) / 2,
        0.5 * ((0.5 - 1) ** 2 + (-3.0 - 1) ** 2) / 2,
    ),
}


@pytest.mark.parametrize("name", NAMES)
def test_loss_matches_formula(name: str) -> None:
    loss = gankit.create_loss(name)
    d_expected, g_expected = EXPECTED[name]
    r, f = torch.tensor(R), torch.tensor(F)
    d, g = loss.d_loss(r, f), loss.g_loss(f)
    assert d.shape == () and g.shape == ()
    assert d.item() == pytest.approx(d_expected, rel=1e-6, abs=1e-6)
    assert g.item() == pytest.approx(g_expected, rel=1e-6, abs=1e-6)


def test_wasserstein_drift() -> None:
    loss = gankit.create_loss("wasserstein", drift=0.001)
    d = loss.d_loss(torch.tensor(R), torch.tensor(F)).item()
    assert d == pytest.approx((0.5 - 3.0) / 2 - (2.0 - 1.0) / 2 + 0.001 * (4.0 + 1.0) / 2)


def test_least_squares_other_coding() -> None:
    loss = gankit.create_loss("least-squares", fake_target=-1.0, generator_target=0.0)
    d = loss.d_loss(torch.tensor(R), torch.tensor(F)).item()
    g = loss.g_loss(torch.tensor(F)).item()
    assert d == pytest.approx(0.5 * (1 + 4) / 2 + 0.5 * (1.5**2 + 2.0**2) / 2)
    assert g == pytest.approx(0.5 * (0.25 + 9.0) / 2)


@pytest.mark.parametrize("name", NAMES)
def test_shapes_b_and_b1_agree(name: str) -> None:
    loss = gankit.create_loss(name)
    r, f = torch.randn(7), torch.randn(7)
    assert torch.allclose(loss.d_loss(r, f), loss.d_loss(r[:, None], f[:, None]))
    assert torch.allclose(loss.g_loss(f), loss.g_loss(f[:, None]))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_large_low_precision_logits_are_finite(name: str, dtype: torch.dtype) -> None:
    loss = gankit.create_loss(name)
    r = torch.tensor([80.0, -80.0], dtype=dtype, requires_grad=True)
    f = torch.tensor([-80.0, 80.0], dtype=dtype, requires_grad=True)
    d, g = loss.d_loss(r, f), loss.g_loss(f)
    assert d.dtype == torch.float32 and g.dtype == torch.float32
    assert torch.isfinite(d) and torch.isfinite(g)
    (d + g).backward()
    assert torch.isfinite(r.grad).all() and torch.isfinite(f.grad).all()


def test_non_saturating_extremes_are_exact() -> None:
    loss = gankit.create_loss("non-saturating")
    r = torch.tensor([80.0, -80.0], dtype=torch.bfloat16)
    f = torch.tensor([-80.0, 80.0], dtype=torch.bfloat16)
    # softplus(-80) ~ 0 and softplus(80) ~ 80: (0 + 80)/2 + (0 + 80)/2
    assert loss.d_loss(r, f).item() == pytest.approx(80.0, rel=1e-4)
    assert loss.g_loss(f).item() == pytest.approx(40.0, rel=1e-4)


def test_losses_registered_with_descriptions() -> None:
    comps = {c.name: c for c in gankit.get_manager().components("loss")}
    for name in NAMES:
        assert name in comps
        assert comps[name].plugin == "gankit-losses"
        assert comps[name].description and "\n" not in comps[name].description
