"""The metric plugins, `gankit eval` and keeping the best checkpoint by a metric.

Nothing here downloads: the Inception metrics are exercised with a small stand-in
feature extractor (and, for the Inception wiring itself, a randomly initialised
Inception-v3 written to a temporary file), and checked to explain how to provide
the real weights when they are absent.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

import gankit
from gankit.cache import CACHE_ENV
from gankit.data import TensorData
from gankit.errors import ConfigError, GankitError
from gankit.evaluation import catalogue_metrics
from gankit.sampling import GeneratorSampler
from gankit.training.config import resolve
from gankit.training.trainer import Trainer
from gankit_metrics.classifier import load_classifier
from gankit_metrics.domain import (
    CondAccConfig,
    ConditionalAccuracy,
    Coverage,
    CoverageConfig,
    FDConfig,
    FrechetDistance,
)
from gankit_metrics.feature_cache import SUBDIR as FEATURES_SUBDIR
from gankit_metrics.frechet import frechet_distance

from tiny_run import TINY

FASHION = Path("/usr/share/datasets/fashion-mnist")


class Replay(nn.Module):
    """A stand-in generator that returns given images in order (labels ignored)."""

    def __init__(self, images: torch.Tensor) -> None:
        super().__init__()
        self.images = images
        self.pos = 0
        self.anchor = nn.Parameter(torch.zeros(1))  # gives the module a device

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        out = self.images[self.pos : self.pos + len(z)]
        self.pos += len(z)
        return out


class ByLabel(nn.Module):
    """A stand-in conditional generator: for label c, an image of class ``(c + shift) % 10``."""

    def __init__(self, data: TensorData, shift: int = 0) -> None:
        super().__init__()
        assert data.labels is not None
        self.by_class = [data.samples[data.labels == c] for c in range(10)]
        self.shift = shift
        self.anchor = nn.Parameter(torch.zeros(1))

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        assert labels is not None
        out = []
        for c, u in zip(labels.tolist(), z[:, 0].tolist(), strict=True):
            pool = self.by_class[(c + self.shift) % 10]
            out.append(pool[int(abs(u) * 1000) % len(pool)])  # an image picked by the latent
        return torch.stack(out)


class Noise(nn.Module):
    """A stand-in generator of uniform noise images in [-1, 1]."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = shape
        self.anchor = nn.Parameter(torch.zeros(1))

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        gen = torch.Generator().manual_seed(int(z[0, 0].abs() * 1e6))
        return torch.rand(len(z), *self.shape, generator=gen) * 2 - 1


def sampler(module: nn.Module, num_classes: int = 0) -> GeneratorSampler:
    return GeneratorSampler(module, latent_dim=4, num_classes=num_classes)


@pytest.fixture(scope="module")
def digits_test() -> TensorData:
    return gankit.create_dataset("digits", split="test")


# -- the domain Frechet distance -------------------------------------------------------


def test_real_data_is_at_the_floor_and_noise_far_above() -> None:
    """Real training images against the test split score the documented floor; noise does not."""
    if FASHION.is_dir():
        train = gankit.create_dataset("fashion-mnist", split="train", limit=10_000)
        test = gankit.create_dataset("fashion-mnist", split="test")
        floor, tolerance = 0.263, 0.01  # docs/benchmarks.md: real train (10k) vs test
    else:  # digits are always there; 1442 train vs 355 test images at 32x32
        train = gankit.create_dataset("digits", split="train")
        test = gankit.create_dataset("digits", split="test")
        floor, tolerance = 10.6, 1.0
    metric = FrechetDistance(FDConfig(n=len(train)))
    real = metric.compute(sampler(Replay(train.samples)), test)
    noise = metric.compute(sampler(Noise(test.data_shape)), test)
    assert real["frechet_distance"] == pytest.approx(floor, abs=tolerance)
    assert noise["frechet_distance"] > 100 * real["frechet_distance"]
    accuracy = load_classifier(test.name).info.test_accuracy
    assert real["classifier_accuracy"] == noise["classifier_accuracy"] == accuracy > 0.85


