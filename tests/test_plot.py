"""`gankit plot`: figures of a run directory, and the opt-in TensorBoard logging."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from gankit.cli import app, main
from gankit.errors import GankitError
from gankit.plotting import plot_run
from gankit.plotting.grids import find_grids, pick_evenly
from gankit.plotting.run_log import load_run_log
from gankit.plotting.smoothing import smooth
from gankit.plotting.timeline import timeline_figure
from gankit.training.config import resolve
from gankit.training.trainer import Trainer

from tiny_run import TINY

needs_matplotlib = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None, reason="the plot extra is not installed"
)

STEPS, SAMPLE_EVERY = 12, 3  # grids at steps 3, 6, 9 and 12


def tiny_run(run_dir: Path, steps: int = STEPS, **extra: object) -> Path:
    """Train the tiny DCGAN of test_training for a few steps into ``run_dir``."""
    options = {"sample_every": SAMPLE_EVERY, "log_every": 2, "checkpoint_every": 4, **extra}
    spec = resolve("dcgan", "digits", overrides={**TINY, **options}, steps=steps, seed=3)
    Trainer(spec, run_dir).fit()
    return run_dir


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_run(tmp_path_factory.mktemp("plot") / "run")


@needs_matplotlib
def test_cli_plots_a_real_run(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "plots"
    result = CliRunner().invoke(app, ["plot", str(run_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    expected = [out / name for name in ("losses.png", "logits.png", "samples.png")]
    assert result.output.split() == [str(p) for p in expected]  # digits logs no metrics
    for path in expected:
        with Image.open(path) as img:
            img.load()
            assert img.format == "PNG"
            assert 600 <= img.width <= 2000 and 250 <= img.height <= 1200, (path, img.size)
    with Image.open(out / "samples.png") as img:
        assert img.width > 2 * img.height  # the 4 grids of this run side by side in one row
    assert not (run_dir / "tensorboard").exists()  # TensorBoard is opt-in


@needs_matplotlib
def test_timeline_has_the_expected_grids(run_dir: Path) -> None:
    log = load_run_log(run_dir)
    grids = find_grids(log)
    # final.png shows the last step again, like step-00000012.png: not repeated
    assert [g.step for g in grids] == [3, 6, 9, 12]
    fig = timeline_figure(pick_evenly(grids, 8))
    assert fig is not None
    assert [ax.get_title() for ax in fig.axes] == ["step 3", "step 6", "step 9", "step 12"]
    fig = timeline_figure(pick_evenly(grids, 3))
    assert fig is not None
    assert [ax.get_title() for ax in fig.axes] == ["step 3", "step 9", "step 12"]


@needs_matplotlib
def test_default_out_dir_and_grid_limit(run_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    copy.mkdir()
    (copy / "metrics.jsonl").write_text((run_dir / "metrics.jsonl").read_text())
    written = plot_run(copy, grids=2)
    assert [p.name for p in written] == ["losses.png", "logits.png"]  # no samples/ here
    assert all(p.parent == copy / "plots" for p in written)


def fake_progan_run(run_dir: Path) -> None:
    """A run directory with phases, metrics and phase grids, as ProGAN writes them."""
    phases = ["4x4 stabilize", "8x8 fade-in", "8x8 stabilize"]
    records = []
    for step in range(10, 310, 10):
        record = {"step": step, "loss_d": 1.0 / step, "loss_g": 0.5, "d_real": 1.0}
        record |= {"d_fake": -1.0, "alpha": 1.0, "phase": phases[(step - 1) // 100]}
        if step % 100 == 0:
            record |= {"toy/quality": step / 300, "toy/coverage": 0.5}
        records.append(record)
    text = "".join(json.dumps(r) + "\n" for r in records)
    (run_dir / "metrics.jsonl").write_text(text + '{"step": 310, "loss')  # cut-off last line
    samples = run_dir / "samples"
    samples.mkdir()
    names = ["step-00000150.png", "step-00000200.png", "phase-4x4-stabilize.png"]
    for name in [*names, "phase-8x8-fade-in.png"]:
        Image.new("L", (34, 34), 128).save(samples / name)
    Image.new("L", (34, 34), 0).save(samples / "final.png")


@needs_matplotlib
def test_phases_metrics_and_phase_grids(tmp_path: Path) -> None:
    fake_progan_run(tmp_path)
    log = load_run_log(tmp_path)
    assert len(log.records) == 30  # the line being written is skipped
    assert [(p.name, p.start, p.end) for p in log.phases()] == [
        ("4x4 stabilize", 0, 100),
        ("8x8 fade-in", 100, 200),
        ("8x8 stabilize", 200, 300),
    ]
    assert log.metric_keys() == ["toy/quality", "toy/coverage"]
    grids = find_grids(log)
    assert [(g.path.name, g.step) for g in grids] == [
        ("phase-4x4-stabilize.png", 100),
        ("step-00000150.png", 150),
        ("phase-8x8-fade-in.png", 200),  # step-00000200.png shows the same step: dropped
        ("final.png", 300),  # the last logged step has no other grid
    ]
    assert grids[0].title == "step ~100\nend of 4x4 stabilize"
    assert grids[-1].title == "step 300\nfinal"
    written = plot_run(tmp_path, tmp_path / "out")
    names = ["losses.png", "logits.png", "metrics.png", "samples.png"]
    assert [p.name for p in written] == names
    with Image.open(tmp_path / "out" / "metrics.png") as img:
        assert img.width > img.height  # two panels side by side


def test_smooth_is_a_centred_moving_average() -> None:
    import numpy as np

    values = np.array([0.0, 0.0, 3.0, 0.0, 0.0])
    assert smooth(values, 3).tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    assert smooth(values, 1).tolist() == values.tolist()
    assert len(smooth(np.arange(200.0))) == 200


def test_not_a_run_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["plot", str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "metrics.jsonl" in err and "gankit train --out DIR" in err
    with pytest.raises(GankitError, match="does not exist"):
        plot_run(tmp_path / "missing")
    (tmp_path / "metrics.jsonl").write_text("")
    with pytest.raises(GankitError, match="no logged steps"):
        plot_run(tmp_path)


def test_missing_matplotlib_names_the_extra(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails
    with pytest.raises(GankitError, match=r"pip install 'gankit\[plot\]'"):
        plot_run(run_dir, tmp_path)


def test_cli_does_not_import_matplotlib_until_it_plots() -> None:
    code = "import sys, gankit.cli, gankit.plotting; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- TensorBoard (plugin gankit-tensorboard, train option tensorboard=true) ------------


def test_tensorboard_logs_scalars_and_grids_across_a_resume(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="tensorboard is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    tiny_run(run, steps=4, tensorboard=True)
    tiny_run(run, steps=8, tensorboard=True)  # resumes from the checkpoint at step 4
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {r["step"] for r in records} <= {2, 4, 6, 8}
    for tag in ("train/loss_d", "train/loss_g", "train/d_real", "train/d_fake"):
        assert [e.step for e in events.Scalars(tag)] == [2, 4, 6, 8], tag  # each step once
    assert events.Scalars("train/loss_d")[0].value == pytest.approx(records[0]["loss_d"])
    assert [e.step for e in events.Images("samples")] == [3, 6]


def test_tensorboard_missing_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    with pytest.raises(GankitError, match="pip install tensorboard"):
        tiny_run(tmp_path / "run", steps=2, tensorboard=True)
    assert not (tmp_path / "run" / "metrics.jsonl").exists()  # stopped before the first step
