"""The trainer: exact resume, crash safety, NaN guard, run directory contents."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import gankit
from gankit.artifacts import load_generator, save_artifact
from gankit.components import Loss
from gankit.errors import ConfigError
from gankit.plugins import PluginManager, set_manager
from gankit.registry import get_architecture, make_config
from gankit.training import checkpoint as ckpt
from gankit.training.config import resolve
from gankit.training.trainer import Trainer, TrainingDiverged

from run_state import assert_networks_close, assert_same_state, latest_state
from tiny_run import TINY, TINY_ARGS


def tiny_spec(steps: int, **extra: object):
    return resolve("dcgan", "digits", overrides={**TINY, **extra}, steps=steps, seed=3)


def test_half_resume_half_equals_straight_run(tmp_path: Path) -> None:
    spec = tiny_spec(8, checkpoint_every=4, sample_every=4)
    Trainer(spec, tmp_path / "straight").fit()

    Trainer(spec, tmp_path / "halves").fit(4)
    resumed = Trainer(spec, tmp_path / "halves")
    resumed.fit(8)
    assert resumed.step == 8
    assert_same_state(latest_state(tmp_path / "straight"), latest_state(tmp_path / "halves"))
    a = load_file(str(tmp_path / "straight" / "artifact" / "model.safetensors"))
    b = load_file(str(tmp_path / "halves" / "artifact" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    # metrics.jsonl holds each logged step once, in order, including the line of
    # the step the run resumed from (written before that checkpoint)
    steps = [
        json.loads(line)["step"]
        for line in (tmp_path / "halves" / "metrics.jsonl").read_text().splitlines()
    ]
    assert steps == sorted(set(steps))
    assert steps == [4, 8]


class _InterruptedAfterStep4(Trainer):
    """A trainer whose process 'dies' right after writing the step-4 checkpoint."""

    def save_checkpoint(self) -> Path:
        path = super().save_checkpoint()
        if self.step == 4:
            raise KeyboardInterrupt
        return path


@pytest.mark.skipif(shutil.which("c++") is None, reason="torch.compile on CPU needs a C++ compiler")
def test_compile_with_r1_trains_like_eager(tmp_path: Path) -> None:
    """R1 differentiates D twice, which compiled modules cannot: it runs on the
    uncompiled D, and the compiled run's weights match the eager run's."""
    runs = {}
    for compiled in (False, True):
        out = tmp_path / f"compile-{compiled}"
        spec = tiny_spec(2, regularizers="r1", **{"regularizers.r1.interval": 1}, compile=compiled)
        Trainer(spec, out).fit()
        runs[compiled] = latest_state(out)
    assert_networks_close(runs[True], runs[False])


def test_linear_lr_decay_reaches_final_and_resumes_exactly(tmp_path: Path) -> None:
    spec = tiny_spec(
        8, checkpoint_every=2, lr_decay="linear", lr_decay_start=0.25, lr_decay_final=0.1
    )
    straight = Trainer(spec, tmp_path / "straight")
    straight.fit()
    # the last step (7) trains at lr * lr_decay_final, both for G and D
    assert straight.opt_g.param_groups[0]["lr"] == pytest.approx(spec.train.lr_g * 0.1)
    assert straight.opt_d.param_groups[0]["lr"] == pytest.approx(spec.train.lr_d * 0.1)

    with pytest.raises(KeyboardInterrupt):
        _InterruptedAfterStep4(spec, tmp_path / "halves").fit()
    resumed = Trainer(spec, tmp_path / "halves")
    resumed.fit()
    assert resumed.step == 8
    assert_same_state(latest_state(tmp_path / "straight"), latest_state(tmp_path / "halves"))


def test_lr_factor_schedule() -> None:
    from gankit.training.schedule import lr_factor

    assert [lr_factor("none", s, 10, 0.5, 0.01) for s in (0, 9)] == [1.0, 1.0]
    # flat through step 5 (= 0.5 * 10), then linear to 0.1 at the last step (9)
    got = [lr_factor("linear", s, 10, 0.5, 0.1) for s in range(10)]
    assert got[:6] == [1.0] * 6
    assert got[9] == pytest.approx(0.1)
    assert got[7] == pytest.approx(1.0 - 0.9 * 2 / 4)
    with pytest.raises(ValueError, match="lr_decay must be one of none, linear, got 'cosine'"):
        lr_factor("cosine", 1, 10, 0.5, 0.1)


def test_time_clock_schedule() -> None:
    from gankit.training.schedule import lr_factor_at, time_progress

    # linear in the fraction of the run: flat to start, final at 1 and beyond
    assert [lr_factor_at("linear", p, 0.5, 0.1) for p in (0.0, 0.5, 1.0, 1.2)] == [
        1.0,
        1.0,
        pytest.approx(0.1),
        pytest.approx(0.1),
    ]
    assert lr_factor_at("linear", 0.75, 0.5, 0.1) == pytest.approx(0.55)
    assert lr_factor_at("none", 0.9, 0.5, 0.1) == 1.0
    with pytest.raises(ValueError, match="lr_decay must be one of none, linear, got 'step'"):
        lr_factor_at("step", 0.9, 0.5, 0.1)
    # a call resumed at 0.6 spreads the remaining 0.4 over its own budget
    assert time_progress(0.0, 15.0, 30.0) == pytest.approx(0.5)
    assert time_progress(0.6, 0.0, 30.0) == pytest.approx(0.6)
    assert time_progress(0.6, 15.0, 30.0) == pytest.approx(0.8)
    assert time_progress(0.6, 99.0, 30.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="positive budget"):
        time_progress(0.0, 1.0, 0.0)


def _lr_scales(run_dir: Path) -> list[float]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["lr_scale"] for line in lines]


class StepClock:
    """Stands in for the trainer's ``time`` module: each training step takes ``step_s``."""

    def __init__(self, step_s: float) -> None:
        self.now = 1000.0
        self.step_s = step_s

    def perf_counter(self) -> float:
        """The fake time, in seconds."""
        return self.now