def test_frechet_distance_agrees_with_torchmetrics(digits_test: TensorData) -> None:
    pytest.importorskip("torchmetrics")
    pytest.importorskip("torch_fidelity")
    from gankit_metrics.inception import torchmetrics_fid

    gen = torch.Generator().manual_seed(0)
    mix = torch.randn(32, 32, generator=gen)
    a = torch.randn(800, 32, generator=gen) @ mix
    b = torch.randn(600, 32, generator=gen) @ (mix * 1.3) + 0.5
    # and the real case: classifier features (ReLU, so singular covariances)
    clf = load_classifier("digits")
    feats_test = clf.model.features(digits_test.samples).double()
    feats_shifted = clf.model.features(digits_test.samples.roll(1, dims=-1)).double()
    for x, y in ((a, b), (feats_shifted, feats_test)):
        ours = frechet_distance(x, y)
        theirs = torchmetrics_fid(x, y)
        assert ours > 1.0
        assert ours == pytest.approx(theirs, rel=1e-3)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="same D"):
        frechet_distance(a, b[:, :5])


# -- coverage and conditional accuracy --------------------------------------------------


def test_coverage_counts_the_classes_produced(digits_test: TensorData) -> None:
    assert digits_test.labels is not None
    first_five = digits_test.samples[digits_test.labels < 5]
    out = Coverage(CoverageConfig(n=len(first_five))).compute(
        sampler(Replay(first_five)), digits_test
    )
    assert out["classes_covered"] == 5 and out["num_classes"] == 10
    shares = [out[f"share_{c}"] for c in range(10)]
    assert sum(shares) == pytest.approx(1.0)
    assert min(shares[:5]) > 0.15 and max(shares[5:]) < 0.05


def test_cond_acc_scores_labels_and_rejects_unconditional_generators(
    digits_test: TensorData,
) -> None:
    metric = ConditionalAccuracy(CondAccConfig(n=200))
    right = metric.compute(sampler(ByLabel(digits_test), 10), digits_test)
    wrong = metric.compute(sampler(ByLabel(digits_test, shift=1), 10), digits_test)
    assert right["conditional_accuracy"] > 0.95 and right["worst_class_accuracy"] > 0.8
    assert wrong["conditional_accuracy"] < 0.05
    with pytest.raises(GankitError, match="needs a conditional generator.*coverage"):
        metric.compute(sampler(Replay(digits_test.samples)), digits_test)


def test_classifier_metrics_explain_how_to_get_weights_for_other_data() -> None:
    data = TensorData(torch.zeros(4, 1, 16, 16), name="my-photos")
    for metric in (
        FrechetDistance(FDConfig(n=4)),
        Coverage(CoverageConfig(n=4)),
        ConditionalAccuracy(CondAccConfig(n=4)),
    ):
        with pytest.raises(GankitError) as err:
            metric.compute(sampler(Replay(data.samples)), data)
        message = str(err.value)
        assert "'my-photos'" in message and "digits, fashion-mnist" in message
        assert "python -m gankit_metrics.train_classifier --data my-photos" in message
        assert "classifier=" in message
    with pytest.raises(ConfigError, match="n must be at least 2, got 1"):
        FrechetDistance(FDConfig(n=1))


def test_trained_classifier_loads_with_its_sidecar(tmp_path: Path) -> None:
    """`python -m gankit_metrics.train_classifier` writes weights a metric takes by path."""
    from gankit_metrics.train_classifier import main

    old_umask = os.umask(0o022)
    try:
        weights = main(["--data", "digits", "--out", str(tmp_path), "--epochs", "1", "size=16"])
    finally:
        os.umask(old_umask)
    # readable by the team like the sidecar (safetensors alone writes 0o600)
    assert stat.S_IMODE(weights.stat().st_mode) == 0o644
    sidecar = json.loads(weights.with_suffix(".json").read_text())
    assert sidecar["dataset"] == "digits" and 0.0 < sidecar["test_accuracy"] <= 1.0
    assert sidecar["training"]["train_images"] == 1442
    data = gankit.create_dataset("digits", split="test", size=16)
    out = Coverage(CoverageConfig(n=50, classifier=str(weights))).compute(
        sampler(Replay(data.samples)), data
    )
    assert out["classifier_accuracy"] == sidecar["test_accuracy"]
    # the wrong file given as classifier= says what it takes
    other = tmp_path / "other.safetensors"
    other.write_bytes(weights.read_bytes())
    other.with_suffix(".json").write_text('{"format": "gankit-generator"}')
    for path, message in [
        (weights.with_suffix(".json"), "must be a .safetensors file"),
        (other, r"is not a classifier sidecar \(it lacks dataset, test_accuracy\)"),
    ]:
        with pytest.raises(GankitError, match=message):
            Coverage(CoverageConfig(n=50, classifier=str(path))).compute(
                sampler(Replay(data.samples)), data
            )


