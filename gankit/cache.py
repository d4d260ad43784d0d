"""gankit's cache directory: files that can always be computed again.

Deleting the cache costs only time. Plugins keep their files in a
sub-directory named for what it holds (``reference-features`` for the metrics'
features of reference data). ``GANKIT_CACHE_DIR`` chooses the directory, or
turns caching off with ``GANKIT_CACHE_DIR=off``; otherwise it is
``$XDG_CACHE_HOME/gankit``, else ``~/.cache/gankit``.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "GANKIT_CACHE_DIR"
#: the value of ``GANKIT_CACHE_DIR`` that turns the cache off
OFF = "off"


def cache_dir(name: str) -> Path | None:
    """The sub-directory ``name`` of gankit's cache (not created), or None when it is off."""
    chosen = os.environ.get(CACHE_ENV, "").strip()
    if chosen.lower() == OFF:
        return None
    if chosen:
        root = Path(chosen).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
        root = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "gankit"
    return root / name
