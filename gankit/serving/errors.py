"""Errors of the serving layer."""

from __future__ import annotations

from gankit.errors import GankitError


class InvalidInputError(GankitError, ValueError):
    """A sampling request has a bad value; ``field`` names it (``n``, ``labels``, ...)."""

    def __init__(self, message: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.status = status
