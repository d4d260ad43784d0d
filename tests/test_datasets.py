"""Tests of the built-in datasets plugin (gankit_datasets): no downloads, a few seconds."""

from __future__ import annotations

import gzip
import itertools
import logging
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gankit
from gankit.components import Dataset
from gankit.errors import ConfigError, DataNotFoundError, GankitError
from gankit.plugins import get_manager
from gankit_datasets.fashion_mnist import CLASS_NAMES
from gankit_datasets.idx import IDXFormatError, read_idx

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


# -- registration ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["digits", "fashion-mnist", "image-folder", "ring8", "grid25"])
def test_dataset_is_registered_with_defaults(name: str) -> None:
    comp = get_manager().get("dataset", name)
    assert isinstance(comp, Dataset)
    assert comp.plugin == "gankit-datasets"
    assert comp.description and "\n" not in comp.description
    assert comp.default_steps > 0
    comp.default_config()  # every field has a default


# -- digits ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits() -> gankit.data.TensorData:
    return gankit.create_dataset("digits")


def test_digits_default(digits: gankit.data.TensorData) -> None:
    assert digits.name == "digits"
    assert digits.samples.shape == (1797, 1, 32, 32)
    assert digits.samples.dtype == torch.float32
    assert digits.samples.min().item() == -1.0
    assert digits.samples.max().item() == 1.0
    assert digits.labels is not None and digits.labels.dtype == torch.int64
    assert sorted(digits.labels.unique().tolist()) == list(range(10))
    assert digits.num_classes == 10


def test_digits_other_size_through_registry() -> None:
    data = gankit.create_dataset("digits", size=16)
    assert data.samples.shape == (1797, 1, 16, 16)
    assert data.samples.min().item() == -1.0
    assert data.samples.max().item() == 1.0
    assert data.labels is not None and len(data.labels) == 1797


def test_digits_rejects_bad_size() -> None:
    with pytest.raises(ConfigError, match="size"):
        gankit.create_dataset("digits", size=0)


def test_digits_train_and_test_splits_partition_all(digits: gankit.data.TensorData) -> None:
    train = gankit.create_dataset("digits", split="train")
    test = gankit.create_dataset("digits", split="test")
    assert (len(train), len(test)) == (1442, 355)
    assert train.labels is not None and test.labels is not None and digits.labels is not None
    per_class = torch.bincount(test.labels, minlength=10)
    assert per_class.min() >= 34 and per_class.max() <= 36  # every fifth image of each class
    together = torch.cat([train.samples, test.samples]).flatten(1)
    assert sorted(map(tuple, together.tolist())) == sorted(
        map(tuple, digits.samples.flatten(1).tolist())
    )
    with pytest.raises(ConfigError, match="split must be 'all' or 'train' or 'test', got 'val'"):
        gankit.create_dataset("digits", split="val")


# -- IDX files and fashion-mnist ------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array as an IDX file."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write ``array`` as IDX to ``path``, gzipped if the name ends in .gz."""
    data = idx_bytes(array)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def tiny_images(n: int, offset: int) -> np.ndarray:
    """``n`` 28x28 uint8 images with distinct known values, including 0 and 255."""
    images = (np.arange(n * 28 * 28).reshape(n, 28, 28) * 7 + offset) % 256
    images[0, 0, 0] = 0
    images[0, 27, 27] = 255
    return images.astype(np.uint8)


TRAIN_IMAGES = tiny_images(5, offset=0)
TRAIN_LABELS = np.array([9, 0, 3, 7, 1], dtype=np.uint8)
TEST_IMAGES = tiny_images(3, offset=100)
TEST_LABELS = np.array([2, 8, 5], dtype=np.uint8)


def write_fashion(directory: Path, gz: bool) -> Path:
    """Write the four tiny Fashion-MNIST IDX files into ``directory``."""
    suffix = ".gz" if gz else ""
    write_idx(directory / f"train-images-idx3-ubyte{suffix}", TRAIN_IMAGES)
    write_idx(directory / f"train-labels-idx1-ubyte{suffix}", TRAIN_LABELS)
    write_idx(directory / f"t10k-images-idx3-ubyte{suffix}", TEST_IMAGES)
    write_idx(directory / f"t10k-labels-idx1-ubyte{suffix}", TEST_LABELS)
    return directory


def expected_unit(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images.astype(np.float32) / 255.0 * 2.0 - 1.0)


