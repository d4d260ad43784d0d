"""``gankit.train`` and ``gankit.resume``: ``gankit train`` from Python.

A researcher in a notebook gets the run directory, checks and lock that the CLI
gives, and errors that name Python's arguments (``out``, ``steps=``) rather than
the CLI's flags.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import gankit
from gankit.errors import ConfigError, GankitError

from tiny_run import TINY

TINY_EACH_4 = {**TINY, "checkpoint_every": 4, "sample_every": 4}


def weights(artifact: Path) -> dict[str, torch.Tensor]:
    return load_file(str(artifact / "model.safetensors"))


def test_train_then_resume_equals_one_run_and_loads(tmp_path: Path) -> None:
    straight = gankit.train(
        "dcgan", "digits", out=tmp_path / "straight", steps=8, seed=3, overrides=TINY_EACH_4
    )
    assert straight == tmp_path / "straight" / "artifact"
    half = gankit.train(
        "dcgan", "digits", out=str(tmp_path / "halves"), steps=4, seed=3, overrides=TINY_EACH_4
    )
    resumed = gankit.resume(tmp_path / "halves", steps=8)
    assert resumed == tmp_path / "halves" / "artifact" == half
    a, b = weights(straight), weights(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    steps = [json.loads(x)["step"] for x in (tmp_path / "halves" / "metrics.jsonl").open()]
    assert steps == [4, 8]
    g = gankit.load_generator(str(resumed))
    assert g.sample(2, seed=0).shape == (2, 1, 16, 16)


def test_config_as_a_file_or_a_dict_and_overrides_win(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text("[train]\nlr_g = 3e-4\nlr_d = 5e-4\n[arch]\nlatent_dim = 12\n")
    for name, config in [
        ("file", toml),
        ("dict", {"train": {"lr_g": 3e-4, "lr_d": 5e-4}, "arch": {"latent_dim": 12}}),
    ]:
        out = tmp_path / name
        gankit.train(
            out=out,
            steps=1,
            config=config,
            overrides={**TINY, "lr_d": "2e-4", "arch.latent_dim": 12},
        )
        run = json.loads((out / "run.json").read_text())
        assert run["arch"] == "dcgan" and run["data"] == "digits"  # the defaults
        assert run["train"]["lr_g"] == 3e-4  # from the config
        assert run["train"]["lr_d"] == 2e-4  # the override wins, given as the CLI's text
        assert run["arch_config"]["latent_dim"] == 12


def test_errors_name_pythons_arguments(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    with pytest.raises(GankitError, match=r"is not a gankit run .* choose an empty or new `out`"):
        gankit.train(out=taken, steps=1, overrides=TINY)
    assert (taken / "notes.txt").read_text() == "mine"

    run = tmp_path / "run"
    gankit.train(out=run, steps=4, overrides=TINY_EACH_4)
    with pytest.raises(GankitError) as err:
        gankit.train(out=run, steps=1, overrides=TINY)
    assert f"continue it with `gankit.resume({str(run)!r})` or choose another `out`" in str(
        err.value
    )
    with pytest.raises(
        GankitError,
        match=r"so steps=4 would not train it further \(`steps` is "
        r"the total",
    ):
        gankit.resume(run, steps=4)
    with pytest.raises(GankitError, match="has trained its 4 steps .* give `steps` more than 4"):
        gankit.resume(run)
    with pytest.raises(
        GankitError,
        match=r"not a gankit run directory \(no run.json\); start "
        r"one with `gankit.train\(ARCH, DATA, out=DIR\)`",
    ):
        gankit.resume(tmp_path / "nothing")
    with pytest.raises(GankitError, match="leave `steps` out for the run's own step count"):
        gankit.resume(run, steps="5")
    with pytest.raises(GankitError, match="run_dir must be a directory path"):
        gankit.resume(None)


def test_override_strings_are_parsed_as_on_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "run"
    tiny = {k: v for k, v in TINY.items() if k != "progress"}
    gankit.train(out=out, steps=1, overrides={**tiny, "betas_g": "0.0,0.99", "progress": "false"})
    run = json.loads((out / "run.json").read_text())
    assert run["train"]["betas_g"] == [0.0, 0.99] and run["train"]["progress"] is False


def test_a_failed_run_leaves_no_directory_it_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gankit.training.trainer import Trainer

    def fail(self: Trainer, steps: int | None = None) -> Path:
        raise RuntimeError("the run failed")

    monkeypatch.setattr(Trainer, "fit", fail)
    (tmp_path / "runs").mkdir()
    with pytest.raises(RuntimeError, match="the run failed"):
        gankit.train(out=tmp_path / "runs" / "new" / "deep", steps=1, overrides=TINY)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]  # it was there before
    assert list((tmp_path / "runs").iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 0}, "`steps` must be a whole number of at least 1, got 0"),
        ({"steps": 2.5}, "`steps` must be a whole number of at least 1, got 2.5"),
        ({"steps": True}, "`steps` must be a whole number of at least 1, got True"),
        ({"seed": -1}, r"`seed` must be from 0 to 2\*\*32 - 1 for training, got -1"),
        ({"seed": "0"}, "`seed` must be a whole number, got '0'"),
        ({"overrides": ["lr_g=1e-4"]}, "overrides must be a dict of option names to values"),
        ({"overrides": {1: 2}}, r"overrides keys must be option names \(strings\), got \[1\]"),
        ({"arch": None}, r"arch must be a component name \(a str; see `gankit list`\), got None"),
        ({"data": ""}, "data must be a component name"),
        ({"out": None}, r"out must be a directory path \(a str or pathlib.Path\), got None"),
        ({"out": 5}, "out must be a directory path"),
        (
            {"config": [1, 2]},
            r"config must be a TOML file's path or a dict of sections, got \[1, 2\]",
        ),
        (
            {"config": {"lr_g": 1e-4}},
            r"config\['lr_g'\]: config takes the sections of a config "
            r"file as keys, each a dict of options",
        ),
        ({"config": {"train": 5}}, r"config\['train'\]: config takes the sections"),
    ],
)
def test_bad_arguments_are_refused_before_a_directory_is_made(
    tmp_path: Path, kwargs: dict, message: str
) -> None:
    with pytest.raises(GankitError, match=message):
        gankit.train(**{"out": tmp_path / "run", **kwargs})
    assert not (tmp_path / "run").exists()


def test_a_bad_option_is_a_config_error_and_leaves_no_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="lr_gg"):
        gankit.train(out=tmp_path / "run", steps=1, overrides={**TINY, "lr_gg": 1e-4})
    with pytest.raises(ConfigError, match="progress"):
        gankit.train(out=tmp_path / "run", steps=1, overrides={**TINY, "progress": 1})
    assert not (tmp_path / "run").exists()


def test_import_gankit_leaves_the_trainer_until_train_is_used() -> None:
    code = (
        "import sys, gankit\n"
        "assert 'gankit.training.runs' not in sys.modules, 'imported early'\n"
        "from gankit.training.runs import train\n"
        "assert gankit.train is train and 'train' in gankit.__all__\n"
        "try:\n"
        "    gankit.trian\n"
        "except AttributeError as exc:\n"
        "    assert \"no attribute 'trian'\" in str(exc)\n"
        "else:\n"
        "    raise SystemExit('no AttributeError')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
