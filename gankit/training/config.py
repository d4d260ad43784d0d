"""What a training run is made of, resolved from defaults, a TOML file and overrides.

Precedence, lowest first: :class:`TrainConfig` defaults, the architecture's
recipe, the dataset's default step count, the ``[train]``/``[arch]``/...
sections of ``--config FILE.toml``, then ``KEY=VALUE`` overrides.

A config file::

    [train]
    steps = 3000
    lr_g = 1e-4
    [arch]
    latent_dim = 64
    [data]
    size = 32
    [loss]          # options of the chosen loss
    [regularizers.r1]
    gamma = 5.0
    [metrics.fd]    # options of a metric named in [train] metrics
    n = 2000

Overrides use the same sections with dots (``arch.latent_dim=64``,
``regularizers.r1.gamma=5``, ``metrics.fd.n=2000``); a key without a section is
looked up in ``train``, ``arch`` and ``data`` and must belong to exactly one of them.

The resolved run also records which plugin provides each component it names
(``resolved``: ``NAME@PLUGIN``) and each such plugin's distribution and version
(``plugin_versions``), so that ``--resume`` rebuilds it from the same plugins after
another plugin starts to provide a component of the same name
(see :func:`pin_components`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from gankit import config as config_mod
from gankit.components import Architecture, Component
from gankit.errors import AmbiguousComponentError, ConfigError, UnknownComponentError
from gankit.plugins import QUALIFIER, PluginInfo, PluginManager, get_manager
from gankit.registry import get_architecture, get_component, make_config
from gankit.training.schedule import LR_DECAY_CLOCKS, LR_DECAYS

log = logging.getLogger(__name__)

SECTIONS = ("train", "arch", "data", "loss", "regularizers", "metrics", "plugins")
#: sections whose sub-sections are named: ``regularizers.r1.gamma``, and
#: ``plugins.PLUGIN.KEY`` for a plugin's own options (``gankit_plugin_options``)
NAMED_SECTIONS = ("regularizers", "metrics", "plugins")
BEST_MODES = ("min", "max")
#: the kinds of component a run names, as keys of run.json's ``resolved``
RUN_KINDS = ("architecture", "dataset", "loss", "regularizer", "metric")
#: training seeds are below this: the data order multiplies the seed, and numpy takes 32 bits
SEED_LIMIT = 2**32


@dataclass
class TrainConfig:
    """Options of the generic trainer (``gankit info`` of an architecture shows its recipe).

    steps: generator steps (each after ``n_critic`` D steps); 0 = the dataset's default.
    batch_size: samples per D and G step.
    loss: loss component name; regularizers: regularizer component names.
    n_critic: D steps per G step. lr_*/betas_*: Adam settings of G and D.
    lr_decay: "none" or "linear": from ``lr_decay_start`` (a fraction of ``steps``)
    both learning rates fall linearly to ``lr_decay_final`` times their value at the
    last step (see :mod:`gankit.training.schedule`). lr_decay_clock: "steps" lays the
    decay over ``steps``; "time" ends it at whichever comes first of ``steps`` and
    ``max_minutes`` (which it needs), for runs whose speed is not known in advance.
    ema: average G's weights for sampling and export; ema_kimg: half-life in
    thousands of images; ema_rampup: half-life at most this times images seen.
    ema_bn_batches: batches used to recompute the averaged G's batch-norm statistics.
    amp: "none", "bf16" or "fp16" (fp16 uses a gradient scaler).
    seed: seeds weights, data order and latents. device: "auto", "cpu", "cuda", ...
    sample_every / checkpoint_every / log_every: intervals in steps.
    keep_checkpoints: how many checkpoints to keep. grid_size: images in a sample grid,
    or points in a 2-D scatter plot; 0 picks 64 images, or 2500 points for 2-D data
    (the PacGAN protocol's sample count, enough to see every mode's spread).
    progress: show a progress bar.
    metrics: metric components computed during training and for the artifact
    (default: the dataset's own, e.g. mixture-modes for ring8/grid25); their
    options go in ``[metrics.NAME]`` (``metrics.fd.n=2000``). A metric with a
    ``split`` option compares with that split of the dataset (test by default).
    metrics_every: compute them every this many steps (0: only at the end).
    best_metric: a logged metric key, ``METRIC/VALUE`` (e.g. ``fd/frechet_distance``),
    to keep the best checkpoint by: whenever it improves at a metric step (every
    ``metrics_every`` steps, which must be positive), that step's checkpoint goes to
    ``checkpoints/best/``, its generator artifact to ``artifact-best/`` and a note
    to ``best.json`` (see :mod:`gankit.training.best`). "" keeps none.
    best_mode: "min" (lower is better, distances) or "max" (accuracy, coverage).
    sync_batchnorm: under torchrun, synchronize batch-norm statistics across processes.
    dist_timeout: seconds a process waits for the others before the job fails.
    channels_last / compile: speed options (NHWC memory layout; torch.compile of G and D).
    adam: "default", "foreach" or "fused" Adam implementation.
    max_minutes: stop after this much wall time in one ``fit`` (0: no limit), with a
    checkpoint and the artifact written as at the last step; ``steps`` still caps it.
    tensorboard: also log to ``RUN_DIR/tensorboard`` (the built-in gankit-tensorboard
    plugin; needs the ``tensorboard`` package).
    """

    steps: int = field(
        default=0,
        metadata={
            "help": "generator steps (each after n_critic D steps); 0: the dataset's default"
        },
    )
    batch_size: int = field(default=64, metadata={"help": "samples per D and G step"})
    loss: str = field(
        default="non-saturating", metadata={"help": "loss component (gankit list loss)"}
    )
    regularizers: tuple[str, ...] = field(
        default=(), metadata={"help": "regularizer components (gankit list regularizer)"}
    )
    n_critic: int = field(default=1, metadata={"help": "D steps per G step"})
    lr_g: float = field(default=2e-4, metadata={"help": "G's Adam learning rate"})
    lr_d: float = field(default=2e-4, metadata={"help": "D's Adam learning rate"})
    betas_g: tuple[float, float] = field(default=(0.5, 0.999), metadata={"help": "G's Adam betas"})
    betas_d: tuple[float, float] = field(default=(0.5, 0.999), metadata={"help": "D's Adam betas"})
    lr_decay: str = field(
        default="none",
        metadata={
            "help": "none, or linear: both rates fall to lr_decay_final x from lr_decay_start on"
        },
    )
    lr_decay_start: float = field(
        default=0.5, metadata={"help": "fraction of the run at which the decay starts"}
    )
    lr_decay_final: float = field(
        default=0.01, metadata={"help": "factor on both rates at the last step"}
    )
    lr_decay_clock: str = field(
        default="steps",
        metadata={"help": "steps, or time: the decay also follows wall time out of max_minutes"},
    )
    ema: bool = field(
        default=True, metadata={"help": "average G's weights for sampling and export"}
    )
    ema_kimg: float = field(
        default=10.0, metadata={"help": "half-life of the average, in thousands of images"}
    )
    ema_rampup: float = field(
        default=0.05,
        metadata={"help": "half-life at most this times the images seen (early in training)"},
    )
    ema_bn_batches: int = field(
        default=8,
        metadata={"help": "batches that recompute the averaged G's batch-norm statistics"},
    )
    amp: str = field(
        default="none",
        metadata={"help": "mixed precision: none, bf16, or fp16 (with a gradient scaler)"},
    )
    seed: int = field(default=0, metadata={"help": "seeds weights, data order and latents"})
    device: str = field(
        default="auto", metadata={"help": "auto (CUDA when available), cpu, cuda, cuda:N"}
    )
    sample_every: int = field(default=250, metadata={"help": "steps between sample grids"})
    checkpoint_every: int = field(default=250, metadata={"help": "steps between checkpoints"})
    log_every: int = field(default=10, metadata={"help": "steps between metrics.jsonl records"})
    keep_checkpoints: int = field(
        default=3, metadata={"help": "checkpoints kept on disk (the newest)"}
    )
    grid_size: int = field(
        default=0,
        metadata={
            "help": "images in a sample grid, or points in a 2-D plot (0: 64 images, 2500 points)"
        },
    )
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})
    metrics: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "metrics computed while training and for the artifact (default: the dataset's)"
        },
    )
    metrics_every: int = field(
        default=1000, metadata={"help": "steps between metric computations (0: only at the end)"}
    )
    best_metric: str = field(
        default="",
        metadata={"help": "a logged METRIC/VALUE key to keep the best checkpoint by ('': none)"},
    )
    best_mode: str = field(default="min", metadata={"help": "min (lower is better) or max"})
    sync_batchnorm: bool = field(
        default=False, metadata={"help": "under torchrun, synchronize batch-norm statistics"}
    )
    dist_timeout: float = field(
        default=600.0,
        metadata={"help": "seconds a process waits for the others before the job fails"},
    )
    channels_last: bool = field(default=False, metadata={"help": "NHWC memory layout for G and D"})
    compile: bool = field(
        default=False,
        metadata={
            "help": "torch.compile G and D, recompiled at each phase change (for GPUs: "
            "slower on CPU)"
        },
    )
    adam: str = field(
        default="default", metadata={"help": "Adam implementation: default, foreach or fused"}
    )
    max_minutes: float = field(
        default=0.0,
        metadata={
            "help": "stop after this much wall time in one run, writing the artifact (0: none)"
        },
    )
    tensorboard: bool = field(default=False, metadata={"help": "also log to RUN_DIR/tensorboard"})

    def __post_init__(self) -> None:
        if self.amp not in ("none", "bf16", "fp16"):
            raise ValueError(f"amp must be 'none', 'bf16' or 'fp16', got {self.amp!r}")
        for name in ("batch_size", "n_critic", "sample_every", "checkpoint_every", "log_every"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("lr_g", "lr_d"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("betas_g", "betas_d"):
            if not all(0.0 <= b < 1.0 for b in getattr(self, name)):
                raise ValueError(f"{name} must be two numbers in [0, 1), got {getattr(self, name)}")
        if self.lr_decay not in LR_DECAYS:
            raise ValueError(
                f"lr_decay must be one of {', '.join(LR_DECAYS)}, got {self.lr_decay!r}"
            )
        if not 0.0 <= self.lr_decay_start < 1.0:
            raise ValueError(f"lr_decay_start must be in [0, 1), got {self.lr_decay_start}")
        if not 0.0 <= self.lr_decay_final <= 1.0:
            raise ValueError(f"lr_decay_final must be in [0, 1], got {self.lr_decay_final}")
        if self.lr_decay_clock not in LR_DECAY_CLOCKS:
            raise ValueError(
                f"lr_decay_clock must be one of {', '.join(LR_DECAY_CLOCKS)}, "
                f"got {self.lr_decay_clock!r}"
            )
        if self.lr_decay_clock == "time" and self.max_minutes <= 0:
            raise ValueError(
                "lr_decay_clock=time lays the decay over max_minutes, which is "
                f"{self.max_minutes}: set a budget (e.g. max_minutes=30) or use "
                "lr_decay_clock=steps"
            )
        if self.adam not in ("default", "foreach", "fused"):
            raise ValueError(f"adam must be 'default', 'foreach' or 'fused', got {self.adam!r}")
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")
        if not 0 <= self.seed < SEED_LIMIT:
            raise ValueError(f"seed must be from 0 to 2**32 - 1, got {self.seed}")
        if self.grid_size < 0:
            raise ValueError(
                f"grid_size must be >= 0 (0 = 64 images or 2500 points), got {self.grid_size}"
            )
        if self.max_minutes < 0:
            raise ValueError(f"max_minutes must be >= 0 (0: no limit), got {self.max_minutes}")
        if self.metrics_every < 0:
            raise ValueError(
                f"metrics_every must be >= 0 (0: metrics only at the end), got {self.metrics_every}"
            )
        if self.keep_checkpoints < 1:
            raise ValueError(
                f"keep_checkpoints must be at least 1 (the newest is always kept), got "
                f"{self.keep_checkpoints}"
            )
        if not self.ema_kimg > 0:
            raise ValueError(
                f"ema_kimg must be positive (a half-life in thousands of images), got "
                f"{self.ema_kimg}; ema=false trains without the average"
            )
        if self.ema_rampup < 0:
            raise ValueError(f"ema_rampup must be >= 0 (0: no ramp-up), got {self.ema_rampup}")
        if self.ema_bn_batches < 0:
            raise ValueError(f"ema_bn_batches must be >= 0, got {self.ema_bn_batches}")
        if not self.dist_timeout > 0:
            raise ValueError(f"dist_timeout must be positive seconds, got {self.dist_timeout}")
        if self.best_mode not in BEST_MODES:
            raise ValueError(f"best_mode must be 'min' or 'max', got {self.best_mode!r}")
        if self.best_metric and "/" not in self.best_metric:
            raise ValueError(
                f"best_metric must be a logged key METRIC/VALUE (e.g. fd/frechet_distance), "
                f"got {self.best_metric!r}"
            )


@dataclass
class RunSpec:
    """Everything needed to (re)build a run; stored as ``run.json`` in the run directory.

    ``arch``, ``data`` and the names in ``train`` (``loss``, ``regularizers``,
    ``metrics``) are the component names as the user gave them. ``resolved``
    maps each kind (:data:`RUN_KINDS`) to ``{name as given: NAME@PLUGIN}``, the
    component that name found, and ``plugin_versions`` maps each plugin providing
    one of them to ``{"distribution": ..., "version": ...}``. Both are filled in by
    :func:`pin_components`; a run recorded without them (an older run.json)
    looks the names up as given.
    """

    arch: str
    data: str
    train: TrainConfig
    arch_config: dict[str, Any] = field(default_factory=dict)
    data_config: dict[str, Any] = field(default_factory=dict)
    loss_config: dict[str, Any] = field(default_factory=dict)
    regularizer_configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    metric_configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: options of plugins that declare them (``plugins.PLUGIN.KEY``), by plugin name
    plugin_configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    resolved: dict[str, dict[str, str]] = field(default_factory=dict)
    plugin_versions: dict[str, dict[str, str]] = field(default_factory=dict)

    def named_components(self) -> list[tuple[str, str]]:
        """``(kind, name as given)`` of every component the run uses."""
        return [
            ("architecture", self.arch),
            ("dataset", self.data),
            ("loss", self.train.loss),
            *(("regularizer", name) for name in self.train.regularizers),
            *(("metric", name) for name in self.train.metrics),
        ]

    def component_name(self, kind: str, name: str) -> str:
        """The name to build component ``name`` by: its recorded ``NAME@PLUGIN``, else ``name``."""
        return self.resolved.get(kind, {}).get(name, name)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (see :func:`spec_from_json`)."""
        return {
            "arch": self.arch,
            "data": self.data,
            "train": config_mod.to_json(self.train),
            "arch_config": self.arch_config,
            "data_config": self.data_config,
            "loss_config": self.loss_config,
            "regularizer_configs": self.regularizer_configs,
            "metric_configs": self.metric_configs,
            "plugin_configs": self.plugin_configs,
            "resolved": self.resolved,
            "plugin_versions": self.plugin_versions,
        }


def spec_from_json(raw: dict[str, Any]) -> RunSpec:
    """Rebuild a :class:`RunSpec` from ``run.json``.

    A run.json written before runs recorded their plugins has no ``resolved``
    or ``plugin_versions``; its components are then looked up by the names as given.
    """
    return RunSpec(
        arch=raw["arch"],
        data=raw["data"],
        train=config_mod.build(TrainConfig, raw["train"], where="run.json [train]"),
        arch_config=raw.get("arch_config", {}),
        data_config=raw.get("data_config", {}),
        loss_config=raw.get("loss_config", {}),
        regularizer_configs=raw.get("regularizer_configs", {}),
        metric_configs=raw.get("metric_configs", {}),
        plugin_configs=raw.get("plugin_configs", {}),
        resolved=_recorded_names(raw.get("resolved", {})),
        plugin_versions=_recorded_plugins(raw.get("plugin_versions", {})),
    )


_DROP_HINT = "correct it, or delete the section from run.json to look the names up as given"


def _recorded_names(raw: Any) -> dict[str, dict[str, str]]:
    """Check run.json's ``resolved``: ``{kind: {name: NAME@PLUGIN}}``."""
    if not isinstance(raw, dict):
        raise ConfigError(f"run.json 'resolved' must be an object, got {raw!r}; {_DROP_HINT}")
    for kind, names in raw.items():
        if kind not in RUN_KINDS:
            raise ConfigError(
                f"run.json 'resolved' has the unknown kind {kind!r} (expected "
                f"{', '.join(RUN_KINDS)}); {_DROP_HINT}"
            )
        ok = isinstance(names, dict) and all(
            isinstance(k, str) and isinstance(v, str) and QUALIFIER in v for k, v in names.items()
        )
        if not ok:
            raise ConfigError(
                f"run.json 'resolved' {kind!r} must map names to NAME{QUALIFIER}PLUGIN, "
                f"got {names!r}; {_DROP_HINT}"
            )
    return {kind: dict(names) for kind, names in raw.items()}


def _recorded_plugins(raw: Any) -> dict[str, dict[str, str]]:
    """Check run.json's ``plugin_versions``: ``{plugin: {"distribution", "version"}}``."""
    ok = isinstance(raw, dict) and all(
        isinstance(info, dict) and all(isinstance(v, str) for v in info.values())
        for info in raw.values()
    )
    if not ok:
        raise ConfigError(
            f"run.json 'plugin_versions' must map plugin names to "
            f'{{"distribution": ..., "version": ...}}, got {raw!r}; {_DROP_HINT}'
        )
    return {name: dict(info) for name, info in raw.items()}


def pin_components(spec: RunSpec, *, warn: bool = True) -> RunSpec:
    """``spec`` with the plugin behind each of its components recorded, and checked.

    Every component the run names is looked up by its recorded ``NAME@PLUGIN``
    (so a plugin installed later that provides the same name does not make it
    ambiguous), or by the name as given when none is recorded (an older
    run.json, or a new run). The copy returned records what was found in
    ``resolved`` and the current distribution and version of each of their
    plugins in ``plugin_versions``, and of every loaded plugin with event hooks
    (those act on every run).

    Raises:
        UnknownComponentError: a recorded plugin is not installed, is disabled,
            failed to load or no longer provides the component; the message
            names the component, the plugin and the fix.
        AmbiguousComponentError: a name recorded without its plugin is now
            provided by several plugins.

    With ``warn``, a plugin whose version differs from the recorded one is
    logged as a warning naming both versions (the run goes on).
    """
    manager = get_manager()
    infos = {info.name: info for info in manager.plugins()}
    resolved: dict[str, dict[str, str]] = {kind: {} for kind in RUN_KINDS}
    plugins: dict[str, dict[str, str]] = {}
    components = []
    ambiguous: list[tuple[str, str, AmbiguousComponentError]] = []
    for kind, name in spec.named_components():
        try:
            components.append((kind, name, _recorded_component(spec, kind, name, manager, infos)))
        except AmbiguousComponentError as exc:  # only a name recorded without its plugin
            ambiguous.append((kind, name, exc))
    if ambiguous:
        raise AmbiguousComponentError(_unrecorded_ambiguity(ambiguous))
    for kind, name, comp in components:
        resolved[kind][name] = f"{comp.name}{QUALIFIER}{comp.plugin}"
        info = infos.get(comp.plugin)
        plugins[comp.plugin] = {
            "distribution": info.source if info else "",
            "version": info.version if info else "",
        }
    for info in manager.plugins():
        # plugins with event hooks act on every run, whatever its components
        if info.status == "loaded" and info.hooks and info.name not in plugins:
            plugins[info.name] = {"distribution": info.source, "version": info.version}
    if warn and spec.plugin_versions:  # a recorded run goes on: say what acts on it differently
        for plugin in sorted(set(spec.plugin_versions) - set(plugins)):
            log.warning("%s", _events_gone(plugin, spec.plugin_versions[plugin], infos))
        for plugin in sorted(set(plugins) - set(spec.plugin_versions)):
            log.warning(
                "plugin %r (version %s), whose event hooks act on every run, was not loaded "
                "(not installed, or disabled) when the run last trained; its hooks act on the "
                "rest of it, so it may not continue as it would have (disable it with "
                "--disable-plugin %s to avoid that)",
                plugin,
                _version_text(plugins[plugin]["version"]),
                plugin,
            )
    for plugin, now in sorted(plugins.items()):
        before = spec.plugin_versions.get(plugin, {}).get("version")
        if warn and before is not None and before != now["version"]:
            log.warning(
                "plugin %r changed version since the run last trained: %s in run.json, %s "
                "now; the run goes on with %s, so it may not continue exactly as it would "
                "have%s",
                plugin,
                _version_text(before),
                _version_text(now["version"]),
                _version_text(now["version"]),
                f" (install {before} again for that)" if before else "",
            )
    return dataclasses.replace(
        spec, resolved=resolved, plugin_versions=dict(sorted(plugins.items()))
    )


def _unrecorded_ambiguity(ambiguous: list[tuple[str, str, AmbiguousComponentError]]) -> str:
    """What to do about names an older run.json gives without a plugin, now ambiguous.

    All of them at once, so that one edit of run.json is enough.
    """
    found = "; ".join(f"{exc}" for _, _, exc in ambiguous)
    entries: dict[str, dict[str, str]] = {}
    for kind, name, _ in ambiguous:
        entries.setdefault(kind, {})[name] = f"{name}{QUALIFIER}PLUGIN"
    names = ", ".join(f"{kind} {name!r}" for kind, name, _ in ambiguous)
    return (
        f"the run names {names} with no plugin recorded (its run.json is older than "
        f"gankit's plugin records), and {found}; record the ones that trained the run in "
        f"run.json, keeping the names where they stand (the options and metric keys use "
        f'them): add "resolved": {json.dumps(entries)}'
    )


def _version_text(version: str) -> str:
    return version or "(unknown)"


def _recorded_component(
    spec: RunSpec, kind: str, name: str, manager: PluginManager, infos: dict[str, PluginInfo]
) -> Component:
    """The component a run names: by its recorded ``NAME@PLUGIN``, else as given."""
    recorded = spec.resolved.get(kind, {}).get(name)
    if recorded is None:
        return manager.get(kind, name)
    try:
        return manager.get(kind, recorded)
    except UnknownComponentError:
        base, _, plugin = recorded.partition(QUALIFIER)
        raise UnknownComponentError(
            _missing_plugin(kind, name, base, plugin, spec.plugin_versions.get(plugin, {}), infos)
        ) from None


def _missing_plugin(
    kind: str,
    name: str,
    base: str,
    plugin: str,
    recorded: dict[str, str],
    infos: dict[str, PluginInfo],
) -> str:
    """Why the plugin a run recorded for a component cannot provide it now, and the fix."""
    trained = f"the run was trained with {kind} {name!r} from plugin {plugin!r}"
    trained += _recorded_version(recorded)
    unavailable = _plugin_unavailable(trained, plugin, recorded, infos)
    if unavailable is not None:
        return unavailable
    info = infos[plugin]
    return (
        f"{trained}, but plugin {plugin!r} (now version {_version_text(info.version)}) no "
        f"longer provides {kind} {base!r}: {_install_hint(plugin, recorded)} to resume the run"
    )


def missing_options_plugin(plugin: str, recorded: dict[str, str]) -> str | None:
    """Why a run's options for ``plugin`` (run.json ``plugin_configs``) cannot be used now.

    None when the plugin is loaded and declares options. ``recorded`` is the
    plugin's entry in ``plugin_versions`` (empty when none was recorded).
    """
    infos = {info.name: info for info in get_manager().plugins()}
    has = f"the run has options for plugin {plugin!r}{_recorded_version(recorded)}"
    unavailable = _plugin_unavailable(has, plugin, recorded, infos)
    if unavailable is not None:
        return unavailable
    info = infos[plugin]
    if info.options is None:
        return (
            f"{has}, but plugin {plugin!r} (now version {_version_text(info.version)}) takes "
            f"no options any more: {_install_hint(plugin, recorded)} to resume the run, or "
            f"delete {plugin!r} from plugin_configs in run.json"
        )
    return None


def _recorded_version(recorded: dict[str, str]) -> str:
    version = recorded.get("version", "")
    return f" (version {version})" if version else ""


def _install_hint(plugin: str, recorded: dict[str, str]) -> str:
    """``pip install 'DIST==VERSION'`` for a recorded plugin, as far as it is known."""
    version, dist = recorded.get("version", ""), recorded.get("distribution", "")
    if dist:
        return f"pip install '{dist}=={version}'" if version else f"pip install {dist}"
    return f"install the package that provides plugin {plugin!r}"


def _plugin_unavailable(
    what: str, plugin: str, recorded: dict[str, str], infos: dict[str, PluginInfo]
) -> str | None:
    """``what``, and why ``plugin`` is not there for a resume (None: it is loaded)."""
    install = _install_hint(plugin, recorded)
    info = infos.get(plugin)
    if info is None:
        return (
            f"{what}, which is not installed: {install} to resume the run "
            f"(`gankit plugins` lists the installed plugins)"
        )
    if info.status == "disabled":
        return (
            f"{what}, but that plugin is disabled: drop it from --disable-plugin / "
            f"GANKIT_DISABLE_PLUGINS to resume the run"
        )
    if info.status == "failed":
        return (
            f"{what}, but that plugin failed to load ({info.error}): fix or reinstall it "
            f"({install}) to resume the run; `gankit plugins` shows every plugin's status"
        )
    return None


def _events_gone(plugin: str, recorded: dict[str, str], infos: dict[str, PluginInfo]) -> str:
    """The warning for a recorded plugin with event hooks that no longer acts on the run."""
    info = infos.get(plugin)
    fix = _install_hint(plugin, recorded)
    if info is None:
        why = "is not installed now"
    elif info.status == "disabled":
        why, fix = "is disabled now", "drop it from --disable-plugin / GANKIT_DISABLE_PLUGINS"
    elif info.status != "loaded":
        why, fix = f"is {info.status} now", f"fix or reinstall it ({fix}; `gankit plugins`)"
    else:
        why = f"has no event hooks now (version {_version_text(info.version)})"
    return (
        f"plugin {plugin!r}{_recorded_version(recorded)}, whose event hooks acted on the run "
        f"when it last trained, {why}: the run goes on without them, so it may not continue "
        f"as it would have ({fix} for that)"
    )


def _split_overrides(
    overrides: dict[str, Any], arch: Architecture, data_cfg_cls: type
) -> dict[str, Any]:
    """Sort flat/dotted overrides into sections."""
    out: dict[str, Any] = {s: {} for s in SECTIONS}
    owners = {
        "train": set(config_mod.field_names(TrainConfig)),
        "arch": set(config_mod.field_names(arch.config)),
        "data": set(config_mod.field_names(data_cfg_cls)),
    }
    #: where each override went, (section, field) or (section, name, field) -> its key, so
    #: that two spellings of one option (lr_g=, train.lr_g=) are refused, not one dropped
    placed: dict[tuple[str, ...], str] = {}

    def place(target: tuple[str, ...], key: str) -> None:
        earlier = placed.setdefault(target, key)
        if earlier != key:
            raise ConfigError(
                f"overrides {earlier!r} and {key!r} both set {'.'.join(target)}; give it once"
            )

    for key, value in overrides.items():
        head, dot, rest = key.partition(".")
        if dot and head in SECTIONS:
            if head in NAMED_SECTIONS:
                name, dot2, sub = rest.partition(".")
                if not dot2:
                    example = {
                        "regularizers": "regularizers.r1.gamma=5",
                        "metrics": "metrics.fd.n=2000",
                        "plugins": "plugins.my-plugin.every=10",
                    }[head]
                    raise ConfigError(
                        f"override {key!r}: use {head}.NAME.KEY=VALUE (e.g. {example})"
                    )
                place((head, name, sub), key)
                out[head].setdefault(name, {})[sub] = value
            else:
                place((head, rest), key)
                out[head][rest] = value
            continue
        matches = [s for s, names in owners.items() if key in names]
        if len(matches) == 1:
            place((matches[0], key), key)
            out[matches[0]][key] = value
        elif len(matches) > 1:
            raise ConfigError(
                f"override {key!r} is ambiguous: it is a field of {' and '.join(matches)}; "
                f"write {' or '.join(f'{m}.{key}' for m in matches)}"
            )
        else:
            valid = sorted(owners["train"] | owners["arch"] | owners["data"])
            import difflib

            close = difflib.get_close_matches(key, valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"unknown key {key!r}{hint}; valid keys: {', '.join(valid)}, or a dotted "
                f"key in a section ({', '.join(SECTIONS)})"
            )
    return out


def resolve(
    arch_name: str,
    data_name: str,
    file_values: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
    steps: int | None = None,
    seed: int | None = None,
) -> RunSpec:
    """Combine defaults, recipe, file and overrides into a validated :class:`RunSpec`."""
    arch = get_architecture(arch_name)
    data = get_component("dataset", data_name)
    file_values = dict(file_values or {})
    loose = sorted(k for k, v in file_values.items() if not isinstance(v, dict))
    if loose:  # `steps = 100` above any [section]
        raise ConfigError(
            f"the config file sets {', '.join(loose)} outside any section; put each key "
            f"under its section (for example `[train]` before `steps = 100`); valid "
            f"sections: {', '.join(SECTIONS)}"
        )
    unknown = set(file_values) - set(SECTIONS)
    if unknown:
        import difflib

        near = {u: difflib.get_close_matches(u, SECTIONS, n=1) for u in sorted(unknown)}
        hints = [f"[{u}]: did you mean [{m[0]}]?" for u, m in near.items() if m]
        raise ConfigError(
            f"unknown section(s) {sorted(unknown)} in the config file"
            f"{' (' + '; '.join(hints) + ')' if hints else ''}; "
            f"valid sections: {', '.join(SECTIONS)}"
        )
    split = _split_overrides(dict(overrides or {}), arch, data.config)

    recipe = config_mod.to_dict(arch.recipe)
    recipe_loss = recipe.pop("loss_config")
    recipe_regs = recipe.pop("regularizer_configs")
    train_values: dict[str, Any] = recipe
    train_values["steps"] = getattr(data, "default_steps", 2000)
    train_values["metrics"] = getattr(data, "default_metrics", ())
    train_values.update(file_values.get("train", {}))
    train_values.update(split["train"])
    if steps is not None:
        train_values["steps"] = steps
    if seed is not None:
        train_values["seed"] = seed
    train = config_mod.build(TrainConfig, train_values, where="[train]", strict=True)
    if train.steps == 0:  # as documented: 0 is the dataset's default
        train = dataclasses.replace(train, steps=getattr(data, "default_steps", 2000))

    arch_values = {**file_values.get("arch", {}), **split["arch"]}
    config_mod.check_keys(arch.config, arch_values, f"[arch] of {arch.name!r}")
    config_mod.check_strict(arch.config, arch_values, f"[arch] of {arch.name!r}")
    data_values = {**file_values.get("data", {}), **split["data"]}
    # validated now (built again when the data is loaded); recorded as the values it took
    data_values = _as_built(make_config(data, data_values, strict=True), data_values)

    loss = _train_component("loss", train.loss, "loss", arch, train.loss == arch.recipe.loss)
    loss_values = {**file_values.get("loss", {}), **split["loss"]}
    if train.loss == arch.recipe.loss:
        loss_values = {**recipe_loss, **loss_values}
    loss_values = _as_built(make_config(loss, loss_values, strict=True), loss_values)

    reg_values: dict[str, dict[str, Any]] = {}
    file_regs = _by_listed_name(
        file_values.get("regularizers", {}), train.regularizers, "regularizers"
    )
    split["regularizers"] = _by_listed_name(
        split["regularizers"], train.regularizers, "regularizers"
    )
    for name in set(file_regs) | set(split["regularizers"]):
        if name not in train.regularizers:
            raise ConfigError(
                f"options given for regularizer {name!r}, which is not in "
                f"regularizers={list(train.regularizers)}; add it there"
            )
    metric_values = _metric_configs(
        train,
        _by_listed_name(file_values.get("metrics", {}), train.metrics, "metrics"),
        _by_listed_name(split["metrics"], train.metrics, "metrics"),
    )
    listed_as: dict[tuple[str, str], str] = {}
    for name in train.regularizers:
        comp = _train_component(
            "regularizer", name, "regularizers", arch, name in arch.recipe.regularizers
        )
        same = listed_as.setdefault((comp.name, comp.plugin), name)
        if same != name:
            raise ConfigError(
                f"regularizers={list(train.regularizers)} lists {comp.name}{QUALIFIER}"
                f"{comp.plugin} twice, as {same!r} and {name!r}; list it once"
            )
        values = {
            **recipe_regs.get(name, {}),
            **file_regs.get(name, {}),
            **split["regularizers"].get(name, {}),
        }
        reg_values[name] = _as_built(make_config(comp, values, strict=True), values)

    spec = RunSpec(
        arch=arch_name,
        data=data_name,
        train=train,
        arch_config=_jsonable(arch_values),
        data_config=_jsonable(data_values),
        loss_config=_jsonable(loss_values),
        regularizer_configs={k: _jsonable(v) for k, v in reg_values.items()},
        metric_configs={k: _jsonable(v) for k, v in metric_values.items()},
        plugin_configs=_plugin_configs(file_values.get("plugins", {}), split["plugins"]),
    )
    return pin_components(spec)


def _plugin_configs(
    file_plugins: dict[str, Any], split_plugins: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The ``[plugins.PLUGIN]`` options, checked against each plugin's options dataclass."""
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(set(file_plugins) | set(split_plugins)):
        file_part = file_plugins.get(name, {})
        if not isinstance(file_part, dict):
            raise ConfigError(
                f"[plugins] {name} = {file_part!r} in the config file: give plugin options "
                f"as a table, [plugins.{name}] with KEY = VALUE lines"
            )
        values = {**file_part, **split_plugins.get(name, {})}
        built = config_mod.build(
            plugin_options_class(name), values, where=f"[plugins.{name}]", strict=True
        )
        out[name] = _as_built(built, values)
    return out


def plugin_options_class(name: str) -> type:
    """The options dataclass plugin ``name`` declares with ``gankit_plugin_options``.

    Raises:
        ConfigError: naming the plugin, when it is not loaded or takes no options.
    """
    manager = get_manager()
    infos = {info.name: info for info in manager.plugins()}
    info = infos.get(name)
    if info is None:
        import difflib

        close = difflib.get_close_matches(name, sorted(infos), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"options given for plugin {name!r}, which is not installed{hint} "
            f"(`gankit plugins` lists the plugins by name)"
        )
    if info.status != "loaded":
        raise ConfigError(
            f"options given for plugin {name!r}, which is {info.status} (`gankit plugins` says why)"
        )
    if info.options is None:
        with_options = sorted(i.name for i in infos.values() if i.options is not None)
        which = ", ".join(with_options) if with_options else "none installed"
        raise ConfigError(
            f"options given for plugin {name!r}, which takes no options (plugins with "
            f"options: {which}; `gankit info PLUGIN` shows them)"
        )
    return info.options


def _train_component(
    kind: str, name: str, option: str, arch: Architecture, from_recipe: bool
) -> Component:
    """Look up a component a train option names; an ambiguous name says which option."""
    try:
        return get_component(kind, name)
    except AmbiguousComponentError as exc:
        where = f" (the default of architecture {arch.name!r})" if from_recipe else ""
        raise AmbiguousComponentError(
            f"{option}{where} names {kind} {name!r}: {exc}; set {option}= to one of them"
        ) from None


def _by_listed_name(
    options: dict[str, Any], listed: tuple[str, ...], section: str
) -> dict[str, Any]:
    """Key options by the names as listed: ``r1`` options go to a listed ``r1@PLUGIN``.

    A qualified name in ``regularizers``/``metrics`` (``section``) still takes
    options under its bare name (``regularizers.r1.gamma=5``) when only one listed
    entry has it; with several, the options must name one of them.
    """
    repeated = sorted({n for n in listed if listed.count(n) > 1})
    if repeated:
        raise ConfigError(
            f"{section}={list(listed)} lists {', '.join(map(repr, repeated))} more than once; "
            f"list each once"
        )
    out: dict[str, Any] = {}
    placed: dict[tuple[str, str], str] = {}  # (listed name, option) -> the name it came under
    for name, values in options.items():
        matches = [n for n in listed if n.partition(QUALIFIER)[0] == name]
        if name not in listed and len(matches) > 1:
            raise ConfigError(
                f"options given for {section} {name!r}, but {section}={list(matches)} lists "
                f"it from several plugins: give them as {section}.{matches[0]}.KEY=VALUE "
                f'(or [{section}."{matches[0]}"] in a config file) for the one they are for'
            )
        key = matches[0] if name not in listed and len(matches) == 1 else name
        for option in values:
            earlier = placed.setdefault((key, option), name)
            if earlier != name:
                raise ConfigError(
                    f"{section}.{earlier}.{option} and {section}.{name}.{option} both set "
                    f"option {option!r} of {key}; give it once"
                )
        out[key] = {**out.get(key, {}), **values}
    return out


def _metric_configs(
    train: TrainConfig, from_file: dict[str, Any], from_overrides: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Validate the metrics, their options and ``best_metric``; return the options."""
    out: dict[str, dict[str, Any]] = {}
    for name in set(from_file) | set(from_overrides):
        if name not in train.metrics:
            raise ConfigError(
                f"options given for metric {name!r}, which is not in "
                f"metrics={list(train.metrics)}; add it there"
            )
    for name in train.metrics:
        comp = get_component("metric", name)
        values = {**from_file.get(name, {}), **from_overrides.get(name, {})}
        built = make_config(comp, values, strict=True)
        if values:
            out[name] = _as_built(built, values)
    if train.best_metric:
        metric = train.best_metric.split("/", 1)[0]
        if metric not in train.metrics:
            raise ConfigError(
                f"best_metric={train.best_metric!r} names metric {metric!r}, which is not "
                f"computed: add it to metrics (metrics={list(train.metrics) + [metric]})"
            )
        if train.metrics_every <= 0:
            raise ConfigError(
                f"best_metric={train.best_metric!r} is checked at metric steps, but "
                f"metrics_every={train.metrics_every}; set metrics_every to a positive interval"
            )
    return out


def _as_built(config: Any, given: dict[str, Any]) -> dict[str, Any]:
    """The options a user gave, as the built ``config`` holds them (JSON values).

    run.json records what the run used: a float field's ``10`` as 10.0, an int
    field's ``"64"`` (text from the command line) as 64.
    """
    built = config_mod.to_json(config)
    return {key: built[key] for key in given}


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def replace_train(spec: RunSpec, **changes: Any) -> RunSpec:
    """A copy of ``spec`` with some train options changed (validated)."""
    values = {**config_mod.to_dict(spec.train), **changes}
    return dataclasses.replace(spec, train=config_mod.build(TrainConfig, values, where="[train]"))