def test_time_clock_ends_the_decay_at_max_minutes_and_resume_keeps_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gankit.training import trainer as trainer_mod
    from gankit.training.schedule import lr_factor_at

    # the trainer reads wall time only through its `time` module's perf_counter: drive it,
    # 1.875 s a step, so a 30 s budget ends a call after exactly 16 of its 1,000,000 steps
    clock = StepClock(1.875)
    monkeypatch.setattr(trainer_mod, "time", clock)
    train_step = Trainer.train_step

    def timed_step(self: Trainer) -> dict[str, float]:
        logs = train_step(self)  # its learning rate is the one at the step's start
        clock.now += clock.step_s
        return logs

    monkeypatch.setattr(Trainer, "train_step", timed_step)
    spec = tiny_spec(
        1_000_000,
        log_every=1,
        lr_decay="linear",
        lr_decay_start=0.5,
        lr_decay_final=0.1,
        lr_decay_clock="time",
        max_minutes=0.5,
    )
    first = Trainer(spec, tmp_path / "run")
    first.fit()
    scales = _lr_scales(tmp_path / "run")
    assert first.step == 16 and len(scales) == 16  # stopped at the budget
    # step k starts at k/16 of the budget: flat to half of it, then linear to the final
    # rate at the deadline (the last step starts 1/16 before it, so it is nearly there)
    want = [lr_factor_at("linear", k / 16, 0.5, 0.1) for k in range(16)]
    assert scales == pytest.approx(want)
    assert scales[:9] == [1.0] * 9 and 0.1 < scales[-1] < 0.3
    assert first.time_progress == 15 / 16  # checkpointed with the run
    assert first.opt_g.param_groups[0]["lr"] == pytest.approx(spec.train.lr_g * scales[-1])
    assert first.opt_d.param_groups[0]["lr"] == pytest.approx(spec.train.lr_d * scales[-1])

    # a resumed call picks the time progress up from the checkpoint (no new warm phase)
    # and spreads what is left of the decay over its own budget
    resumed = Trainer(spec, tmp_path / "run")
    resumed.fit()
    after = _lr_scales(tmp_path / "run")[len(scales) :]
    assert resumed.step == 32 and len(after) == 16
    left = 15 / 16
    assert after == pytest.approx(
        [lr_factor_at("linear", left + (1 - left) * k / 16, 0.5, 0.1) for k in range(16)]
    )
    assert after[0] == pytest.approx(scales[-1]) and max(after) <= scales[-1]


def test_time_clock_needs_max_minutes() -> None:
    with pytest.raises(ConfigError, match="lr_decay_clock=time .*max_minutes=30"):
        tiny_spec(8, lr_decay="linear", lr_decay_clock="time")
    with pytest.raises(ConfigError, match="lr_decay_clock must be one of steps, time, got 'wall'"):
        tiny_spec(8, lr_decay="linear", lr_decay_clock="wall", max_minutes=1)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "gankit", *args]


