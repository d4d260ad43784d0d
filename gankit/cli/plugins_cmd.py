"""``gankit plugins``, ``gankit list`` and ``gankit info``: what is installed."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from gankit import config as config_mod
from gankit.cli.app import app
from gankit.components import KINDS, Architecture, Component, plural
from gankit.errors import GankitError
from gankit.plugins import QUALIFIER, PluginInfo, get_manager

console = Console()


@app.command("plugins")
def plugins_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List plugins: name, version, source distribution, status and components."""
    infos = get_manager().plugins()
    if as_json:
        typer.echo(json.dumps([i.as_dict() for i in infos], indent=2, default=str))
        return
    table = Table(title="gankit plugins")
    for col in ("plugin", "version", "source", "status", "components"):
        table.add_column(col)
    for info in infos:
        comps = ", ".join(f"{n} ({k})" for k, n in info.components)
        if info.hooks:
            comps += ("\n" if comps else "") + f"events: {_event_names(info.hooks)}"
        if info.options is not None:
            comps += ("\n" if comps else "") + _options_line(info)
        status = info.status if info.status != "failed" else f"[red]failed[/]: {info.error}"
        for conflict in info.conflicts:
            status += f"\n[yellow]name clash[/]: {conflict}"
        table.add_row(info.name, info.version, info.source, status, comps)
    console.print(table)


def _options_line(info: PluginInfo) -> str:
    """``options: every, label (plugins.NAME.KEY=VALUE)``: a plugin's run options, by name."""
    names = [f.name for f in dataclasses.fields(info.options)] if info.options else []
    if not names:
        return "options: none"
    return f"options: {', '.join(names)} (plugins.{info.name}.KEY=VALUE)"


def _event_names(hooks: list[str]) -> str:
    """``gankit_on_step_end`` -> ``on_step_end``: hook names as the plugin docs give them."""
    return ", ".join(h.removeprefix("gankit_") for h in hooks)


