"""The request body of ``POST /v1/samples``: parsing, validation and its OpenAPI schema.

Every client error raises :class:`InvalidInputError` naming the field
(``body`` for the body as a whole), which the server answers as 4xx JSON
``{"error": "...", "field": "..."}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gankit.serving.errors import InvalidInputError
from gankit.serving.sampler import MAX_SEED, check_n

FORMATS = ("png", "npy", "json")
FIELDS = ("n", "seed", "labels", "format", "grid")


@dataclass(frozen=True)
class Limits:
    """Server limits a request is checked against."""

    max_n: int = 256
    max_body_bytes: int = 64 * 1024


@dataclass(frozen=True)
class SampleRequest:
    """A validated sampling request (labels are checked against the model later)."""

    n: int
    seed: int | None = None
    labels: list[int] | None = None
    format: str = "png"
    grid: bool = True


def json_text(value: Any, limit: int = 60) -> str:
    """``value`` as the client wrote it (JSON: ``true``, ``null``, ``"3"``), shortened."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):  # not JSON-serializable: only reached from Python
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_body(body: bytes, limits: Limits, is_image: bool = True) -> SampleRequest:
    """Parse and validate a JSON request body.

    Messages quote the offending value as JSON (``true``, ``null``), as the client sent it.
    """
    if len(body) > limits.max_body_bytes:
        raise InvalidInputError(
            f"request body is larger than {limits.max_body_bytes} bytes", "body", status=413
        )
    if not body.strip():
        raise InvalidInputError(
            'request body is empty; send a JSON object such as {"n": 16}', "body"
        )
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, nesting
        raise InvalidInputError(f"request body is not valid JSON: {exc}", "body") from None
    if not isinstance(data, dict):
        raise InvalidInputError("request body must be a JSON object", "body")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise InvalidInputError(
            f"unknown field {unknown[0]!r}; expected {', '.join(FIELDS)}", unknown[0]
        )
    if "n" not in data:
        raise InvalidInputError("missing required field 'n' (number of samples)", "n")
    if isinstance(data["n"], bool) or not isinstance(data["n"], int):
        raise InvalidInputError(f"n must be an integer, got {json_text(data['n'])}", "n")
    n = check_n(data["n"], limits.max_n)
    seed = data.get("seed")
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED
    ):
        raise InvalidInputError(
            f"seed must be an integer in 0..2**64-1 or null, got {json_text(seed)}", "seed"
        )
    labels = data.get("labels")
    if labels is not None:
        if not isinstance(labels, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in labels
        ):
            raise InvalidInputError(
                f"labels must be a list of integers or null, got {json_text(labels)}", "labels"
            )
        if len(labels) != n:
            raise InvalidInputError(
                f"got {len(labels)} labels for n = {n}; send one label per sample", "labels"
            )
    fmt = data.get("format", "png")
    if fmt not in FORMATS:
        raise InvalidInputError(
            f"unknown format {json_text(fmt)}; use one of {', '.join(FORMATS)}", "format"
        )
    if fmt == "png" and not is_image:
        raise InvalidInputError("this model outputs 2-D points: use format npy or json", "format")
    grid = data.get("grid", True)
    if not isinstance(grid, bool):
        raise InvalidInputError(f"grid must be true or false, got {json_text(grid)}", "grid")
    return SampleRequest(n=n, seed=seed, labels=labels, format=fmt, grid=grid)


def openapi_schema(limits: Limits, info: dict[str, Any] | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the server (hand-written, kept next to the parser)."""
    error = {
        "description": "Client error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "gankit generator server", "version": "1", **(info or {})},
        "paths": {
            "/v1/samples": {
                "post": {
                    "summary": "Draw samples from the generator",
                    "description": (
                        "Latents come from numpy's default_rng(seed), so a seed gives the same "
                        "samples however requests are batched. The seed used is returned in "
                        "the X-Gankit-Seed header (a random one when seed is null)."
                    ),
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/SampleRequest"}
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": (
                                "png + grid: one PNG grid; png without grid: a zip of PNGs "
                                "(sample_0000.png, ...); npy: np.save of uint8 [n, H, W, C] "
                                "(float32 [n, 2] for 2-D models); json: base64 PNGs."
                            ),
                            "content": {
                                "image/png": {"schema": {"type": "string", "format": "binary"}},
                                "application/zip": {
                                    "schema": {"type": "string", "format": "binary"}
                                },
                                "application/octet-stream": {
                                    "schema": {"type": "string", "format": "binary"}
                                },
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/JsonSamples"}
                                },
                            },
                        },
                        "400": error,
                        "413": error,
                        "415": {**error, "description": "Content-Type is not application/json"},
                        "503": error,
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "The process is alive",
                    "responses": {"200": {"description": "alive"}},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "The model is loaded and warmed up",
                    "responses": {
                        "200": {"description": "ready"},
                        "503": {"description": "still loading"},
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {
                        "200": {
                            "description": "Prometheus text format",
                            "content": {"text/plain": {}},
                        }
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "SampleRequest": {
                    "type": "object",
                    "required": ["n"],
                    "additionalProperties": False,
                    "properties": {
                        "n": {"type": "integer", "minimum": 1, "maximum": limits.max_n},
                        "seed": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_SEED},
                        "labels": {
                            "type": ["array", "null"],
                            "items": {"type": "integer"},
                            "description": "one class per sample (conditional "
                            "models); default: cycle 0..K-1",
                        },
                        "format": {"enum": list(FORMATS), "default": "png"},
                        "grid": {
                            "type": "boolean",
                            "default": True,
                            "description": "png only: one grid image, else a zip",
                        },
                    },
                },
                "JsonSamples": {
                    "type": "object",
                    "properties": {
                        "images": {
                            "type": "array",
                            "items": {"type": "string", "contentEncoding": "base64"},
                        },
                        "points": {
                            "type": "array",
                            "items": {"type": "array", "items": {"type": "number"}},
                        },
                        "shape": {"type": "array", "items": {"type": "integer"}},
                        "dtype": {"type": "string"},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {"type": "string"},
                        "field": {"type": ["string", "null"]},
                    },
                },
            }
        },
    }
