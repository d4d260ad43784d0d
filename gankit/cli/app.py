"""The ``gankit`` Typer application and the options every command shares."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from gankit import __version__
from gankit.plugins import PluginManager, set_manager

app = typer.Typer(
    name="gankit",
    help="gankit: train, sample, export and serve GANs built from plugins.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # -h as well as --help, for every command
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gankit {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = None,
    disable_plugin: Annotated[
        list[str] | None,
        typer.Option(
            "--disable-plugin",
            help="Do not load this plugin (repeatable; also GANKIT_DISABLE_PLUGINS=a,b).",
        ),
    ] = None,
    strict_plugins: Annotated[
        bool,
        typer.Option(
            "--strict-plugins",
            help="Fail if any plugin fails to load (also GANKIT_STRICT_PLUGINS=1).",
        ),
    ] = False,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More logging (-vv for debug).")
    ] = 0,
) -> None:
    """gankit: train, sample, export and serve GANs built from plugins."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if disable_plugin or strict_plugins:
        set_manager(PluginManager(disabled=disable_plugin or (), strict=strict_plugins or None))