@app.command("list")
def list_command(
    kind: Annotated[
        str | None,
        typer.Argument(help=f"One of: {', '.join(KINDS)} (plural accepted). Default: all."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List registered components, optionally of one kind."""
    if kind is not None:
        kind = _normalise_kind(kind)
    comps = get_manager().components(kind)
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "kind": c.kind,
                        "name": c.name,
                        "plugin": c.plugin,
                        "description": c.description,
                    }
                    for c in comps
                ],
                indent=2,
            )
        )
        return
    table = Table()
    for col in ("kind", "name", "plugin", "description"):
        table.add_column(col)
    for c in comps:
        table.add_row(c.kind, c.name, c.plugin, c.description)
    console.print(table)  # plugins that failed to load are logged as warnings on loading


def _normalise_kind(kind: str) -> str:
    """``losses`` -> ``loss``, ``archs`` -> ``architecture``: the kinds as users type them."""
    k = kind.lower()
    singular = {plural(n): n for n in KINDS}
    singular.update({"arch": "architecture", "archs": "architecture"})
    singular.update({n: "architecture" for n in ("generator", "generators", "discriminator")})
    k = singular.get(k, k)
    if k not in KINDS:
        raise GankitError(
            f"unknown kind {kind!r}; expected one of {', '.join(KINDS)} (or their plurals)"
        )
    return k


def find_any(name: str) -> list[Component]:
    """Find components of any kind with this (possibly qualified) name."""
    manager = get_manager()
    base, _, plugin = name.partition(QUALIFIER)
    return [
        c for c in manager.components() if c.name == base and (not plugin or c.plugin == plugin)
    ]


def _component_dict(c: Component) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": c.kind,
        "name": c.name,
        "plugin": c.plugin,
        "description": c.description,
        "config": _fields(c.config),
    }
    if isinstance(c, Architecture):
        out["needs_labels"] = c.needs_labels
        out["recipe"] = config_mod.to_json(c.recipe)
    for attr in ("acts_on", "default_steps", "default_metrics"):
        if hasattr(c, attr):
            out[attr] = getattr(c, attr)
    return out


#: the name ``gankit info`` gives the trainer's own options
TRAIN = "train"


def _train_dict() -> dict[str, Any]:
    from gankit.training.config import TrainConfig

    return {
        "kind": "trainer",
        "name": TRAIN,
        "plugin": "gankit",
        "description": "options of the generic trainer (an architecture's recipe "
        "overrides some defaults: see gankit info ARCH)",
        "config": _fields(TrainConfig),
    }


def _fields(config_cls: type) -> list[dict[str, Any]]:
    return [dataclasses.asdict(f) for f in config_mod.describe(config_cls)]


@app.command("info")
def info_command(
    name: Annotated[
        str,
        typer.Argument(
            help="Component name (dcgan, dcgan@gankit-dcgan), plugin name (gankit-dcgan), "
            "or train: the trainer's options"
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Describe a component, a plugin, or the trainer's options.

    `gankit info dcgan` shows each field with its default and meaning;
    `gankit info gankit-tensorboard` shows a plugin's version, status, components
    and the events it handles; `gankit info train` shows the trainer's options.
    """
    found = find_any(name)
    plugin = _plugin_named(name) if not found and name != TRAIN else None
    if plugin is not None:
        _print_plugin(plugin, as_json)
        return
    if not found and name != TRAIN:
        import difflib

        manager = get_manager()
        names = sorted(
            {c.name for c in manager.components()} | {i.name for i in manager.plugins()} | {TRAIN}
        )
        close = difflib.get_close_matches(name.partition(QUALIFIER)[0], names, n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise GankitError(
            f"no component or plugin named {name!r}{hint} (see `gankit list` and `gankit plugins`)"
        )
    data = [_component_dict(c) for c in found] if found else [_train_dict()]
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    for d in data:
        console.print(f"[bold]{d['name']}[/] ({d['kind']}, plugin {d['plugin']})")
        console.print(f"  {d['description']}")
        for extra in ("needs_labels", "acts_on", "default_steps", "default_metrics"):
            if extra in d:
                console.print(f"  {extra}: {d[extra]}")
        _print_fields("config", d["config"])
        if "recipe" in d:
            console.print(f"  training recipe: {d['recipe']}")


def _print_fields(title: str, fields: list[dict[str, Any]]) -> None:
    """Print config fields as a table: field, type, default, help (or say there are none)."""
    if not fields:
        console.print(f"  {title}: no options")
        return
    table = Table(title=title)
    for col in ("field", "type", "default", "help"):
        table.add_column(col)
    for f in fields:
        table.add_row(f["name"], f["type"], repr(f["default"]), f["help"])
    console.print(table)


def _plugin_named(name: str) -> PluginInfo | None:
    """The plugin ``gankit plugins`` lists as ``name`` (loaded, failed or disabled), if any."""
    return next((i for i in get_manager().plugins() if i.name == name), None)


def _print_plugin(info: PluginInfo, as_json: bool) -> None:
    """Print what ``gankit info PLUGIN`` shows: one plugin's record."""
    if as_json:
        typer.echo(json.dumps([{"kind": "plugin", **info.as_dict()}], indent=2, default=str))
        return
    console.print(f"[bold]{info.name}[/] (plugin, {info.status})")
    console.print(f"  version: {info.version or 'unknown'}; distribution: {info.source or 'none'}")
    console.print(f"  module: {info.module}")
    if info.error:
        console.print(f"  [red]error[/]: {info.error}")
    for kind, comp in info.components:
        console.print(f"  {kind}: {comp} (`gankit info {comp}{QUALIFIER}{info.name}`)")
    if info.hooks:
        console.print(f"  events: {_event_names(info.hooks)}")
    elif info.status == "loaded" and not info.components:
        console.print("  (no components and no event hooks)")
    for conflict in info.conflicts:
        console.print(f"  [yellow]name clash[/]: {conflict}")
    if info.options is not None:
        _print_fields(f"run options (plugins.{info.name}.KEY=VALUE)", _fields(info.options))
