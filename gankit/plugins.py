"""The plugin manager: finds plugins, collects their components, resolves names.

Built-in plugins (in ``plugins/``) and third-party ones are found the same way,
through the ``gankit`` entry-point group. Each entry point is imported inside
its own ``try``: a plugin that fails to import or to register is recorded as
failed and skipped (pluggy's ``load_setuptools_entrypoints`` would let one
broken plugin take the whole CLI down). Strict mode turns that into an error.

Names: ``dcgan`` finds the component if exactly one plugin provides it;
``dcgan@gankit-dcgan`` picks the one from plugin ``gankit-dcgan``.

Environment variables:

- ``GANKIT_DISABLE_PLUGINS``: comma-separated plugin names not to load.
- ``GANKIT_STRICT_PLUGINS=1``: a plugin that fails to load raises
  :class:`~gankit.errors.PluginLoadError` (for plugin authors' CI).
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.metadata
import logging
import os
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, cast

import pluggy

from gankit import config as config_mod
from gankit import hookspecs
from gankit.components import KINDS, Component, check_config_class, check_record, plural
from gankit.errors import (
    AmbiguousComponentError,
    PluginLoadError,
    UnknownComponentError,
)

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "gankit"
DISABLE_ENV = "GANKIT_DISABLE_PLUGINS"
STRICT_ENV = "GANKIT_STRICT_PLUGINS"
QUALIFIER = "@"

#: registration hook name for each component kind
_REGISTER_HOOKS = {
    "architecture": "gankit_register_architectures",
    "loss": "gankit_register_losses",
    "regularizer": "gankit_register_regularizers",
    "dataset": "gankit_register_datasets",
    "metric": "gankit_register_metrics",
}


@dataclass
class PluginInfo:
    """What ``gankit plugins`` reports for one plugin."""

    name: str
    module: str
    version: str = ""
    source: str = ""
    status: str = "loaded"  # loaded | failed | disabled
    error: str | None = None
    components: list[tuple[str, str]] = field(default_factory=list)
    #: components whose bare name another plugin provides too (one line each)
    conflicts: list[str] = field(default_factory=list)
    #: the event hooks it implements (``gankit_on_step_end``, ...), registration hooks aside
    hooks: list[str] = field(default_factory=list)
    #: the dataclass of its run options (``gankit_plugin_options``), if it has any
    options: type | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable view (used by ``gankit plugins --json``)."""
        return {
            "name": self.name,
            "module": self.module,
            "version": self.version,
            "source": self.source,
            "status": self.status,
            "error": self.error,
            "components": [{"kind": k, "name": n} for k, n in self.components],
            "conflicts": list(self.conflicts),
            "hooks": list(self.hooks),
            "options": [dataclasses.asdict(f) for f in config_mod.describe(self.options)]
            if self.options is not None
            else [],
        }


def _env_list(name: str) -> list[str]:
    return [p.strip() for p in os.environ.get(name, "").split(",") if p.strip()]


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


