"""The generic adversarial trainer.

One loop for every architecture: ``n_critic`` D steps, then one G step, with
the plugin-supplied G, D, loss and regularizers. Nothing here knows any
architecture by name; procedures differ only through data (the recipe and the
config) and through plugins reacting to the event hooks.

Run directory layout::

    RUN_DIR/run.json            the resolved RunSpec (used by --resume)
    RUN_DIR/metrics.jsonl       one JSON object per logged step
    RUN_DIR/samples/step-*.png  sample grids from a fixed latent batch
    RUN_DIR/checkpoints/        atomic safetensors + JSON checkpoints
    RUN_DIR/artifact/           the generator artifact (see gankit.artifacts)

and, with ``best_metric`` set (see :mod:`gankit.training.best`)::

    RUN_DIR/checkpoints/best/   the checkpoint of the best metric step
    RUN_DIR/artifact-best/      the generator artifact of that step
    RUN_DIR/best.json           which metric, value and step
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import reprlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from gankit import config as config_mod
from gankit.artifacts import save_artifact
from gankit.components import Architecture, Component
from gankit.data import TensorData
from gankit.errors import ConfigError, GankitError, PluginContractError
from gankit.evaluation import ReferenceData, compared_with, metric_pass, metric_split
from gankit.images import save_samples_image
from gankit.modelcard import model_card
from gankit.plugins import PluginManager, get_manager
from gankit.registry import (
    create_dataset,
    create_loss,
    create_regularizer,
    get_architecture,
    get_component,
    make_config,
)
from gankit.regularizers import Regularizer, StepContext
from gankit.sampling import GeneratorSampler, progress
from gankit.training import checkpoint as ckpt
from gankit.training import distributed, schedule
from gankit.training.best import BestTracker
from gankit.training.config import (
    RunSpec,
    missing_options_plugin,
    pin_components,
    plugin_options_class,
    spec_from_json,
)
from gankit.training.ema import EMA, refresh_batchnorm
from gankit.training.progress_bar import training_bar_options
from gankit.training.sampler import EpochSampler

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"
SAMPLES_DIR = "samples"
#: name of the grid written with the artifact at the end of a run (``samples/final.png``)
FINAL_GRID = "final"
#: sample-grid sizes when ``grid_size`` is 0: images in a grid, points in a 2-D scatter
DEFAULT_GRID_IMAGES = 64
DEFAULT_SCATTER_POINTS = 2500


class TrainingDiverged(GankitError):
    """A loss became NaN or infinite; the checkpoints written before are kept."""


def _named(component: Component) -> str:
    """``architecture 'NAME' (plugin 'PLUGIN')``: how error messages name a component."""
    plugin = f" (plugin {component.plugin!r})" if component.plugin else ""
    return f"{component.kind} {component.name!r}{plugin}"


def _returned(value: Any) -> str:
    """How a value a plugin returned reads in an error message: a tensor's shape, or its type."""
    if isinstance(value, torch.Tensor):
        return f"shape {list(value.shape)}" + (" (a 0-d scalar)" if value.ndim == 0 else "")
    return f"a {type(value).__name__} ({reprlib.repr(value)})"


def _value(value: Any) -> str:
    """How a value a plugin stored reads in an error message."""
    if isinstance(value, torch.Tensor):
        return f"a Tensor of shape {list(value.shape)}"
    return _returned(value)


def _flat(logits: Any, batch: int, arch: Architecture) -> torch.Tensor:
    """D's logits as ``[batch]``; they must be ``[batch]`` or ``[batch, 1]`` (the contract).

    Raises:
        PluginContractError: for anything else (a scalar, one column per class,
            extra dimensions), naming the architecture and the shape.
    """
    if isinstance(logits, torch.Tensor):
        if logits.ndim == 1 and logits.shape[0] == batch:
            return logits
        if logits.ndim == 2 and logits.shape[0] == batch and logits.shape[1] == 1:
            return logits.reshape(batch)
    raise PluginContractError(
        f"discriminator of {_named(arch)} returned {_returned(logits)} for a batch of "
        f"{batch}; expected logits of shape [{batch}] or [{batch}, 1], one raw score per "
        f"sample: end D's forward in a layer with one output and .reshape(x.shape[0]), "
        f"without averaging over the batch"
    )


def _is_number_tensor(value: Any) -> bool:
    """True for a 0-d tensor or NumPy scalar that ``.item()`` turns into a JSON number."""
    if isinstance(value, torch.Tensor):
        return value.ndim == 0 and not value.is_complex()
    return isinstance(value, np.bool_ | np.integer | np.floating)


def _json_problem(value: Any, where: str) -> str | None:
    """What in ``value`` would not survive a JSON round trip (None if it all does)."""
    if value is None or isinstance(value, str | bool | int | float):
        return None
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            problem = _json_problem(item, f"{where}[{i}]")
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{where} has the key {key!r} ({type(key).__name__}, not str)"
            problem = _json_problem(item, f"{where}[{key!r}]")
            if problem:
                return problem
        return None
    return f"{where} is {_value(value)}"


def _raising_plugin(caller: Any, exc: BaseException) -> str | None:
    """The plugin whose implementation of a pluggy hook raised ``exc`` (from the traceback)."""
    codes = {
        getattr(impl.function, "__code__", None): impl.plugin_name
        for impl in caller.get_hookimpls()
    }
    tb = exc.__traceback__
    while tb is not None:
        plugin = codes.get(tb.tb_frame.f_code)
        if plugin is not None:
            return str(plugin)
        tb = tb.tb_next
    return None