@pytest.mark.parametrize("name", ["x.idx", "x.idx.gz"])
def test_read_idx_round_trip(tmp_path: Path, name: str) -> None:
    array = TRAIN_IMAGES[:2]
    out = read_idx(write_idx(tmp_path / name, array))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, array)


def test_read_idx_rejects_bad_magic(tmp_path: Path) -> None:
    path = tmp_path / "notidx"
    path.write_bytes(b"GIF89a not an idx file at all")
    with pytest.raises(IDXFormatError, match="magic") as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_rejects_truncated_file(tmp_path: Path, gz: bool) -> None:
    path = tmp_path / "train-images-idx3-ubyte"
    if gz:  # a gzip stream cut short
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(idx_bytes(TRAIN_IMAGES))[:-20]
    else:
        data = idx_bytes(TRAIN_IMAGES)[:-100]
    path.write_bytes(data)
    with pytest.raises(IDXFormatError) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, GankitError)


@pytest.mark.parametrize("gz", [False, True])
def test_fashion_mnist_flat_dir(tmp_path: Path, gz: bool) -> None:
    root = write_fashion(tmp_path, gz=gz)
    data = gankit.create_dataset("fashion-mnist", root=str(root))
    assert data.name == "fashion-mnist"
    assert data.samples.shape == (5, 1, 32, 32)
    assert data.samples.dtype == torch.float32
    # padded border is the background -1, the centre is the original image
    centre = data.samples[:, 0, 2:30, 2:30]
    torch.testing.assert_close(centre, expected_unit(TRAIN_IMAGES))
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:30, 2:30] = False
    assert (data.samples[:, 0][:, border] == -1.0).all()
    # pixel 0 -> -1, pixel 255 -> 1 exactly
    assert data.samples[0, 0, 2, 2].item() == -1.0
    assert data.samples[0, 0, 29, 29].item() == 1.0
    assert data.labels is not None and data.labels.dtype == torch.int64
    assert data.labels.tolist() == TRAIN_LABELS.tolist()
    assert data.num_classes == 10
    assert data.class_names == CLASS_NAMES
    assert data.class_names[0] == "T-shirt/top" and data.class_names[9] == "Ankle boot"


def test_fashion_mnist_torchvision_root(tmp_path: Path) -> None:
    write_fashion(tmp_path / "FashionMNIST" / "raw", gz=True)
    data = gankit.create_dataset("fashion-mnist", root=str(tmp_path), split="test")
    assert data.samples.shape == (3, 1, 32, 32)
    assert data.labels is not None and data.labels.tolist() == TEST_LABELS.tolist()


def test_fashion_mnist_split_limit_and_no_padding(tmp_path: Path) -> None:
    root = str(write_fashion(tmp_path, gz=False))
    test = gankit.create_dataset("fashion-mnist", root=root, split="test", pad_to_32=False)
    assert test.samples.shape == (3, 1, 28, 28)
    torch.testing.assert_close(test.samples[:, 0], expected_unit(TEST_IMAGES))
    limited = gankit.create_dataset("fashion-mnist", root=root, limit=2)
    assert limited.samples.shape == (2, 1, 32, 32)
    assert limited.labels is not None and limited.labels.tolist() == TRAIN_LABELS[:2].tolist()


def test_fashion_mnist_rejects_unknown_split(tmp_path: Path) -> None:
    root = str(write_fashion(tmp_path, gz=False))
    with pytest.raises(ConfigError, match="'validation'"):
        gankit.create_dataset("fashion-mnist", root=root, split="validation")


def test_fashion_mnist_truncated_file_names_it(tmp_path: Path) -> None:
    root = write_fashion(tmp_path, gz=False)
    images = root / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:1000])
    with pytest.raises(IDXFormatError, match="truncated") as info:
        gankit.create_dataset("fashion-mnist", root=str(root))
    assert str(images) in str(info.value)


def test_fashion_mnist_missing_dir(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DataNotFoundError) as info:
        gankit.create_dataset("fashion-mnist", root=str(missing))
    message = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert "root=DIR" in message
    for path in [
        missing / "train-images-idx3-ubyte",
        missing / "train-images-idx3-ubyte.gz",
        missing / "FashionMNIST" / "raw" / "train-labels-idx1-ubyte.gz",
    ]:
        assert str(path) in message


