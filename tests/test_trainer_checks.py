"""The trainer's checks of what plugins return, and the errors a plugin author sees.

An in-process plugin (``audit``) provides an architecture whose generator and
discriminator can be told to break the contract in one way each (through their
config), and a loss that can return the wrong thing. Event-hook plugins are
registered per test. Each run is a few steps on small data.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gankit import hookimpl
from gankit.cli import main
from gankit.components import ArchConfig, Architecture, Loss
from gankit.errors import ConfigError, GankitError, PluginContractError
from gankit.plugins import PluginManager, set_manager
from gankit.training import checkpoint as ckpt
from gankit.training.config import RunSpec, resolve
from gankit.training.trainer import Trainer, TrainingDiverged

QUICK = {
    "batch_size": 16,
    "progress": False,
    "grid_size": 16,
    "metrics": [],
    "sample_every": 1000,
    "checkpoint_every": 1000,
    "log_every": 1000,
}
RING = {"data.n": 256}
DIGITS = {"data.size": 8}


@dataclass
class AuditConfig(ArchConfig):
    """Config of the audit architectures: ``g_out``/``d_out`` pick a mistake."""

    latent_dim: int = 4
    data_shape: tuple[int, ...] = (2,)
    #: ok | flat ([2B]) | wide (one feature too many) | extra-dim ([B, 1, *shape]) | short
    g_out: str = "ok"
    #: ok ([B]) | column ([B, 1]) | scalar ([]) | classes ([B, 2]) | extra-dim ([B, 1, 1])
    d_out: str = "ok"


class AuditG(nn.Module):
    """A linear generator for any data shape, conditional when ``num_classes`` > 0."""

    def __init__(self, cfg: AuditConfig) -> None:
        super().__init__()
        self.mode = cfg.g_out
        self.shape = tuple(int(n) for n in cfg.data_shape)
        self.size = math.prod(self.shape)
        self.lin = nn.Linear(cfg.latent_dim, self.size + 1)
        self.embed = nn.Embedding(cfg.num_classes, cfg.latent_dim) if cfg.num_classes else None

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Generate (or return the configured mistake)."""
        if self.embed is not None:
            assert labels is not None
            z = z + self.embed(labels)
        out = self.lin(z)
        b = z.shape[0]
        if self.mode == "flat":
            return out[:, :2].reshape(-1)
        if self.mode == "wide":
            return out
        if self.mode == "extra-dim":
            return out[:, : self.size].reshape(b, 1, *self.shape)
        if self.mode == "short":
            return out[1:, : self.size].reshape(b - 1, *self.shape)
        return out[:, : self.size].reshape(b, *self.shape)


