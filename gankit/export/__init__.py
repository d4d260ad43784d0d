"""Export generators to ONNX: self-describing, parity-checked graphs.

:func:`export_onnx` is the entry point; the metadata helpers in
:mod:`gankit.export.metadata` are importable without torch or onnx.
"""

from __future__ import annotations

from typing import Any

__all__ = ["export_onnx", "resolve_generator"]


def __getattr__(name: str) -> Any:
    # Lazy, so ``gankit.export.metadata`` (used by the server) does not import torch.
    if name == "export_onnx":
        from gankit.export.onnx_export import export_onnx

        return export_onnx
    if name == "resolve_generator":
        from gankit.export.resolve import resolve_generator

        return resolve_generator
    raise AttributeError(f"module 'gankit.export' has no attribute {name!r}")
