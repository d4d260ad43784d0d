"""What run.json records about the plugins that trained a run, and what a restart keeps.

run.json keeps the component names as the user gave them and adds, under
``resolved``, the ``NAME@PLUGIN`` each one found and, under ``plugin_versions``,
the distribution and version of each of those plugins. ``gankit train --resume``
rebuilds the run from the recorded names, so a plugin installed later that
provides the same name does not break it; a missing plugin is a clear error and
a changed version a warning. Runs are tiny DCGANs on 16x16 digits, trained
through the in-process CLI.

The last section checks the built-in gankit-tensorboard plugin across a start
over and a resume of a run.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gankit import hookimpl
from gankit.components import ArchConfig, Architecture, Dataset, Loss, Regularizer
from gankit.errors import AmbiguousComponentError, ConfigError
from gankit.plugins import PluginManager, get_manager, set_manager
from gankit.registry import create_loss, get_component
from gankit.training.config import resolve, spec_from_json

from cli_in_process import cli
from run_state import assert_same_state, latest_state
from tiny_run import TINY_ARGS as TINY

GANKIT_VERSION = importlib.metadata.version("gankit")
#: the test plugin that provides loss ``test-hinge``, and the distribution it claims
LOSS_PLUGIN, LOSS_DIST = "test-losses", "gankit-test-losses"


@pytest.fixture(autouse=True)
def fresh_manager(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Each test gets its own plugin manager (built-ins only) and leaves none behind."""
    for var in ("GANKIT_STRICT_PLUGINS", "GANKIT_DISABLE_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    set_manager(PluginManager())
    yield
    set_manager(None)


def error_line(err: str) -> str:
    """The ``error: ...`` line (and assert there is one, without a traceback)."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert lines, err
    return lines[0]


def train(capsys: pytest.CaptureFixture[str], out: Path, steps: int, *extra: str) -> None:
    """Train a new tiny run into ``out`` through the CLI (failing the test if it fails)."""
    code, _, err = cli(capsys, "train", "--steps", str(steps), "--out", str(out), *TINY, *extra)
    assert code == 0, err


def run_json(run: Path) -> dict[str, Any]:
    return json.loads((run / "run.json").read_text())


# -- test plugins ---------------------------------------------------------------------


def _hinge(config: Any) -> Any:
    return create_loss("hinge@gankit-losses")


class MoreR1:
    """A plugin with another regularizer named ``r1`` (the built-in one again)."""

    @hookimpl
    def gankit_register_regularizers(self, register: Any) -> None:
        builtin = get_component("regularizer", "r1@gankit-regularizers")
        register(
            Regularizer(
                name="r1", description="r1 again", config=builtin.config, factory=builtin.factory
            )
        )


class HingeAgain:
    """A plugin with its own loss, ``test-hinge`` (the built-in hinge under another name)."""

    @hookimpl
    def gankit_register_losses(self, register: Any) -> None:
        register(Loss(name="test-hinge", description="hinge from a test plugin", factory=_hinge))


def add_loss_plugin(version: str) -> None:
    get_manager().register_plugin(HingeAgain(), name=LOSS_PLUGIN, version=version, source=LOSS_DIST)


@dataclass
class ClashConfig(ArchConfig):
    """The config of the clashing test architecture."""


def never_built(config: ClashConfig) -> Any:
    raise AssertionError("the clashing plugin's dcgan was built")


class Clash:
    """A plugin installed after a run started that provides another ``dcgan`` and
    another ``non-saturating``: both bare names become ambiguous."""

    @hookimpl
    def gankit_register_architectures(self, register: Any) -> None:
        register(
            Architecture(
                name="dcgan",
                description="someone else's dcgan",
                config=ClashConfig,
                generator=never_built,
                discriminator=never_built,
            )
        )

    @hookimpl
    def gankit_register_losses(self, register: Any) -> None:
        register(Loss(name="non-saturating", description="another one", factory=never_built))


# -- what run.json records ---------------------------------------------------------------


def test_run_json_records_each_component_as_name_at_plugin_and_each_plugin_version(
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = Path("run")
    train(capsys, run, 1, "regularizers=r1@gankit-regularizers")
    raw = run_json(run)
    # the names as given stay where they were
    assert (raw["arch"], raw["data"], raw["train"]["loss"]) == ("dcgan", "digits", "non-saturating")
    assert raw["train"]["regularizers"] == ["r1@gankit-regularizers"]
    assert raw["resolved"] == {
        "architecture": {"dcgan": "dcgan@gankit-dcgan"},
        "dataset": {"digits": "digits@gankit-datasets"},
        "loss": {"non-saturating": "non-saturating@gankit-losses"},
        "regularizer": {"r1@gankit-regularizers": "r1@gankit-regularizers"},
        "metric": {},
    }
    builtin = {"distribution": "gankit", "version": GANKIT_VERSION}
    # the plugins of the run's components, and those with event hooks (they act on every run)
    assert raw["plugin_versions"] == {
        name: builtin
        for name in (
            "gankit-datasets",
            "gankit-dcgan",
            "gankit-losses",
            "gankit-progan",
            "gankit-regularizers",
            "gankit-tensorboard",
        )
    }
    # each checkpoint holds the record as it was when the checkpoint was written
    meta = json.loads((run / "checkpoints" / "ckpt-00000001.json").read_text())
    assert meta["run"]["plugin_versions"] == raw["plugin_versions"]


def test_metrics_are_recorded_under_the_names_they_are_logged_by() -> None:
    add_loss_plugin("1.0")
    spec = resolve("dcgan", "digits", overrides={"metrics": ["fd"], "loss": "test-hinge"})
    assert spec.resolved["metric"] == {"fd": "fd@gankit-metrics"}
    assert spec.resolved["loss"] == {"test-hinge": f"test-hinge@{LOSS_PLUGIN}"}
    assert spec.plugin_versions[LOSS_PLUGIN] == {"distribution": LOSS_DIST, "version": "1.0"}
    assert spec_from_json(json.loads(json.dumps(spec.to_json()))) == spec


@pytest.mark.parametrize(
    ("section", "value", "expected"),
    [
        ("resolved", {"arch": {"dcgan": "dcgan@gankit-dcgan"}}, "unknown kind 'arch'"),
        ("resolved", {"architecture": {"dcgan": "dcgan"}}, "must map names to NAME@PLUGIN"),
        ("plugin_versions", {"gankit-dcgan": "0.1.0"}, "must map plugin names to"),
    ],
)
def test_a_damaged_record_names_the_section_and_the_fix(
    section: str, value: Any, expected: str
) -> None:
    raw = resolve("dcgan", "digits").to_json()
    raw[section] = value
    with pytest.raises(ConfigError) as exc:
        spec_from_json(raw)
    message = str(exc.value)
    assert f"run.json {section!r}" in message and expected in message
    assert message.endswith("delete the section from run.json to look the names up as given")


# -- resuming --------------------------------------------------------------------------


def test_resume_after_a_name_clash_uses_the_plugins_that_trained_the_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    train(capsys, Path("straight"), 3)
    train(capsys, Path("run"), 2)
    info = get_manager().register_plugin(Clash(), name="clash")
    assert info.status == "loaded" and len(info.conflicts) == 2
    with pytest.raises(AmbiguousComponentError):  # a new run would have to qualify them
        resolve("dcgan", "digits")

    code, out, err = cli(capsys, "train", "--resume", "run", "--steps", "3")
    assert code == 0, err
    assert "trained 3 steps" in out
    # the same weights as a run that never stopped: the same plugins trained it
    assert_same_state(latest_state(Path("straight")), latest_state(Path("run")))
    artifact = json.loads(Path("run/artifact/config.json").read_text())
    assert (artifact["architecture"], artifact["plugin"]) == ("dcgan", "gankit-dcgan")
    assert run_json(Path("run"))["resolved"]["loss"] == {
        "non-saturating": "non-saturating@gankit-losses"
    }


class DigitsAgain:
    """A plugin installed after training that provides another ``digits`` data set."""

    @hookimpl
    def gankit_register_datasets(self, register: Any) -> None:
        register(Dataset(name="digits", description="other digits", factory=never_built))


def test_eval_uses_the_dataset_plugin_the_artifact_was_trained_with(
    capsys: pytest.CaptureFixture[str],
) -> None:
    train(capsys, Path("run"), 1)
    artifact = json.loads(Path("run/artifact/config.json").read_text())
    assert (artifact["dataset"], artifact["dataset_plugin"]) == ("digits", "gankit-datasets")
    get_manager().register_plugin(DigitsAgain(), name="more-digits")
    with pytest.raises(AmbiguousComponentError):  # a new run would have to qualify it
        resolve("dcgan", "digits")

    code, out, err = cli(capsys, "eval", "run", "--metrics", "fd", "--n", "50", "--json", "e.json")
    assert code == 0, err
    report = json.loads(Path("e.json").read_text())
    assert report["data"] == "digits"
    assert report["metrics"]["fd"]["reference"] == {
        "dataset": "digits",
        "split": "test",
        "size": 355,
    }
    # --data names a data set as a new run would, so the bare name is ambiguous there
    code, _, err = cli(capsys, "eval", "run", "--metrics", "fd", "--n", "50", "--data", "digits")
    assert code == 2 and "digits@gankit-datasets" in err


def test_eval_says_when_the_dataset_plugin_of_the_artifact_is_gone(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    train(capsys, Path("run"), 1)
    config_file = Path("run/artifact/config.json")
    config = json.loads(config_file.read_text())
    config["dataset_plugin"] = "gone-datasets"  # trained with a plugin since uninstalled
    config_file.write_text(json.dumps(config))
    code, _, err = cli(capsys, "eval", "run", "--metrics", "fd", "--n", "50", "--json", "e.json")
    assert code == 0, err
    assert json.loads(Path("e.json").read_text())["data"] == "digits"
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(
        "dataset 'digits' of plugin 'gone-datasets', which no longer provides it" in w
        and "give --data" in w
        for w in warnings
    ), warnings


@pytest.mark.parametrize("how", ["uninstalled", "disabled"])
def test_resume_without_a_recorded_plugin_names_component_plugin_and_fix(
    how: str, capsys: pytest.CaptureFixture[str]
) -> None:
    add_loss_plugin("1.2.0")
    train(capsys, Path("run"), 1, "loss=test-hinge")
    before = run_json(Path("run"))
    if how == "uninstalled":
        get_manager().unregister_plugin(LOSS_PLUGIN)
        code, _, err = cli(capsys, "train", "--resume", "run", "--steps", "2")
        fix = f"which is not installed: pip install '{LOSS_DIST}==1.2.0' to resume the run"
    else:  # a fresh manager of the installed plugins, one of them disabled
        code, _, err = cli(
            capsys, "--disable-plugin", "gankit-dcgan", "train", "--resume", "run", "--steps", "2"
        )
        fix = "but that plugin is disabled: drop it from --disable-plugin / GANKIT_DISABLE_PLUGINS"
    line = error_line(err)
    assert code == 2
    trained = {
        "uninstalled": f"loss 'test-hinge' from plugin {LOSS_PLUGIN!r} (version 1.2.0)",
        "disabled": f"architecture 'dcgan' from plugin 'gankit-dcgan' (version {GANKIT_VERSION})",
    }[how]
    assert f"error: the run was trained with {trained}, {fix}" in line
    assert run_json(Path("run")) == before
    assert not Path("run/checkpoints/ckpt-00000002.json").exists()


def test_resume_with_a_new_plugin_version_warns_and_records_it(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    add_loss_plugin("1.2.0")
    train(capsys, Path("run"), 1, "loss=test-hinge")
    get_manager().unregister_plugin(LOSS_PLUGIN)
    add_loss_plugin("1.3.0")  # upgraded between the two sessions

    with caplog.at_level(logging.WARNING):
        code, _, err = cli(capsys, "train", "--resume", "run", "--steps", "2")
    assert code == 0, err
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert [w for w in warnings if "changed version" in w] == [
        f"plugin {LOSS_PLUGIN!r} changed version since the run last trained: 1.2.0 in "
        "run.json, 1.3.0 now; the run goes on with 1.3.0, so it may not continue exactly "
        "as it would have (install 1.2.0 again for that)"
    ]
    assert run_json(Path("run"))["plugin_versions"][LOSS_PLUGIN]["version"] == "1.3.0"
    assert Path("run/checkpoints/ckpt-00000002.json").exists()


def test_an_older_run_json_resumes_by_the_names_as_given(
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = Path("run")
    train(capsys, run, 1)
    old = run_json(run)
    del old["resolved"], old["plugin_versions"]  # as gankit wrote it before the record
    (run / "run.json").write_text(json.dumps(old))

    # a name that has become ambiguous cannot be guessed: say so, and what to write
    get_manager().register_plugin(Clash(), name="clash")
    code, _, err = cli(capsys, "train", "--resume", str(run), "--steps", "2")
    line = error_line(err)
    assert code == 2
    # every such name at once (Clash provides an architecture and a loss), and the fix
    assert (
        "the run names architecture 'dcgan', loss 'non-saturating' with no plugin recorded" in line
    )
    assert "dcgan@gankit-dcgan, dcgan@clash" in line
    assert "non-saturating@gankit-losses, non-saturating@clash" in line
    assert line.endswith(
        'add "resolved": {"architecture": {"dcgan": "dcgan@PLUGIN"}, '
        '"loss": {"non-saturating": "non-saturating@PLUGIN"}}'
    ), line

    # following that advice, the run resumes with the clash still installed
    old["resolved"] = {
        "architecture": {"dcgan": "dcgan@gankit-dcgan"},
        "loss": {"non-saturating": "non-saturating@gankit-losses"},
    }
    (run / "run.json").write_text(json.dumps(old))
    code, _, err = cli(capsys, "train", "--resume", str(run), "--steps", "2")
    get_manager().unregister_plugin("clash")
    assert code == 0, err
    assert Path("run/checkpoints/ckpt-00000002.json").exists()
    # the resumed session wrote the record the run lacked
    assert run_json(run)["resolved"]["architecture"] == {"dcgan": "dcgan@gankit-dcgan"}
    assert run_json(run)["plugin_versions"]["gankit-dcgan"]["version"] == GANKIT_VERSION


# -- TensorBoard event files on a start over and a resume --------------------------------


def event_files(run: Path) -> list[str]:
    return sorted(p.name for p in (run / "tensorboard").glob("events.out.tfevents.*"))


def test_a_run_started_over_drops_the_tensorboard_events_of_its_first_start(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("tensorboard", reason="tensorboard is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = Path("run")
    # learning rates this large make the first loss NaN: the run stops before a checkpoint
    code, _, err = cli(
        capsys, "train", "--steps", "3", "--out", str(run), *TINY,
        "tensorboard=true", "lr_g=1e38", "lr_d=1e38",
    )  # fmt: skip
    assert code == 2 and "loss_g is nan" in error_line(err)
    stale = event_files(run)
    assert len(stale) == 1
    (run / "tensorboard" / "notes.txt").write_text("mine")  # not an event file: kept

    train(capsys, run, 3, "tensorboard=true", "log_every=1")  # starts the run over
    fresh = event_files(run)
    assert len(fresh) == 1 and fresh != stale
    assert (run / "tensorboard" / "notes.txt").read_text() == "mine"
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss_d")] == [1, 2, 3]


def test_a_resumed_run_keeps_its_tensorboard_events(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tensorboard", reason="tensorboard is not installed")
    run = Path("run")
    train(capsys, run, 2, "tensorboard=true", "log_every=1")
    first = event_files(run)
    assert len(first) == 1

    code, _, err = cli(capsys, "train", "--resume", str(run), "--steps", "3")
    assert code == 0, err
    files = event_files(run)
    assert len(files) == 2 and set(first) < set(files)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (['regularizers=["r1","r1"]'], "lists 'r1' more than once; list each once"),
        (
            ['regularizers=["r1","r1@gankit-regularizers"]'],
            "lists r1@gankit-regularizers twice, as 'r1' and 'r1@gankit-regularizers'",
        ),
        (
            ['regularizers=["r1@gankit-regularizers","r1@more-r1"]', "regularizers.r1.gamma=5"],
            "lists it from several plugins: give them as "
            "regularizers.r1@gankit-regularizers.KEY=VALUE",
        ),
    ],
)
def test_a_regularizer_is_listed_once_and_its_options_name_which(
    overrides: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if any("more-r1" in o for o in overrides):  # (it makes the bare r1 ambiguous)
        get_manager().register_plugin(MoreR1(), name="more-r1")
    code, _, err = cli(capsys, "train", "--steps", "1", "--out", "run", *TINY, *overrides)
    assert code == 2 and message in error_line(err), err


def test_options_under_the_listed_qualified_name(capsys: pytest.CaptureFixture[str]) -> None:
    get_manager().register_plugin(MoreR1(), name="more-r1")
    code, _, err = cli(
        capsys,
        "train",
        "--steps",
        "1",
        "--out",
        "run",
        *TINY,
        'regularizers=["r1@gankit-regularizers","r1@more-r1"]',
        "regularizers.r1@gankit-regularizers.gamma=5",
    )
    assert code == 0, err
    assert run_json(Path("run"))["regularizer_configs"]["r1@gankit-regularizers"] == {"gamma": 5}


def test_run_json_records_options_as_the_run_used_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    tiny = [arg for arg in TINY if not arg.startswith("data.size=")]  # given here as 16.0
    options = ["regularizers=r1", "regularizers.r1.gamma=5", "data.size=16.0"]
    code, _, err = cli(capsys, "train", "--steps", "1", "--out", "run", *tiny, *options)
    assert code == 0, err
    text = (Path("run") / "run.json").read_text()
    record = json.loads(text)
    assert record["regularizer_configs"] == {"r1": {"gamma": 5.0}}
    assert '"gamma": 5.0' in text  # a float option given as 5 is recorded as the float it is
    assert record["data_config"]["size"] == 16 and isinstance(record["data_config"]["size"], int)
