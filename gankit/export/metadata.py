"""The ``metadata_props`` that make an exported ONNX generator self-describing.

Every value is a string (ONNX metadata is a string map). A sampler needs only the
``.onnx`` file: the latent size, the classes, the output layout and the original
artifact's ``config.json`` all travel inside it. This module imports neither
torch nor onnx, so the server can use it without them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gankit.errors import ArtifactError

KEY_CONFIG = "gankit_config"
KEY_VERSION = "gankit_version"
KEY_LATENT_DIM = "latent_dim"
KEY_NUM_CLASSES = "num_classes"
KEY_OUTPUT_FORMAT = "output_format"
KEY_DATA_SHAPE = "data_shape"
KEY_BATCH = "batch"
KEY_PRECISION = "precision"

#: ``images`` is float32 ``[B, C, H, W]`` in ``[-1, 1]`` (or ``[B, 2]`` points)
FORMAT_FLOAT = "float"
#: ``images`` is uint8 ``[B, H, W, C]``
FORMAT_UINT8 = "uint8"
OUTPUT_FORMATS = (FORMAT_FLOAT, FORMAT_UINT8)

INPUT_Z = "z"
INPUT_LABELS = "labels"
OUTPUT_IMAGES = "images"


@dataclass(frozen=True)
class OnnxModelInfo:
    """What an exported generator says about itself (parsed ``metadata_props``)."""

    latent_dim: int
    num_classes: int
    output_format: str
    data_shape: tuple[int, ...]
    batch: int | None  # None: dynamic batch
    precision: str = "fp32"
    gankit_version: str = ""
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def is_image(self) -> bool:
        """True for image models (``data_shape`` is ``(C, H, W)``)."""
        return len(self.data_shape) == 3

    @property
    def conditional(self) -> bool:
        """True when the model takes a ``labels`` input."""
        return self.num_classes > 0


def build_metadata(
    config: Mapping[str, Any],
    *,
    latent_dim: int,
    num_classes: int,
    data_shape: tuple[int, ...],
    output_format: str,
    batch: int | None,
    precision: str,
    gankit_version: str,
) -> dict[str, str]:
    """Return the string map written into an exported model's ``metadata_props``."""
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output_format must be one of {OUTPUT_FORMATS}, got {output_format!r}")
    return {
        KEY_CONFIG: json.dumps(dict(config), sort_keys=True, default=str),
        KEY_VERSION: gankit_version,
        KEY_LATENT_DIM: str(int(latent_dim)),
        KEY_NUM_CLASSES: str(int(num_classes)),
        KEY_OUTPUT_FORMAT: output_format,
        KEY_DATA_SHAPE: json.dumps([int(s) for s in data_shape]),
        KEY_BATCH: "dynamic" if batch is None else str(int(batch)),
        KEY_PRECISION: precision,
    }


def parse_metadata(props: Mapping[str, str], source: str = "model") -> OnnxModelInfo:
    """Parse ``metadata_props`` written by :func:`build_metadata`.

    Raises :class:`~gankit.errors.ArtifactError` naming the missing or bad key
    when the model was not exported by gankit.
    """
    missing = [k for k in (KEY_LATENT_DIM, KEY_NUM_CLASSES, KEY_OUTPUT_FORMAT) if k not in props]
    if missing:
        raise ArtifactError(
            f"{source!r} has no gankit metadata ({', '.join(missing)} missing): export it with "
            "`gankit export ARTIFACT --format onnx`"
        )
    try:
        config = json.loads(props.get(KEY_CONFIG, "{}"))
        shape_text = props.get(KEY_DATA_SHAPE)
        data_shape = json.loads(shape_text) if shape_text else config.get("data_shape", [])
        batch_text = props.get(KEY_BATCH, "dynamic")
        info = OnnxModelInfo(
            latent_dim=int(props[KEY_LATENT_DIM]),
            num_classes=int(props[KEY_NUM_CLASSES]),
            output_format=props[KEY_OUTPUT_FORMAT],
            data_shape=tuple(int(s) for s in data_shape),
            batch=None if batch_text == "dynamic" else int(batch_text),
            precision=props.get(KEY_PRECISION, "fp32"),
            gankit_version=props.get(KEY_VERSION, ""),
            config=config,
        )
    except (ValueError, TypeError) as exc:
        raise ArtifactError(f"{source!r} has malformed gankit metadata: {exc}") from None
    if info.output_format not in OUTPUT_FORMATS:
        raise ArtifactError(
            f"{source!r}: unknown output_format {info.output_format!r} in its metadata "
            f"(expected one of {', '.join(OUTPUT_FORMATS)})"
        )
    if not info.data_shape:
        raise ArtifactError(f"{source!r}: its gankit metadata has no data_shape")
    return info