@pytest.mark.skipif(
    not DEBIAN_FASHION.is_dir(),
    reason=f"{DEBIAN_FASHION} absent (apt-get install dataset-fashion-mnist)",
)
def test_fashion_mnist_debian_files() -> None:
    train = gankit.create_dataset("fashion-mnist")  # the default root is the Debian one
    assert train.samples.shape == (60000, 1, 32, 32)
    assert train.samples.min().item() == -1.0 and train.samples.max().item() == 1.0
    assert train.labels is not None
    assert torch.bincount(train.labels).tolist() == [6000] * 10
    test = gankit.create_dataset("fashion-mnist", split="test", pad_to_32=False)
    assert test.samples.shape == (10000, 1, 28, 28)


# -- image-folder ------------------------------------------------------------------


def save(path: Path, image: Image.Image) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


@pytest.fixture
def class_folder(tmp_path: Path) -> Path:
    """cats/ and dogs/ with mixed RGB/grayscale PNG/JPEG of different sizes, one corrupt file."""
    root = tmp_path / "pets"
    save(root / "cats" / "a.png", Image.new("RGB", (40, 30), (255, 0, 0)))
    save(root / "cats" / "b.jpg", Image.new("L", (20, 50), 128))
    save(root / "dogs" / "c.png", Image.new("L", (64, 64), 255))
    save(root / "dogs" / "d.jpeg", Image.new("RGB", (100, 80), (0, 0, 255)))
    (root / "dogs" / "e_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    (root / "dogs" / "notes.txt").write_text("not an image, not counted")
    return root


def _image_folder_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "gankit_datasets.image_folder" and r.levelno == logging.WARNING
    ]


def test_image_folder_labelled(class_folder: Path) -> None:
    data = gankit.create_dataset("image-folder", root=str(class_folder), size=16)
    assert data.name == "image-folder"
    assert data.samples.shape == (4, 3, 16, 16)
    assert data.samples.dtype == torch.float32
    assert data.samples.min() >= -1.0 and data.samples.max() <= 1.0
    assert data.class_names == ["cats", "dogs"]
    assert data.num_classes == 2
    assert data.labels is not None and data.labels.tolist() == [0, 0, 1, 1]
    red = torch.tensor([1.0, -1.0, -1.0]).view(3, 1, 1).expand(3, 16, 16)
    torch.testing.assert_close(data.samples[0], red)  # a.png, RGB order kept
    assert (data.samples[2] == 1.0).all()  # c.png: white grayscale -> RGB


def test_image_folder_logs_each_corrupt_file_it_skips(
    class_folder: Path, caplog: pytest.LogCaptureFixture, recwarn: pytest.WarningsRecorder
) -> None:
    """A clean logged warning naming the file, what happens to it and the fix; no UserWarning."""
    caplog.set_level(logging.DEBUG, logger="gankit_datasets.image_folder")
    data = gankit.create_dataset("image-folder", root=str(class_folder), size=8)
    assert len(data) == 4 and data.info["skipped"] == 1  # the corrupt file is left out
    corrupt = str(class_folder / "dogs" / "e_corrupt.png")
    [message] = _image_folder_warnings(caplog)
    assert message.startswith(f"image-folder: skipped 1 file(s) under {str(class_folder)!r}")
    assert f"cannot decode: {corrupt!r} (UnidentifiedImageError: " in message
    assert message.endswith(
        "they are left out of the dataset (re-save them as PNG or JPEG, or delete them)"
    )
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]

    # many: the warning names a few, debug level has every one
    caplog.clear()
    for i in range(5):
        (class_folder / "cats" / f"z{i}.png").write_bytes(b"not a png")
    gankit.create_dataset("image-folder", root=str(class_folder), size=8)
    [message] = _image_folder_warnings(caplog)
    assert message.startswith("image-folder: skipped 6 file(s)")
    assert "; and 3 more (all logged at debug level: gankit -vv)" in message
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert sum("cannot decode" in m for m in debug) == 6