class AuditD(nn.Module):
    """A linear discriminator for any data shape."""

    def __init__(self, cfg: AuditConfig) -> None:
        super().__init__()
        self.mode = cfg.d_out
        self.lin = nn.Linear(math.prod(cfg.data_shape), 2)
        self.embed = nn.Embedding(cfg.num_classes, 2) if cfg.num_classes else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Score (or return the configured mistake)."""
        h = self.lin(x.flatten(1))
        if self.embed is not None:
            assert labels is not None
            h = h + self.embed(labels)
        if self.mode == "column":
            return h[:, :1]
        if self.mode == "scalar":
            return h[:, 0].mean()
        if self.mode == "classes":
            return h
        if self.mode == "extra-dim":
            return h[:, :1, None]
        return h[:, 0]


@dataclass
class AuditLossConfig:
    """Config of ``audit-loss``: ``mode`` picks a mistake in the ``where`` method."""

    #: ok | float | vector | detached | nan
    mode: str = "ok"
    #: d (d_loss) or g (g_loss)
    where: str = "d"
    #: with mode nan: the first D step whose loss is NaN
    nan_at: int = 0


class AuditLoss:
    """The non-saturating loss, optionally returning the configured mistake."""

    def __init__(self, cfg: AuditLossConfig) -> None:
        self.cfg = cfg
        self.d_calls = 0

    def _out(self, loss: torch.Tensor, per_sample: torch.Tensor, where: str) -> Any:
        if where != self.cfg.where:
            return loss
        if self.cfg.mode == "float":
            return loss.item()
        if self.cfg.mode == "vector":
            return per_sample
        if self.cfg.mode == "detached":
            return loss.detach()
        return loss

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> Any:
        """Softplus loss of D."""
        self.d_calls += 1
        per_sample = F.softplus(-real_logits) + F.softplus(fake_logits)
        loss = per_sample.mean()
        if self.cfg.mode == "nan" and self.d_calls > self.cfg.nan_at:
            return loss * float("nan")
        return self._out(loss, per_sample, "d")

    def g_loss(self, fake_logits: torch.Tensor) -> Any:
        """Non-saturating loss of G."""
        per_sample = F.softplus(-fake_logits)
        return self._out(per_sample.mean(), per_sample, "g")


class AuditPlugin:
    """Registers ``audit-mlp``, its conditional twin ``audit-cond`` and ``audit-loss``."""

    @hookimpl
    def gankit_register_architectures(self, register: Any) -> None:
        """Register the audit architectures."""
        for name, labels in (("audit-mlp", False), ("audit-cond", True)):
            register(
                Architecture(
                    name=name,
                    description="linear G and D that break the contract on request",
                    config=AuditConfig,
                    generator=AuditG,
                    discriminator=AuditD,
                    needs_labels=labels,
                )
            )

    @hookimpl
    def gankit_register_losses(self, register: Any) -> None:
        """Register the audit loss."""
        register(
            Loss(
                name="audit-loss",
                description="non-saturating, or a mistake on request",
                config=AuditLossConfig,
                factory=AuditLoss,
            )
        )


class LogsPlugin:
    """Adds ``value`` to ``logs`` under ``key`` at every step."""

    def __init__(self, key: str, value: Any) -> None:
        self.key, self.value = key, value

    @hookimpl
    def gankit_on_step_end(self, trainer: Any, step: int, logs: dict[str, Any]) -> None:
        """Add the value."""
        logs[self.key] = self.value


class StatePlugin:
    """Stores ``value`` in ``trainer.state[key]`` from step ``at`` on."""

    def __init__(self, key: str, value: Any, at: int = 0) -> None:
        self.key, self.value, self.at = key, value, at

    @hookimpl
    def gankit_on_step_start(self, trainer: Any, step: int) -> None:
        """Store the value."""
        trainer.state[self.key] = self.value if step >= self.at else 0.0


class RaisingPlugin:
    """Raises ``exc`` in ``gankit_on_step_start`` at step ``at``."""

    def __init__(self, at: int, exc: Exception) -> None:
        self.at, self.exc = at, exc

    @hookimpl
    def gankit_on_step_start(self, trainer: Any, step: int) -> None:
        """Raise at the chosen step."""
        if step == self.at:
            raise self.exc


class HalfResolutionReals:
    """Serves reals at half the resolution (as a growing model would), whatever G does."""

    @hookimpl
    def gankit_on_step_start(self, trainer: Any, step: int) -> None:
        """Downsample the reals by 2."""
        trainer.real_transform = lambda x: F.avg_pool2d(x, 2)


@pytest.fixture
def plugins() -> Iterator[PluginManager]:
    """A manager with the built-in plugins and ``audit``; more plugins can be registered."""
    manager = PluginManager()
    manager.register_plugin(AuditPlugin(), name="audit")
    set_manager(manager)
    try:
        yield manager
    finally:
        set_manager(None)


def spec(arch: str = "audit-mlp", data: str = "ring8", steps: int = 3, **extra: Any) -> RunSpec:
    """A quick run of ``arch`` on ``data`` with the audit loss (overrides in ``extra``)."""
    overrides = {**QUICK, **(RING if data == "ring8" else DIGITS), "loss": "audit-loss", **extra}
    return resolve(arch, data, overrides=overrides, steps=steps, seed=0)


def records(run: Path) -> list[dict[str, Any]]:
    """The lines of ``RUN/metrics.jsonl``."""
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


# -- a correct plugin still trains -------------------------------------------------


@pytest.mark.parametrize(
    ("arch", "d_out"), [("audit-mlp", "ok"), ("audit-mlp", "column"), ("audit-cond", "ok")]
)
def test_correct_plugin_trains(
    plugins: PluginManager, tmp_path: Path, arch: str, d_out: str
) -> None:
    """[B] and [B, 1] logits, unconditional and conditional: all steps run, losses finite."""
    run = tmp_path / "run"
    trainer = Trainer(spec(arch, steps=3, d_out=d_out), run)
    trainer.fit()
    assert trainer.step == 3
    (last,) = records(run)
    assert last["step"] == 3
    assert all(math.isfinite(last[k]) for k in ("loss_d", "loss_g", "d_real", "d_fake"))
    assert (run / "artifact").is_dir()


def test_progan_fakes_match_reals_in_every_phase(tmp_path: Path) -> None:
    """ProGAN's G is below data_shape in early phases; the check compares with the reals."""
    overrides = {
        "data.size": 8,
        "latent_dim": 8,
        "max_width": 8,
        "fmap_base": 16,
        "images_per_phase": 16,  # one step per phase: 4x4, 8x8 fade-in, 8x8 stabilize
        "batch_size": 16,
        "progress": False,
        "grid_size": 4,
        "metrics": [],
        "log_every": 1,
    }
    run = tmp_path / "run"
    Trainer(resolve("progan", "digits", overrides=overrides, steps=3, seed=0), run).fit()
    assert [r["resolution"] for r in records(run)] == [4.0, 8.0, 8.0]


