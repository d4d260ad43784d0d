"""Reference features kept in gankit's cache between runs (gankit_metrics.feature_cache)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import gankit
from gankit.cache import CACHE_ENV, cache_dir
from gankit.sampling import GeneratorSampler
from gankit_metrics import domain
from gankit_metrics.domain import FDConfig, FrechetDistance
from gankit_metrics.feature_cache import STALE_TMP_SECONDS, SUBDIR, cached_features

IDENTITY = {"extractor": "test", "weights": "0" * 64, "batch_size": "10"}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh cache directory of this test's own; returns its reference-features folder."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / SUBDIR


class Counting:
    """A feature extractor stand-in that counts its calls."""

    def __init__(self, result: Callable[[torch.Tensor], object] | None = None) -> None:
        self.calls = 0
        self.result = result or (lambda x: x.flatten(1).double() * 2)

    def __call__(self, images: torch.Tensor) -> object:
        self.calls += 1
        return self.result(images)


def test_a_later_run_reads_the_features_an_earlier_one_computed(cache: Path) -> None:
    images = torch.randn(20, 1, 4, 4)
    compute = Counting()
    first = cached_features(images, IDENTITY, compute)
    second = cached_features(images.clone(), IDENTITY, compute)  # equal images, a new tensor
    assert compute.calls == 1
    assert isinstance(first, torch.Tensor) and isinstance(second, torch.Tensor)
    assert torch.equal(first, second) and second.dtype == torch.float64
    assert len(list(cache.glob("*.safetensors"))) == 1
    assert not list(cache.glob(".*.tmp"))  # the temporary file was renamed into place


def test_other_images_or_another_extractor_are_computed_anew(cache: Path) -> None:
    images = torch.randn(20, 1, 4, 4)
    compute = Counting()
    cached_features(images, IDENTITY, compute)
    changed = images.clone()
    changed[7, 0, 1, 2] += 1e-3  # one pixel
    assert torch.equal(cached_features(changed, IDENTITY, compute), changed.flatten(1) * 2)
    cached_features(images, {**IDENTITY, "weights": "1" * 64}, compute)
    cached_features(images, {**IDENTITY, "batch_size": "11"}, compute)
    assert compute.calls == 4
    assert len(list(cache.glob("*.safetensors"))) == 4


def test_temporary_files_of_killed_runs_are_removed_when_stale(cache: Path) -> None:
    cache.mkdir(parents=True)
    stale, fresh = cache / ".abc.11111111.tmp", cache / ".abc.22222222.tmp"
    for path in (stale, fresh):
        path.write_bytes(b"half a file")
    old = time.time() - STALE_TMP_SECONDS - 60
    os.utime(stale, (old, old))  # a run killed an hour ago; `fresh` may be being written
    cached_features(torch.ones(2, 1, 2, 2), IDENTITY, Counting())
    assert not stale.exists() and fresh.exists()


def test_several_tensors_round_trip(cache: Path) -> None:
    images = torch.randn(6, 3, 2, 2)
    compute = Counting(lambda x: {"features": x.flatten(1).double(), "logits": x.mean((1, 2, 3))})
    first = cached_features(images, IDENTITY, compute)
    second = cached_features(images, IDENTITY, compute)
    assert compute.calls == 1 and isinstance(first, dict) and isinstance(second, dict)
    assert first.keys() == second.keys() == {"features", "logits"}
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_a_damaged_file_is_computed_again_and_replaced(
    cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    images = torch.randn(10, 1, 4, 4)
    compute = Counting()
    cached_features(images, IDENTITY, compute)
    (path,) = cache.glob("*.safetensors")
    path.write_bytes(b"not a safetensors file")
    with caplog.at_level(logging.WARNING, logger="gankit_metrics.feature_cache"):
        again = cached_features(images, IDENTITY, compute)
    assert compute.calls == 2
    assert torch.equal(again, images.flatten(1).double() * 2)
    assert f"cached reference features {path} cannot be read" in caplog.text
    cached_features(images, IDENTITY, compute)  # the replaced file is read
    assert compute.calls == 2


def test_off_and_unwritable_caches_compute_every_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    images = torch.randn(4, 1, 2, 2)
    compute = Counting()
    monkeypatch.setenv(CACHE_ENV, "off")
    assert cache_dir(SUBDIR) is None
    cached_features(images, IDENTITY, compute)
    cached_features(images, IDENTITY, compute)
    assert compute.calls == 2
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "cache"))  # a directory under a file
    with caplog.at_level(logging.WARNING, logger="gankit_metrics.feature_cache"):
        value = cached_features(images, IDENTITY, compute)
    assert torch.equal(value, images.flatten(1).double() * 2)
    assert f"reference features are not cached: cannot write to {blocker / 'cache'}" in caplog.text
    assert f"set {CACHE_ENV} to a writable directory, or to off" in caplog.text


def test_the_cache_lives_where_the_environment_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert cache_dir("x") == tmp_path / "mine" / "x"
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir("x") == tmp_path / "xdg" / "gankit" / "x"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir("x") == tmp_path / "home" / ".cache" / "gankit" / "x"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/xdg")  # the XDG spec: ignore a relative one
    assert cache_dir("x") == tmp_path / "home" / ".cache" / "gankit" / "x"


def test_without_a_home_directory_the_cache_is_off(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", no_home)
    with caplog.at_level(logging.WARNING, logger="gankit.cache"):
        assert cache_dir(SUBDIR) is None
        compute = Counting()
        cached_features(torch.ones(2, 1, 2, 2), IDENTITY, compute)
    assert compute.calls == 1
    assert f"there is no home directory to keep it in; set {CACHE_ENV}" in caplog.text


def test_fd_gives_the_same_value_from_cached_reference_features(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs of ``fd`` on digits: the second reads the reference features from the cache."""
    test = gankit.create_dataset("digits", split="test")

    class Shifted(torch.nn.Module):
        def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
            return test.samples[: len(z)].roll(1, dims=-1)

    passes: list[str] = []
    classify = domain.classify

    def counting(*args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        passes.append(args[3] if len(args) > 3 else "features")
        return classify(*args, **kwargs)

    monkeypatch.setattr(domain, "classify", counting)
    generator = GeneratorSampler(Shifted(), latent_dim=8)
    first = FrechetDistance(FDConfig(n=100)).compute(generator, test)
    second = FrechetDistance(FDConfig(n=100)).compute(generator, test)  # nothing in memory
    assert passes == ["reference features", "features", "features"]
    assert second == first and first["frechet_distance"] > 0
    assert len(list(cache.glob("*.safetensors"))) == 1
