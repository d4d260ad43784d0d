"""FID, KID, Inception Score and precision/recall on Inception-v3 features.

Feature extractor: torch-fidelity's ``FeatureExtractorInceptionV3`` (the
``inception-v3-compat`` network of torch-fidelity and torchmetrics: the
TensorFlow Inception weights FID is defined with, converted to PyTorch, and a
TensorFlow-1-compatible bilinear resize to 299x299). Generated and reference
images in [-1, 1] are mapped to uint8 [0, 255]; grayscale images are repeated
to 3 channels. FID and KID use the 2048-d pool features, the Inception Score
the 1008 unbiased logits, precision/recall the 2048-d pool features (the
precision/recall paper and torch-fidelity's default use VGG16 features, so
those numbers are not comparable with these).

The computations are the libraries' own: torchmetrics'
``FrechetInceptionDistance``, ``KernelInceptionDistance`` and
``InceptionScore`` (fed the extracted features through a pass-through feature
module) and torch-fidelity's ``prc_features_to_metric``. Both come with the
``metrics`` extra (``pip install "gankit[metrics]"``).

gankit never downloads the weights: it uses the file named by the metric's
``weights`` option, or the one in torch's hub cache, where torch-fidelity and
torchmetrics keep it (:func:`hub_cache_path`), and otherwise stops with a
message that says where to put it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gankit.data import TensorData
from gankit.errors import ConfigError, GankitError
from gankit.sampling import GeneratorSampler, module_device, progress_bar
from gankit_metrics.common import (
    SPLIT_HELP,
    ReferenceFeatures,
    check_count,
    check_images,
    option,
)
from gankit_metrics.feature_cache import file_digest
from gankit_metrics.samples import draw_samples

#: the file name torch-fidelity downloads its Inception weights to (and looks for)
WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_HELP = (
    f"path of torch-fidelity's Inception weights ({WEIGHTS_FILE}, or the same state dict "
    f"as .safetensors); default: torch's hub cache (TORCH_HOME/hub/checkpoints)"
)
#: an extractor maps images in [-1, 1] to {"features": [N, D], "logits": [N, K]}
Extractor = Callable[..., dict[str, torch.Tensor]]


def hub_cache_path() -> Path:
    """Where torch-fidelity and torchmetrics keep the Inception weights: torch's hub cache."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def require_extra(metric: str) -> None:
    """Raise a :class:`GankitError` unless torchmetrics and torch-fidelity are installed."""
    missing = [m for m in ("torchmetrics", "torch_fidelity") if importlib.util.find_spec(m) is None]
    if missing:
        raise GankitError(
            f"metric {metric} needs {' and '.join(missing)}: install gankit's metrics extra, "
            f'pip install "gankit[metrics]"'
        )


def missing_weights_error(metric: str, looked_at: Path) -> GankitError:
    """The message for absent Inception weights: which file, where to put it, which option."""
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3 as url
    except ImportError:  # pragma: no cover - require_extra runs first
        url = f"torch-fidelity's release files ({WEIGHTS_FILE})"
    return GankitError(
        f"metric {metric} needs the Inception-v3 weights FID is defined with, torch-fidelity's "
        f"{WEIGHTS_FILE}, and gankit never downloads them. Not found: {looked_at}. Provide the "
        f"file in one of two ways: (1) put it at {hub_cache_path()} (torch's hub cache, under "
        f"TORCH_HOME; torch-fidelity and torchmetrics find it there too), or (2) pass its path "
        f"as the metric option weights=PATH (`gankit eval ... -o {metric}.weights=PATH`, or "
        f"`metrics.{metric}.weights=PATH` when training). On a machine with internet access "
        f"the file is at {url}"
    )


def find_weights(path: str, metric: str) -> Path:
    """The Inception weights file: ``path`` if given, else torch's hub cache; else an error."""
    weights = Path(path).expanduser() if path else hub_cache_path()
    if not weights.is_file():
        raise missing_weights_error(metric, weights)
    return weights.resolve()


def _plain_weights(weights: Path, scratch: Path) -> Path:
    """A .pth file of ``weights`` that holds tensors only (checked without unpickling code).

    torch-fidelity reads the file with ``torch.load(weights_only=False)``; loading it
    first with ``weights_only=True`` refuses a pickle that would run code. A
    .safetensors state dict is converted to such a file in ``scratch``.
    """
    if weights.suffix == ".safetensors":
        from safetensors.torch import load_file

        plain = scratch / WEIGHTS_FILE
        torch.save(load_file(str(weights)), plain)
        return plain
    try:
        torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise GankitError(
            f"{str(weights)!r} is not a plain state dict of tensors ({type(exc).__name__}); "
            f"use torch-fidelity's {WEIGHTS_FILE}"
        ) from None
    return weights


