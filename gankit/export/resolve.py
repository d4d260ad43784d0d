"""Turn what a user passes to ``export_onnx`` (or a CLI command) into a generator."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from gankit.artifacts import LoadedGenerator, load_generator
from gankit.errors import ArtifactError, HubError

#: what marks a source as a path rather than a zoo name
_PATH_MARKERS = ("/", "\\", os.sep)


def looks_like_path(text: str) -> bool:
    """True for text that names a file or directory: with a separator, or starting with . or ~."""
    return text.startswith((".", "~")) or any(sep in text for sep in _PATH_MARKERS)


def source_text(source: str | Path) -> str:
    """Check a generator source a user typed; return the text for :func:`gankit.load_generator`.

    Sources are an artifact or run directory (or a file in one), ``zoo:NAME`` and
    ``hf://OWNER/NAME[@REVISION]``, as docs/zoo.md has them; a zoo name needs its
    ``zoo:`` prefix, so that a mistyped directory is never taken for a zoo entry.
    A path that does not exist raises :class:`ArtifactError` saying exactly that
    (with a hint when it is a zoo name without its prefix). The commands that load
    a generator (``export``, ``sample``, ``interpolate``, ``eval``) all check
    their source here.
    """
    text = str(source)
    if text.startswith(("zoo:", "hf://")):
        return text
    path = Path(text).expanduser()
    if path.exists():
        return str(path)
    if not looks_like_path(text) and ":" not in text and text in _zoo_names():
        raise ArtifactError(
            f"no such file or directory: {text}; for the zoo entry of that name, give zoo:{text}"
        )
    raise ArtifactError(
        f"no such file or directory: {text} (not a zoo name either; `gankit zoo list` "
        "shows those, to be given as zoo:NAME)"
    )


def _zoo_names() -> set[str]:
    """The zoo catalogue's entry names (none when the zoo client or catalogue is missing)."""
    if importlib.util.find_spec("gankit.hub") is None:
        return set()
    from gankit import hub

    try:
        return set(hub.load_catalogue())
    except HubError:
        return set()


def resolve_generator(source: Any) -> LoadedGenerator:
    """Return the generator to export from a ``LoadedGenerator``, a path or a zoo name.

    Accepted: a :class:`~gankit.artifacts.LoadedGenerator`; an artifact or run
    directory (or a file inside one); ``zoo:NAME``; ``hf://OWNER/NAME[@REVISION]``
    (see :func:`source_text`).
    """
    if isinstance(source, LoadedGenerator):
        return source
    if not isinstance(source, (str, Path)):
        raise ArtifactError(
            f"cannot export a {type(source).__name__}: pass a gankit.artifacts.LoadedGenerator "
            "(from gankit.load_generator), an artifact directory, zoo:NAME or hf://OWNER/NAME"
        )
    return load_generator(source_text(source))
