"""Bad input to ``gankit train``, ``sample`` and ``interpolate``: one clear line, exit 2.

Each refusal names the bad value and what to do instead, and happens before
anything is written: no directory is created, no user file is replaced, a run
is left as it was. One tiny DCGAN run on digits (trained through the CLI into
an empty directory) is shared by the module; tests that train use their own.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from gankit.cli import main

from cli_in_process import cli
from tiny_run import TINY_ARGS as TINY


def error_line(err: str) -> str:
    """The ``error: ...`` line (and assert there is one, without a traceback)."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert lines, err
    return lines[0]


def snapshot(directory: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under ``directory`` with its mtime and content."""
    return {
        str(p.relative_to(directory)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 3-step run, trained into a directory that existed and was empty."""
    run_dir = tmp_path_factory.mktemp("cli-inputs") / "r1"
    run_dir.mkdir()
    with pytest.raises(SystemExit) as exc:
        main(["train", "--steps", "3", "--out", str(run_dir), *TINY])
    assert exc.value.code in (0, None)
    assert (run_dir / "checkpoints" / "ckpt-00000003.json").exists()
    return run_dir


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # default outputs (samples.png, ...) land here


# -- train --out ---------------------------------------------------------------------


def test_out_that_is_not_a_run_is_refused_and_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mine"
    (out / "artifact").mkdir(parents=True)
    (out / "notes.txt").write_text("my notes")
    (out / "artifact" / "keep.txt").write_text("mine")
    before = snapshot(out)
    code, _, err = cli(capsys, "train", "--steps", "3", "--out", str(out), *TINY)
    line = error_line(err)
    assert code == 2
    assert f"{str(out)!r} exists and is not a gankit run" in line
    assert "notes.txt" in line and "choose an empty or new --out" in line
    assert snapshot(out) == before  # nothing added, nothing replaced


def test_out_that_is_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "afile"
    out.write_text("data")
    code, _, err = cli(capsys, "train", "--out", str(out), *TINY)
    assert code == 2
    assert "is a file; choose a new or empty directory" in error_line(err)
    assert out.read_text() == "data"


@pytest.mark.parametrize("where", ["under-a-file", "proc"])
def test_out_that_cannot_be_created_is_refused(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if where == "proc":
        if not Path("/proc/self").is_dir():
            pytest.skip("needs Linux /proc (where no directory can be made)")
        out = Path("/proc/gankit-nope")
    else:
        (tmp_path / "afile").write_text("data")
        out = tmp_path / "afile" / "run"
    code, _, err = cli(capsys, "train", "--steps", "3", "--out", str(out), *TINY)
    line = error_line(err)
    assert code == 2
    assert f"cannot create the run directory {str(out)!r}" in line
    assert "choose an --out in a writable place" in line


def test_out_holding_a_finished_run_is_refused(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(run)
    code, _, err = cli(capsys, "train", "--steps", "3", "--out", str(run), *TINY)
    assert code == 2
    assert f"continue it with `gankit train --resume {run}`" in error_line(err)
    assert snapshot(run) == before


@pytest.mark.parametrize("steps", ["0", "-3"])
def test_steps_below_one_is_refused(
    steps: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "new"
    code, _, err = cli(capsys, "train", "--steps", steps, "--out", str(out), *TINY)
    line = error_line(err)
    assert code == 2
    assert f"--steps must be a whole number of at least 1, got {steps}" in line
    assert "leave --steps out for the dataset's default" in line
    assert not out.exists()


def test_train_help_shows_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "train", "-h")
    assert code == 0
    text = " ".join(out.split())
    assert "default: dcgan" in text and "default: digits" in text


# -- a run that stopped before its first checkpoint ----------------------------------


def unstarted_run(capsys: pytest.CaptureFixture[str], out: Path) -> str:
    """Make ``out`` a run that stopped before its first checkpoint; return its stderr.

    Learning rates this large make the first loss NaN, so the run stops at step 0
    with its run.json written and no checkpoint.
    """
    code, _, err = cli(
        capsys, "train", "--steps", "3", "--out", str(out), *TINY, "lr_g=1e38", "lr_d=1e38"
    )
    assert code == 2 and (out / "run.json").exists(), err
    assert not list((out / "checkpoints").glob("ckpt-*.json"))
    return err


def test_unstarted_run_is_started_over_not_resumed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "crashed"
    assert "loss_g is nan" in error_line(unstarted_run(capsys, out))
    assert (out / "run.json").exists() and not (out / "checkpoints").exists()

    code, _, err = cli(capsys, "train", "--resume", str(out))
    line = error_line(err)
    assert code == 2
    assert "stopped before its first checkpoint, so there is nothing to resume" in line
    assert f"without --resume: `gankit train --out {out} --arch dcgan --data digits" in line
    assert not (out / "checkpoints").exists()

    with caplog.at_level(logging.WARNING):
        code, out_text, err = cli(capsys, "train", "--steps", "3", "--out", str(out), *TINY)
    assert code == 0, err
    assert "trained 3 steps" in out_text
    assert any("starting it over" in r.getMessage() for r in caplog.records)
    assert (out / "artifact" / "model.safetensors").exists()
    steps = [line for line in (out / "metrics.jsonl").read_text().splitlines() if line]
    assert len(steps) == 1 and '"step": 3' in steps[0]  # the crashed run's log is gone


# -- train --resume ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"), [("--arch", "wgan-gp"), ("--data", "grid25"), ("--seed", "0")]
)
def test_resume_refuses_options_it_would_ignore(
    option: str, value: str, run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(run)
    code, _, err = cli(capsys, "train", "--resume", str(run), "--steps", "6", option, value)
    line = error_line(err)
    assert code == 2
    assert "only --steps may be given" in line and f"not {option}" in line
    assert snapshot(run) == before


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        (["--steps", "2"], "is at step 3 already, so --steps 2 would not train it further"),
        (["--steps", "3"], "is at step 3 already, so --steps 3 would not train it further"),
        ([], "has trained its 3 steps (it is at step 3); to train further give --steps more"),
    ],
)
def test_resume_that_would_not_train_is_refused(
    steps: list[str], expected: str, run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(run)
    code, _, err = cli(capsys, "train", "--resume", str(run), *steps)
    line = error_line(err)
    assert code == 2
    assert f"the run in {str(run)!r}" in line and expected in line
    if steps:  # the fix says what --steps means
        assert "(--steps is the total, not the steps to add): give more than 3" in line
    assert snapshot(run) == before  # run.json and the artifact are not rewritten


def test_resume_with_steps_below_one_advises_the_runs_own_count(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "train", "--resume", str(run), "--steps", "0")
    line = error_line(err)
    assert code == 2
    assert "--steps must be a whole number of at least 1, got 0" in line
    assert "leave --steps out for the run's own step count" in line  # not the dataset's


# -- sample --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--per-class", "-2"], "--per-class must be at least 1, got -2"),
        (["--per-class", "0"], "--per-class must be at least 1, got 0"),
        (["--n", "0"], "--n must be at least 1, got 0"),
        (["--labels", ","], "--labels names no label"),
        (["--seed", str(2**64)], "--seed must fit in 64 bits"),
    ],
)
def test_sample_numbers_are_checked_by_option(
    args: list[str], expected: str, run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "s.png"
    code, _, err = cli(capsys, "sample", str(run), "--out", str(out), *args)
    assert code == 2
    assert expected in error_line(err)
    assert not out.exists()


@pytest.mark.parametrize("extra", [[], ["--n", "3"]])
def test_sample_labels_on_an_unconditional_model(
    extra: list[str], run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "s.png"
    code, _, err = cli(capsys, "sample", str(run), "--labels", "1,2", "--out", str(out), *extra)
    line = error_line(err)
    assert code == 2
    assert "unconditional" in line and "leave out --labels" in line
    assert not out.exists()


def test_sample_suffix_is_checked_before_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "new" / "x.jpg"
    # the artifact does not exist either: the suffix is checked before loading it
    code, _, err = cli(capsys, "sample", str(tmp_path / "missing"), "--out", str(out))
    line = error_line(err)
    assert code == 2
    assert "--out must end in .png" in line and ".npy" in line and repr(str(out)) in line
    assert not out.parent.exists()


def test_sample_npy_with_upper_case_suffix(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "s.NPY"
    code, _, err = cli(capsys, "sample", str(run), "--n", "4", "--out", str(out))
    assert code == 0, err
    assert np.load(out).shape == (4, 1, 16, 16)  # written as named, not s.NPY.npy


# -- interpolate ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--rows", "0"], "--rows must be at least 1, got 0"),
        (["--rows", "-1"], "--rows must be at least 1, got -1"),
        (["--steps", "1"], "--steps must be at least 2, got 1"),
        (["--steps", "-4"], "--steps must be at least 2, got -4"),
        (["--seed", str(2**64)], "--seed must fit in 64 bits"),
        (["--label", "3"], "unconditional"),
    ],
)
def test_interpolate_numbers_are_checked(
    args: list[str], expected: str, run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "i.png"
    code, _, err = cli(capsys, "interpolate", str(run), "--out", str(out), *args)
    assert code == 2
    assert expected in error_line(err)
    assert not out.exists()


def test_interpolate_suffix_is_checked_before_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "new" / "strip.gif"
    code, _, err = cli(capsys, "interpolate", str(tmp_path / "missing"), "--out", str(out))
    assert code == 2
    assert "--out must end in .png (an image grid) or .npy" in error_line(err)
    assert not out.parent.exists()


def test_interpolate_writes_npy(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "strips.npy"
    code, text, err = cli(
        capsys, "interpolate", str(run), "--rows", "2", "--steps", "3", "--out", str(out)
    )
    assert code == 0, err
    assert "wrote 2 strip(s) of 3 images" in text
    array = np.load(out)
    assert array.shape == (6, 1, 16, 16) and array.dtype == np.float32


# -- -h ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["train", "sample", "interpolate"])
def test_short_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, command, "-h")
    assert code == 0
    assert f"gankit {command}" in out


def _help_row(out: str, option: str) -> list[str]:
    """The words of the help table's row that starts with ``option``."""
    rows = [line.strip("│ ").split() for line in out.splitlines()]
    return next(row for row in rows if row and row[0] == option)


@pytest.mark.parametrize("command", ["train", "serve"])
def test_help_shows_click_metavars_and_none_on_flags(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, command, "-h")
    assert code == 0
    assert "<bool>" not in out and "list[" not in out and "<int>" not in out
    assert _help_row(out, "--help")[:3] == ["--help", "-h", "Show"]  # a flag takes no value
    if command == "train":
        assert _help_row(out, "--steps")[1] == "INTEGER"
        assert _help_row(out, "--out")[1] == "PATH"
        assert _help_row(out, "overrides...")[1] == "TEXT"
    else:
        assert _help_row(out, "--max-wait-ms")[1] == "FLOAT"
        assert _help_row(out, "--log-level")[1].startswith("[critical|error|")  # the choices


def test_top_level_help_shows_no_value_on_flags(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "-h")
    assert code == 0
    assert _help_row(out, "--strict-plugins")[1] == "Fail"
    assert _help_row(out, "--verbose")[:3] == ["--verbose", "-v", "More"]  # -vv: no value
    assert _help_row(out, "--disable-plugin")[1] == "TEXT"


def usage_error(err: str) -> str:
    """The message in typer's error panel, on one line."""
    return " ".join(err.replace("│", " ").split())


@pytest.mark.parametrize(
    ("args", "option", "example"),
    [
        (["--lr_g=1e-4"], "--lr_g", "gankit train lr_g=1e-4"),
        (["--lr-g", "1e-4"], "--lr-g", "gankit train lr_g=VALUE"),
        (["--arch.latent-dim=64"], "--arch.latent-dim", "gankit train arch.latent_dim=64"),
        (["--betas_g=[0.5, 0.9]"], "--betas_g", "gankit train 'betas_g=[0.5, 0.9]'"),
        (["--whatever=3"], "--whatever", "gankit train whatever=3"),  # any --NAME=VALUE
    ],
)
def test_trainer_option_given_as_an_option_points_at_key_value(
    args: list[str], option: str, example: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "new"
    code, _, err = cli(capsys, "train", "--out", str(out), *args)
    assert code == 2
    message = usage_error(err)
    assert f"No such option: {option}; trainer options are given as KEY=VALUE: {example}" in (
        message
    )
    assert "Possible options" not in message or option == "--whatever"
    assert not out.exists()


def test_unknown_option_without_a_value_keeps_clicks_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = cli(capsys, "train", "--stepz", "3")
    assert code == 2
    message = usage_error(err)
    assert "No such option: --stepz (Possible options: --help, --seed, --steps)" in message
    assert "KEY=VALUE" not in message
    # only a command that takes KEY=VALUE overrides gets the hint
    code, _, err = cli(capsys, "sample", "run", "--lr_g=1e-4")
    assert code == 2
    assert "No such option: --lr_g" in usage_error(err) and "KEY=VALUE" not in err


def test_ctrl_c_says_what_is_kept_and_how_to_resume(tmp_path: Path) -> None:
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = ["--steps", "100000", "--out", str(run), *TINY, "checkpoint_every=2"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gankit", "train", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while not list((run / "checkpoints").glob("ckpt-*.json")) and time.time() < deadline:
        assert proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert re.search(r"interrupted at step \d+; the newest checkpoint \(step \d+\) is kept", err)
    assert f"gankit train --resume {run} --steps 100000" in err
    assert "Traceback" not in err


# -- one process per run directory --------------------------------------------------------

_HOLD_LOCK = """
import sys
from filelock import FileLock
lock = FileLock(sys.argv[1], timeout=0)
lock.acquire()
print("held", flush=True)
sys.stdin.read()  # until the test closes our stdin
"""


@contextlib.contextmanager
def lock_held_elsewhere(run: Path) -> Iterator[None]:
    """Another process holds RUN/.gankit.lock for the duration, as a training run does."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(run / ".gankit.lock")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.communicate("")


def test_commands_reading_a_run_without_artifact_say_why_it_has_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    unstarted_run(capsys, run)
    code, _, err = cli(capsys, "sample", str(run), "--n", "4", "--out", str(tmp_path / "x.png"))
    assert code == 2
    assert "has no artifact: it stopped before its first checkpoint" in err
    with lock_held_elsewhere(run):
        code, _, err = cli(capsys, "eval", str(run), "--metrics", "fd", "--n", "10")
    assert code == 2
    assert "it is being trained now (another `gankit train` holds" in error_line(err)
    assert "--resume" not in err


def test_a_finished_run_whose_artifact_was_removed_is_told_how_to_get_one(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    shutil.rmtree(copy / "artifact")
    code, _, err = cli(capsys, "sample", str(copy), "--n", "4", "--out", str(tmp_path / "x.png"))
    assert code == 2
    ended = "its training ended at step 3 of 3, and its artifact/ is missing"
    assert ended in error_line(err)
    code, _, err = cli(capsys, "train", "--resume", str(copy), "--steps", "4")  # the advice
    assert code == 0, err
    assert (copy / "artifact" / "config.json").exists()


def test_a_started_run_being_trained_is_refused_as_busy_not_as_resumable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    code, _, err = cli(capsys, "train", "--steps", "1", "--out", str(run), *TINY)
    assert code == 0, err
    with lock_held_elsewhere(run):
        code, _, err = cli(capsys, "train", "--steps", "1", "--out", str(run), *TINY)
    assert code == 2
    assert f"another `gankit train` is writing to '{run}'" in error_line(err)
    assert "--resume" not in err


def test_a_refused_config_leaves_no_run_directory_behind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "new" / "run"
    code, _, err = cli(capsys, "train", "--steps", "1", "--out", str(out), *TINY, "device=cuda:7")
    assert code == 2 and "Traceback" not in err
    assert not out.exists()  # made by the command, removed again: nothing was written
    existing = tmp_path / "mine"
    existing.mkdir()
    code, _, err = cli(
        capsys, "train", "--steps", "1", "--out", str(existing), *TINY, "device=cuda:7"
    )
    assert code == 2 and existing.is_dir()  # the user's own directory stays


def test_a_run_being_trained_is_not_touched_by_a_second_train(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "busy"
    unstarted_run(capsys, out)  # as a live run looks while it starts
    (out / "metrics.jsonl").write_text('{"step": 1}\n')
    with lock_held_elsewhere(out):
        for args in (["--out", str(out), *TINY], ["--resume", str(out)]):
            code, _, err = cli(capsys, "train", "--steps", "3", *args)
            assert code == 2
            assert f"another `gankit train` is writing to '{out}'" in error_line(err)
        # the other process's files are as it left them
        assert (out / "metrics.jsonl").read_text() == '{"step": 1}\n'
    # once it has ended, the directory is free (and the lock file alone is no obstacle)
    code, _, err = cli(capsys, "train", "--steps", "3", "--out", str(out), *TINY)
    assert code == 0, err
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".gankit.lock").touch()
    code, _, err = cli(capsys, "train", "--steps", "1", "--out", str(empty), *TINY)
    assert code == 0, err


def test_a_run_that_starts_while_a_second_train_resolves_its_options_is_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unstarted-run check is made again under the lock, not trusted from before it."""
    import gankit.training.config as config_mod

    out = tmp_path / "run"
    unstarted_run(capsys, out)
    real_resolve = config_mod.resolve

    def resolve_while_another_run_checkpoints(*args: object, **kwargs: object) -> object:
        # between the first look and the lock, another process trains the run and ends
        (out / "checkpoints").mkdir(exist_ok=True)
        (out / "checkpoints" / "ckpt-00000001.json").write_text("{}")
        (out / "metrics.jsonl").write_text('{"step": 1}\n')
        return real_resolve(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(config_mod, "resolve", resolve_while_another_run_checkpoints)
    code, _, err = cli(capsys, "train", "--steps", "3", "--out", str(out), *TINY)
    assert code == 2
    assert f"{str(out)!r} already holds a run" in error_line(err)
    assert (out / "metrics.jsonl").read_text() == '{"step": 1}\n'  # not cleared


# -- values the trainer would have taken silently or failed on later ----------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["metrics_every=-1"], "metrics_every must be >= 0 (0: metrics only at the end), got -1"),
        (["keep_checkpoints=0"], "keep_checkpoints must be at least 1"),
        (["ema_kimg=0"], "ema_kimg must be positive"),
        (["ema_rampup=-1"], "ema_rampup must be >= 0"),
        (["dist_timeout=0"], "dist_timeout must be positive seconds, got 0.0"),
        (["--seed", "-1"], "--seed must be from 0 to 2**32 - 1 for training, got -1"),
        (["--seed", str(2**32)], "--seed must be from 0 to 2**32 - 1 for training"),
        (["arch.num_classes=10"], "dcgan is unconditional, so arch.num_classes must be 0, got 10"),
    ],
)
def test_train_values_are_refused_before_training(
    args: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    code, _, err = cli(capsys, "train", "--steps", "1", "--out", str(out), *TINY, *args)
    assert code == 2 and "Traceback" not in err
    assert expected in error_line(err)
    assert not (out / "checkpoints").exists()


def test_a_damaged_run_json_says_where_a_copy_is(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    damaged = tmp_path / "damaged"
    shutil.copytree(run, damaged)
    (damaged / "run.json").write_text('{"arch": "dcgan", "data": ')  # cut off mid-write
    code, _, err = cli(capsys, "train", "--resume", str(damaged), "--steps", "5")
    line = error_line(err)
    assert code == 2 and "Traceback" not in err
    assert f"{str(damaged / 'run.json')!r} is not valid JSON" in line
    assert "copy it back to run.json to resume" in line
    # following the advice works
    record = json.loads((damaged / "checkpoints" / "ckpt-00000003.json").read_text())["run"]
    (damaged / "run.json").write_text(json.dumps(record))
    code, _, err = cli(capsys, "train", "--resume", str(damaged), "--steps", "4")
    assert code == 0, err


def test_a_best_metric_the_metric_does_not_log_can_be_mended_and_resumed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    options = ["metrics=fd", "metrics.fd.n=20", "metrics_every=2", "checkpoint_every=1"]
    code, _, err = cli(
        capsys, "train", "--steps", "3", "--out", str(out), *TINY, *options, "best_metric=fd/nope"
    )
    line = error_line(err)
    assert code == 2 and "best_metric='fd/nope' is not among the logged metric values" in line
    assert f"in the 'train' section of {out / 'run.json'}, then continue with" in line
    record = json.loads((out / "run.json").read_text())
    record["train"]["best_metric"] = "fd/frechet_distance"
    (out / "run.json").write_text(json.dumps(record))
    code, _, err = cli(capsys, "train", "--resume", str(out))
    assert code == 0, err
    assert json.loads((out / "best.json").read_text())["metric"] == "fd/frechet_distance"
