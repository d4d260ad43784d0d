"""A plugin's own run options: ``gankit_plugin_options`` and ``plugins.PLUGIN.KEY=VALUE``.

A plugin that handles training events (no components) declares a dataclass of
options; users set them on the command line or in a ``[plugins.PLUGIN]`` TOML
table; they are checked before training, recorded in run.json, kept on resume,
and read by the plugin's hooks with ``trainer.plugin_options(PLUGIN)``. Runs are
tiny DCGANs on 16x16 digits, trained through the in-process CLI.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gankit import hookimpl
from gankit.plugins import PluginManager, get_manager, set_manager

from cli_in_process import cli
from tiny_run import TINY_ARGS as TINY

PLUGIN = "step-marker"


@dataclass
class MarkerOptions:
    """Options of the test plugin: log a marker every ``every`` steps."""

    every: int = field(default=1, metadata={"help": "steps between markers"})
    label: str = "mark"

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"every must be at least 1, got {self.every}")


class StepMarker:
    """Logs ``LABEL`` = 1.0 on every ``every``-th step, as its options say."""

    @hookimpl
    def gankit_plugin_options(self) -> type:
        return MarkerOptions

    @hookimpl
    def gankit_on_step_end(self, trainer: Any, step: int, logs: dict[str, float]) -> None:
        options: MarkerOptions = trainer.plugin_options(PLUGIN)
        if step % options.every == 0:
            logs[options.label] = 1.0


class NoOptions:
    @hookimpl
    def gankit_on_train_start(self, trainer: Any) -> None:
        pass


@pytest.fixture(autouse=True)
def manager_with_plugins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """The built-in plugins plus the two test plugins, for each test."""
    monkeypatch.chdir(tmp_path)
    manager = PluginManager()
    manager.register_plugin(StepMarker(), name=PLUGIN, version="1.0")
    manager.register_plugin(NoOptions(), name="no-options")
    set_manager(manager)
    yield
    set_manager(None)


def records(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_options_reach_the_hooks_are_recorded_and_kept_on_resume(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run = tmp_path / "run"
    code, _, err = cli(
        capsys,
        "train",
        "--steps",
        "4",
        "--out",
        str(run),
        *TINY,
        "log_every=1",
        f"plugins.{PLUGIN}.every=2",
    )
    assert code == 0, err
    # steps are 0-based in the hook; the record of step s is written as step s + 1
    assert [r["step"] for r in records(run) if "mark" in r] == [1, 3]
    assert json.loads((run / "run.json").read_text())["plugin_configs"] == {PLUGIN: {"every": 2}}

    code, _, err = cli(capsys, "train", "--resume", str(run), "--steps", "6")
    assert code == 0, err
    assert [r["step"] for r in records(run) if "mark" in r] == [1, 3, 5]


def test_options_from_a_toml_table(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text(f'[plugins.{PLUGIN}]\nevery = 3\nlabel = "tick"\n')
    run = tmp_path / "run"
    code, _, err = cli(
        capsys,
        "train",
        "--steps",
        "3",
        "--out",
        str(run),
        "--config",
        str(config),
        *TINY,
        "log_every=1",
        f"plugins.{PLUGIN}.every=2",  # the command line wins over the file
    )
    assert code == 0, err
    assert [r["step"] for r in records(run) if "tick" in r] == [1, 3]
    assert json.loads((run / "run.json").read_text())["plugin_configs"] == {
        PLUGIN: {"every": 2, "label": "tick"}
    }


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "plugins.step-markr.every=2",
            "options given for plugin 'step-markr', which is not installed; did you mean "
            "'step-marker'?",
        ),
        (
            "plugins.no-options.every=2",
            "options given for plugin 'no-options', which takes no options (plugins with "
            "options: gankit-tensorboard, step-marker",
        ),
        ("plugins.step-marker.evry=2", "'evry'"),
        ("plugins.step-marker.every=0", "every must be at least 1, got 0"),
        ("plugins.step-marker=2", "use plugins.NAME.KEY=VALUE (e.g. plugins.my-plugin.every=10)"),
    ],
)
def test_bad_options_are_refused_before_training(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, override: str, message: str
) -> None:
    run = tmp_path / "run"
    code, _, err = cli(capsys, "train", "--steps", "2", "--out", str(run), *TINY, override)
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert not (run / "run.json").exists()


def test_a_plugin_whose_options_are_not_a_dataclass_fails_to_load() -> None:
    class Broken:
        @hookimpl
        def gankit_plugin_options(self) -> Any:
            return {"every": 1}

    info = get_manager().register_plugin(Broken(), name="broken-options")
    assert info.status == "failed"
    assert "gankit_plugin_options: config must be a dataclass type" in (info.error or "")


def test_info_shows_a_plugins_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "info", PLUGIN)
    assert code == 0, err
    assert f"run options (plugins.{PLUGIN}.KEY=VALUE)" in out
    assert "every" in out and "steps between markers" in out
    code, out, err = cli(capsys, "info", "gankit-tensorboard", "--json")
    assert code == 0, err
    (record,) = json.loads(out)
    assert [o["name"] for o in record["options"]] == ["flush_secs"]


def test_the_plugins_table_names_each_plugins_options(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # one table line per row
    code, out, err = cli(capsys, "plugins")
    assert code == 0, err
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if f" {PLUGIN} " in line)
    assert "events: on_step_end" in lines[at]  # the row's second line names the options
    assert f"options: every, label (plugins.{PLUGIN}.KEY=VALUE)" in lines[at + 1]
    assert lines[at + 1].startswith("│  ")  # still the same row
    assert "options:" not in next(line for line in lines if " gankit-dcgan " in line)


def test_info_of_a_component_without_options_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "info", "hinge")
    assert code == 0, err
    assert "  config: no options" in out
    assert "field" not in out  # no empty table


def test_tensorboard_flush_interval_is_checked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = cli(
        capsys,
        "train",
        "--steps",
        "2",
        "--out",
        str(tmp_path / "run"),
        *TINY,
        "tensorboard=true",
        "plugins.gankit-tensorboard.flush_secs=0",
    )
    assert code == 2 and "flush_secs must be at least 1 second, got 0" in err


def test_tensorboard_options_without_tensorboard_are_warned_about(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = str(tmp_path / "run")
    option = "plugins.gankit-tensorboard.flush_secs=5"
    with caplog.at_level(logging.WARNING, logger="gankit_tensorboard"):
        code, stdout, err = cli(capsys, "train", "--steps", "1", "--out", out, *TINY, option)
    assert code == 0, err
    assert stdout.startswith("trained 1 step; artifact written to")
    assert (
        "plugins.gankit-tensorboard.flush_secs set, but TensorBoard logging is off "
        "(tensorboard=false), so it has no effect; add tensorboard=true" in caplog.text
    )
    assert not (tmp_path / "run" / "tensorboard").exists()


def test_tensorboard_logger_opens_its_writer_with_the_flush_interval(tmp_path: Path) -> None:
    from gankit_tensorboard.logger import TensorBoardLogger

    opened: dict[str, Any] = {}

    def writer_class(**kwargs: Any) -> object:
        opened.update(kwargs)
        return object()

    TensorBoardLogger(tmp_path, writer_class, flush_secs=7)
    assert opened["flush_secs"] == 7 and opened["log_dir"] == str(tmp_path / "tensorboard")


# -- plugin mistakes are found at load or named as the plugin's -------------------------


@dataclass
class BadDefaults:
    every: int = 0

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"every must be at least 1, got {self.every}")


@dataclass
class PickyOptions:
    every: int = 1

    def __post_init__(self) -> None:
        if self.every > 5:
            raise TypeError("every too big")  # not ValueError: pydantic does not wrap it


def test_options_whose_defaults_fail_their_own_checks_fail_the_plugin_at_load() -> None:
    class Broken:
        @hookimpl
        def gankit_plugin_options(self) -> type:
            return BadDefaults

    info = get_manager().register_plugin(Broken(), name="bad-defaults")
    assert info.status == "failed"
    assert "BadDefaults() refuses its own defaults (ValueError: every must be at least 1" in (
        info.error or ""
    )


def test_a_check_raising_other_than_valueerror_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    class Picky:
        @hookimpl
        def gankit_plugin_options(self) -> type:
            return PickyOptions

    get_manager().register_plugin(Picky(), name="picky")
    run = tmp_path / "run"
    code, _, err = cli(
        capsys, "train", "--steps", "2", "--out", str(run), *TINY, "plugins.picky.every=9"
    )
    assert code == 2 and "Traceback" not in err
    assert (
        "invalid value in [plugins.picky]: PickyOptions refused every=9 (TypeError: every too big)"
        in err
    )


def test_asking_for_another_plugins_options_is_the_plugins_mistake(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    class Nosy:
        @hookimpl
        def gankit_on_train_start(self, trainer: Any) -> None:
            trainer.plugin_options("no-options")

    get_manager().register_plugin(Nosy(), name="nosy")
    code, _, err = cli(capsys, "train", "--steps", "1", "--out", str(tmp_path / "run"), *TINY)
    assert code == 2
    assert "trainer.plugin_options('no-options') asks for options that do not exist" in err
    assert "options given for" not in err  # the user gave none


# -- resuming when the plugins around a run have changed ----------------------------------


def train_marked(capsys: pytest.CaptureFixture[str], run: Path) -> None:
    code, _, err = cli(
        capsys, "train", "--steps", "2", "--out", str(run), *TINY, f"plugins.{PLUGIN}.every=2"
    )
    assert code == 0, err


def test_resume_without_the_plugin_of_the_runs_options_says_how_to_get_it_back(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run = tmp_path / "run"
    train_marked(capsys, run)
    recorded = json.loads((run / "run.json").read_text())["plugin_versions"][PLUGIN]
    assert recorded["version"] == "1.0"
    get_manager().unregister_plugin(PLUGIN)
    code, _, err = cli(capsys, "train", "--resume", str(run), "--steps", "3")
    assert code == 2
    assert f"the run has options for plugin {PLUGIN!r} (version 1.0), which is not installed" in err
    assert "did you mean" not in err and "options given for" not in err


def test_resume_after_the_plugin_renamed_an_option_points_at_run_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run = tmp_path / "run"
    train_marked(capsys, run)

    @dataclass
    class Renamed:
        interval: int = 1

    class NewMarker:
        @hookimpl
        def gankit_plugin_options(self) -> type:
            return Renamed

    manager = get_manager()
    manager.unregister_plugin(PLUGIN)
    manager.register_plugin(NewMarker(), name=PLUGIN, version="2.0")
    code, _, err = cli(capsys, "train", "--resume", str(run), "--steps", "3")
    assert code == 2
    assert "'every'" in err and "as run.json's plugin_configs records them" in err
    assert "install version 1.0 again, or correct plugin_configs in run.json" in err


def test_resume_warns_when_a_plugin_with_event_hooks_went_or_came(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = tmp_path / "run"
    code, _, err = cli(capsys, "train", "--steps", "2", "--out", str(run), *TINY)
    assert code == 0, err
    assert "no-options" in json.loads((run / "run.json").read_text())["plugin_versions"]
    manager = get_manager()
    manager.unregister_plugin("no-options")

    class Newcomer:
        @hookimpl
        def gankit_on_train_start(self, trainer: Any) -> None:
            pass

    manager.register_plugin(Newcomer(), name="newcomer", version="0.3")
    code, _, err = cli(capsys, "train", "--resume", str(run), "--steps", "3")
    assert code == 0, err
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(
        "plugin 'no-options', whose event hooks acted on the run when it last trained, is "
        "not installed now: the run goes on without them" in w
        for w in warnings
    ), warnings
    assert any(
        "plugin 'newcomer' (version 0.3), whose event hooks act on every run, was not "
        "loaded (not installed, or disabled) when the run last trained" in w
        for w in warnings
    ), warnings