# -- generator output ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("g_out", "shape"),
    [("flat", "[32]"), ("wide", "[16, 3]"), ("extra-dim", "[16, 1, 2]"), ("short", "[15, 2]")],
)
def test_generator_shape_must_match_the_real_batch(
    plugins: PluginManager, tmp_path: Path, g_out: str, shape: str
) -> None:
    trainer = Trainer(spec(g_out=g_out), tmp_path / "run")
    with pytest.raises(PluginContractError) as info:
        trainer.train_step()
    assert str(info.value).startswith(
        f"generator of architecture 'audit-mlp' (plugin 'audit') returned shape {shape}; "
        f"expected [16, 2] = [batch, *data_shape]"
    )
    assert trainer.images_seen == 0  # caught in the first D step, before D ran


def test_conditional_generator_shape_is_checked(plugins: PluginManager, tmp_path: Path) -> None:
    trainer = Trainer(spec("audit-cond", "digits", g_out="extra-dim"), tmp_path / "run")
    with pytest.raises(
        PluginContractError,
        match=r"architecture 'audit-cond' \(plugin 'audit'\) returned shape \[16, 1, 1, 8, 8\]; "
        r"expected \[16, 1, 8, 8\] = \[batch, \*data_shape\]",
    ):
        trainer.train_step()


def test_generator_must_follow_real_transform(plugins: PluginManager, tmp_path: Path) -> None:
    """Where a plugin serves reals at another resolution, fakes must match those reals."""
    plugins.register_plugin(HalfResolutionReals(), name="half-res")
    trainer = Trainer(spec(data="digits"), tmp_path / "run")
    with pytest.raises(
        PluginContractError,
        match=r"returned shape \[16, 1, 8, 8\]; expected \[16, 1, 4, 4\] = the shape of the "
        r"real batch D gets at this step .*real_transform makes of data_shape \[1, 8, 8\]",
    ):
        trainer.train_step()


# -- discriminator output ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("d_out", "shape"),
    [
        ("scalar", r"\[\] \(a 0-d scalar\)"),
        ("classes", r"\[16, 2\]"),
        ("extra-dim", r"\[16, 1, 1\]"),
    ],
)
def test_discriminator_must_return_one_logit_per_sample(
    plugins: PluginManager, tmp_path: Path, d_out: str, shape: str
) -> None:
    trainer = Trainer(spec(d_out=d_out), tmp_path / "run")
    with pytest.raises(
        PluginContractError,
        match=rf"discriminator of architecture 'audit-mlp' \(plugin 'audit'\) returned shape "
        rf"{shape} for a batch of 16; expected logits of shape \[16\] or \[16, 1\]",
    ):
        trainer.train_step()


# -- losses ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "where", "got"),
    [
        ("float", "d", r"d_loss\(real_logits, fake_logits\) returned a float \("),
        ("vector", "d", r"d_loss\(real_logits, fake_logits\) returned shape \[16\]"),
        ("detached", "d", r"d_loss\(real_logits, fake_logits\) returned a tensor that does not"),
        ("float", "g", r"g_loss\(fake_logits\) returned a float"),
        ("vector", "g", r"g_loss\(fake_logits\) returned shape \[16\]"),
    ],
)
def test_loss_must_be_a_scalar_tensor_with_grad(
    plugins: PluginManager, tmp_path: Path, mode: str, where: str, got: str
) -> None:
    trainer = Trainer(
        spec(**{"loss.mode": mode, "loss.where": where}),
        tmp_path / "run",
    )
    with pytest.raises(
        PluginContractError,
        match=rf"^loss 'audit-loss' \(plugin 'audit'\): {got}.*expected a 0-d tensor",
    ):
        trainer.train_step()


# -- logs and trainer.state --------------------------------------------------------------


def test_zero_d_tensor_in_logs_is_written_as_a_number(
    plugins: PluginManager, tmp_path: Path
) -> None:
    plugins.register_plugin(LogsPlugin("gap", torch.tensor(0.25)), name="gap")
    run = tmp_path / "run"
    Trainer(spec(steps=2), run).fit()
    assert records(run)[-1]["gap"] == 0.25


