"""The component records that plugins register.

Every component has a ``name``, a one-line ``description``, a ``config`` dataclass
whose fields all have defaults, and a factory. The plugin manager fills in
``plugin`` (the entry-point name of the plugin that registered it).

Architectures register a generator and a discriminator as a pair that share one
config, so a user names a single ``--arch``. Their config must subclass
:class:`ArchConfig`, which holds what G and D must agree on.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from gankit.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

#: The kinds of component, in the order ``gankit list`` shows them.
KINDS = ("architecture", "loss", "regularizer", "dataset", "metric")


def plural(kind: str) -> str:
    """The plural of a component kind, as messages and ``gankit list`` write it."""
    return kind[:-1] + "ies" if kind.endswith("y") else kind + ("es" if kind.endswith("s") else "s")


#: What a component name may look like: lowercase words joined by dashes. Dots
#: would clash with dotted override keys (``regularizers.NAME.KEY``) and ``@``
#: with qualified names (``NAME@PLUGIN``).
NAME_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


@dataclass
class NoConfig:
    """Config of a component that takes no options."""


@dataclass
class ArchConfig:
    """What a generator and its discriminator share.

    ``data_shape`` is the shape of one sample without the batch dimension:
    ``(channels, height, width)`` for images, ``(2,)`` for 2-D points.
    ``num_classes`` is 0 for an unconditional model.
    The trainer fills ``data_shape`` and ``num_classes`` from the dataset unless
    the user sets them.
    """

    latent_dim: int = field(default=100, metadata={"help": "size of the latent vector z"})
    data_shape: tuple[int, ...] = field(
        default=(1, 32, 32),
        metadata={"help": "one sample's shape, (C, H, W) or (D,); set from the data"},
    )
    num_classes: int = field(
        default=0, metadata={"help": "classes of a conditional model (0: unconditional)"}
    )

    def __post_init__(self) -> None:
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {self.latent_dim}")
        if self.num_classes < 0:
            raise ValueError(f"num_classes must be >= 0 (0: unconditional), got {self.num_classes}")
        if not self.data_shape or any(int(n) < 1 for n in self.data_shape):
            raise ValueError(f"data_shape must be positive sizes, got {tuple(self.data_shape)}")

    @property
    def channels(self) -> int:
        """Number of image channels (the first entry of ``data_shape``)."""
        return int(self.data_shape[0])

    @property
    def resolution(self) -> int:
        """Image height (and width); 0 for non-image data."""
        return int(self.data_shape[1]) if len(self.data_shape) == 3 else 0


@dataclass
class Recipe:
    """Training defaults an architecture brings (procedure as data, not code).

    Any field can still be overridden by the user's config.
    """

    loss: str = "non-saturating"
    regularizers: tuple[str, ...] = ()
    n_critic: int = 1
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas_g: tuple[float, float] = (0.5, 0.999)
    betas_d: tuple[float, float] = (0.5, 0.999)
    batch_size: int = 64
    #: options of the recipe's loss and regularizers (e.g. ``{"drift": 0.001}``)
    loss_config: dict[str, Any] = field(default_factory=dict)
    regularizer_configs: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Component:
    """Base record: what every registered component has."""

    kind: ClassVar[str] = ""
    name: str
    description: str
    config: type = NoConfig
    plugin: str = ""

    def default_config(self) -> Any:
        """Return an instance of the config dataclass with every default."""
        return self.config()


@dataclass
class Architecture(Component):
    """A generator/discriminator pair sharing one :class:`ArchConfig` subclass.

    ``generator(config)`` and ``discriminator(config)`` build the modules.
    Generators are called as ``G(z, labels=None)``, returning samples of shape
    ``[B, *data_shape]`` (or, where a plugin's ``trainer.real_transform`` serves
    reals at another shape, as ProGAN's growth does, the shape of those reals);
    discriminators as ``D(x, labels=None)``, returning logits of shape ``[B]`` or
    ``[B, 1]``. The trainer checks both and raises
    :class:`gankit.errors.PluginContractError` otherwise.
    ``needs_labels`` says whether the pair must be trained and sampled with
    class labels (conditional models).
    """

    kind: ClassVar[str] = "architecture"
    generator: Callable[[Any], nn.Module] | None = None
    discriminator: Callable[[Any], nn.Module] | None = None
    needs_labels: bool = False
    recipe: Recipe = field(default_factory=Recipe)
    #: Optional: ``adapt(config, data_shape, num_classes)`` returns the config
    #: to build for a dataset, e.g. to pick an MLP form for 2-D data.
    adapt: Callable[[Any, tuple[int, ...], int], Any] | None = None


@dataclass
class Loss(Component):
    """An adversarial loss on logits.

    ``factory(config)`` returns an object with ``d_loss(real_logits,
    fake_logits) -> Tensor`` and ``g_loss(fake_logits) -> Tensor``, each a 0-d
    tensor computed from the logits (so that it has a gradient); the trainer
    raises :class:`gankit.errors.PluginContractError` otherwise.
    """

    kind: ClassVar[str] = "loss"
    factory: Callable[[Any], Any] | None = None


@dataclass
class Regularizer(Component):
    """A regularizer; ``factory(config)`` returns a :class:`gankit.regularizers.Regularizer`.

    ``acts_on`` documents where it acts: any of ``"data"``, ``"d_step"``,
    ``"g_step"``, ``"architecture"``.
    """

    kind: ClassVar[str] = "regularizer"
    factory: Callable[[Any], Any] | None = None
    acts_on: tuple[str, ...] = ()


@dataclass
class Dataset(Component):
    """A dataset; ``factory(config)`` returns a :class:`gankit.data.TensorData`.

    ``default_steps`` is the training length that suits it when the user sets none.
    """

    kind: ClassVar[str] = "dataset"
    factory: Callable[[Any], Any] | None = None
    default_steps: int = 2000
    #: metrics the trainer computes for this data unless the user picks others
    default_metrics: tuple[str, ...] = ()


@dataclass
class Metric(Component):
    """A metric; ``factory(config)`` returns an object with
    ``compute(generator, data) -> dict[str, float]``, where ``generator`` is a
    :class:`gankit.sampling.GeneratorSampler` (it has ``sample(n, seed, labels)``)
    and ``data`` the :class:`gankit.data.TensorData` to compare against.

    If the config has a ``split`` field, ``data`` is that split of the dataset
    (built with the generator's training data options; see
    :mod:`gankit.evaluation`), otherwise the dataset as trained on. Configs
    should have ``n`` (samples) and ``seed`` fields, which ``gankit eval --n
    --seed`` set.
    """

    kind: ClassVar[str] = "metric"
    factory: Callable[[Any], Any] | None = None


def check_unconditional(cfg: ArchConfig, arch: str) -> None:
    """Raise :class:`ConfigError` if ``cfg`` asks an unconditional architecture for classes.

    For a plugin whose networks take no labels, to call when building them: a
    user's ``arch.num_classes=10`` then fails with a line naming the option,
    not at the first step inside the network's forward.
    """
    if cfg.num_classes:
        raise ConfigError(
            f"{arch} is unconditional, so arch.num_classes must be 0, got {cfg.num_classes}; "
            f"leave it out, or train a conditional architecture (cgan)"
        )


def check_config_class(config: Any, what: str) -> None:
    """Raise unless ``config`` can hold user options for ``what`` (e.g. "loss 'hinge'").

    It must be a dataclass type whose fields all have defaults (users set only
    the options they change) and whose type hints resolve (they are how values
    from the command line and TOML files are checked).

    Raises:
        ValueError: for a field without a default.
        TypeError: for a config that is not a dataclass, or hints that do not resolve.
    """
    if not (isinstance(config, type) and dataclasses.is_dataclass(config)):
        raise TypeError(
            f"{what}: config must be a dataclass type (decorate the class with "
            f"@dataclass), got {config!r}"
        )
    missing = [
        f.name
        for f in dataclasses.fields(config)
        if f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ValueError(
            f"{what}: config {config.__name__} field(s) {', '.join(missing)} have no default; "
            f"give every field a default (users set only the options they change)"
        )
    try:
        typing.get_type_hints(config)
    except Exception as exc:  # noqa: BLE001 - any failure to resolve is the same mistake
        raise TypeError(
            f"{what}: the type hints of config {config.__name__} do not resolve "
            f"({type(exc).__name__}: {exc}); define the dataclass and the types it names "
            f"at module level"
        ) from exc
    try:
        config()
    except Exception as exc:  # noqa: BLE001 - whatever its checks raise, the defaults are bad
        # found when the plugin loads, not blamed on a user who set nothing
        raise ValueError(
            f"{what}: config {config.__name__}() refuses its own defaults "
            f"({type(exc).__name__}: {exc}); give every field a default its checks accept"
        ) from exc


def check_record(component: Component) -> None:
    """Raise if ``component`` breaks the rules every record must follow.

    Checked when a plugin registers the record, so a mistake shows up as a
    failed plugin in ``gankit plugins`` (naming the component and the fix)
    rather than as an error at first use that blames the user's config:

    - ``name`` is lowercase words joined by dashes (:data:`NAME_PATTERN`);
    - ``config`` is a dataclass type whose fields all have defaults and whose
      type hints resolve (define it at module level);
    - an architecture's ``config`` subclasses :class:`ArchConfig`, and its
      ``generator`` and ``discriminator`` are callables; the other kinds have a
      callable ``factory``.

    Raises:
        ValueError: for a bad name or a field without a default.
        TypeError: for a config that is not a dataclass, hints that do not
            resolve, or a missing factory.
    """
    what = f"{component.kind} {component.name!r}"
    if not NAME_PATTERN.fullmatch(component.name):
        raise ValueError(
            f"invalid {component.kind} name {component.name!r}: use lowercase letters, "
            f"digits and dashes (like 'my-gan'); '@' is reserved for NAME@PLUGIN"
        )
    config = component.config
    check_config_class(config, what)
    if isinstance(component, Architecture):
        if not issubclass(config, ArchConfig):
            raise TypeError(
                f"{what}: config {config.__name__} must subclass gankit.components.ArchConfig "
                f"(it holds latent_dim, data_shape and num_classes, which G and D share)"
            )
        for role in ("generator", "discriminator"):
            if not callable(getattr(component, role)):
                raise TypeError(
                    f"{what}: {role} must be a callable that builds the module from the "
                    f"config (usually the nn.Module class itself)"
                )
    elif not callable(getattr(component, "factory", None)):
        raise TypeError(f"{what}: factory must be a callable that takes the config instance")