@pytest.mark.slow
def test_kill_9_then_resume_equals_uninterrupted(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    common = [
        "--arch",
        "dcgan",
        "--data",
        "digits",
        "--seed",
        "5",
        *TINY_ARGS,
        "checkpoint_every=2",
        "sample_every=100",
    ]
    steps = 400
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        _cli("train", "--steps", str(steps), "--out", str(killed), *common),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        found = list((killed / "checkpoints").glob("ckpt-*.json"))
        if any(int(p.stem.split("-")[1]) >= 6 for p in found):
            break
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = ckpt.load_latest(killed / "checkpoints")
    assert killed_at is not None and killed_at.step < steps

    # continue to a few steps past the kill point, and compare with a straight run
    target = str(killed_at.step + 4)
    subprocess.run(
        _cli("train", "--resume", str(killed), "--steps", target),
        env=env,
        check=True,
        capture_output=True,
    )
    straight = tmp_path / "straight"
    subprocess.run(
        _cli("train", "--steps", target, "--out", str(straight), *common),
        env=env,
        check=True,
        capture_output=True,
    )
    assert_same_state(latest_state(straight), latest_state(killed))


def test_truncated_checkpoint_falls_back_to_previous(tmp_path: Path) -> None:
    spec = tiny_spec(6, checkpoint_every=2, sample_every=100, keep_checkpoints=3)
    run = tmp_path / "run"
    Trainer(spec, run).fit()
    newest = run / "checkpoints" / "ckpt-00000006.safetensors"
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 2])

    latest = ckpt.load_latest(run / "checkpoints")
    assert latest is not None and latest.step == 4

    # resuming from the damaged run re-does steps 5-6 and matches a straight run
    resumed = Trainer(spec, run)
    resumed.fit(6)
    Trainer(spec, tmp_path / "straight").fit()
    assert_same_state(latest_state(tmp_path / "straight"), latest_state(run))


