"""Turn what a user passes to ``export_onnx`` into a :class:`LoadedGenerator`."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from gankit.artifacts import LoadedGenerator, load_generator
from gankit.errors import ArtifactError


def resolve_generator(source: Any) -> LoadedGenerator:
    """Return the generator to export from a ``LoadedGenerator``, a path or a zoo name.

    Accepted: a :class:`~gankit.artifacts.LoadedGenerator`; an artifact directory
    (or a file inside one); ``zoo:NAME`` / ``hf://OWNER/NAME``; and, when the zoo
    client (``gankit.hub``) is installed, a bare zoo name that is not a path.
    """
    if isinstance(source, LoadedGenerator):
        return source
    if not isinstance(source, (str, Path)):
        raise ArtifactError(
            f"cannot export a {type(source).__name__}: pass a gankit.artifacts.LoadedGenerator "
            "(from gankit.load_generator), an artifact directory or a zoo name"
        )
    text = str(source)
    if (
        isinstance(source, str)
        and not Path(text).exists()
        and ":" not in text
        and importlib.util.find_spec("gankit.hub") is not None
    ):
        text = f"zoo:{text}"
    return load_generator(text)
