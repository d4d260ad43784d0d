"""Turn what a user passes to ``export_onnx`` into a generator.

Checking a source (a path that does not exist, a zoo name given without its
``zoo:`` prefix) is :func:`gankit.load_generator`'s job, so the Python API and
every command give the same message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gankit.artifacts import LoadedGenerator, load_generator
from gankit.errors import ArtifactError


def resolve_generator(source: Any) -> LoadedGenerator:
    """Return the generator to export from a ``LoadedGenerator``, a path or a zoo name.

    Accepted: a :class:`~gankit.artifacts.LoadedGenerator`; an artifact or run
    directory (or a file inside one); ``zoo:NAME``; ``hf://OWNER/NAME[@REVISION]``
    (see :func:`gankit.load_generator`).
    """
    if isinstance(source, LoadedGenerator):
        return source
    if not isinstance(source, (str, Path)):
        raise ArtifactError(
            f"cannot export a {type(source).__name__}: pass a gankit.artifacts.LoadedGenerator "
            "(from gankit.load_generator), an artifact directory, zoo:NAME or hf://OWNER/NAME"
        )
    return load_generator(source)
