"""Build components by name: the functions behind ``gankit.create_*``."""

from __future__ import annotations

from typing import Any

from gankit import config as config_mod
from gankit.components import Architecture, Component
from gankit.plugins import get_manager


def get_component(kind: str, name: str) -> Component:
    """Look up a registered component (``NAME`` or ``NAME@PLUGIN``)."""
    return get_manager().get(kind, name)


def make_config(
    component: Component,
    overrides: dict[str, Any] | None = None,
    base: Any = None,
    strict: bool = False,
) -> Any:
    """Build ``component``'s config dataclass from overrides, validating every key.

    ``strict`` refuses values of the wrong kind (:func:`gankit.config.check_strict`):
    for options a user has just given, not for ones read back from a record.
    """
    return config_mod.build(
        component.config,
        overrides or {},
        base=base,
        where=f"{component.kind} {component.name!r} config",
        strict=strict,
    )


def get_architecture(name: str) -> Architecture:
    """Look up an architecture by name."""
    arch = get_component("architecture", name)
    assert isinstance(arch, Architecture)
    return arch


def create_generator(name: str, **config: Any) -> Any:
    """Build the generator of architecture ``name`` with config overrides."""
    arch = get_architecture(name)
    assert arch.generator is not None, f"architecture {name!r} has no generator factory"
    return arch.generator(make_config(arch, config))


def create_discriminator(name: str, **config: Any) -> Any:
    """Build the discriminator of architecture ``name`` with config overrides."""
    arch = get_architecture(name)
    assert arch.discriminator is not None, f"architecture {name!r} has no discriminator factory"
    return arch.discriminator(make_config(arch, config))


def _create(kind: str, name: str, config: dict[str, Any]) -> Any:
    comp = get_component(kind, name)
    factory = getattr(comp, "factory", None)
    assert factory is not None, f"{kind} {name!r} has no factory"
    return factory(make_config(comp, config))


def create_loss(name: str, **config: Any) -> Any:
    """Build the loss ``name`` (an object with ``d_loss`` and ``g_loss``)."""
    return _create("loss", name, config)


def create_regularizer(name: str, **config: Any) -> Any:
    """Build the regularizer ``name``."""
    return _create("regularizer", name, config)


def create_dataset(name: str, **config: Any) -> Any:
    """Build the dataset ``name`` (a :class:`gankit.data.TensorData`)."""
    return _create("dataset", name, config)


def create_metric(name: str, **config: Any) -> Any:
    """Build the metric ``name``."""
    return _create("metric", name, config)
