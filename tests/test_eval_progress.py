"""Batched sampling, the progress bars of `gankit eval` and its reference column.

Tiny generators and small n only: nothing here downloads or trains for long.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

import gankit
import gankit.sampling as sampling
from gankit.errors import ConfigError
from gankit.evaluation import ReferenceData, compared_with, metric_pass, reference_text
from gankit.sampling import GeneratorSampler, progress, progress_bar
from gankit.training.config import resolve
from gankit.training.trainer import Trainer
from gankit_metrics.domain import Coverage, CoverageConfig, FDConfig, FrechetDistance
from gankit_metrics.mixture import MixtureModes, MixtureModesConfig
from gankit_metrics.samples import draw_samples

from cli_in_process import cli
from tiny_run import TINY


class Recorder(nn.Module):
    """Wraps a generator and records the latents and labels of every call."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.calls: list[tuple[torch.Tensor, torch.Tensor | None]] = []

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        self.calls.append((z.clone(), None if labels is None else labels.clone()))
        return self.inner(z, labels=labels)


class Points(nn.Linear):
    """A 2-D point generator: a linear map of the latents (labels ignored)."""

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(z)


def tiny(arch: str, num_classes: int = 0) -> GeneratorSampler:
    """A small real generator (batch norm included) wrapped in a recording sampler."""
    torch.manual_seed(0)
    options: dict = {"data_shape": (1, 16, 16), "latent_dim": 8, "g_width": 8}
    if num_classes:
        options.update(num_classes=num_classes, embed_dim=4)
    module = Recorder(gankit.create_generator(arch, **options))
    return GeneratorSampler(module, latent_dim=8, num_classes=num_classes)


# -- batched sampling ---------------------------------------------------------------------


@pytest.mark.parametrize(("arch", "num_classes"), [("dcgan", 0), ("cgan", 3)])
def test_batched_samples_equal_one_forward_pass(arch: str, num_classes: int) -> None:
    g = tiny(arch, num_classes)
    g.train()  # sample runs it in eval mode and restores the mode afterwards
    z, labels = g.inputs(10, seed=5)
    with torch.no_grad():
        g.generator.eval()
        one_pass = g(z, labels)
        g.generator.train()
    g.generator.calls.clear()

    batched = g.sample(10, seed=5, batch_size=4)

    assert torch.allclose(batched, one_pass, atol=1e-6)
    assert g.generator.training  # the caller's mode is back
    # the latents for all n were drawn first, then run 4, 4 and 2 at a time
    assert [len(call_z) for call_z, _ in g.generator.calls] == [4, 4, 2]
    assert torch.equal(torch.cat([call_z for call_z, _ in g.generator.calls]), z)
    if num_classes:  # labels cycle through the classes across the batch boundaries
        seen = torch.cat([lab for _, lab in g.generator.calls if lab is not None])
        assert seen.tolist() == [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]
    # the default batch size gives the same samples
    assert torch.allclose(g.sample(10, seed=5), batched, atol=1e-6)


def test_sample_batches_yield_in_order_and_keep_the_callers_grad_mode() -> None:
    g = tiny("dcgan")
    whole = g.sample(7, seed=1)
    parts = []
    for batch in g.sample_batches(7, seed=1, batch_size=3):
        assert torch.is_grad_enabled()  # no_grad does not leak out of the generator
        parts.append(batch)
    assert [len(p) for p in parts] == [3, 3, 1]
    assert torch.allclose(torch.cat(parts), whole, atol=1e-6)
    # draw_samples, which the metric plugins use, is the same batched path
    assert torch.allclose(draw_samples(g, 7, 1, batch_size=2), whole.float().cpu(), atol=1e-6)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_a_bad_batch_size_is_named(bad: object) -> None:
    with pytest.raises(ConfigError, match=f"got {bad!r}"):
        tiny("dcgan").sample(4, seed=0, batch_size=bad)
    with pytest.raises(ConfigError, match="positive whole number"):
        tiny("dcgan").sample_batches(4, seed=0, batch_size=bad)  # at the call, not at next()


def test_mixture_modes_samples_in_batches() -> None:
    data = gankit.create_dataset("grid25", n=500)
    g = GeneratorSampler(Recorder(Points(4, 2)), latent_dim=4)
    MixtureModes(MixtureModesConfig(n=600)).compute(g, data)
    assert [len(z) for z, _ in g.generator.calls] == [256, 256, 88]