class PluginManager:
    """Loads gankit plugins and resolves component names.

    Args:
        disabled: plugin names not to load (added to ``GANKIT_DISABLE_PLUGINS``).
        strict: raise on a plugin that fails to load (default: ``GANKIT_STRICT_PLUGINS``).
        load_entrypoints: find plugins through the ``gankit`` entry-point group.
    """

    def __init__(
        self,
        *,
        disabled: Iterable[str] = (),
        strict: bool | None = None,
        load_entrypoints: bool = True,
    ) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.disabled = set(disabled) | set(_env_list(DISABLE_ENV))
        self.strict = _env_flag(STRICT_ENV) if strict is None else strict
        self._infos: dict[str, PluginInfo] = {}
        self._components: dict[str, dict[str, list[Component]]] = {k: {} for k in KINDS}
        if load_entrypoints:
            self.load_entrypoints()

    # -- loading --------------------------------------------------------------

    @property
    def hook(self) -> Any:
        """The pluggy hook relay, used by the trainer to fire events."""
        return self.pm.hook

    def load_entrypoints(self) -> None:
        """Import and register every plugin in the ``gankit`` entry-point group.

        Built-in plugins (distribution ``gankit``) are registered first, then the
        others sorted by name, so the order is the same on every machine.
        """
        eps = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)

        def order(ep: importlib.metadata.EntryPoint) -> tuple[int, str, str]:
            source = _source(ep)
            return (0 if source == "gankit" else 1, ep.name, source)

        chosen: dict[str, importlib.metadata.EntryPoint] = {}
        rejected: list[tuple[importlib.metadata.EntryPoint, str]] = []
        for ep in sorted(eps, key=order):
            first = chosen.setdefault(ep.name, ep)
            if first is not ep and _source(first) != _source(ep):
                # (one distribution seen twice on sys.path is the same plugin)
                rejected.append((ep, _source(first)))

        for ep in chosen.values():
            version, source = _version(ep), _source(ep)
            if ep.name in self.disabled:
                self._infos[ep.name] = PluginInfo(
                    ep.name, ep.value, version, source, status="disabled"
                )
                continue
            try:
                obj = ep.load()
            except Exception as exc:  # noqa: BLE001 - any import error is reported
                self._fail(ep.name, ep.value, version, source, exc, "import")
                continue
            self.register_plugin(obj, name=ep.name, version=version, source=source)
        for ep, first_source in rejected:
            # Two distributions declare one plugin name: the built-in one (or the
            # first by distribution name) is kept, so a newly installed package can
            # never replace a plugin silently, and the other is reported as failed.
            clash = PluginLoadError(
                f"distribution {_source(ep)!r} declares plugin {ep.name!r}, which "
                f"distribution {first_source!r} already declares; rename the entry point "
                f"in {_source(ep)!r} (plugin names must be unique)"
            )
            self._fail(ep.name, ep.value, _version(ep), _source(ep), clash, "load", key_suffix=True)
        for info in self._infos.values():
            if info.status == "failed":
                log.warning(
                    "plugin %r failed to load (%s); its components are unavailable. "
                    "`gankit plugins` lists every plugin; GANKIT_STRICT_PLUGINS=1 shows "
                    "the traceback",
                    info.name,
                    info.error,
                )

    def register_plugin(
        self, plugin: ModuleType | object, *, name: str, version: str = "", source: str = ""
    ) -> PluginInfo:
        """Register a plugin object (a module or any object with hookimpls).

        Use this to add a plugin without packaging it, e.g. in a benchmark or a
        test. Its components are collected at once; if any registration hook
        raises, the plugin is recorded as failed and none of its components are
        kept (or :class:`PluginLoadError` is raised in strict mode).
        """
        module = getattr(plugin, "__name__", type(plugin).__name__)
        if name in self.disabled:
            info = PluginInfo(name, module, version, source, status="disabled")
            self._infos[name] = info
            return info
        if name in self._infos and self._infos[name].status == "loaded":
            raise PluginLoadError(f"a plugin named {name!r} is already registered")
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:  # noqa: BLE001 - pluggy validation errors etc.
            return self._fail(name, module, version, source, exc, "register")
        collected: list[Component] = []
        try:
            _check_hook_names(self.pm, plugin)
            for kind, hook_name in _REGISTER_HOOKS.items():
                for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                    if impl.plugin_name != name:
                        continue
                    impl.function(register=self._collector(kind, name, collected))
            options = _options_class(self.pm, name)
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break others
            self.pm.unregister(name=name)
            return self._fail(name, module, version, source, exc, "register")
        conflicts = []
        for comp in collected:
            others = self._components[comp.kind].setdefault(comp.name, [])
            if others:
                providers = ", ".join(repr(c.plugin) for c in others)
                conflicts.append(
                    f"{comp.kind} {comp.name!r} is also provided by {providers}: the bare "
                    f"name is now ambiguous, so write {comp.name}{QUALIFIER}PLUGIN"
                )
            others.append(comp)
        info = PluginInfo(
            name,
            module,
            version,
            source,
            components=[(c.kind, c.name) for c in collected],
            conflicts=conflicts,
            hooks=_event_hooks(self.pm, plugin),
            options=options,
        )
        for conflict in conflicts:
            log.warning("plugin %r: %s (or rename the plugin's component)", name, conflict)
        self._infos[name] = info
        return info

    def unregister_plugin(self, name: str) -> None:
        """Remove the plugin ``name``: its event hooks stop firing and its components go.

        The counterpart of :meth:`register_plugin` for a plugin added for a while
        (one benchmark run, one test); the name can then be registered again.
        Raises :class:`KeyError` naming the registered plugins if there is none
        of that name.
        """
        if name not in self._infos:
            known = ", ".join(sorted(self._infos)) or "none"
            raise KeyError(f"no plugin named {name!r} is registered (registered: {known})")
        if self.pm.has_plugin(name):
            self.pm.unregister(name=name)
        del self._infos[name]
        for by_name in self._components.values():
            for comp_name in list(by_name):
                kept = [c for c in by_name[comp_name] if c.plugin != name]
                if kept:
                    by_name[comp_name] = kept
                else:
                    del by_name[comp_name]

    def _collector(self, kind: str, plugin: str, into: list[Component]) -> Any:
        def register(component: Component) -> None:
            if not isinstance(component, Component) or component.kind != kind:
                raise TypeError(
                    f"plugin {plugin!r} passed {component!r} to the {kind} register "
                    f"callable; expected a gankit.components.{kind.title()} record"
                )
            try:
                check_record(component)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"plugin {plugin!r}: {exc}") from None
            if any(c.kind == kind and c.name == component.name for c in into):
                # two records of one name from one plugin could not be told apart,
                # not even as NAME@PLUGIN
                raise ValueError(f"plugin {plugin!r} registered {kind} {component.name!r} twice")
            component.plugin = plugin
            into.append(component)

        return register

    def _fail(
        self,
        name: str,
        module: str,
        version: str,
        source: str,
        exc: BaseException,
        stage: str,
        *,
        key_suffix: bool = False,
    ) -> PluginInfo:
        message = f"{type(exc).__name__}: {exc}"
        if self.strict:
            raise PluginLoadError(
                f"plugin {name!r} ({module}) failed to {stage}: {message}\n"
                + "".join(traceback.format_exception(exc))
            ) from exc
        info = PluginInfo(name, module, version, source, status="failed", error=message)
        # a rejected second declaration of a name is kept beside the plugin it clashes with
        self._infos[f"{name} ({source})" if key_suffix else name] = info
        return info

    # -- queries ----------------------------------------------------------------

    def plugins(self) -> list[PluginInfo]:
        """Every plugin seen: loaded, failed or disabled."""
        return list(self._infos.values())

    def components(self, kind: str | None = None) -> list[Component]:
        """Every registered component, optionally of one kind, sorted by kind and name."""
        kinds = [kind] if kind else list(KINDS)
        for k in kinds:
            _check_kind(k)
        return [
            comp
            for k in kinds
            for name in sorted(self._components[k])
            for comp in self._components[k][name]
        ]

    def get(self, kind: str, name: str) -> Component:
        """Return the component ``name`` of ``kind``.

        ``name`` may be qualified as ``NAME@PLUGIN``. Raises
        :class:`UnknownComponentError` with the closest matches, or
        :class:`AmbiguousComponentError` when several plugins provide it.
        """
        _check_kind(kind)
        base, _, plugin = name.partition(QUALIFIER)
        candidates = self._components[kind].get(base, [])
        if plugin:
            candidates = [c for c in candidates if c.plugin == plugin]
        if not candidates:
            raise UnknownComponentError(self._unknown_message(kind, base, plugin))
        if len(candidates) > 1:
            qualified = ", ".join(f"{base}{QUALIFIER}{c.plugin}" for c in candidates)
            raise AmbiguousComponentError(
                f"{kind} {base!r} is provided by several plugins "
                f"({', '.join(c.plugin for c in candidates)}); "
                f"name one of them: {qualified}"
            )
        return candidates[0]

    def _unknown_message(self, kind: str, name: str, plugin: str) -> str:
        known = sorted(self._components[kind])
        if plugin:
            info = self._infos.get(plugin)
            providers = [c.plugin for c in self._components[kind].get(name, [])]
            offered = f"; {kind} {name!r} comes from {', '.join(providers)}" if providers else ""
            if info is None:
                # the plugins that provide this component first, then any plugin
                close = difflib.get_close_matches(plugin, providers or sorted(self._infos), n=1)
                near = f" (did you mean {close[0]!r}?)" if close else ""
                return (
                    f"no plugin named {plugin!r} is installed{near}, so it provides no "
                    f"{kind} {name!r}{offered}; `gankit plugins` lists the installed plugins"
                )
            if info.status != "loaded":
                return (
                    f"plugin {plugin!r} is {info.status}, so it provides no {kind} "
                    f"{name!r}{offered}; `gankit plugins` says why"
                )
            return (
                f"plugin {plugin!r} provides no {kind} named {name!r}{offered}; "
                f"check `gankit plugins` for what it provides"
            )
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else "."
        listing = ", ".join(known) if known else "none installed"
        failed = [i.name for i in self._infos.values() if i.status == "failed"]
        broken = f" Plugins that failed to load: {', '.join(failed)}." if failed else ""
        return (
            f"unknown {kind} {name!r}{hint} Known {plural(kind)}: {listing}. "
            f"Install the plugin that provides it, or see `gankit list {kind}`.{broken}"
        )