def test_image_folder_logs_loose_images_it_ignores(
    class_folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    save(class_folder / "loose.png", Image.new("RGB", (8, 8)))
    with caplog.at_level(logging.WARNING, logger="gankit_datasets.image_folder"):
        data = gankit.create_dataset("image-folder", root=str(class_folder), size=8)
    assert len(data) == 4
    assert any(
        f"ignoring 1 image(s) directly in {str(class_folder)!r} (e.g. 'loose.png')" in m
        and m.endswith("move them into a class sub-folder to train on them")
        for m in _image_folder_warnings(caplog)
    )


def test_image_folder_grayscale(class_folder: Path) -> None:
    data = gankit.create_dataset("image-folder", root=str(class_folder), channels=1, size=8)
    assert data.samples.shape == (4, 1, 8, 8)
    gray = 128 / 255 * 2 - 1
    torch.testing.assert_close(data.samples[1], torch.full((1, 8, 8), gray), atol=0.02, rtol=0)


def test_image_folder_center_crops_the_short_side(tmp_path: Path) -> None:
    image = Image.new("RGB", (90, 30), (255, 0, 0))
    image.paste((0, 255, 0), (30, 0, 60, 30))  # thirds: red | green | blue
    image.paste((0, 0, 255), (60, 0, 90, 30))
    save(tmp_path / "wide.png", image)
    data = gankit.create_dataset("image-folder", root=str(tmp_path), size=10)
    assert data.samples.shape == (1, 3, 10, 10)
    green = torch.tensor([-1.0, 1.0, -1.0])
    torch.testing.assert_close(data.samples[0, :, :, 2:8].mean(dim=(1, 2)), green)


def test_image_folder_unlabelled_and_limit(tmp_path: Path) -> None:
    for i in range(3):
        save(tmp_path / f"img{i}.png", Image.new("RGB", (12, 12), (i * 100, 0, 0)))
    data = gankit.create_dataset("image-folder", root=str(tmp_path), size=12)
    assert data.samples.shape == (3, 3, 12, 12)
    assert data.labels is None and data.num_classes == 0 and data.class_names is None
    limited = gankit.create_dataset("image-folder", root=str(tmp_path), size=12, limit=2)
    assert len(limited) == 2


def test_image_folder_needs_root() -> None:
    with pytest.raises(ConfigError, match="root=DIR"):
        gankit.create_dataset("image-folder")


def test_image_folder_without_readable_images(tmp_path: Path) -> None:
    (tmp_path / "broken.jpg").write_bytes(b"nope")
    with pytest.raises(DataNotFoundError, match="no readable image"):
        gankit.create_dataset("image-folder", root=str(tmp_path))
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(DataNotFoundError, match="no image files"):
        gankit.create_dataset("image-folder", root=str(tmp_path / "empty"))
    with pytest.raises(DataNotFoundError, match="not a directory"):
        gankit.create_dataset("image-folder", root=str(tmp_path / "missing"))


# -- 2-D mixtures ------------------------------------------------------------------

RING8 = [(math.cos(2 * math.pi * k / 8), math.sin(2 * math.pi * k / 8)) for k in range(8)]
GRID25 = list(itertools.product([-4.0, -2.0, 0.0, 2.0, 4.0], repeat=2))
MIXTURES = [("ring8", RING8, 0.01, 1.04), ("grid25", GRID25, 0.05, 4.2)]


@pytest.mark.parametrize(("name", "centers", "std", "bound"), MIXTURES)
def test_mixture(name: str, centers: list[tuple[float, float]], std: float, bound: float) -> None:
    data = gankit.create_dataset(name)
    k = len(centers)
    assert data.name == name
    assert data.samples.shape == (100_000, 2) and data.samples.dtype == torch.float32
    assert data.labels is not None and data.labels.dtype == torch.int64
    assert data.num_classes == k
    assert data.mode_std == std
    assert data.mode_centers is not None and data.mode_centers.shape == (k, 2)
    got = sorted(tuple(round(v, 6) for v in c) for c in data.mode_centers.tolist())
    assert got == sorted(tuple(round(v, 6) + 0.0 for v in c) for c in centers)
    assert data.value_range == pytest.approx((-bound, bound))

    deviation = data.samples - data.mode_centers[data.labels]
    assert deviation.abs().max().item() < 5 * std  # every sample near its own mode
    counts = torch.bincount(data.labels, minlength=k)
    assert counts.min() > 0.9 * len(data) / k and counts.max() < 1.1 * len(data) / k
    for mode in range(k):
        mode_std = deviation[data.labels == mode].std().item()
        assert mode_std == pytest.approx(std, rel=0.05)


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_mixture_seed(name: str) -> None:
    a = gankit.create_dataset(name, n=1000, seed=3)
    b = gankit.create_dataset(name, n=1000, seed=3)
    c = gankit.create_dataset(name, n=1000, seed=4)
    assert a.samples.shape == (1000, 2)
    assert torch.equal(a.samples, b.samples) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.samples, c.samples)