class InceptionExtractor:
    """torch-fidelity's Inception-v3: images in [-1, 1] to pool features and unbiased logits."""

    def __init__(self, weights: Path) -> None:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        with tempfile.TemporaryDirectory() as scratch:
            plain = _plain_weights(weights, Path(scratch))
            self.net = FeatureExtractorInceptionV3(
                "inception-v3-compat", ["2048", "logits_unbiased"], str(plain)
            )
        self.weights = weights

    @torch.no_grad()
    def __call__(
        self, images: torch.Tensor, device: torch.device | None = None
    ) -> dict[str, torch.Tensor]:
        """``{"features": [N, 2048], "logits": [N, 1008]}`` of images in [-1, 1]."""
        device = device or torch.device("cpu")
        self.net.to(device)
        features, logits = self.net(to_inception_input(images).to(device))
        return {"features": features.cpu(), "logits": logits.cpu()}


@cache
def load_extractor(weights: Path) -> InceptionExtractor:
    """The Inception extractor for a weights file, built once per process."""
    return InceptionExtractor(weights)


def to_inception_input(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] ``[N, C, H, W]`` as the extractor takes them: uint8, 3 channels.

    Grayscale is repeated to 3 channels; the extractor resizes to 299x299 itself.
    """
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise GankitError(
            f"Inception metrics take grayscale or RGB images [N, 1 or 3, H, W]; "
            f"got shape {tuple(images.shape)}"
        )
    x = images.float()
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    return ((x.clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)


class PassThrough(nn.Module):
    """A torchmetrics feature module for features that are already extracted."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the features unchanged."""
        return x


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run with torch's global RNG seeded, restoring its state afterwards.

    torchmetrics' KID and Inception Score draw random subsets from the global
    RNG; this makes them reproducible and leaves a training run's RNG untouched.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def torchmetrics_fid(generated: torch.Tensor, reference: torch.Tensor) -> float:
    """FID of two feature sets, computed by torchmetrics' ``FrechetInceptionDistance``."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    fid = FrechetInceptionDistance(feature=PassThrough(reference.shape[1]))
    fid.update(reference.double(), real=True)
    fid.update(generated.double(), real=False)
    return float(fid.compute())


# -- configs ---------------------------------------------------------------------


@dataclass
class FIDConfig:
    """Config of ``fid``."""

    n: int = option(10_000, "generated samples (FID papers often use 50000)")
    seed: int = option(0, "seed of the latents")
    split: str = option("test", SPLIT_HELP)
    weights: str = option("", WEIGHTS_HELP)
    batch_size: int = option(64, "images per Inception batch")


@dataclass
class KIDConfig:
    """Config of ``kid``."""

    n: int = option(10_000, "generated samples")
    seed: int = option(0, "seed of the latents and of the random subsets")
    split: str = option("test", SPLIT_HELP)
    weights: str = option("", WEIGHTS_HELP)
    batch_size: int = option(64, "images per Inception batch")
    subsets: int = option(100, "random subsets the MMD is averaged over")
    subset_size: int = option(1000, "samples per subset (at most n and the reference size)")


@dataclass
class ISConfig:
    """Config of ``is`` (no reference data: it scores the samples alone)."""

    n: int = option(10_000, "generated samples (Inception Score papers use 50000)")
    seed: int = option(0, "seed of the latents and of the split order")
    weights: str = option("", WEIGHTS_HELP)
    batch_size: int = option(64, "images per Inception batch")
    splits: int = option(10, "the samples are scored in this many splits (mean and std)")


@dataclass
class PRConfig:
    """Config of ``pr`` (improved precision and recall, Kynkaanniemi et al. 2019)."""

    n: int = option(10_000, "generated samples")
    seed: int = option(0, "seed of the latents")
    split: str = option("test", SPLIT_HELP)
    weights: str = option("", WEIGHTS_HELP)
    batch_size: int = option(64, "images per Inception batch")
    neighborhood: int = option(3, "k of the k-nearest-neighbour balls")


# -- metrics ---------------------------------------------------------------------


def _distribution_version(name: str) -> str:
    """The installed version of distribution ``name``, or "" if it is not installed."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return ""


