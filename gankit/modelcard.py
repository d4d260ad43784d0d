"""Model cards: README.md with Hugging Face YAML front matter for an artifact.

The Hub's pipeline tag says what a model does. Image generators (data shaped
``C, H, W``) get ``unconditional-image-generation``, class-conditional ones too:
the Hub has no tag for class-conditional image generation (its tags are listed in
``PIPELINE_DATA`` of huggingface.js, ``packages/tasks/src/pipelines.ts``), and
those carry the ``conditional`` tag as well. Generators of anything else, such
as the 2-D points of the toy mixtures, get no pipeline tag. A card has a
``license`` only when one was given: gankit never chooses a license for a model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from gankit import config as config_mod

#: The Hub pipeline tag of an image generator (conditional or not).
IMAGE_PIPELINE_TAG = "unconditional-image-generation"


def _yaml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def _yaml_scalar(value: str) -> str:
    """``value`` as a YAML scalar: plain when it is a simple word, else JSON-quoted."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", value):
        return value
    return json.dumps(value)


def pipeline_tag(data_shape: Any) -> str | None:
    """The Hub pipeline tag of a generator of ``data_shape``, or None.

    Images (``C, H, W``) are ``unconditional-image-generation``; other data (2-D
    points, shape ``(2,)``) has no Hub pipeline tag, so none is written.
    """
    shape = tuple(int(d) for d in data_shape) if data_shape is not None else ()
    return IMAGE_PIPELINE_TAG if len(shape) == 3 else None


def sample_line(data_shape: Any) -> str:
    """The ``g.sample(16, seed=0)`` line of a card, with what it returns for this shape."""
    shape = tuple(int(d) for d in data_shape) if data_shape is not None else ()
    if len(shape) == 1:
        return f"points = g.sample(16, seed=0)  # [16, {shape[0]}] in the data's coordinates"
    return "images = g.sample(16, seed=0)  # [16, C, H, W] in [-1, 1]"


def metrics_table(metrics: Mapping[str, Any]) -> list[str]:
    """The lines of a markdown table of ``metrics``: name, value, how measured.

    A metric is a plain value or a mapping with ``value`` and any other fields
    (extractor, n, reference, command...), which are listed as "how measured".
    """
    lines = ["| metric | value | how measured |", "| --- | --- | --- |"]
    for name, m in metrics.items():
        if isinstance(m, Mapping):
            how = ", ".join(f"{k}: {v}" for k, v in m.items() if k != "value")
            lines.append(f"| {name} | {m.get('value')} | {how} |")
        else:
            lines.append(f"| {name} | {m} | |")
    return lines


def model_card(
    arch: str,
    dataset: str,
    arch_config: Any,
    steps: int,
    train_config: Any,
    metrics: dict[str, Any],
    num_classes: int = 0,
    license: str | None = None,
) -> str:
    """Render the model card of a generator artifact.

    The front matter carries ``library_name: gankit``, tags, the pipeline tag
    (image generators only, see :func:`pipeline_tag`), the dataset, the license
    (only when ``license`` is given) and the names of the metrics, a list as the
    Hub's schema has it; their values (each metric a dict with at least ``value``,
    and ideally ``extractor``, ``n`` and ``command``) go in the card's table.
    """
    from gankit import __version__

    data_shape = getattr(arch_config, "data_shape", None)
    tags = ["gan", "gankit", arch]
    if num_classes:
        tags.append("conditional")
    lines = ["---", "library_name: gankit", f"tags: {_yaml_list(tags)}"]
    tag = pipeline_tag(data_shape)
    if tag is not None:
        lines.append(f"pipeline_tag: {tag}")
    lines.append(f"datasets: {_yaml_list([dataset])}")
    if license:
        lines.append(f"license: {_yaml_scalar(license)}")
    lines.append(f"training_steps: {steps}")
    if metrics:
        # The Hub's card schema takes `metrics` as a list of metric ids; the values
        # are in the table below (and in config.json), and `gankit push` writes them
        # as `model-index` results.
        lines.append(f"metrics: {_yaml_list(list(metrics))}")
    lines.append("---")
    body = [
        f"# {arch} trained on {dataset}",
        "",
        f"A `{arch}` generator trained with gankit {__version__} for {steps} steps on `{dataset}`.",
        "",
        "![samples](samples.png)",
        "",
        "## Use",
        "",
        "```python",
        "import gankit",
        "",
        'g = gankit.load_generator("PATH_OR_ZOO_NAME")',
        sample_line(data_shape),
        "```",
        "",
        "## Metrics",
        "",
    ]
    if metrics:
        body += metrics_table(metrics)
    else:
        body.append("No metrics were computed for this run.")
    body += [
        "",
        "## Architecture config",
        "",
        "```json",
        json.dumps(config_mod.to_json(arch_config), indent=2),
        "```",
        "",
        "## Training config",
        "",
        "```json",
        json.dumps(config_mod.to_json(train_config), indent=2),
        "```",
        "",
    ]
    return "\n".join(lines + [""] + body)
