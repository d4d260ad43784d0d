"""The ``gankit`` command line.

Each module here adds its commands to :data:`gankit.cli.app.app`; ``main`` runs
it and prints a :class:`~gankit.errors.GankitError` as one clear line (exit 2)
instead of a traceback, followed by the exception's notes (such as the event
hook, plugin and step it was raised in).
"""

from __future__ import annotations

import sys

from gankit.cli import (  # noqa: F401 - registers commands
    cache_cmd,
    eval_cmd,
    hub_cmd,
    plot_cmd,
    plugins_cmd,
    serving_cmd,
    train_cmd,
)
from gankit.cli.app import app
from gankit.errors import GankitError


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``gankit`` console script."""
    try:
        app(args=argv, prog_name="gankit", standalone_mode=True)
    except GankitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        for note in getattr(exc, "__notes__", ()):  # e.g. which event hook raised it
            print(f"  ({note})", file=sys.stderr)
        sys.exit(2)


__all__ = ["app", "main"]
