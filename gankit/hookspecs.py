"""The plugin contract: every hook a gankit plugin may implement.

A plugin is a module (or object) exposed through the ``gankit`` entry-point
group. It implements any of the hooks below, decorated with
:data:`hookimpl`::

    from gankit import hookimpl
    from gankit.components import Architecture

    @hookimpl
    def gankit_register_architectures(register):
        register(Architecture(name="tiny", description="...", config=TinyConfig,
                              generator=TinyG, discriminator=TinyD))

Registration hooks receive a ``register`` callable, so the core knows which
plugin supplied each component. Event hooks are called by the trainer; they
receive the running :class:`gankit.training.Trainer` and must not return
anything. docs/plugins.md documents each hook (a test keeps it complete).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pluggy

PROJECT = "gankit"

hookspec = pluggy.HookspecMarker(PROJECT)
#: Decorate a plugin's hook implementations with this marker.
hookimpl = pluggy.HookimplMarker(PROJECT)

Register = Callable[[Any], None]


# -- registration hooks ------------------------------------------------------


@hookspec
def gankit_register_architectures(register: Register) -> None:
    """Register generator/discriminator pairs: call ``register(Architecture(...))``."""


@hookspec
def gankit_register_losses(register: Register) -> None:
    """Register adversarial losses: call ``register(Loss(...))``."""


@hookspec
def gankit_register_regularizers(register: Register) -> None:
    """Register regularizers: call ``register(Regularizer(...))``."""


@hookspec
def gankit_register_datasets(register: Register) -> None:
    """Register datasets: call ``register(Dataset(...))``."""


@hookspec
def gankit_register_metrics(register: Register) -> None:
    """Register metrics: call ``register(Metric(...))``."""


@hookspec
def gankit_plugin_options() -> Any:
    """Return the dataclass of this plugin's own run options (every field with a default).

    Users set them per run as ``plugins.PLUGIN.KEY=VALUE`` on the command line or
    in a ``[plugins.PLUGIN]`` table of the TOML config, PLUGIN being the plugin's
    name in ``gankit plugins``; they are checked against the dataclass before
    training starts and stored in run.json. Event hooks read them with
    ``trainer.plugin_options(PLUGIN)``.
    """


# -- training events -----------------------------------------------------------


@hookspec
def gankit_on_train_start(trainer: Any) -> None:
    """Called once before the first step (also after a resume)."""


@hookspec
def gankit_on_step_start(trainer: Any, step: int) -> None:
    """Called before training step ``step`` (0-based); may change trainer state,
    e.g. a growth schedule setting the fade-in alpha."""


@hookspec
def gankit_on_step_end(trainer: Any, step: int, logs: dict[str, float]) -> None:
    """Called after step ``step`` with the values logged for it; plugins may add
    entries to ``logs`` before they are written to metrics.jsonl."""


@hookspec
def gankit_on_epoch_end(trainer: Any, epoch: int) -> None:
    """Called when the data sampler has gone once through the dataset."""


@hookspec
def gankit_on_phase_change(trainer: Any, phase: str) -> None:
    """Called when a training phase changes (e.g. progressive growing moves
    to a new resolution or from fade-in to stabilization)."""


@hookspec
def gankit_on_checkpoint_saved(trainer: Any, path: Path) -> None:
    """Called after a checkpoint has been written completely to ``path``."""


@hookspec
def gankit_on_train_end(trainer: Any) -> None:
    """Called once after the last step, before the artifact is written."""
