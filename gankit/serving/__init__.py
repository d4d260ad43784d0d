"""Serving exported generators: :class:`OnnxSampler` and the HTTP server.

Needs the ``serve`` extra (``pip install 'gankit[serve]'``); nothing here
imports torch. ``from gankit.serving import OnnxSampler`` is lazy.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_PORT", "OnnxSampler", "create_app"]

#: the largest TCP port (the CLI and the server both check ``--port`` against it)
MAX_PORT = 65535


def __getattr__(name: str) -> Any:
    if name == "OnnxSampler":
        from gankit.serving.sampler import OnnxSampler

        return OnnxSampler
    if name == "create_app":
        from gankit.serving.server import create_app

        return create_app
    raise AttributeError(f"module 'gankit.serving' has no attribute {name!r}")