@pytest.mark.parametrize(
    ("value", "got"),
    [
        (torch.ones(2), r"logs\['bad'\] = a Tensor of shape \[2\]"),
        ("high", r"logs\['bad'\] = a str"),
    ],
)
def test_bad_log_value_names_key_and_hook_at_the_first_step(
    plugins: PluginManager, tmp_path: Path, value: Any, got: str
) -> None:
    plugins.register_plugin(LogsPlugin("bad", value), name="bad-logs")
    trainer = Trainer(spec(steps=5), tmp_path / "run")  # log_every=1000: nothing written yet
    with pytest.raises(
        PluginContractError, match=rf"^hook gankit_on_step_end put {got}.* at step 0; "
    ):
        trainer.fit()
    assert trainer.step == 0


def test_tensor_in_state_names_the_key_at_the_first_step(
    plugins: PluginManager, tmp_path: Path
) -> None:
    plugins.register_plugin(StatePlugin("alpha", torch.tensor(0.5)), name="bad-state")
    with pytest.raises(
        PluginContractError,
        match=r"^trainer.state\['alpha'\] is a Tensor of shape \[\] \(found after step 0\); "
        r"trainer.state is saved as JSON",
    ):
        Trainer(spec(steps=5), tmp_path / "run").fit()


def test_state_set_later_is_checked_before_the_checkpoint(
    plugins: PluginManager, tmp_path: Path
) -> None:
    plugins.register_plugin(StatePlugin("table", {"a": {1, 2}}, at=2), name="bad-state")
    run = tmp_path / "run"
    with pytest.raises(
        PluginContractError,
        match=r"^trainer.state\['table'\]\['a'\] is a set .*"
        r"\(found when saving the checkpoint of step 4\)",
    ):
        Trainer(spec(steps=6, checkpoint_every=4), run).fit()
    assert ckpt.newest_step(run / "checkpoints") is None  # nothing half-written


# -- event hooks that raise --------------------------------------------------------------


def test_hook_exception_keeps_its_type_and_names_hook_plugin_and_step(
    plugins: PluginManager, tmp_path: Path
) -> None:
    plugins.register_plugin(
        RaisingPlugin(2, ValueError("schedule table has no entry")), name="schedule"
    )
    with pytest.raises(ValueError, match="schedule table has no entry") as info:
        Trainer(spec(steps=5), tmp_path / "run").fit()
    assert info.value.__notes__ == [
        "raised in hook gankit_on_step_start of plugin 'schedule' at step 2"
    ]


def test_cli_prints_the_hook_note_under_the_error(
    plugins: PluginManager, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exc = ConfigError("arch.schedule has no entry for step 1")
    plugins.register_plugin(RaisingPlugin(1, exc), name="schedule")
    options = ["loss=audit-loss", "data.n=256", "batch_size=16", "progress=false", "metrics=[]"]
    args = ["train", "--arch", "audit-mlp", "--data", "ring8", "--steps", "3"]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--out", str(tmp_path / "run"), *options, "grid_size=16"])
    assert exit_info.value.code == 2
    assert (
        "error: arch.schedule has no entry for step 1\n"
        "  (raised in hook gankit_on_step_start of plugin 'schedule' at step 1)\n"
    ) in capsys.readouterr().err


# -- NaN guard -------------------------------------------------------------------------------


def test_nan_before_any_checkpoint_says_none_was_written(
    plugins: PluginManager, tmp_path: Path
) -> None:
    with pytest.raises(TrainingDiverged) as info:
        Trainer(spec(**{"loss.mode": "nan"}), tmp_path / "run").fit()
    message = str(info.value)
    # counted from 1, as metrics.jsonl and the checkpoints count
    assert message.startswith("step 1: loss_d is nan; training stopped. No checkpoint was written")
    assert "is kept" not in message


def test_nan_after_a_checkpoint_names_its_step(plugins: PluginManager, tmp_path: Path) -> None:
    run = tmp_path / "run"
    overrides = {"loss.mode": "nan", "loss.nan_at": 3, "checkpoint_every": 2}
    with pytest.raises(
        TrainingDiverged,
        match=r"^step 4: loss_d is nan; training stopped. The newest checkpoint \(step 2\) in "
        rf"{re.escape(str(run / 'checkpoints'))} is kept",
    ):
        Trainer(spec(steps=6, **overrides), run).fit()


def test_trainer_refuses_a_manager_that_is_not_the_process_wide_one(
    plugins: PluginManager, tmp_path: Path
) -> None:
    other = PluginManager()
    with pytest.raises(GankitError, match=r"call gankit.plugins.set_manager\(manager\) first"):
        Trainer(spec(), tmp_path / "run", manager=other)
    assert not (tmp_path / "run").exists()
    # the process-wide manager itself is accepted
    trainer = Trainer(spec(steps=1), tmp_path / "run", manager=plugins)
    assert trainer.manager is plugins
