"""The training bar off a terminal, and a ``KEY=VALUE`` override given twice.

``gankit train`` with stderr in a log file or a pipe writes its bar as lines of
their own, at most one every 30 seconds (tqdm's ``\\r``-separated updates would
otherwise fill the log with one enormous line); in a terminal it updates as tqdm
always does. The runs here read
tqdm's clock from a fake that moves one second at each reading, about a second a
step, so a run of a few hundred milliseconds stands for minutes of training.

A key given twice among the overrides is one ``error:`` line naming both values;
a key of the config file given again on the command line is the documented way
to override it and still works, as does ``--resume`` of such a run.
"""

from __future__ import annotations

import io
import itertools
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
import tqdm.std

from gankit.config import build
from gankit.errors import ConfigError
from gankit.training.progress_bar import LogLines

from cli_in_process import cli
from tiny_run import TINY_ARGS

#: the tiny run's options without its progress=false (each test sets progress itself)
TINY = [arg for arg in TINY_ARGS if not arg.startswith("progress=")]
#: generator steps of the progress runs: about as many seconds on the fake clock
STEPS = 150
FEW_STEPS = ["log_every=1", "sample_every=1000", "checkpoint_every=1000"]


def error_line(err: str) -> str:
    """The one ``error: ...`` line of ``err`` (asserting there is no traceback)."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # default outputs land here


@pytest.fixture
def slow_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """tqdm's clock moves one second each time a bar reads it (bars read it when made)."""
    ticks = itertools.count(start=1_000_000)
    monkeypatch.setattr(tqdm.std, "time", lambda: float(next(ticks)))


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def bar_updates(err: str) -> list[str]:
    """The training bar's updates in a terminal's ``err``: each starts with a carriage return."""
    return [part for part in err.split("\r")[1:] if "dcgan/digits" in part]


def train_with_progress(capsys: pytest.CaptureFixture[str], progress: str) -> str:
    """Train STEPS tiny steps with ``progress`` through the CLI; return its stderr."""
    code, _, err = cli(
        capsys, "train", "--steps", str(STEPS), "--out", "run", *TINY, *FEW_STEPS, progress
    )
    assert code == 0, err
    assert len(Path("run", "metrics.jsonl").read_text().splitlines()) == STEPS  # all ran
    return err


# -- the training bar --------------------------------------------------------------------


def test_off_a_terminal_the_bar_is_a_line_every_30_seconds(
    capsys: pytest.CaptureFixture[str], slow_clock: None
) -> None:
    err = train_with_progress(capsys, "progress=true")
    assert "\r" not in err  # each update is a line of its own, as a log viewer shows it
    assert err.endswith("\n") and "\n\n" not in err  # no blank line where the bar closed
    updates = [line for line in err.splitlines() if line.startswith("dcgan/digits")]
    # the bar when it opens, one about every 30 s (a step a second) and the last one;
    # tqdm's defaults would write one at nearly every step
    assert STEPS // 30 - 1 <= len(updates) <= STEPS // 30 + 3, updates
    assert "0/150" in updates[0]
    assert any(f"/{STEPS}" in u and "loss_g=" in u for u in updates[1:-1])  # progress between
    assert f"{STEPS}/{STEPS}" in updates[-1]  # the end is in the log
    assert all(u == u.rstrip() for u in updates)  # without tqdm's padding


