"""gankit's cache directory: files that can always be computed again.

Deleting the cache costs only time. Plugins keep their files in a
sub-directory named for what it holds (``reference-features`` for the metrics'
features of reference data), made with :func:`make_cache_dir`, which marks it
with a ``CACHEDIR.TAG`` (https://bford.info/cachedir/: backup tools such as
``tar --exclude-caches``, borg and restic skip such directories).
``GANKIT_CACHE_DIR`` chooses the directory, or turns caching off with
``GANKIT_CACHE_DIR=off``; otherwise it is ``$XDG_CACHE_HOME/gankit``, else
``~/.cache/gankit``.

``gankit cache`` lists the sub-directories and ``gankit cache clear`` removes
them (:func:`cache_entries`, :func:`clear_cache`). Only tagged sub-directories
are gankit's: ``GANKIT_CACHE_DIR`` may name a directory that also holds the
user's own files (even their home), and nothing else in it is ever touched.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from gankit.errors import GankitError

log = logging.getLogger(__name__)

CACHE_ENV = "GANKIT_CACHE_DIR"
#: the value of ``GANKIT_CACHE_DIR`` that turns the cache off
OFF = "off"


#: the file that marks a directory as a cache, and the line it must begin with
TAG_FILE = "CACHEDIR.TAG"
TAG_SIGNATURE = "Signature: 8a477f597d28d172789f06886806bc55"
#: what follows the signature in gankit's tags (how gankit knows a tag is its own)
TAG_COMMENT = "# gankit's cache: its files are computed again when missing (gankit cache clear)"


def cache_root() -> Path | None:
    """gankit's cache directory (absolute; not created), or None when the cache is off.

    Off means ``GANKIT_CACHE_DIR=off``, or no home directory to put it in (warned
    about once); :func:`cache_off_reason` says which. A relative
    ``GANKIT_CACHE_DIR`` is taken from the current directory (warned about once:
    another directory would mean another cache); a relative ``XDG_CACHE_HOME`` is
    ignored, as the XDG specification says.
    """
    chosen = os.environ.get(CACHE_ENV, "").strip()
    if chosen.lower() == OFF:
        return None
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_absolute():
            path = path.absolute()
            _warn_relative(chosen, str(path))
        return path
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    if xdg and Path(xdg).expanduser().is_absolute():
        return Path(xdg).expanduser() / "gankit"
    try:
        home = Path.home()
    except RuntimeError:  # no HOME and no passwd entry (a container's arbitrary uid)
        _warn_no_home()
        return None
    return home / ".cache" / "gankit"


def cache_off_reason() -> str | None:
    """Why gankit's cache is off (for messages), or None when it is on."""
    if os.environ.get(CACHE_ENV, "").strip().lower() == OFF:
        return f"{CACHE_ENV}={OFF}"
    if cache_root() is None:
        return f"there is no home directory to keep it in; set {CACHE_ENV} to a directory"
    return None


def cache_dir(name: str) -> Path | None:
    """The sub-directory ``name`` of gankit's cache (not created), or None when it is off."""
    root = cache_root()
    return None if root is None else root / name


def make_cache_dir(directory: Path) -> None:
    """Create a cache sub-directory (and its parents) and tag it as gankit's cache.

    Raises :class:`OSError` when it cannot be written; callers warn and go on
    without the cache.
    """
    directory.mkdir(parents=True, exist_ok=True)
    tag = directory / TAG_FILE
    if not tag.is_file():
        # "x": another process that tagged it first keeps its tag
        with contextlib.suppress(FileExistsError), tag.open("x", encoding="utf-8") as f:
            f.write(f"{TAG_SIGNATURE}\n{TAG_COMMENT}\n")


def is_gankit_cache(directory: Path) -> bool:
    """Whether ``directory`` is a real directory (not a link) that gankit tagged as its cache."""
    if directory.is_symlink() or not directory.is_dir():
        return False
    try:
        lines = (directory / TAG_FILE).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return False
    return lines[:2] == [TAG_SIGNATURE, TAG_COMMENT]


