"""The ``fashion-mnist`` dataset, read from its four IDX files.

Looked for in ``ROOT`` and in the torchvision layout ``ROOT/FashionMNIST/raw``,
each file plain or gzip-compressed (``.gz``). Debian's ``dataset-fashion-mnist``
package installs the gzipped files in :data:`DEFAULT_ROOT`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gankit.data import TensorData
from gankit.errors import DataNotFoundError
from gankit_datasets.common import check_choice, check_limit, option, to_unit_range
from gankit_datasets.idx import IDXFormatError, read_idx

NAME = "fashion-mnist"
DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"
SPLITS = ("train", "test")
#: (images, labels) file names of each split, without ``.gz``
FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CLASS_NAMES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
PADDED_SIZE = 32


@dataclass
class FashionMNISTConfig:
    """Config of ``fashion-mnist``.

    Attributes:
        root: directory holding the IDX files, or a torchvision root with
            ``FashionMNIST/raw`` inside.
        split: ``"train"`` (60000 images) or ``"test"`` (10000).
        pad_to_32: pad the 28x28 images to 32x32 with the background value -1.
        limit: keep only the first N images (0 keeps all), for quick runs.
    """

    root: str = option(DEFAULT_ROOT, "directory with the IDX files (or a torchvision root)")
    split: str = option("train", "'train' or 'test'")
    pad_to_32: bool = option(True, "pad 28x28 to 32x32 with background (-1)")
    limit: int = option(0, "keep the first N images (0 = all)")


def candidate_dirs(root: Path) -> list[Path]:
    """The directories searched for the IDX files: ``root`` and its torchvision layout."""
    return [root, root / "FashionMNIST" / "raw"]


def find_split_files(root: str | Path, split: str) -> tuple[Path, Path]:
    """Return the (images, labels) files of ``split`` under ``root``.

    The first directory of :func:`candidate_dirs` holding both files wins; in
    one directory the plain file is preferred to the ``.gz`` one. Raises
    :class:`DataNotFoundError` listing every path looked at and how to get the data.
    """
    root = Path(root).expanduser()
    looked_at: list[Path] = []
    for directory in candidate_dirs(root):
        images, labels = [_first_file(directory, stem, looked_at) for stem in FILES[split]]
        if images is not None and labels is not None:
            return images, labels
    listing = "\n".join(f"  {p}" for p in looked_at)
    all_files = ", ".join(name for pair in FILES.values() for name in pair)
    raise DataNotFoundError(
        f"{NAME} {split} files not found; looked at:\n{listing}\n"
        f"Get the data with `apt-get install dataset-fashion-mnist` (installs it in "
        f"{DEFAULT_ROOT}), or pass root=DIR for a directory with the four IDX files "
        f"({all_files}; each may be gzipped as .gz)."
    )


def _first_file(directory: Path, stem: str, looked_at: list[Path]) -> Path | None:
    """Return ``directory/stem``, else ``directory/stem.gz``, if a file; record both tried."""
    options = [directory / stem, directory / f"{stem}.gz"]
    looked_at.extend(options)
    return next((p for p in options if p.is_file()), None)


def pad_to(images: np.ndarray, size: int, fill: int = 0) -> np.ndarray:
    """Pad ``[N, H, W]`` images evenly on every side to ``size`` x ``size`` with ``fill``."""
    _, height, width = images.shape
    if height > size or width > size:
        raise ValueError(f"cannot pad {height}x{width} images to {size}x{size}")
    top, left = (size - height) // 2, (size - width) // 2
    padding = ((0, 0), (top, size - height - top), (left, size - width - left))
    return np.pad(images, padding, constant_values=fill)


def load_split(
    images_path: Path, labels_path: Path, limit: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Read and check a split's uint8 images ``[N, H, W]`` and labels ``[N]``.

    Raises :class:`IDXFormatError` naming the file when the files do not fit
    together or hold labels outside 0-9.
    """
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise IDXFormatError(
            f"bad image file {str(images_path)!r}: expected uint8 [N, H, W], "
            f"got {images.dtype} {list(images.shape)}"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise IDXFormatError(
            f"bad label file {str(labels_path)!r}: expected uint8 [N], "
            f"got {labels.dtype} {list(labels.shape)}"
        )
    if len(images) != len(labels):
        raise IDXFormatError(
            f"{str(images_path)!r} holds {len(images)} images but {str(labels_path)!r} "
            f"holds {len(labels)} labels"
        )
    if len(labels) and int(labels.max()) >= len(CLASS_NAMES):
        raise IDXFormatError(
            f"bad label file {str(labels_path)!r}: label {int(labels.max())} is not in 0-9"
        )
    if limit:
        images, labels = images[:limit], labels[:limit]
    return images, labels


def make_fashion_mnist(config: FashionMNISTConfig) -> TensorData:
    """Load a Fashion-MNIST split as ``[N, 1, 32, 32]`` (or 28x28) images in [-1, 1]."""
    check_choice(NAME, "split", config.split, SPLITS)
    check_limit(NAME, config.limit)
    images_path, labels_path = find_split_files(config.root or DEFAULT_ROOT, config.split)
    images, labels = load_split(images_path, labels_path, config.limit)
    if config.pad_to_32:
        images = pad_to(images, PADDED_SIZE, fill=0)  # pixel 0 maps to the background -1
    return TensorData(
        samples=to_unit_range(images[:, None], 255.0),
        labels=torch.from_numpy(labels.astype(np.int64)),
        num_classes=len(CLASS_NAMES),
        class_names=list(CLASS_NAMES),
        name=NAME,
        info={"images_file": str(images_path), "labels_file": str(labels_path)},
    )