def _source(ep: importlib.metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.name if dist is not None else ""


def _version(ep: importlib.metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.version if dist is not None else ""


def _options_class(pm: pluggy.PluginManager, name: str) -> type | None:
    """The options dataclass plugin ``name`` returns from ``gankit_plugin_options``, checked."""
    impls = [i for i in pm.hook.gankit_plugin_options.get_hookimpls() if i.plugin_name == name]
    if not impls:
        return None
    options = impls[0].function()
    check_config_class(options, f"plugin {name!r}: gankit_plugin_options")
    return cast(type, options)


def _event_hooks(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """The event hooks ``plugin`` implements, sorted (its registration hooks left out)."""
    registering = set(_REGISTER_HOOKS.values()) | {"gankit_plugin_options"}
    return sorted(
        caller.name
        for caller in pm.get_hookcallers(plugin) or []
        if caller.has_spec() and caller.name not in registering
    )


def _check_hook_names(pm: pluggy.PluginManager, plugin: object) -> None:
    """Raise for a hookimpl that matches no hookspec: a misspelt hook is never called."""
    unknown = sorted(
        caller.name
        for caller in pm.get_hookcallers(plugin) or []
        if not caller.has_spec()
        and any(not i.optionalhook for i in caller.get_hookimpls() if i.plugin is plugin)
    )
    if unknown:
        known = [n for n, f in vars(hookspecs).items() if hasattr(f, f"{hookspecs.PROJECT}_spec")]
        hints = [m for n in unknown for m in difflib.get_close_matches(n, known, n=1)]
        hint = f"; did you mean {', '.join(hints)}?" if hints else ""
        raise ValueError(f"unknown hook {', '.join(unknown)}{hint} (see gankit/hookspecs.py)")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown component kind {kind!r}; expected one of {', '.join(KINDS)}")


_manager: PluginManager | None = None


def get_manager() -> PluginManager:
    """Return the process-wide plugin manager, loading plugins on first use."""
    global _manager
    if _manager is None:
        _manager = PluginManager()
    return _manager


def set_manager(manager: PluginManager | None) -> None:
    """Replace the process-wide manager (``None`` reloads on next use)."""
    global _manager
    _manager = manager
