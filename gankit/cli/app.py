"""The ``gankit`` Typer application and the options every command shares."""

from __future__ import annotations

import logging
import shlex
from collections.abc import Sequence
from enum import Enum
from typing import Annotated, Any, cast, get_args

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

try:  # typer 0.29 and later vendor click (as typer._click) and do not export this
    from typer._click.exceptions import NoSuchOption
except ImportError:  # older typer runs on click itself
    from click.exceptions import NoSuchOption  # type: ignore[assignment]

from gankit import __version__
from gankit.plugins import PluginManager, set_manager

#: click's names of the value types, as help shows them (``--steps INTEGER``)
_TYPE_METAVARS = {str: "TEXT", int: "INTEGER", float: "FLOAT", bool: "BOOLEAN"}
#: ``ctx.meta`` key of the command line the ``gankit`` group parsed
_ARGV_KEY = "gankit.argv"


def help_metavar(param: TyperOption | TyperArgument, ctx: Any) -> str | None:
    """What help shows for a parameter's value, click's way: ``TEXT``, ``INTEGER``, ``PATH``...

    None for a flag or a counter (``-v``), which take no value; ``[a|b]`` for a choice.
    Replaces typer 0.29's ``<str>``/``<list[str]>`` labels (and the ``<bool>`` it shows
    on every flag, ``-h`` included), which no typer setting turns off.
    """
    if isinstance(param, TyperOption) and (param.is_flag or param.count):
        return None
    desc = param.type_descriptor
    if desc.choices is not None:
        names = (str(c.value) if isinstance(c, Enum) else str(c) for c in desc.choices)
        return f"[{'|'.join(names)}]"
    if desc.is_path:
        return desc.path_type.upper()  # PATH, FILE or DIR
    annotation: Any = get_args(desc.annotation)[0] if desc.is_list else desc.annotation
    return _TYPE_METAVARS.get(annotation) or getattr(annotation, "__name__", "VALUE").upper()


def _patch_help_metavars() -> None:
    """Make typer's help show :func:`help_metavar` for every parameter of every command.

    typer 0.29 labels a value's type in ``display_type`` (which ``display_type_rich``
    appends "..." to for a variadic option, unless the option has its own metavar),
    for every command, nested ``gankit zoo`` ones included. Older typer has no such
    method and shows click's metavars already, so nothing is patched there; a typer
    whose parameters lack what :func:`help_metavar` reads keeps its own labels.
    """
    for cls in (TyperOption, TyperArgument):
        original = getattr(cls, "display_type", None)
        if original is None:
            continue

        def display_type(param: Any, ctx: Any, _original: Any = original) -> str | None:
            try:
                return help_metavar(param, ctx)
            except AttributeError:  # a typer whose parameters are shaped differently
                return cast(str | None, _original(param, ctx))

        setattr(cls, "display_type", display_type)  # noqa: B010 - a method replaced on purpose


_patch_help_metavars()


def _is_override_key(key: str) -> bool:
    """Whether ``key`` is a trainer option (``lr_g``) or a sectioned one (``arch.latent_dim``)."""
    # only on the error path: the trainer's config imports the trainer (and torch)
    from gankit.config import field_names
    from gankit.training.config import SECTIONS, TrainConfig

    section, dot, rest = key.partition(".")
    return key in field_names(TrainConfig) or bool(dot and rest and section in SECTIONS)


def add_key_value_hint(exc: NoSuchOption, argv: Sequence[str]) -> None:
    """Point an unknown ``--KEY[=VALUE]`` of a command with ``KEY=VALUE`` overrides at them.

    Applies to a command that takes ``overrides`` (``gankit train``) when the option's
    name, dashes stripped and ``-`` read as ``_``, is a trainer option, or when it was
    given as ``--NAME=VALUE`` (click's close option names, if any, still follow).
    Changes ``exc`` in place: "No such option: --lr_g; trainer options are given as
    KEY=VALUE: gankit train lr_g=1e-4".
    """
    ctx = exc.ctx
    name = exc.option_name
    if ctx is None or not name.startswith("--"):
        return
    if not any(isinstance(p, TyperArgument) and p.name == "overrides" for p in ctx.command.params):
        return
    key = name.lstrip("-").replace("-", "_")
    value = next((arg.partition("=")[2] for arg in argv if arg.startswith(f"{name}=")), None)
    if _is_override_key(key):
        exc.possibilities = None  # the option it is close to is not what was meant
    elif value is None:
        return
    example = shlex.quote(f"{key}={'VALUE' if value is None else value}")
    exc.message = (
        f"{exc.message}; trainer options are given as KEY=VALUE: {ctx.command_path} {example}"
    )


class GankitGroup(TyperGroup):
    """The ``gankit`` group: hints at ``KEY=VALUE`` for an unknown ``--KEY=VALUE`` option."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Parse as typer does, keeping the command line for :func:`add_key_value_hint`."""
        ctx.meta[_ARGV_KEY] = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        """Run the subcommand; an unknown option of it may get a ``KEY=VALUE`` hint."""
        try:
            return super().invoke(ctx)
        except NoSuchOption as exc:  # raised while parsing a (nested) subcommand's options
            add_key_value_hint(exc, ctx.meta.get(_ARGV_KEY, ()))
            raise


app = typer.Typer(
    name="gankit",
    cls=GankitGroup,
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