@dataclass(frozen=True)
class CacheEntry:
    """One sub-directory of gankit's cache: its name, where it is, and what it holds."""

    name: str
    path: Path
    files: int
    size: int  # bytes

    @classmethod
    def of(cls, directory: Path) -> CacheEntry:
        """Count the files (the tag left out) and their bytes under ``directory``."""
        files = size = 0
        for path in directory.rglob("*"):
            if path.name == TAG_FILE and path.parent == directory:
                continue
            with contextlib.suppress(OSError):  # removed by another process meanwhile
                if path.is_file() and not path.is_symlink():
                    size += path.stat().st_size
                    files += 1
        return cls(directory.name, directory, files, size)


def cache_entries(root: Path | None = None) -> list[CacheEntry]:
    """gankit's tagged sub-directories of the cache (``root``, else :func:`cache_root`), by name.

    Empty when the cache is off or does not exist yet; a :class:`GankitError` when
    the cache's path is something other than a directory.
    """
    root = cache_root() if root is None else root
    if root is None or not root.exists():
        return []
    if not root.is_dir():
        raise GankitError(
            f"gankit's cache {root} is not a directory; set {CACHE_ENV} to a directory"
        )
    return [CacheEntry.of(d) for d in sorted(root.iterdir()) if is_gankit_cache(d)]


def clear_cache(names: Sequence[str] = (), root: Path | None = None) -> list[CacheEntry]:
    """Remove gankit's cache sub-directories (all, or those named); returns what was removed.

    Only tagged sub-directories (:func:`is_gankit_cache`) are removed, so a
    ``GANKIT_CACHE_DIR`` shared with other files loses none of them. A name that
    is not one of them raises :class:`GankitError` naming the ones there are,
    before anything is removed. With the cache off there is nothing to remove.
    """
    root = cache_root() if root is None else root
    if root is None:
        return []
    entries = cache_entries(root)
    if names:
        known = {e.name: e for e in entries}
        unknown = [n for n in names if n not in known]
        if unknown:
            there = ", ".join(known) or "none"
            others = [n for n in unknown if (root / n).exists()]
            not_ours = (
                f" ({', '.join(map(repr, others))} exists there but gankit did not make it: "
                f"it has no gankit {TAG_FILE}, so it is left alone)"
                if others
                else ""
            )
            raise GankitError(
                f"no gankit cache named {', '.join(map(repr, unknown))} in {root}{not_ours}; "
                f"gankit's caches there: {there} (see `gankit cache`)"
            )
        entries = [known[n] for n in dict.fromkeys(names)]
    for entry in entries:
        _remove_tree(entry.path)
    return entries


def _remove_tree(directory: Path) -> None:
    """Remove ``directory`` and what is in it; files that vanish meanwhile are no error.

    A run may write or replace a cached file while it is removed, and another
    ``gankit cache clear`` may remove the same files: a vanished file makes
    :func:`shutil.rmtree` stop, so it is tried again (three times at most).
    """
    for _ in range(3):
        try:
            shutil.rmtree(directory)
            return
        except FileNotFoundError:
            if not directory.exists():
                return
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise GankitError(f"cannot remove the cache {directory}: {reason}") from exc
    raise GankitError(f"cannot remove the cache {directory}: files kept appearing in it")


@cache
def _warn_relative(chosen: str, absolute: str) -> None:
    log.warning(
        "%s=%s is a relative path, so the cache is %s, under the current directory; give "
        "an absolute path to use one cache wherever gankit runs",
        CACHE_ENV,
        chosen,
        absolute,
    )


@cache
def _warn_no_home() -> None:
    log.warning(
        "gankit's cache is off: there is no home directory to keep it in; set %s to a "
        "writable directory to use one",
        CACHE_ENV,
    )