# -- the Inception metrics --------------------------------------------------------------


def tiny_extractor(images: torch.Tensor, device: torch.device | None = None) -> dict:
    """A stand-in for Inception-v3: 4x4 average-pooled pixels and a fixed projection."""
    feats = nn.functional.adaptive_avg_pool2d(images.float(), 4).flatten(1)
    proj = torch.randn(feats.shape[1], 12, generator=torch.Generator().manual_seed(0))
    return {"features": feats, "logits": feats @ proj}


def test_precision_recall_of_identical_sets_is_one(digits_test: TensorData) -> None:
    pytest.importorskip("torch_fidelity")
    from gankit_metrics.inception import PRConfig, PrecisionRecall

    metric = PrecisionRecall(PRConfig(n=len(digits_test)), extractor=tiny_extractor)
    same = metric.compute(sampler(Replay(digits_test.samples)), digits_test)
    assert same["precision"] == same["recall"] == 1.0
    noise = metric.compute(sampler(Noise(digits_test.data_shape)), digits_test)
    assert noise["precision"] < 0.05


def test_fid_kid_is_compute_through_torchmetrics(digits_test: TensorData) -> None:
    pytest.importorskip("torchmetrics")
    pytest.importorskip("torch_fidelity")
    from gankit_metrics.inception import FID, KID, FIDConfig, InceptionScore, ISConfig, KIDConfig

    n = len(digits_test)
    same = sampler(Replay(digits_test.samples))
    fid = FID(FIDConfig(n=n), extractor=tiny_extractor)
    assert fid.compute(same, digits_test)["fid"] == pytest.approx(0.0, abs=1e-3)
    noisy = fid.compute(sampler(Noise(digits_test.data_shape)), digits_test)["fid"]
    assert noisy > 1.0
    kid = KID(KIDConfig(n=n, subsets=5, subset_size=100), extractor=tiny_extractor)
    rng_before = torch.get_rng_state()
    k_same = kid.compute(sampler(Replay(digits_test.samples)), digits_test)
    assert torch.equal(torch.get_rng_state(), rng_before)  # a training run's RNG is untouched
    k_noise = kid.compute(sampler(Noise(digits_test.data_shape)), digits_test)
    assert abs(k_same["kid_mean"]) < 0.1 * k_noise["kid_mean"]
    with pytest.raises(ConfigError, match="subset_size=1000 is larger than n=355"):
        KID(KIDConfig(n=n), extractor=tiny_extractor).compute(same, digits_test)
    score = InceptionScore(ISConfig(n=n, splits=5), extractor=tiny_extractor)
    value = score.compute(sampler(Replay(digits_test.samples)), digits_test)
    assert 1.0 <= value["inception_score"] <= 12.0


@pytest.mark.parametrize("name", ["fid", "kid", "is", "pr"])
def test_inception_metrics_without_weights_say_how_to_provide_them(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, digits_test: TensorData
) -> None:
    pytest.importorskip("torchmetrics")
    pytest.importorskip("torch_fidelity")
    from gankit_metrics.inception import WEIGHTS_FILE

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    g = sampler(Replay(digits_test.samples))
    options = {"n": 10, **({"subset_size": 5} if name == "kid" else {})}
    with pytest.raises(GankitError) as err:
        gankit.create_metric(name, **options).compute(g, digits_test)
    message = str(err.value)
    cache = tmp_path / "torch-home" / "hub" / "checkpoints" / WEIGHTS_FILE
    assert str(cache) in message and "never downloads" in message
    assert f"-o {name}.weights=PATH" in message and f"metrics.{name}.weights=PATH" in message
    missing = tmp_path / "elsewhere.pth"
    with pytest.raises(GankitError, match=f"Not found: {missing}"):
        gankit.create_metric(name, **options, weights=str(missing)).compute(g, digits_test)
    assert not (tmp_path / "torch-home").exists()  # nothing was downloaded or created


