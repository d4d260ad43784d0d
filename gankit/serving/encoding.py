"""Encoding sampler output for HTTP responses (numpy + Pillow; no torch)."""

from __future__ import annotations

import base64
import io
import zipfile

import numpy as np
from PIL import Image

from gankit.grids import make_grid

PNG = "image/png"
NPY = "application/octet-stream"
JSON = "application/json"
ZIP = "application/zip"


def png_bytes(image: np.ndarray) -> bytes:
    """Encode one uint8 ``[H, W, C]`` image (C = 1, 3 or 4) as PNG."""
    arr = image[:, :, 0] if image.shape[2] == 1 else image
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="PNG")
    return buf.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    """``np.save`` of ``array`` (read it back with ``np.load(io.BytesIO(body))``)."""
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def zip_of_pngs(images: np.ndarray) -> bytes:
    """A zip archive with one PNG per image: ``sample_0000.png``, ``sample_0001.png``, ..."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for i, image in enumerate(images):
            zf.writestr(f"sample_{i:04d}.png", png_bytes(image))
    return buf.getvalue()


def json_payload(samples: np.ndarray, is_image: bool) -> dict[str, object]:
    """The JSON body: ``{"images": [base64 PNG, ...], "shape": [...]}`` for images,
    ``{"points": [[x, y], ...], "shape": [n, 2]}`` for 2-D models."""
    if is_image:
        images = [base64.b64encode(png_bytes(img)).decode("ascii") for img in samples]
        return {"images": images, "shape": list(samples.shape), "dtype": "uint8"}
    return {"points": samples.tolist(), "shape": list(samples.shape), "dtype": "float32"}


def encode(samples: np.ndarray, fmt: str, grid: bool, is_image: bool) -> tuple[bytes, str]:
    """Return ``(body, media type)`` for a request's format (already validated)."""
    if fmt == "npy":
        return npy_bytes(samples), NPY
    if fmt == "png":
        if grid:
            return png_bytes(make_grid(samples)), PNG
        return zip_of_pngs(samples), ZIP
    import json

    return json.dumps(json_payload(samples, is_image)).encode(), JSON