def test_after_ctrl_c_the_bar_comes_before_the_message(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bar is closed when the run stops, not at interpreter exit after the message."""
    from gankit.training.trainer import Trainer

    save = Trainer.save_checkpoint

    def interrupted(self: Trainer) -> Path:
        path = save(self)
        if self.step == 4:
            raise KeyboardInterrupt  # Ctrl-C right after the step-4 checkpoint
        return path

    monkeypatch.setattr(Trainer, "save_checkpoint", interrupted)
    code, _, err = cli(
        capsys,
        "train",
        "--steps",
        "8",
        "--out",
        "run",
        *TINY,
        "checkpoint_every=4",
        "progress=true",
    )
    assert code == 130
    lines = err.splitlines()
    message = next(i for i, line in enumerate(lines) if line.startswith("interrupted at step 4"))
    bar = [i for i, line in enumerate(lines) if line.startswith("dcgan/digits")]
    assert bar and max(bar) < message, err
    assert "4/8" in lines[max(bar)]


def test_messages_between_bar_lines_keep_their_own_line_ends() -> None:
    """tqdm.write and the bar's own writes, through the log-line stream."""
    stream = io.StringIO()
    lines = LogLines(stream)
    bar = tqdm.std.tqdm(total=3, file=lines, desc="bar", mininterval=0, ncols=40)
    bar.update()
    bar.write("a message", file=lines)
    bar.update(2)
    bar.close()
    text = stream.getvalue()
    assert "\r" not in text and "\n\n" not in text
    assert "a message\n" in text
    assert [line.split("|")[0] for line in text.splitlines() if line.startswith("bar")] == [
        "bar:   0%",
        "bar:  33%",
        "bar:  33%",  # redrawn after the message
        "bar: 100%",
        "bar: 100%",  # closing: the same count with the average rate
    ]


def on_terminal(monkeypatch: pytest.MonkeyPatch) -> _Terminal:
    """Replace stderr by a stream that says it is a terminal (in the test itself: capsys
    replaces stderr when the test starts, after its fixtures)."""
    stream = _Terminal()
    monkeypatch.setattr(sys, "stderr", stream)
    return stream


def test_in_a_terminal_the_bar_updates_as_before(
    capsys: pytest.CaptureFixture[str], slow_clock: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = on_terminal(monkeypatch)
    train_with_progress(capsys, "progress=true")
    updates = bar_updates(terminal.getvalue())
    assert len(updates) >= STEPS  # tqdm's 0.1 s: a second a step updates every step


def test_progress_false_writes_no_bar(
    capsys: pytest.CaptureFixture[str], slow_clock: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = on_terminal(monkeypatch)
    train_with_progress(capsys, "progress=false")
    assert "\r" not in terminal.getvalue()
    assert "\r" not in capsys.readouterr().err


# -- a KEY=VALUE override given twice ----------------------------------------------------


def test_an_override_given_twice_is_one_error_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = Path("run")
    code, _, err = cli(
        capsys, "train", "--steps", "1", "--out", str(out), *TINY, "lr_g=1e-4", "lr_g=2e-4"
    )
    assert code == 2
    assert error_line(err) == (
        "error: override 'lr_g' is given twice, as lr_g=1e-4 and lr_g=2e-4; give it once"
    )
    assert not out.exists()  # refused before anything was written


def test_a_dotted_override_given_twice_is_refused_even_with_the_same_value(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = cli(
        capsys, "train", "--steps", "1", "--out", "run", *TINY, "arch.latent_dim=8"
    )  # TINY gives arch.latent_dim=16
    assert code == 2
    assert error_line(err) == (
        "error: override 'arch.latent_dim' is given twice, as arch.latent_dim=16 and "
        "arch.latent_dim=8; give it once"
    )
    code, _, err = cli(capsys, "train", "--steps", "1", "--out", "run", *TINY, " lr_d =1", "lr_d=1")
    assert code == 2
    assert error_line(err) == (
        "error: override 'lr_d' is given twice, as lr_d=1 and lr_d=1; give it once"
    )


def test_two_spellings_of_one_option_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    for first, second, option in [
        ("lr_g=1e-4", "train.lr_g=2e-4", "train.lr_g"),
        ("g_width=8", "arch.g_width=16", "arch.g_width"),
    ]:
        tiny = [arg for arg in TINY if not arg.startswith("arch.g_width=")]
        args = [*tiny, "progress=false", first, second]
        code, _, err = cli(capsys, "train", "--steps", "1", "--out", "run", *args)
        assert code == 2, (first, second)
        assert error_line(err) == (
            f"error: overrides {first.partition('=')[0]!r} and {second.partition('=')[0]!r} "
            f"both set {option}; give it once"
        )
    assert not Path("run").exists()


def test_a_regularizer_option_under_its_bare_and_qualified_name_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = [*TINY, "progress=false", "regularizers=r1@gankit-regularizers"]
    both = ["regularizers.r1.gamma=1", "regularizers.r1@gankit-regularizers.gamma=2"]
    code, _, err = cli(capsys, "train", "--steps", "1", "--out", "run", *args, *both)
    assert code == 2
    assert error_line(err) == (
        "error: regularizers.r1.gamma and regularizers.r1@gankit-regularizers.gamma both set "
        "option 'gamma' of r1@gankit-regularizers; give it once"
    )
    assert not Path("run").exists()


def test_a_config_file_key_overridden_on_the_command_line_wins_and_resumes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = Path("run.toml")
    config.write_text("[train]\nlr_g = 1e-4\nlr_d = 3e-4\n[arch]\nlatent_dim = 32\n")
    code, _, err = cli(
        capsys, "train", "--config", str(config), "--steps", "1", "--out", "run",
        *TINY, "progress=false", "lr_g=5e-4",
    )  # fmt: skip
    assert code == 0, err
    record = json.loads(Path("run", "run.json").read_text())
    assert record["train"]["lr_g"] == 5e-4  # the command line wins over the file
    assert record["train"]["lr_d"] == 3e-4  # the file wins over the recipe
    assert record["arch_config"]["latent_dim"] == 16  # TINY's arch.latent_dim=16
    code, _, err = cli(capsys, "train", "--resume", "run", "--steps", "2")
    assert code == 0, err
    record = json.loads(Path("run", "run.json").read_text())
    assert (record["train"]["lr_g"], record["train"]["steps"]) == (5e-4, 2)


# -- values pydantic's lax mode would convert --------------------------------------------


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("progress=yes", "progress: expected true or false (got 'yes')"),
        ("ema=1", "ema: expected true or false (got 1)"),
        ("lr_g=true", "lr_g: expected a number, not true (got True)"),
        ("checkpoint_every=false", "checkpoint_every: expected a number, not false (got False)"),
    ],
)
def test_a_value_of_the_wrong_kind_is_refused_not_converted(
    capsys: pytest.CaptureFixture[str], option: str, expected: str
) -> None:
    code, _, err = cli(capsys, "train", "--steps", "1", "--out", "run", *TINY, option)
    assert code == 2
    assert error_line(err) == f"error: invalid value in [train]: {expected}"
    assert not Path("run").exists()


def test_the_items_of_a_list_option_are_checked_and_python_booleans_accepted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = cli(capsys, "train", "--steps", "1", "--out", "run", *TINY, "betas_g=true,0.9")
    assert code == 2
    assert error_line(err) == (
        "error: invalid value in [train]: betas_g: item 1: expected a number, not true "
        "(got [True, 0.9])"
    )
    code, _, err = cli(capsys, "train", "--steps", "1", "--out", "run", *TINY, "progress=False")
    assert code == 0, err  # as Python spells it
    assert json.loads(Path("run", "run.json").read_text())["train"]["progress"] is False


def test_a_choice_of_numbers_does_not_take_true() -> None:
    @dataclass
    class Choice:
        order: Literal[1, 2] = 1
        flag: Literal[True, "auto"] = "auto"

    with pytest.raises(ConfigError, match=r"order: expected one of 1, 2, not true \(got True\)"):
        build(Choice, {"order": True}, strict=True)
    assert build(Choice, {"order": 2, "flag": True}, strict=True) == Choice(2, True)


def test_a_run_recorded_with_a_lax_value_still_resumes(capsys: pytest.CaptureFixture[str]) -> None:
    """Values read back from run.json are not refused: they were accepted when recorded."""
    code, _, err = cli(capsys, "train", "--steps", "1", "--out", "run", *TINY, "progress=false")
    assert code == 0, err
    path = Path("run", "run.json")
    record = json.loads(path.read_text())
    record["arch_config"]["minibatch_std"] = 0  # as gankit before strict checks recorded it
    path.write_text(json.dumps(record))
    code, _, err = cli(capsys, "train", "--resume", "run", "--steps", "2")
    assert code == 0, err


def test_numbers_given_as_text_are_still_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    config = Path("run.toml")
    config.write_text('[train]\nlog_every = "1"\nlr_d = "3e-4"\n')
    args = ["--config", str(config), "--steps", "1", "--out", "run", *TINY, "progress=false"]
    code, _, err = cli(capsys, "train", *args)
    assert code == 0, err
    record = json.loads(Path("run", "run.json").read_text())
    assert record["train"]["log_every"] == 1 and record["train"]["lr_d"] == 3e-4