class Trainer:
    """Trains one run; see the module docstring for the files it writes.

    Args:
        spec: the resolved run (see :func:`gankit.training.config.resolve`).
        out_dir: the run directory.
        manager: the plugin manager; components are looked up and hooks fired
            through the process-wide one (:func:`gankit.plugins.get_manager`), so a
            manager given here must be that one: install another with
            :func:`gankit.plugins.set_manager` first.
    """

    def __init__(
        self, spec: RunSpec, out_dir: str | Path, manager: PluginManager | None = None
    ) -> None:
        if manager is not None and manager is not get_manager():
            raise GankitError(
                "Trainer(manager=...) was given a plugin manager that is not the process-wide "
                "one, which the trainer's components and metrics are looked up in; call "
                "gankit.plugins.set_manager(manager) first, and leave out manager="
            )
        self.dist = distributed.from_env()
        # components are built by the NAME@PLUGIN the run recorded (a resumed run is
        # not broken by a plugin installed since that provides the same name), and
        # run.json is written from this spec: it records each plugin and its version
        recorded_versions = spec.plugin_versions  # as the run last recorded them
        for plugin in spec.plugin_configs:  # before warnings that the run goes on without it
            missing = missing_options_plugin(plugin, recorded_versions.get(plugin, {}))
            if missing is not None:
                raise ConfigError(missing)
        self.spec = spec = pin_components(spec, warn=self.dist.is_main)
        self.cfg = spec.train
        self.out_dir = Path(out_dir)
        self.manager = get_manager()
        self.device = distributed.device_for(self.dist, self.cfg.device)
        self._owns_group = distributed.init(self.dist, self.device, self.cfg.dist_timeout)
        self.step = 0
        self.images_seen = 0
        self.phase = ""
        #: scalars plugins keep across checkpoints (e.g. a growth schedule's alpha)
        self.state: dict[str, Any] = {}
        #: set by plugins to transform each real batch (e.g. to the current resolution)
        self.real_transform: Callable[[torch.Tensor], torch.Tensor] | None = None
        self.batch_size = spec.train.batch_size
        self._seed_everything(self.cfg.seed)

        self.arch: Architecture = get_architecture(spec.component_name("architecture", spec.arch))
        data_name = spec.component_name("dataset", spec.data)
        #: the plugin that provides the run's dataset
        self.data_plugin = get_component("dataset", data_name).plugin
        self.data: TensorData = create_dataset(data_name, **spec.data_config)
        self.arch_config = self._build_arch_config()
        self.conditional = self.arch_config.num_classes > 0

        assert self.arch.generator is not None and self.arch.discriminator is not None
        self.G: nn.Module = self.arch.generator(self.arch_config).to(self.device)
        self.D: nn.Module = self.arch.discriminator(self.arch_config).to(self.device)
        loss_name = spec.component_name("loss", self.cfg.loss)
        self.loss = create_loss(loss_name, **spec.loss_config)
        #: the loss's component record (its name and plugin, for error messages)
        self.loss_component: Component = get_component("loss", loss_name)
        self.regularizers: list[Regularizer] = []
        for name in self.cfg.regularizers:
            reg = create_regularizer(
                spec.component_name("regularizer", name), **spec.regularizer_configs.get(name, {})
            )
            reg.setup(self.G, self.D)
            self.regularizers.append(reg)
        # the D step's regularizers get D without torch.compile (_D_eager): compiled
        # modules cannot differentiate twice, which R1 and gradient penalties need
        self._D_eager = self._distribute(self.D)
        self._G_train = self._compile(self._distribute(self.G))
        self._D_train = self._compile(self._D_eager)
        adam: dict[str, Any] = {}
        if self.cfg.adam != "default":
            adam[self.cfg.adam] = True
        self.opt_g = torch.optim.Adam(
            self.G.parameters(), lr=self.cfg.lr_g, betas=self.cfg.betas_g, **adam
        )
        self.opt_d = torch.optim.Adam(
            self.D.parameters(), lr=self.cfg.lr_d, betas=self.cfg.betas_d, **adam
        )
        #: learning rates before the schedule's factor (plugins change them per phase)
        self.base_lr = (self.cfg.lr_g, self.cfg.lr_d)
        #: the step count the current ``fit`` trains to (the schedule decays towards it)
        self.total_steps = self.cfg.steps
        #: the schedule's current factor on the base learning rates (logged as lr_scale)
        self.lr_scale = 1.0
        #: progress by the time clock (``lr_decay_clock=time``), checkpointed
        self.time_progress = 0.0
        #: (start of the current ``fit`` call, time progress when it began)
        self._clock: tuple[float, float] | None = None
        self.ema = EMA(self.G, self.cfg.ema_kimg, self.cfg.ema_rampup) if self.cfg.ema else None
        use_scaler = self.cfg.amp == "fp16"
        self.scaler_g = torch.amp.GradScaler(self.device.type, enabled=use_scaler)
        self.scaler_d = torch.amp.GradScaler(self.device.type, enabled=use_scaler)
        #: (name, config, metric) of each configured metric
        self.metrics = self._build_metrics()
        #: each plugin's run options, by plugin name (see :meth:`plugin_options`); the
        #: ones the run sets are checked now, so a resume after a plugin changed fails early
        self._plugin_options: dict[str, Any] = {}
        self._check_plugin_configs(recorded_versions)
        #: the data each metric compares with (its ``split``, built on first use)
        self.reference = ReferenceData(data_name, dict(spec.data_config), base=self.data)
        self.best = (
            BestTracker(self.out_dir, self.cfg.best_metric, self.cfg.best_mode)
            if self.cfg.best_metric
            else None
        )
        self.sampler = EpochSampler(
            len(self.data), self.cfg.batch_size * self.dist.world_size, self.cfg.seed
        )
        self.noise = torch.Generator(device="cpu").manual_seed(self.cfg.seed + 1)
        self.samples = self.data.samples
        self.labels = self.data.labels
        self._fixed_z, self._fixed_labels, self._grid_nrow = self._fixed_batch()

    # -- setup -------------------------------------------------------------------

    def _distribute(self, module: nn.Module) -> nn.Module:
        """Apply ``channels_last`` and, under torchrun, DistributedDataParallel."""
        if self.cfg.channels_last and module.training:
            module.to(memory_format=torch.channels_last)
        if not self.dist.enabled:
            return module
        if self.cfg.sync_batchnorm:
            module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
        ids = [self.device.index] if self.device.type == "cuda" else None
        # broadcast_buffers=False: D runs on real and fake batches before one backward
        return nn.parallel.DistributedDataParallel(module, device_ids=ids, broadcast_buffers=False)

    def _compile(self, module: nn.Module) -> Callable[..., torch.Tensor]:
        """``torch.compile`` the module when the ``compile`` option is on."""
        return torch.compile(module) if self.cfg.compile else module

    @staticmethod
    def _seed_everything(seed: int) -> None:
        torch.manual_seed(seed)
        np.random.seed(seed % (2**32))
        random.seed(seed)

    def _build_arch_config(self) -> Any:
        values = dict(self.spec.arch_config)
        values.setdefault("data_shape", list(self.data.data_shape))
        if self.arch.needs_labels:
            if self.data.labels is None:
                raise ConfigError(
                    f"architecture {self.arch.name!r} is conditional and needs labelled data; "
                    f"dataset {self.spec.data!r} has no labels"
                )
            values.setdefault("num_classes", self.data.num_classes)
        else:
            values.setdefault("num_classes", 0)
        cfg = make_config(self.arch, values)
        if tuple(cfg.data_shape) != self.data.data_shape:
            raise ConfigError(
                f"arch data_shape {tuple(cfg.data_shape)} does not match the data's "
                f"{self.data.data_shape}; leave data_shape unset to take it from the data"
            )
        if self.arch.adapt is not None:
            cfg = self.arch.adapt(cfg, self.data.data_shape, self.data.num_classes)
        return cfg

    def plugin_options(self, plugin: str) -> Any:
        """The run's options for ``plugin``: an instance of its ``gankit_plugin_options`` dataclass.

        Built from ``plugins.PLUGIN.KEY=VALUE`` (or the ``[plugins.PLUGIN]`` table)
        over the dataclass's defaults; the same object on every call. A plugin
        reads its own options (``trainer.plugin_options("my-plugin")``).

        Raises:
            PluginContractError: ``plugin`` is not loaded or declares no options (a
                plugin asked for options that do not exist; the user set none).
        """
        if plugin not in self._plugin_options:
            try:
                options_class = plugin_options_class(plugin)
            except ConfigError as exc:
                raise PluginContractError(
                    f"trainer.plugin_options({plugin!r}) asks for options that do not exist: "
                    f"{str(exc).replace('options given for plugin', 'plugin', 1)}; a plugin "
                    f"reads the options its own gankit_plugin_options declares"
                ) from None
            self._plugin_options[plugin] = config_mod.build(
                options_class,
                self.spec.plugin_configs.get(plugin, {}),
                where=f"[plugins.{plugin}]",
            )
        return self._plugin_options[plugin]

    def _check_plugin_configs(self, recorded_versions: dict[str, dict[str, str]]) -> None:
        """Build the options the run sets for each plugin now, so a resume fails early.

        A resumed run's options come from run.json: when their plugin has changed
        them, the error says so and what to do, rather than blaming options the
        user did not give in this command. ``recorded_versions`` is run.json's
        ``plugin_versions`` as it was before this session.
        """
        for plugin, values in self.spec.plugin_configs.items():
            recorded = recorded_versions.get(plugin, {})
            try:
                self.plugin_options(plugin)
            except ConfigError as exc:
                version = recorded.get("version")
                raise ConfigError(
                    f"{exc} (the run's options for plugin {plugin!r}, {values!r}, as "
                    f"run.json's plugin_configs records them; if the plugin changed since "
                    f"the run was recorded, install "
                    f"{'version ' + version if version else 'the version it had'} again, "
                    f"or correct plugin_configs in run.json)"
                ) from None

    def _build_metrics(self) -> list[tuple[str, Any, Any]]:
        out = []
        for name in self.cfg.metrics:
            comp = get_component("metric", self.spec.component_name("metric", name))
            cfg = make_config(comp, self.spec.metric_configs.get(name, {}))
            out.append((name, cfg, comp.factory(cfg)))  # type: ignore[attr-defined]
        return out

    def _fixed_batch(self) -> tuple[torch.Tensor, torch.Tensor | None, int | None]:
        gen = torch.Generator().manual_seed(self.cfg.seed + 2)
        n = self.cfg.grid_size or (
            DEFAULT_GRID_IMAGES if self.data.is_image else DEFAULT_SCATTER_POINTS
        )
        labels = None
        nrow = None
        if self.conditional:
            k = self.arch_config.num_classes
            per_class = max(1, n // k)
            labels = torch.arange(k).repeat_interleave(per_class)
            n, nrow = len(labels), per_class
        z = torch.randn(n, self.arch_config.latent_dim, generator=gen)
        return z, labels, nrow

    # -- what plugins may change while training ----------------------------------------

    def set_batch_size(self, batch_size: int) -> None:
        """Change the (per-process) batch size from the next batch on (e.g. per resolution)."""
        self.batch_size = int(batch_size)
        self.sampler.set_batch_size(self.batch_size * self.dist.world_size)

    def set_learning_rates(self, lr_g: float, lr_d: float) -> None:
        """Set the Adam learning rates of G and D (optimizer state is kept).

        They are the base rates: with ``lr_decay`` the schedule's factor applies on top.
        """
        self.base_lr = (float(lr_g), float(lr_d))
        self._apply_lr_schedule()

    def _apply_lr_schedule(self) -> None:
        factor = schedule.lr_factor(
            self.cfg.lr_decay,
            self.step,
            self.total_steps,
            self.cfg.lr_decay_start,
            self.cfg.lr_decay_final,
        )
        if self._clock is not None:
            started, resumed_at = self._clock
            progress = schedule.time_progress(
                resumed_at, time.perf_counter() - started, 60.0 * self.cfg.max_minutes
            )
            # every rank must apply the same rate: the slowest clock's is not enough
            self.time_progress = distributed.max_over_ranks(self.dist, progress)
            factor = min(
                factor,
                schedule.lr_factor_at(
                    self.cfg.lr_decay,
                    self.time_progress,
                    self.cfg.lr_decay_start,
                    self.cfg.lr_decay_final,
                ),
            )
        self.lr_scale = factor
        for opt, base in zip((self.opt_g, self.opt_d), self.base_lr, strict=True):
            for group in opt.param_groups:
                group["lr"] = base * factor

    def set_phase(self, phase: str) -> None:
        """Enter a named training phase; fires ``gankit_on_phase_change`` when it changes.

        With ``compile`` on, a change of phase also drops torch.compile's graphs.
        """
        if phase != self.phase:
            if self.cfg.compile and self.phase:
                # A phase changes what the networks compute (ProGAN: one more level),
                # so dynamo compiles new graphs for it. Past ``recompile_limit`` (8)
                # graphs per function it would run the rest of training eagerly, with
                # only a warning: a ProGAN at 64x64 has 9 phases. Phases are assumed
                # not to come back, so the past phases' graphs are dropped here.
                torch.compiler.reset()
            self.phase = phase
            self._fire("gankit_on_phase_change", phase=phase)

    def modules(self) -> list[nn.Module]:
        """G, D and the averaged G: the modules a plugin reconfigures together."""
        mods = [self.G, self.D]
        if self.ema is not None:
            mods.append(self.ema.model)
        return mods

    # -- checks of what plugins return ----------------------------------------------

    def _fire(self, hook: str, **kwargs: Any) -> None:
        """Call the event hook ``hook`` of every plugin (with ``trainer=self``).

        An exception a hook raises propagates unchanged, with a note (PEP 678)
        naming the hook, the plugin and the step.
        """
        caller = getattr(self.manager.hook, hook)
        try:
            caller(trainer=self, **kwargs)
        except Exception as exc:
            plugin = _raising_plugin(caller, exc)
            by = f" of plugin {plugin!r}" if plugin else ""
            note = f"raised in hook {hook}{by} at step {self.step}"
            add_note = getattr(exc, "add_note", None)  # Python 3.11+
            if add_note is not None:
                add_note(note)
            else:
                log.error("%s %s", type(exc).__name__, note)
            raise

    def _fake_shape_error(self, fake: Any, real: torch.Tensor) -> PluginContractError:
        """The error for a generator output that does not have the real batch's shape."""
        data_shape = [int(n) for n in self.arch_config.data_shape]
        expected = list(real.shape)
        if expected[1:] == data_shape:
            what = "[batch, *data_shape]"
            fix = "end G's forward with .reshape(z.shape[0], *config.data_shape)"
        else:  # a plugin's real_transform serves reals at another shape (ProGAN: per phase)
            phase = f" in phase {self.phase!r}" if self.phase else ""
            what = f"the shape of the real batch D gets at this step{phase}"
            fix = f"G must produce what trainer.real_transform makes of data_shape {data_shape}"
        return PluginContractError(
            f"generator of {_named(self.arch)} returned {_returned(fake)}; expected "
            f"{expected} = {what} (fakes and reals go through the same D): {fix}"
        )

    def _checked_loss(self, value: Any, call: str) -> torch.Tensor:
        """``value`` if it is a loss ``backward()`` can use: a 0-d tensor with a gradient.

        Raises:
            PluginContractError: naming the loss, its plugin and what it returned.
        """
        if isinstance(value, torch.Tensor) and value.ndim == 0:
            if value.requires_grad or not torch.is_grad_enabled():
                return value
            got = "a tensor that does not require grad (detached or built from numbers)"
        else:
            got = _returned(value)
        raise PluginContractError(
            f"{_named(self.loss_component)}: {call} returned {got}; expected a 0-d tensor "
            f"computed from the logits, so that backward() trains the networks: reduce over "
            f"the batch (e.g. .mean()) and use torch operations only, no .item(), float(), "
            f".detach() or torch.tensor(...)"
        )

    def _check_logs(self, logs: dict[str, Any], step: int) -> None:
        """Make step ``step``'s ``logs`` JSON numbers in place: 0-d tensors and NumPy
        scalars become Python numbers (``.item()``); anything else raises.

        Raises:
            PluginContractError: naming the key and the hook that can put it there.
        """
        for key, value in logs.items():
            if isinstance(value, int | float) and isinstance(key, str):  # bool is an int
                continue
            if _is_number_tensor(value) and isinstance(key, str):
                logs[key] = value.item()
                continue
            got = (
                f"the key {key!r} ({type(key).__name__}, not str)"
                if not isinstance(key, str)
                else f"logs[{key!r}] = {_value(value)}"
            )
            raise PluginContractError(
                f"hook gankit_on_step_end put {got} at step {step}; logs are written to "
                f"{METRICS_FILE} as JSON numbers, so keys must be str and values Python "
                f"numbers (float, int, bool) or 0-d tensors: log float(value), or one key "
                f"per element"
            )

    def _check_state(self, when: str) -> None:
        """Raise unless ``trainer.state`` is JSON (it is saved in every checkpoint).

        Raises:
            PluginContractError: naming the key and what it holds.
        """
        problem = _json_problem(self.state, "trainer.state")
        if problem:
            raise PluginContractError(
                f"{problem} ({when}); trainer.state is saved as JSON in checkpoints and "
                f"restored on resume, so it must hold JSON values: numbers, bool, str, None, "
                f"and lists or str-keyed dicts of them. Store float(value), not a tensor "
                f"(the trainer does not convert it: a resumed run would get back a float)"
            )

    # -- one step ------------------------------------------------------------------

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.cfg.amp == "none":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.cfg.amp == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        for reg in self.regularizers:
            x = reg.augment(x, self.step)
        return x

    def _D(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """D as trained in the D step (DDP-wrapped under torchrun)."""
        return _flat(self._D_train(x, labels=labels), x.shape[0], self.arch)

    def _D_regularized(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """D as the D step's regularizers call it: the same module, never compiled."""
        return _flat(self._D_eager(x, labels=labels), x.shape[0], self.arch)

    def _D_frozen(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """D in the G step: its weights are not trained there, so no DDP sync."""
        return _flat(self.D(x, labels=labels), x.shape[0], self.arch)

    def _latents(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """This rank's share of ``n * world_size`` global latents (and labels)."""
        total = n * self.dist.world_size
        z = torch.randn(total, self.arch_config.latent_dim, generator=self.noise)
        labels = None
        if self.conditional:
            labels = torch.randint(0, self.arch_config.num_classes, (total,), generator=self.noise)
            labels = self.dist.share(labels).to(self.device)
        return self.dist.share(z).to(self.device), labels

    def _real_batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        idx, new_epoch = self.sampler.next()
        idx = self.dist.share(idx)
        if new_epoch:
            self._fire("gankit_on_epoch_end", epoch=self.sampler.epoch - 1)
        real = self.samples[idx].to(self.device, non_blocking=True)
        if self.real_transform is not None:
            real = self.real_transform(real)
        labels = None
        if self.conditional and self.labels is not None:
            labels = self.labels[idx].to(self.device, non_blocking=True)
        return real, labels

    def d_step(self) -> dict[str, torch.Tensor]:
        """One discriminator update; returns detached values to log."""
        real, real_labels = self._real_batch()
        z, fake_labels = self._latents(real.shape[0])
        with torch.no_grad(), self._autocast():
            fake = self.G(z, labels=fake_labels)
        # fakes and reals must match for D (a shape compare: negligible per step)
        if not isinstance(fake, torch.Tensor) or fake.shape != real.shape:
            raise self._fake_shape_error(fake, real)
        fake = fake.float()
        with self._autocast():
            real_logits = self._D(self._augment(real), real_labels)
            fake_logits = self._D(self._augment(fake), fake_labels)
            loss = self._checked_loss(
                self.loss.d_loss(real_logits, fake_logits), "d_loss(real_logits, fake_logits)"
            )
            ctx = StepContext(
                self.step,
                self.G,
                self._D_regularized,
                real,
                fake,
                real_labels,
                fake_labels,
                real_logits,
                fake_logits,
                self._augment,
            )
            for reg in self.regularizers:
                extra = reg.d_loss(ctx)
                if extra is not None:
                    loss = loss + extra
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler_d.scale(loss).backward()
        self.scaler_d.step(self.opt_d)
        self.scaler_d.update()
        self.images_seen += real.shape[0] * self.dist.world_size
        return {
            "loss_d": loss.detach(),
            "d_real": real_logits.detach().float().mean(),
            "d_fake": fake_logits.detach().float().mean(),
        }

    def g_step(self) -> dict[str, torch.Tensor]:
        """One generator update; returns detached values to log."""
        z, fake_labels = self._latents(self.batch_size)
        self.D.requires_grad_(False)
        try:
            with self._autocast():
                fake = self._G_train(z, labels=fake_labels)
                fake_logits = self._D_frozen(self._augment(fake), fake_labels)
                loss = self._checked_loss(self.loss.g_loss(fake_logits), "g_loss(fake_logits)")
                ctx = StepContext(
                    self.step,
                    self.G,
                    self._D_frozen,
                    fake,
                    fake,
                    None,
                    fake_labels,
                    None,
                    fake_logits,
                    self._augment,
                )
                for reg in self.regularizers:
                    extra = reg.g_loss(ctx)
                    if extra is not None:
                        loss = loss + extra
            self.opt_g.zero_grad(set_to_none=True)
            self.scaler_g.scale(loss).backward()
            self.scaler_g.step(self.opt_g)
            self.scaler_g.update()
        finally:
            self.D.requires_grad_(True)
        if self.ema is not None:
            self.ema.update(self.G, self.images_seen, self.batch_size * self.dist.world_size)
        return {"loss_g": loss.detach()}

    def train_step(self) -> dict[str, float]:
        """``n_critic`` D steps and one G step; returns the logged values as floats."""
        self._fire("gankit_on_step_start", step=self.step)
        if self.cfg.lr_decay != "none":
            self._apply_lr_schedule()
        self.G.train()
        self.D.train()
        for _ in range(self.cfg.n_critic):
            d_logs = self.d_step()
        g_logs = self.g_step()
        names = list(d_logs) + list(g_logs)
        values = torch.stack([*d_logs.values(), *g_logs.values()]).float().tolist()
        logs = dict(zip(names, values, strict=True))
        if self.cfg.lr_decay != "none":
            logs["lr_scale"] = self.lr_scale
        for name in ("loss_d", "loss_g"):
            if not math.isfinite(logs[name]):
                directory = self.out_dir / "checkpoints"
                newest = ckpt.newest_step(directory)
                kept = (
                    f"The newest checkpoint (step {newest}) in {directory} is kept"
                    if newest is not None
                    else f"No checkpoint was written yet (checkpoint_every="
                    f"{self.cfg.checkpoint_every})"
                )
                raise TrainingDiverged(  # step counted from 1, as metrics.jsonl does
                    f"step {self.step + 1}: {name} is {logs[name]}; training stopped. {kept}; "
                    f"try a lower learning rate, a gradient penalty, or amp=none"
                )
        return logs

    # -- sampling and saving -----------------------------------------------------

    def sampling_model(self) -> nn.Module:
        """The generator used for grids and export: the EMA copy (stats refreshed) or G."""
        if self.ema is None:
            return self.G
        model = self.ema.model
        bn_gen = torch.Generator().manual_seed(self.cfg.seed + 3)

        def forward(_: int) -> None:
            z = torch.randn(self.cfg.batch_size, self.arch_config.latent_dim, generator=bn_gen)
            labels = None
            if self.conditional:
                labels = torch.randint(
                    0, self.arch_config.num_classes, (self.cfg.batch_size,), generator=bn_gen
                ).to(self.device)
            model(z.to(self.device), labels=labels)

        refresh_batchnorm(model, forward, self.cfg.ema_bn_batches)
        return model

    @torch.no_grad()
    def save_grid(self, name: str, model: nn.Module | None = None) -> Path:
        """Write a sample grid of the fixed latent batch to ``samples/NAME.png`` (rank 0).

        ``model`` is a sampling model already prepared by :meth:`sampling_model`.
        """
        path = self.out_dir / SAMPLES_DIR / f"{name}.png"
        if not self.dist.is_main:
            return path
        model = model or self.sampling_model()
        was_training = model.training
        model.eval()
        labels = self._fixed_labels.to(self.device) if self._fixed_labels is not None else None
        out = model(self._fixed_z.to(self.device), labels=labels).float().cpu()
        model.train(was_training)
        return save_samples_image(
            out,
            path,
            nrow=self._grid_nrow,
            value_range=self.data.value_range,
            centers=self.data.mode_centers,
        )

    def compute_metrics(self, model: nn.Module | None = None) -> dict[str, float]:
        """Run the configured metrics on the sampling model; keys are ``metric/value``."""
        if not self.metrics:
            return {}
        sampler = GeneratorSampler(
            model or self.sampling_model(),
            self.arch_config.latent_dim,
            self.arch_config.num_classes,
        )
        out: dict[str, float] = {}
        # a metric step that takes long (fd with n=10000) shows its own bars under the
        # training bar, as `gankit eval` does; with progress=false, or off a terminal, none
        shown = None if self.cfg.progress and self.dist.is_main else False
        with metric_pass():  # metrics scoring the same samples draw them once
            for name, cfg, metric in self.metrics:
                data = self.reference.get(metric_split(cfg))
                with progress(shown, label=name):
                    values = metric.compute(sampler, data)
                for key, value in values.items():
                    out[f"{name}/{key}"] = float(value)
        return out

    def metric_provenance(self) -> dict[str, dict[str, Any]]:
        """For each metric: its options and the reference data, as the artifact records them."""
        out = {}
        for name, cfg, metric in self.metrics:
            # None for a metric that compares with no data (coverage, cond-acc, is)
            ref = compared_with(metric, cfg, self.reference)
            out[name] = {"config": config_mod.to_json(cfg), "reference": ref}
        return out

    def state_tensors(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Everything needed to continue exactly: tensors and JSON scalars."""
        self._check_state(f"found when saving the checkpoint of step {self.step}")
        tensors: dict[str, torch.Tensor] = {}
        for prefix, module in (("G", self.G), ("D", self.D)):
            tensors.update({f"{prefix}.{k}": v for k, v in module.state_dict().items()})
        if self.ema is not None:
            tensors.update({f"G_ema.{k}": v for k, v in self.ema.model.state_dict().items()})
        opt_meta = {}
        for prefix, opt in (("opt_g", self.opt_g), ("opt_d", self.opt_d)):
            t, meta = ckpt.flatten_optimizer(prefix, opt)
            tensors.update(t)
            opt_meta[prefix] = meta
        rng_t, rng_meta = ckpt.capture_rng()
        tensors.update(rng_t)
        tensors["rng.noise"] = self.noise.get_state()
        meta = {
            "images_seen": self.images_seen,
            "phase": self.phase,
            "plugin_state": self.state,
            "batch_size": self.batch_size,
            "base_lr": list(self.base_lr),
            "time_progress": self.time_progress,
            "sampler": self.sampler.state_dict(),
            "optimizers": opt_meta,
            "scalers": {"g": self.scaler_g.state_dict(), "d": self.scaler_d.state_dict()},
            "rng": rng_meta,
            "regularizers": [r.state_dict() for r in self.regularizers],
            "run": self.spec.to_json(),
        }
        return tensors, meta

    def save_checkpoint(self) -> Path:
        """Write a checkpoint for the current step (atomically, rank 0) and fire the hook."""
        if not self.dist.is_main:
            return self.out_dir / "checkpoints"
        tensors, meta = self.state_tensors()
        path = ckpt.save(
            self.out_dir / "checkpoints", self.step, tensors, meta, keep=self.cfg.keep_checkpoints
        )
        self._fire("gankit_on_checkpoint_saved", path=path)
        return path

    def restore(self, checkpoint: ckpt.Checkpoint) -> None:
        """Continue from a loaded checkpoint."""
        t, meta = checkpoint.tensors, checkpoint.meta

        def sub(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix) + 1 :]: v for k, v in t.items() if k.startswith(prefix + ".")}

        self.G.load_state_dict(sub("G"), strict=True)
        self.D.load_state_dict(sub("D"), strict=True)
        if self.ema is not None:
            self.ema.model.load_state_dict(sub("G_ema"), strict=True)
        ckpt.restore_optimizer(self.opt_g, "opt_g", t, meta["optimizers"]["opt_g"])
        ckpt.restore_optimizer(self.opt_d, "opt_d", t, meta["optimizers"]["opt_d"])
        self.scaler_g.load_state_dict(meta["scalers"]["g"]) if meta["scalers"]["g"] else None
        self.scaler_d.load_state_dict(meta["scalers"]["d"]) if meta["scalers"]["d"] else None
        ckpt.restore_rng(t, meta["rng"])
        self.noise.set_state(t["rng.noise"])
        self.sampler.load_state_dict(meta["sampler"])
        for reg, state in zip(self.regularizers, meta.get("regularizers", []), strict=False):
            reg.load_state_dict(state)
        self.step = checkpoint.step
        self.images_seen = int(meta["images_seen"])
        self.phase = meta.get("phase", "")
        self.state = dict(meta.get("plugin_state", {}))
        self.set_batch_size(int(meta.get("batch_size", self.batch_size)))
        lr_g, lr_d = meta.get("base_lr", self.base_lr)
        self.base_lr = (float(lr_g), float(lr_d))
        self.time_progress = float(meta.get("time_progress", 0.0))

    def _metric_records(self, values: dict[str, float]) -> dict[str, Any]:
        """Metric values with how they were measured, as config.json and the card hold them."""
        how = self.metric_provenance()
        records = {}
        for key, value in values.items():
            name = key.split("/")[0]
            cfg, ref = how[name]["config"], how[name]["reference"]
            options = ", ".join(f"{k}={v}" for k, v in cfg.items() if v not in ("", None))
            records[key] = {
                "value": value,
                "step": self.step,
                "measured_by": f"gankit trainer, metric {name} ({options})",
            }
            if ref is not None:
                words = (ref["dataset"], ref.get("split"), ref.get("what"))
                where = " ".join(str(w) for w in words if w)
                records[key]["reference"] = f"{where}, {ref['size']} samples"
        return records

    def write_artifact(
        self,
        metrics: dict[str, Any] | None = None,
        out: Path | None = None,
        model: nn.Module | None = None,
        grid: str = FINAL_GRID,
    ) -> Path:
        """Write the generator artifact to ``out`` (default ``RUN_DIR/artifact``).

        ``metrics`` (default: the configured metrics, computed now) go into
        config.json and the model card with how they were measured. ``model``
        is a sampling model already prepared by :meth:`sampling_model`; its
        grid goes to ``samples/GRID.png`` and into the artifact. Only rank 0 writes.
        """
        out = out or self.out_dir / "artifact"
        if not self.dist.is_main:
            return out
        if model is None:
            model = self.sampling_model()  # batch-norm statistics are refreshed once, here
        if metrics is None:
            metrics = self._metric_records(self.compute_metrics(model))
        grid_png = self.save_grid(grid, model)
        extra: dict[str, Any] = {
            "dataset": self.spec.data,
            # the plugin it came from, so `gankit eval` finds the same one after a name clash
            "dataset_plugin": self.data_plugin,
            "data_config": self.spec.data_config,
            "class_names": self.data.class_names,
            "training": {
                "steps": self.step,
                "images_seen": self.images_seen,
                "weights": "ema" if self.ema is not None else "live",
                "train_config": config_mod.to_json(self.cfg),
                "loss": self.cfg.loss,
                "regularizers": list(self.cfg.regularizers),
            },
            "metrics": metrics or {},
        }
        if self.data.mode_centers is not None:
            extra["mode_centers"] = self.data.mode_centers.tolist()
            extra["mode_std"] = self.data.mode_std
        card = model_card(
            self.arch.name,
            self.spec.data,
            self.arch_config,
            self.step,
            self.cfg,
            metrics or {},
            self.arch_config.num_classes,
        )
        return save_artifact(
            out,
            architecture=self.arch,
            arch_config=self.arch_config,
            state_dict=model.state_dict(),
            value_range=self.data.value_range,
            extra=extra,
            card=card,
            samples_png=grid_png,
        )

    def keep_if_best(self, logs: dict[str, Any], model: nn.Module) -> bool:
        """At a metric step: if ``best_metric`` improved, keep this step's checkpoint and artifact.

        ``model`` is the sampling model the metrics were computed with. Returns
        True if this step became the best.
        """
        if self.best is None or not self.dist.is_main:
            return False
        value = self.best.value_of(logs)
        if not self.best.improves(value):
            return False
        tensors, meta = self.state_tensors()
        meta["best"] = {"metric": self.best.key, "mode": self.best.mode, "value": value}
        checkpoint = ckpt.save(self.best.checkpoint_dir, self.step, tensors, meta, keep=1)
        names = {name for name, _, _ in self.metrics}
        metrics = {k: v for k, v in logs.items() if k.split("/")[0] in names}
        artifact = self.write_artifact(
            self._metric_records(metrics), out=self.best.artifact_dir, model=model, grid="best"
        )
        self.best.record(self.step, value, checkpoint, artifact)
        log.info("step %d: new best %s = %.6g", self.step, self.best.key, value)
        return True

    # -- the loop -------------------------------------------------------------------

    def _truncate_metrics(self) -> None:
        """Drop log lines past the restored step (written before an interruption)."""
        path = self.out_dir / METRICS_FILE
        if not path.exists():
            return
        keep = [
            line
            for line in path.read_text().splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= self.step
        ]
        path.write_text("".join(line + "\n" for line in keep))

    def fit(self, steps: int | None = None) -> Path:
        """Train until ``steps`` total generator steps, then write the artifact.

        Resumes from the newest whole checkpoint in the run directory if there
        is one. With ``max_minutes`` set, stops earlier once that much wall time
        has passed in this call (after a whole step, with a checkpoint). Returns
        the artifact path.
        """
        total = steps if steps is not None else self.cfg.steps
        self.total_steps = total
        main = self.dist.is_main
        if main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / RUN_FILE).write_text(json.dumps(self.spec.to_json(), indent=2) + "\n")
        latest = ckpt.load_latest(self.out_dir / "checkpoints")
        if latest is not None:
            self.restore(latest)
            log.info("resumed from %s at step %d", latest.path, self.step)
        if main:
            self._truncate_metrics()
            if self.best is not None:
                self.best.load()
        self._fire("gankit_on_train_start")
        shown = self.cfg.progress and main
        bar = tqdm(
            total=total,
            initial=self.step,
            disable=not shown,
            desc=f"{self.arch.name}/{self.spec.data}",
            dynamic_ncols=True,
            **(training_bar_options() if shown else {}),  # off a terminal: a line every 30 s
        )
        t0 = time.perf_counter()
        deadline = t0 + 60.0 * self.cfg.max_minutes if self.cfg.max_minutes > 0 else None
        if self.cfg.lr_decay_clock == "time":
            self._clock = (t0, self.time_progress)
        metrics_path = self.out_dir / METRICS_FILE
        # the bar is closed however the loop ends, so that after Ctrl-C or an error its
        # last line comes before what the caller prints, not at interpreter exit
        metrics_out = metrics_path.open("a") if main else contextlib.nullcontext()
        with bar, metrics_out as metrics_file:
            first = self.step
            while self.step < total:
                logs = self.train_step()
                self._fire("gankit_on_step_end", step=self.step, logs=logs)
                if self.step == first:  # a plugin's bad value fails now, not at the first write
                    self._check_logs(logs, self.step)
                    self._check_state(f"found after step {self.step}")
                self.step += 1
                out_of_time = deadline is not None and distributed.any_rank(
                    self.dist, time.perf_counter() >= deadline
                )
                last = self.step == total or out_of_time
                every = self.cfg.metrics_every
                metric_step = main and bool(self.metrics) and every > 0 and self.step % every == 0
                if metric_step:
                    model = self.sampling_model()
                    logs.update(self.compute_metrics(model))
                    self.keep_if_best(logs, model)
                if main and (self.step % self.cfg.log_every == 0 or last or metric_step):
                    self._check_logs(logs, self.step - 1)
                    record: dict[str, Any] = {
                        "step": self.step,
                        "images_seen": self.images_seen,
                        "time": round(time.perf_counter() - t0, 3),
                        **logs,
                    }
                    if self.phase:
                        record["phase"] = self.phase
                    assert metrics_file is not None
                    metrics_file.write(json.dumps(record) + "\n")
                    metrics_file.flush()
                    postfix = {k: f"{v:.3f}" for k, v in logs.items() if isinstance(v, float)}
                    if self.phase:
                        postfix["phase"] = self.phase
                    bar.set_postfix(postfix, refresh=False)
                bar.update(1)  # before the grid and checkpoint: the step is done
                if self.step % self.cfg.sample_every == 0:
                    self.save_grid(f"step-{self.step:08d}")
                if self.step % self.cfg.checkpoint_every == 0 or last:
                    self.save_checkpoint()
                if out_of_time:
                    log.info(
                        "max_minutes=%g reached at step %d of %d; stopping",
                        self.cfg.max_minutes,
                        self.step,
                        total,
                    )
                    break
        self._fire("gankit_on_train_end")
        artifact = self.write_artifact()
        distributed.barrier(self.dist)
        if self._owns_group:
            torch.distributed.destroy_process_group()
        return artifact


def load_run(run_dir: str | Path) -> RunSpec:
    """Read ``RUN_DIR/run.json`` (written when the run started)."""
    path = Path(run_dir) / RUN_FILE
    if not path.exists():
        raise GankitError(
            f"{str(run_dir)!r} is not a gankit run directory (no {RUN_FILE}); "
            f"start one with `gankit train --out DIR`"
        )
    try:
        raw = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GankitError(
            f"{str(path)!r} is not valid JSON ({exc}); each checkpoint's JSON keeps the run's "
            f"record under 'run' (checkpoints/ckpt-*.json): copy it back to {RUN_FILE} to "
            f"resume"
        ) from None
    if not isinstance(raw, dict) or "arch" not in raw or "train" not in raw:
        raise GankitError(
            f"{str(path)!r} is not a gankit run record (no 'arch' and 'train'); restore it "
            f"from a checkpoint's 'run' entry (checkpoints/ckpt-*.json)"
        )
    return spec_from_json(raw)