def test_run_directory_contents_and_artifact(tmp_path: Path) -> None:
    run = tmp_path / "run"
    Trainer(tiny_spec(4, sample_every=2, checkpoint_every=2, log_every=1), run).fit()
    assert (run / "run.json").exists()
    assert sorted(p.name for p in (run / "samples").iterdir()) == [
        "final.png",
        "step-00000002.png",
        "step-00000004.png",
    ]
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2, 3, 4]
    assert {"loss_d", "loss_g", "d_real", "d_fake", "images_seen"} <= set(lines[0])

    art = run / "artifact"
    cfg = json.loads((art / "config.json").read_text())
    assert cfg["architecture"] == "dcgan" and cfg["plugin"] == "gankit-dcgan"
    assert cfg["data_shape"] == [1, 16, 16] and cfg["latent_dim"] == 16
    assert cfg["arch_config"]["g_width"] == 8
    card = (art / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: gankit\n")
    assert "pipeline_tag: unconditional-image-generation" in card
    assert (art / "samples.png").exists()

    g = gankit.load_generator(str(art))
    assert g.latent_dim == 16 and g.num_classes == 0 and g.config["dataset"] == "digits"
    x = g.sample(5, seed=1)
    assert x.shape == (5, 1, 16, 16) and x.min() >= -1 and x.max() <= 1
    assert torch.equal(x, g.sample(5, seed=1))
    assert not torch.equal(x, g.sample(5, seed=2))
    with pytest.raises(gankit.errors.ArtifactError, match="unconditional"):
        g.sample(2, labels=[0, 1])


class _Boom:
    """Writes a marker file when unpickled: proves the pickle never ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (Path(self.marker).write_text, ("pwned",))


def test_pickle_weights_are_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    payload = tmp_path / "weights.pt"
    torch.save({"x": _Boom(str(marker))}, payload)

    with pytest.raises(gankit.errors.ArtifactError, match="pickle"):
        load_generator(payload)
    # an artifact directory with only pickle weights
    art = tmp_path / "art"
    art.mkdir()
    (art / "config.json").write_text(
        json.dumps(
            {
                "format": "gankit-generator",
                "architecture": "dcgan",
                "arch_config": {},
                "latent_dim": 100,
                "data_shape": [1, 32, 32],
                "value_range": [-1, 1],
            }
        )
    )
    (art / "pytorch_model.bin").write_bytes(payload.read_bytes())
    with pytest.raises(gankit.errors.ArtifactError, match="arbitrary code"):
        load_generator(art)
    # a pickle disguised as model.safetensors is not parsed as pickle either
    (art / "pytorch_model.bin").unlink()
    (art / "model.safetensors").write_bytes(payload.read_bytes())
    with pytest.raises(gankit.errors.ArtifactError, match="not a valid safetensors"):
        load_generator(art)
    assert not marker.exists()


def test_missing_plugin_says_what_to_install(tmp_path: Path) -> None:
    run = tmp_path / "run"
    Trainer(tiny_spec(1), run).fit()
    # a file in the artifact: its weights stand for it, any other file is refused
    assert load_generator(run / "artifact" / "model.safetensors").latent_dim == 16
    with pytest.raises(gankit.errors.ArtifactError, match="is a file, not a gankit artifact"):
        load_generator(run / "artifact" / "README.md")
    with pytest.raises(gankit.errors.ArtifactError, match="no artifact given"):
        load_generator("")
    # the plugin is installed but disabled: say so, not that it is missing
    set_manager(PluginManager(disabled=["gankit-dcgan"]))
    try:
        with pytest.raises(gankit.errors.ArtifactError, match="that plugin is disabled"):
            load_generator(run / "artifact")
    finally:
        set_manager(None)
    cfg_path = run / "artifact" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["architecture"], cfg["plugin"] = "stylegan9", "gankit-stylegan9"
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(
        gankit.errors.ArtifactError, match="install the plugin that provides 'stylegan9'"
    ):
        load_generator(run / "artifact")


def test_an_artifact_never_replaces_a_directory_of_other_files(tmp_path: Path) -> None:
    run = tmp_path / "run"
    Trainer(tiny_spec(1), run).fit()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("notes")
    loaded = load_generator(run)
    dcgan = get_architecture("dcgan")
    with pytest.raises(gankit.errors.ArtifactError, match="exists and is not a gankit artifact"):
        save_artifact(
            mine,
            architecture=dcgan,
            arch_config=make_config(dcgan, loaded.info.arch_config),
            state_dict=loaded.generator.state_dict(),
        )
    assert (mine / "keep.txt").read_text() == "notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "run"]  # no temp dir left


class _NanLoss:
    def __init__(self, at_step: int) -> None:
        self.calls = 0
        self.at = at_step

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        loss = (
            torch.nn.functional.softplus(-real).mean() + torch.nn.functional.softplus(fake).mean()
        )
        return loss * float("nan") if self.calls > self.at else loss

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.softplus(-fake).mean()


class _NanPlugin:
    @gankit.hookimpl
    def gankit_register_losses(self, register):  # noqa: ANN001
        from dataclasses import dataclass

        @dataclass
        class Cfg:
            at_step: int = 3

        register(
            Loss(
                name="nan-after",
                description="becomes NaN",
                config=Cfg,
                factory=lambda c: _NanLoss(c.at_step),
            )
        )


def test_nan_guard_names_step_and_keeps_last_checkpoint(tmp_path: Path) -> None:
    manager = PluginManager()
    manager.register_plugin(_NanPlugin(), name="nan-plugin")
    set_manager(manager)
    try:
        spec = tiny_spec(10, loss="nan-after", checkpoint_every=2)
        run = tmp_path / "run"
        with pytest.raises(TrainingDiverged, match=r"step 4: loss_d is nan"):
            Trainer(spec, run).fit()
        latest = ckpt.load_latest(run / "checkpoints")
        assert latest is not None and latest.step == 2
        assert all(torch.isfinite(v).all() for k, v in latest.tensors.items() if k.startswith("G."))
    finally:
        set_manager(None)


def test_config_validation_names_valid_keys(tmp_path: Path) -> None:
    with pytest.raises(
        gankit.errors.ConfigError, match=r"unknown key 'lr_gg'.*did you mean 'lr_g'"
    ):
        resolve("dcgan", "digits", overrides={"lr_gg": 1e-4})
    with pytest.raises(gankit.errors.ConfigError, match="valid keys: .*g_width"):
        resolve("dcgan", "digits", overrides={"arch.widthh": 3})
    with pytest.raises(gankit.errors.ConfigError, match="batch_size"):
        resolve("dcgan", "digits", overrides={"batch_size": "many"})
    toml = tmp_path / "c.toml"
    toml.write_text("[train]\nlr_g = 1e-4\nbetas_g = [0.0, 0.9]\n[arch]\nlatent_dim = 32\n")
    spec = resolve(
        "dcgan",
        "digits",
        gankit.config.load_toml(toml),
        gankit.config.parse_overrides(["lr_d=3e-4", "data.size=16"]),
    )
    assert spec.train.lr_g == 1e-4 and spec.train.betas_g == (0.0, 0.9)
    assert spec.train.lr_d == 3e-4 and spec.arch_config["latent_dim"] == 32
    assert spec.data_config == {"size": 16}
    assert spec.train.steps == 1500  # the dataset's default


def test_bad_option_values_are_config_errors_that_name_the_value(tmp_path: Path) -> None:
    ConfigError = gankit.errors.ConfigError
    cases = {
        "lr_g=-1": ({"lr_g": -1}, "invalid value in [train]: lr_g must be positive, got -1.0"),
        "betas": (
            {"betas_d": [0.5, 1.0]},
            "invalid value in [train]: betas_d must be two numbers in [0, 1), got (0.5, 1.0)",
        ),
        "batch 0": (
            {"batch_size": 0},
            "invalid value in [train]: batch_size must be positive, got 0",
        ),
    }
    for name, (overrides, message) in cases.items():
        with pytest.raises(ConfigError) as exc:
            resolve("dcgan", "digits", overrides=overrides)
        assert str(exc.value) == message, name  # no pydantic prefix, no dump of every option
    with pytest.raises(ConfigError, match=r"seed must be from 0 to 2\*\*32 - 1, got -1"):
        resolve("dcgan", "digits", seed=-1)
    # steps=0 is the dataset's default, as `gankit info train` says
    assert resolve("dcgan", "digits", overrides={"steps": 0}).train.steps == 1500
    # an architecture's sizes fail before any layer is built, naming the key
    with pytest.raises(ConfigError, match="latent_dim must be >= 1, got 0"):
        Trainer(tiny_spec(1, **{"arch.latent_dim": 0}), tmp_path / "latent")
    with pytest.raises(ConfigError, match=r"arch\.g_width must be >= 1, got 0"):
        Trainer(tiny_spec(1, **{"arch.g_width": 0}), tmp_path / "width")
    # a batch larger than the data set, and a device this machine lacks
    with pytest.raises(ConfigError, match="batch_size 5000 is larger than the dataset"):
        Trainer(tiny_spec(1, batch_size=5000), tmp_path / "batch")
    with pytest.raises(ConfigError, match="device='gpu' is not a device name; use auto, cpu"):
        Trainer(tiny_spec(1, device="gpu"), tmp_path / "gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no cuda device that torch can use"):
            Trainer(tiny_spec(1, device="cuda"), tmp_path / "cuda")


def test_config_file_keys_outside_a_section_say_where_they_belong(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text("steps = 100\n[arch]\nlatent_dim = 32\n")
    with pytest.raises(gankit.errors.ConfigError) as exc:
        resolve("dcgan", "digits", gankit.config.load_toml(toml))
    assert str(exc.value).startswith(
        "the config file sets steps outside any section; put each key under its section"
    )


def test_cli_train_resume_and_sample(tmp_path: Path) -> None:
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        _cli("train", "--steps", "2", "--out", str(run), *TINY_ARGS),
        env=env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    r = subprocess.run(
        _cli("train", "--resume", str(run), "--steps", "3"), env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert json.loads((run / "artifact" / "config.json").read_text())["training"]["steps"] == 3
    r = subprocess.run(
        _cli("train", "--steps", "2", "--out", str(run)), env=env, capture_output=True, text=True
    )
    assert r.returncode == 2 and "--resume" in r.stderr
    npy = tmp_path / "s.npy"
    r = subprocess.run(
        _cli("sample", str(run), "--n", "3", "--out", str(npy)),
        env=env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    import numpy as np

    arr = np.load(npy)
    assert arr.shape == (3, 1, 16, 16) and arr.dtype == np.float32
    r = subprocess.run(
        _cli("train", "--steps", "1", "--out", str(tmp_path / "x"), "lr_gg=1"),
        env=env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "did you mean 'lr_g'" in r.stderr
    assert "Traceback" not in r.stderr


def test_max_minutes_stops_with_checkpoint_and_artifact_and_resumes(tmp_path: Path) -> None:
    # a budget far below one step's time: training stops after the first whole step
    spec = tiny_spec(50, max_minutes=1e-6, checkpoint_every=100)
    artifact = Trainer(spec, tmp_path / "run").fit()
    assert (artifact / "model.safetensors").is_file()
    latest = ckpt.load_latest(tmp_path / "run" / "checkpoints")
    assert latest is not None and latest.step == 1
    # a later fit gets its own budget and continues from that checkpoint
    resumed = Trainer(spec, tmp_path / "run")
    resumed.fit()
    assert resumed.step == 2
    with pytest.raises(ValueError, match="max_minutes must be >= 0"):
        tiny_spec(5, max_minutes=-1)