def test_fd_and_coverage_in_one_metric_pass_draw_their_samples_once() -> None:
    data = gankit.create_dataset("digits", size=16, split="test")
    g = tiny("dcgan")
    fd = FrechetDistance(FDConfig(n=40, batch_size=16))
    coverage = Coverage(CoverageConfig(n=40, batch_size=16))
    alone = {**fd.compute(g, data), **coverage.compute(g, data)}
    assert len(g.generator.calls) == 6  # each metric drew 16 + 16 + 8 samples
    g.generator.calls.clear()
    with metric_pass():
        together = {**fd.compute(g, data), **coverage.compute(g, data)}
        # another seed is other samples: drawn anew
        other = Coverage(CoverageConfig(n=40, batch_size=16, seed=1)).compute(g, data)
    assert len(g.generator.calls) == 6
    assert together == alone
    assert other["classes_covered"] >= 1
    with metric_pass():  # a new pass keeps nothing of the last one
        fd.compute(g, data)
    assert len(g.generator.calls) == 9


# -- progress bars -------------------------------------------------------------------------


def test_progress_bars_show_only_when_asked_or_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sampling, "PROGRESS_DELAY_S", 0.0)
    # outside a progress block (library calls): no bar
    with progress_bar(10, "generating") as bar:
        assert bar.disable
    # off: none; None: only when stderr is a terminal, which pytest's is not
    for setting in (False, None):
        with progress(setting, label="fd"), progress_bar(10, "generating") as bar:
            assert bar.disable
    assert capsys.readouterr().err == ""
    # on: sampling shows a bar titled with the label, counting the samples
    with progress(True, label="fd"):
        tiny("dcgan").sample(600, seed=0)
    err = capsys.readouterr().err
    assert "fd: generating" in err and "/600" in err


@pytest.fixture(scope="module")
def cgan_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = resolve("cgan", "digits", overrides={**TINY, "arch.embed_dim": 4}, steps=2, seed=0)
    return Trainer(spec, tmp_path_factory.mktemp("run") / "run").fit()


def test_eval_shows_progress_on_request_and_is_quiet_otherwise(
    cgan_artifact: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sampling, "PROGRESS_DELAY_S", 0.0)
    args = ["eval", str(cgan_artifact), "--metrics", "fd", "--n", "40"]
    code, out, err = cli(capsys, *args)  # stderr is not a terminal: no bar
    assert code == 0, err
    assert err == "" and "frechet_distance" in out
    code, out, err = cli(capsys, *args, "--progress", "--batch-size", "16")
    assert code == 0, err
    assert "fd: generating" in err and "/40" in err and "fd: features" in err
    assert "fd: generating" not in out  # the table on stdout stays clean
    code, out, err = cli(capsys, *args, "--no-progress")
    assert code == 0 and err == ""


# -- what each metric compares with ------------------------------------------------------


def _table_rows(out: str) -> dict[tuple[str, str], str]:
    """``{(metric, quantity): reference}`` from the printed table."""
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 4 and cells[0] and cells[0] != "metric":
            rows[cells[0], cells[1]] = cells[3]
    return rows


def test_eval_reference_column_says_what_each_metric_compares_with(
    cgan_artifact: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report_path = tmp_path / "eval.json"
    code, out, err = cli(
        capsys,
        *["eval", str(cgan_artifact), "--metrics", "fd,coverage,cond-acc", "--n", "30"],
        *["--batch-size", "8", "--json", str(report_path)],
    )
    assert code == 0, err
    rows = _table_rows(out)
    assert rows["fd", "frechet_distance"] == "digits test (355)"
    # coverage and cond-acc use no reference data: not the training set (digits all)
    assert rows["coverage", "classes_covered"] == ""
    assert rows["cond-acc", "conditional_accuracy"] == ""
    assert "digits all" not in out
    report = json.loads(report_path.read_text())
    test_split = {"dataset": "digits", "split": "test", "size": 355}
    assert report["metrics"]["fd"]["reference"] == test_split
    assert report["metrics"]["coverage"]["reference"] is None
    assert report["metrics"]["cond-acc"]["reference"] is None
    assert report["metrics"]["fd"]["config"]["batch_size"] == 8
    assert "--batch-size 8" in report["command"]


def test_compared_with_mode_centres_and_a_plugin_metric_without_a_say() -> None:
    grid = ReferenceData("grid25", {"n": 500})
    mixture = MixtureModes(MixtureModesConfig())
    ref = compared_with(mixture, MixtureModesConfig(), grid)
    assert reference_text(ref) == "grid25 mode centres (25)"

    class PluginMetric:  # a third-party metric that does not define compared_with
        def compute(self, generator: GeneratorSampler, data: object) -> dict[str, float]:
            return {}

    assert reference_text(compared_with(PluginMetric(), object(), grid)) == "grid25 (500)"
    digits = ReferenceData("digits")
    assert compared_with(Coverage(CoverageConfig()), CoverageConfig(), digits) is None
    assert reference_text(None) == ""