def test_inception_extractor_reads_a_weights_file_and_refuses_pickled_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, digits_test: TensorData
) -> None:
    """The real Inception wiring, with randomly initialised weights written to a file."""
    pytest.importorskip("torch_fidelity")
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    from gankit_metrics.inception import FID, FIDConfig, InceptionExtractor, to_inception_input

    with monkeypatch.context() as m:  # build the network without its weights
        m.setattr(fe, "load_state_dict_from_url", lambda *a, **k: None)
        m.setattr(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None)
        net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    weights = tmp_path / "inception.pth"
    torch.save(net.state_dict(), weights)

    x = to_inception_input(torch.tensor([-1.0, 0.0, 1.0]).reshape(1, 1, 1, 3))
    assert x.dtype == torch.uint8 and x.shape == (1, 3, 1, 3)
    assert x[0, :, 0].tolist() == [[0, 128, 255]] * 3  # grayscale repeated to RGB
    images = digits_test.samples[:6]
    out = InceptionExtractor(weights)(images)
    assert out["features"].shape == (6, 2048) and out["logits"].shape == (6, 1008)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    fid = FID(FIDConfig(n=6, weights=str(weights), batch_size=3))
    ref = TensorData(images, name="digits")
    value = fid.compute(sampler(Replay(images)), ref)["fid"]
    assert np.isfinite(value)
    # the reference features are cached at the extractor's float32, half float64's size,
    # and a new metric object reading them gives the same value
    (stored,) = (tmp_path / "cache" / FEATURES_SUBDIR).glob("*.safetensors")
    with safe_open(str(stored), framework="pt") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"F32"}  # noqa: SIM118
    again = FID(FIDConfig(n=6, weights=str(weights), batch_size=3))
    assert again.compute(sampler(Replay(images)), ref)["fid"] == value

    class Payload:
        def __reduce__(self) -> tuple:
            return (print, ("pickled code ran",))

    evil = tmp_path / "evil.pth"
    torch.save({"weight": Payload()}, evil)
    with pytest.raises(GankitError, match="not a plain state dict"):
        InceptionExtractor(evil)


# -- the trainer keeps the best checkpoint ----------------------------------------------


def _metric_log(run: Path, key: str) -> dict[int, float]:
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r[key] for r in lines if key in r}


@pytest.mark.parametrize("mode", ["min", "max"])
def test_best_checkpoint_is_kept_by_metric(tmp_path: Path, mode: str) -> None:
    key = "fd/frechet_distance"
    overrides = {
        **TINY,
        "metrics": ["fd"],
        "metrics.fd.n": 64,
        "metrics_every": 2,
        "checkpoint_every": 2,
        "best_metric": key,
        "best_mode": mode,
    }
    spec = resolve("dcgan", "digits", overrides=overrides, steps=8, seed=3)
    run = tmp_path / "run"
    Trainer(spec, run).fit()
    logged = _metric_log(run, key)
    assert sorted(logged) == [2, 4, 6, 8] and len(set(logged.values())) > 1
    pick = min if mode == "min" else max
    best_step = pick(logged, key=lambda s: logged[s])
    note = json.loads((run / "best.json").read_text())
    assert note["step"] == best_step and note["value"] == logged[best_step]
    assert note["metric"] == key and note["mode"] == mode
    kept = sorted((run / "checkpoints" / "best").glob("ckpt-*.json"))
    assert [p.name for p in kept] == [f"ckpt-{best_step:08d}.json"]
    meta = json.loads(kept[0].read_text())
    assert meta["best"]["value"] == logged[best_step]
    art = run / "artifact-best"
    config = json.loads((art / "config.json").read_text())
    assert config["training"]["steps"] == best_step
    assert config["metrics"][key]["value"] == logged[best_step]
    assert "digits test, 355 samples" in config["metrics"][key]["reference"]
    ckpt_tensors = load_file(str(kept[0].with_suffix(".safetensors")))
    art_tensors = load_file(str(art / "model.safetensors"))
    for name, value in art_tensors.items():
        assert torch.equal(value, ckpt_tensors[f"G_ema.{name}"]), name
    g = gankit.load_generator(str(art))
    assert g.sample(2, seed=0).shape == (2, 1, 16, 16)


def test_best_is_kept_across_a_resume(tmp_path: Path) -> None:
    overrides = {
        **TINY,
        "metrics": ["fd"],
        "metrics.fd.n": 64,
        "metrics_every": 2,
        "checkpoint_every": 2,
        "best_metric": "fd/frechet_distance",
    }
    spec = resolve("dcgan", "digits", overrides=overrides, steps=6, seed=3)
    Trainer(spec, tmp_path / "straight").fit()
    Trainer(spec, tmp_path / "halves").fit(4)
    Trainer(spec, tmp_path / "halves").fit(6)
    straight = json.loads((tmp_path / "straight" / "best.json").read_text())
    assert json.loads((tmp_path / "halves" / "best.json").read_text()) == straight


