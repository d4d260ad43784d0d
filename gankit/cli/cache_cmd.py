"""``gankit cache`` and ``gankit cache clear``: what gankit keeps in its cache directory."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.filesize import decimal
from rich.table import Table

from gankit.cache import (
    CACHE_ENV,
    OFF,
    CacheEntry,
    cache_entries,
    cache_off_reason,
    cache_root,
    clear_cache,
)
from gankit.cli.app import app

console = Console()

cache_app = typer.Typer(
    name="cache",
    help=(
        "gankit's cache of files it can compute again (reference features for metrics): "
        "$XDG_CACHE_HOME/gankit, else ~/.cache/gankit. "
        f"Set {CACHE_ENV}=DIR to move it, {CACHE_ENV}={OFF} to turn it off."
    ),
    invoke_without_command=True,
)
app.add_typer(cache_app, name="cache")

#: ``ctx.meta`` key: ``--json`` was given before the subcommand
_JSON_KEY = "gankit.cache.json"
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _as_json(entry: CacheEntry) -> dict[str, object]:
    return {"name": entry.name, "path": str(entry.path), "files": entry.files, "bytes": entry.size}


def _files(count: int) -> str:
    return f"{count} file{'' if count == 1 else 's'}"


@cache_app.callback()
def cache_info(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show where gankit's cache is and the size of each part of it."""
    if ctx.invoked_subcommand is not None:
        ctx.meta[_JSON_KEY] = as_json  # `gankit cache --json clear` is `clear --json`
        return
    root = cache_root()  # resolved once: the environment is read (and warned about) once
    off = None if root is not None else cache_off_reason()
    entries = cache_entries(root) if root is not None else []
    if as_json:
        listing = {
            "root": None if root is None else str(root),
            "off": off,
            "caches": [_as_json(e) for e in entries],
        }
        typer.echo(json.dumps(listing))
        return
    if root is None:
        typer.echo(f"gankit's cache is off: {off}")
        return
    typer.echo(f"gankit's cache: {root} (set {CACHE_ENV} to move it, or to {OFF})")
    if not entries:
        typer.echo("empty: nothing is cached yet")
        return
    table = Table(show_edge=False)
    table.add_column("cache")
    table.add_column("files", justify="right")
    table.add_column("size", justify="right")
    for entry in entries:
        table.add_row(entry.name, str(entry.files), decimal(entry.size))
    if len(entries) > 1:
        table.add_row(
            "total", str(sum(e.files for e in entries)), decimal(sum(e.size for e in entries))
        )
    console.print(table)


@cache_app.command("clear")
def cache_clear(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Caches to remove, as `gankit cache` lists them. Default: all."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove gankit's cached files (all, or the caches named); they are computed again when needed.

    Only the sub-directories gankit made (each tagged with a CACHEDIR.TAG) are
    removed: other files in the cache directory are left alone.
    """
    root = cache_root()
    removed = clear_cache(names or (), root) if root is not None else []
    as_json = as_json or bool(ctx.meta.get(_JSON_KEY))
    if as_json:
        typer.echo(json.dumps({"removed": [_as_json(e) for e in removed]}))
    elif root is None:
        typer.echo(f"gankit's cache is off ({cache_off_reason()}): nothing to clear")
    elif not removed:
        typer.echo(f"nothing to clear in {root}")
    for entry in [] if as_json else removed:
        typer.echo(f"removed {entry.path} ({_files(entry.files)}, {decimal(entry.size)})")
