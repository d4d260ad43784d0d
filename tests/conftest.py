"""Suite-wide settings: the tests' own gankit cache, never the user's.

``GANKIT_CACHE_DIR`` (see :mod:`gankit.cache`) is pointed at a temporary
directory for the whole session, before any test runs, so that in-process
tests and the ``gankit`` subprocesses they start (which inherit the
environment) share one cache that is removed at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from gankit.cache import CACHE_ENV

_SESSION_CACHE: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """Give the session its own, empty gankit cache directory."""
    _SESSION_CACHE.append(tempfile.mkdtemp(prefix="gankit-test-cache-"))
    os.environ[CACHE_ENV] = _SESSION_CACHE[-1]


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the session's cache directory."""
    while _SESSION_CACHE:
        shutil.rmtree(_SESSION_CACHE.pop(), ignore_errors=True)