def test_artifact_records_what_each_metric_compares_with(tmp_path: Path) -> None:
    overrides = {
        **TINY,
        "metrics": ["fd", "coverage"],
        "metrics.fd.n": 64,
        "metrics.coverage.n": 64,
    }
    spec = resolve("dcgan", "digits", overrides=overrides, steps=2, seed=3)
    Trainer(spec, tmp_path / "run").fit()
    recorded = json.loads((tmp_path / "run" / "artifact" / "config.json").read_text())["metrics"]
    assert recorded["fd/frechet_distance"]["reference"] == "digits test, 355 samples"
    # coverage compares a class histogram with a uniform share: no data set to name
    assert "reference" not in recorded["coverage/classes_covered"]
    assert recorded["coverage/classes_covered"]["measured_by"].startswith(
        "gankit trainer, metric coverage"
    )


def test_best_metric_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="names metric 'fd', which is not computed"):
        resolve("dcgan", "digits", overrides={"best_metric": "fd/frechet_distance"})
    with pytest.raises(ConfigError, match="metrics_every=0"):
        resolve(
            "dcgan",
            "digits",
            overrides={"metrics": ["fd"], "best_metric": "fd/x", "metrics_every": 0},
        )
    with pytest.raises(ConfigError, match="best_mode must be 'min' or 'max'"):
        resolve("dcgan", "digits", overrides={"best_mode": "lowest"})
    with pytest.raises(ConfigError, match="metric 'coverage', which is not in metrics"):
        resolve("dcgan", "digits", overrides={"metrics": ["fd"], "metrics.coverage.n": 5})
    with pytest.raises(ConfigError, match="unknown key 'samples'"):
        resolve("dcgan", "digits", overrides={"metrics": ["fd"], "metrics.fd.samples": 5})


# -- gankit eval ------------------------------------------------------------------------


def test_eval_cli_writes_the_metric_values_as_json(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gankit.cli import app

    spec = resolve("cgan", "digits", overrides={**TINY, "arch.embed_dim": 4}, steps=2, seed=0)
    art = Trainer(spec, tmp_path / "run").fit()
    out = tmp_path / "eval" / "eval.json"
    args = ["eval", str(art), "--metrics", "fd,coverage,cond-acc", "--n", "100"]
    result = CliRunner().invoke(app, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "frechet_distance" in result.output
    report = json.loads(out.read_text())
    assert report["data"] == "digits" and set(report["metrics"]) == {"fd", "coverage", "cond-acc"}
    fd = report["metrics"]["fd"]
    assert fd["config"]["n"] == 100 and fd["config"]["split"] == "test"
    assert fd["reference"] == {"dataset": "digits", "split": "test", "size": 355}
    # the reference is the test split, built as the generator was trained (16x16)
    test16 = gankit.create_dataset("digits", split="test", size=16)
    g = gankit.load_generator(str(art))
    expected = FrechetDistance(FDConfig(n=100)).compute(g, test16)
    assert fd["values"]["frechet_distance"] == pytest.approx(expected["frechet_distance"])
    accuracy = load_classifier("digits").info.test_accuracy
    assert report["metrics"]["cond-acc"]["values"]["classifier_accuracy"] == accuracy
    assert 0 <= report["metrics"]["coverage"]["values"]["classes_covered"] <= 10
    # the JSON says how it was measured, and the zoo reads it as catalogue metrics
    assert report["command"] == f"gankit eval {art} --metrics fd,coverage,cond-acc --n 100"
    card = catalogue_metrics(report)
    assert card["frechet_distance"]["value"] == pytest.approx(expected["frechet_distance"], 1e-3)
    assert card["frechet_distance"]["command"] == report["command"]
    assert card["frechet_distance"]["n"] == 100
    assert card["frechet_distance"]["reference"] == "digits test (355 images)"
    assert card["conditional_accuracy"]["classifier_test_accuracy"] == round(accuracy, 4)
    assert card["classes_covered"]["out_of"] == 10
    assert not any(k.startswith("share_") or k == "classifier_accuracy" for k in card)

    bad = CliRunner().invoke(app, [*args, "-o", "fid.weights=x"])
    assert isinstance(bad.exception, ConfigError) and "not among --metrics" in str(bad.exception)
