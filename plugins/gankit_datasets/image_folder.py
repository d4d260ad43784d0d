"""The ``image-folder`` dataset: any folder of images, one sub-folder per class.

``ROOT/CLASS/.../*.png`` gives labelled data (class names sorted -> labels
0..K-1); image files directly in ``ROOT`` with no class sub-folders give
unlabelled data. Each image is resized so its short side is ``size`` and
center-cropped to ``size`` x ``size``. Files that cannot be decoded are left
out, with one logged warning that counts them and names the first few (the
rest are logged at debug level).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gankit.data import TensorData
from gankit.errors import ConfigError, DataNotFoundError
from gankit_datasets.common import (
    check_choice,
    check_limit,
    check_positive,
    option,
    to_unit_range,
)

log = logging.getLogger(__name__)

NAME = "image-folder"
#: file suffixes (lower case) treated as images
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
#: what Pillow raises for a file it cannot decode
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)
#: unreadable files named in the warning (all of them are logged at debug level)
NAMED_SKIPPED = 3


@dataclass
class ImageFolderConfig:
    """Config of ``image-folder``.

    Attributes:
        root: the folder of images (required); class sub-folders become labels.
        channels: 3 for RGB, 1 for grayscale.
        size: side of the square images: short side resized, then center-cropped.
        limit: keep only the first N readable images in sorted order (0 keeps all).
    """

    root: str = option("", "folder of images, with one sub-folder per class (required)")
    channels: int = option(3, "3 (RGB) or 1 (grayscale)")
    size: int = option(64, "image side: resize the short side, then center-crop")
    limit: int = option(0, "keep the first N readable images (0 = all)")


def is_image_file(path: Path) -> bool:
    """True for a visible file whose suffix is one of :data:`IMAGE_EXTENSIONS`."""
    return (
        path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".") and path.is_file()
    )


def _images_under(folder: Path) -> list[Path]:
    """Image files anywhere under ``folder``, skipping hidden folders, in sorted order."""
    return sorted(
        p
        for p in folder.rglob("*")
        if is_image_file(p)
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def scan_folder(root: Path) -> tuple[list[Path], list[int] | None, list[str] | None]:
    """Find the image files under ``root``: ``(files, labels, class_names)``.

    Sub-folders holding images are classes (sorted names -> 0..K-1) and the
    images directly in ``root`` are then ignored with a warning; without such
    sub-folders the images in ``root`` are returned unlabelled (``None``, ``None``).
    """
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    classes = [(d.name, files) for d in subdirs if (files := _images_under(d))]
    loose = sorted(p for p in root.iterdir() if is_image_file(p))
    if not classes:
        return loose, None, None
    if loose:
        log.warning(
            "%s: ignoring %d image(s) directly in %r (e.g. %r) because it has class "
            "sub-folders; move them into a class sub-folder to train on them",
            NAME,
            len(loose),
            str(root),
            loose[0].name,
        )
    files = [f for _, class_files in classes for f in class_files]
    labels = [k for k, (_, class_files) in enumerate(classes) for _ in class_files]
    return files, labels, [name for name, _ in classes]


def resize_and_crop(image: Image.Image, size: int) -> Image.Image:
    """Resize ``image`` so its short side is ``size`` (antialiased), then center-crop a square."""
    width, height = image.size
    scale = size / min(width, height)
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    if (new_w, new_h) != (width, height):
        image = image.resize((new_w, new_h), Image.Resampling.BILINEAR)
    left, top = round((new_w - size) / 2), round((new_h - size) / 2)
    return image.crop((left, top, left + size, top + size))


def load_image(path: Path, channels: int, size: int) -> np.ndarray:
    """Decode the image at ``path`` as uint8 ``[size, size, channels]``.

    Raises whatever Pillow raises for an unreadable file (see ``_DECODE_ERRORS``).
    """
    mode = "RGB" if channels == 3 else "L"
    with Image.open(path) as file:
        file.draft(mode, (size, size))  # JPEG: decode at a reduced scale, still >= size
        image: Image.Image = file
        if image.mode == "P" and "transparency" in image.info:
            image = image.convert("RGBA")  # avoids Pillow's palette-transparency warning
        pixels = np.asarray(resize_and_crop(image.convert(mode), size))
    return pixels.reshape(size, size, channels)


def _report_skipped(
    root: Path, skipped: list[tuple[Path, BaseException]], *, any_kept: bool
) -> None:
    """Log the files Pillow could not decode (they are left out of the dataset).

    One warning names the first :data:`NAMED_SKIPPED` with Pillow's error and
    says how to fix them; each is also logged at debug level. Raises
    :class:`DataNotFoundError` instead when no image at all was readable.
    """
    for path, error in skipped:
        log.debug("%s: cannot decode %r (%s: %s)", NAME, str(path), type(error).__name__, error)
    named = "; ".join(f"{str(p)!r} ({type(e).__name__}: {e})" for p, e in skipped[:NAMED_SKIPPED])
    more = len(skipped) - NAMED_SKIPPED
    if more > 0:
        named += f"; and {more} more (all logged at debug level: gankit -vv)"
    summary = f"{len(skipped)} file(s) under {str(root)!r} that Pillow cannot decode: {named}"
    if not any_kept:
        raise DataNotFoundError(f"{NAME}: no readable image in {str(root)!r}; {summary}")
    log.warning(
        "%s: skipped %s; they are left out of the dataset (re-save them as PNG or JPEG, "
        "or delete them)",
        NAME,
        summary,
    )


def make_image_folder(config: ImageFolderConfig) -> TensorData:
    """Load every readable image under ``config.root`` as ``[N, C, size, size]`` in [-1, 1]."""
    if not config.root:
        raise ConfigError(
            f"{NAME} needs the folder of images: pass root=DIR "
            "(class sub-folders in it become labels)"
        )
    check_choice(NAME, "channels", config.channels, (3, 1))
    check_positive(NAME, "size", config.size)
    check_limit(NAME, config.limit)
    root = Path(config.root).expanduser()
    if not root.is_dir():
        raise DataNotFoundError(f"{NAME}: root {str(root)!r} is not a directory")
    files, labels, class_names = scan_folder(root)
    if not files:
        suffixes = " ".join(sorted(s.lstrip(".") for s in IMAGE_EXTENSIONS))
        raise DataNotFoundError(
            f"{NAME}: no image files ({suffixes}) in {str(root)!r} or its sub-folders"
        )
    pixels: list[np.ndarray] = []
    kept_labels: list[int] = []
    skipped: list[tuple[Path, BaseException]] = []
    for i, path in enumerate(files):
        if config.limit and len(pixels) >= config.limit:
            break
        try:
            pixels.append(load_image(path, config.channels, config.size))
        except _DECODE_ERRORS as exc:
            skipped.append((path, exc))
            continue
        if labels is not None:
            kept_labels.append(labels[i])
    if skipped:
        _report_skipped(root, skipped, any_kept=bool(pixels))
    samples = to_unit_range(np.stack(pixels).transpose(0, 3, 1, 2), 255.0)
    return TensorData(
        samples=samples,
        labels=torch.tensor(kept_labels, dtype=torch.int64) if labels is not None else None,
        num_classes=len(class_names) if class_names else 0,
        class_names=class_names,
        name=NAME,
        info={"root": str(root), "skipped": len(skipped)},
    )
