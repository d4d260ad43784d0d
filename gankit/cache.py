"""gankit's cache directory: files that can always be computed again.

Deleting the cache costs only time. Plugins keep their files in a
sub-directory named for what it holds (``reference-features`` for the metrics'
features of reference data). ``GANKIT_CACHE_DIR`` chooses the directory, or
turns caching off with ``GANKIT_CACHE_DIR=off``; otherwise it is
``$XDG_CACHE_HOME/gankit``, else ``~/.cache/gankit``.
"""

from __future__ import annotations

import logging
import os
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)

CACHE_ENV = "GANKIT_CACHE_DIR"
#: the value of ``GANKIT_CACHE_DIR`` that turns the cache off
OFF = "off"


def cache_dir(name: str) -> Path | None:
    """The sub-directory ``name`` of gankit's cache (not created), or None when it is off.

    Off means ``GANKIT_CACHE_DIR=off``, or no home directory to put it in (warned
    about once).
    """
    chosen = os.environ.get(CACHE_ENV, "").strip()
    if chosen.lower() == OFF:
        return None
    if chosen:
        return Path(chosen).expanduser() / name
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    if xdg:
        return Path(xdg).expanduser() / "gankit" / name
    try:
        home = Path.home()
    except RuntimeError:  # no HOME and no passwd entry (a container's arbitrary uid)
        _warn_no_home()
        return None
    return home / ".cache" / "gankit" / name


@cache
def _warn_no_home() -> None:
    log.warning(
        "gankit's cache is off: there is no home directory to keep it in; set %s to a "
        "writable directory to use one",
        CACHE_ENV,
    )