class _InceptionMetric:
    """Shared: checks, the extractor, features of generated and reference images.

    ``extractor`` replaces Inception-v3 (tests use a small network); it is
    called as ``extractor(images, device=...)`` and returns ``features`` and
    ``logits`` like :class:`InceptionExtractor`.
    """

    name = ""

    def __init__(self, cfg: Any, extractor: Extractor | None = None) -> None:
        check_count(self.name, "n", cfg.n, 2)
        check_count(self.name, "batch_size", cfg.batch_size)
        self.cfg = cfg
        self._extractor = extractor
        self._reference = ReferenceFeatures()

    def extractor(self) -> Extractor:
        """The configured extractor (Inception-v3 unless one was given)."""
        if self._extractor is None:
            require_extra(self.name)
            self._extractor = load_extractor(find_weights(self.cfg.weights, self.name))
        return self._extractor

    def extract(
        self, images: torch.Tensor, device: torch.device, desc: str = "features"
    ) -> dict[str, torch.Tensor]:
        """Features and logits of images in [-1, 1], ``batch_size`` at a time.

        They keep the extractor's dtype (float32), so the feature cache stores
        them at that size; the metrics convert to float64 where they need it.
        Inside a :func:`gankit.sampling.progress` block a bar titled ``desc`` counts the images.
        """
        extractor = self.extractor()
        parts = []
        with progress_bar(len(images), desc, unit="img") as bar:
            for chunk in images.split(self.cfg.batch_size):
                parts.append(extractor(chunk, device=device))
                bar.update(len(chunk))
        return {key: torch.cat([p[key] for p in parts]) for key in parts[0]}

    def generated(self, generator: GeneratorSampler) -> dict[str, torch.Tensor]:
        """Features of ``n`` generated samples."""
        images = draw_samples(generator, self.cfg.n, self.cfg.seed, None, self.cfg.batch_size)
        return self.extract(images, module_device(generator))

    def reference(self, data: TensorData, device: torch.device) -> dict[str, torch.Tensor]:
        """Features of all of ``data`` (cached for the same data)."""
        check_images(self.name, data)
        weights = getattr(self.extractor(), "weights", None)
        identity = None
        if isinstance(weights, Path):  # Inception-v3 from a file: kept in gankit's cache
            identity = {
                "extractor": "inception-v3 features and logits",
                "weights": file_digest(weights),
                # torch-fidelity's code also decides how images are fitted to Inception-v3
                "torch-fidelity": _distribution_version("torch-fidelity"),
                "batch_size": str(self.cfg.batch_size),
                "device": device.type,
            }
        return self._reference.get(
            data,
            weights if weights is not None else id(self.extractor()),
            lambda x: self.extract(x, device, desc="reference features"),
            identity,
        )


class FID(_InceptionMetric):
    """The ``fid`` metric."""

    name = "fid"

    def compute(self, generator: GeneratorSampler, data: TensorData) -> dict[str, float]:
        """FID between ``n`` samples and all images of the reference split."""
        real = self.reference(data, module_device(generator))["features"]
        fake = self.generated(generator)["features"]
        return {"fid": torchmetrics_fid(fake, real)}


class KID(_InceptionMetric):
    """The ``kid`` metric."""

    name = "kid"

    def compute(self, generator: GeneratorSampler, data: TensorData) -> dict[str, float]:
        """KID (mean and std over random subsets) between samples and the reference split."""
        from torchmetrics.image.kid import KernelInceptionDistance

        size = self.cfg.subset_size
        if size > min(self.cfg.n, len(data)):
            raise ConfigError(
                f"metric kid: subset_size={size} is larger than n={self.cfg.n} or the "
                f"{len(data)} reference images; lower subset_size or raise n"
            )
        real = self.reference(data, module_device(generator))["features"]
        fake = self.generated(generator)["features"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "will save all extracted features"
            kid = KernelInceptionDistance(
                feature=PassThrough(real.shape[1]), subsets=self.cfg.subsets, subset_size=size
            )
        kid.update(real.double(), real=True)
        kid.update(fake.double(), real=False)
        with seeded(self.cfg.seed):
            mean, std = kid.compute()
        return {"kid_mean": float(mean), "kid_std": float(std)}


class InceptionScore(_InceptionMetric):
    """The ``is`` metric."""

    name = "is"

    def compared_with(self, data: TensorData) -> None:
        """None: the Inception Score scores the samples alone."""
        return None

    def compute(self, generator: GeneratorSampler, data: TensorData) -> dict[str, float]:
        """Inception Score of ``n`` samples (mean and std over ``splits``); ``data`` is unused."""
        from torchmetrics.image.inception import InceptionScore as TMInceptionScore

        check_count(self.name, "splits", self.cfg.splits)
        logits = self.generated(generator)["logits"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            score = TMInceptionScore(feature=PassThrough(logits.shape[1]), splits=self.cfg.splits)
        score.update(logits.double())
        with seeded(self.cfg.seed):
            mean, std = score.compute()
        return {"inception_score": float(mean), "inception_score_std": float(std)}


class PrecisionRecall(_InceptionMetric):
    """The ``pr`` metric."""

    name = "pr"

    def compute(self, generator: GeneratorSampler, data: TensorData) -> dict[str, float]:
        """Precision, recall and their F-score of ``n`` samples against the reference split."""
        from torch_fidelity.metric_prc import prc_features_to_metric

        k = self.cfg.neighborhood
        if k < 1 or k >= min(self.cfg.n, len(data)):
            raise ConfigError(
                f"metric pr: neighborhood={k} must be at least 1 and below both n={self.cfg.n} "
                f"and the {len(data)} reference images"
            )
        real = self.reference(data, module_device(generator))["features"]
        fake = self.generated(generator)["features"]
        out = prc_features_to_metric(
            fake.float(),
            real.float(),
            prc_neighborhood=k,
            prc_batch_size=10_000,
            save_cpu_ram=False,
            verbose=False,
        )
        return {key: float(value) for key, value in out.items()}
