"""Config dataclasses: describing them, building them from user input, saving them.

Values come from TOML files and ``KEY=VALUE`` overrides; pydantic checks and
converts them against each dataclass's type hints, and unknown keys are an
error that lists the valid ones.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import sys
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pydantic

from gankit.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclasses.dataclass(frozen=True)
class FieldInfo:
    """One config field as ``gankit info`` prints it."""

    name: str
    type: str
    default: Any
    help: str = ""


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _inherited_help(config_cls: type, name: str) -> str:
    """The help of field ``name`` in the nearest base dataclass that gives one."""
    for base in config_cls.__mro__[1:]:
        if dataclasses.is_dataclass(base):
            for f in dataclasses.fields(base):
                if f.name == name and f.metadata.get("help"):
                    return str(f.metadata["help"])
    return ""


@functools.cache
def type_hints(config_cls: type) -> Mapping[str, Any]:
    """The resolved type hints of a config dataclass, resolved once per class.

    Every build of a config checks its values against them (twice when strict), and
    resolving string annotations is the slow part. Read-only: the mapping is shared.
    """
    return types.MappingProxyType(typing.get_type_hints(config_cls))


def describe(config_cls: type) -> list[FieldInfo]:
    """List the fields of a config dataclass with their types, defaults and help.

    A field redeclared without help (say ``latent_dim`` with another default)
    keeps the help its base class gives it.
    """
    hints = type_hints(config_cls)
    out = []
    for f in dataclasses.fields(config_cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        out.append(
            FieldInfo(
                f.name,
                _type_name(hints[f.name]),
                default,
                f.metadata.get("help") or _inherited_help(config_cls, f.name),
            )
        )
    return out


def field_names(config_cls: type) -> list[str]:
    """Names of the fields of a config dataclass."""
    return [f.name for f in dataclasses.fields(config_cls)]


def check_keys(config_cls: type, keys: Iterable[str], where: str) -> None:
    """Raise :class:`ConfigError` if any key is not a field of ``config_cls``."""
    valid = field_names(config_cls)
    for key in keys:
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"unknown key {key!r} in {where}{hint}; valid keys: {', '.join(valid) or 'none'}"
            )


def build(
    config_cls: type,
    values: Mapping[str, Any] | None = None,
    *,
    base: Any = None,
    where: str = "config",
    strict: bool = False,
) -> Any:
    """Build a ``config_cls`` instance from ``values`` on top of ``base`` (or the defaults).

    Values are validated and converted by pydantic against the dataclass's type
    hints (``"64"`` becomes ``64`` for an ``int`` field, a list becomes a tuple).
    ``strict`` (for what a user has just given: the command line, a config file)
    also refuses values of the wrong kind (see :func:`check_strict`); values read
    back from a run's record or an artifact are built as they were accepted then.
    """
    values = dict(values or {})
    check_keys(config_cls, values, where)
    if strict:
        check_strict(config_cls, values, where)
    hints = type_hints(config_cls)
    for key, value in values.items():
        # a single name given for a tuple/list field (`regularizers=r1`) is a one-item list
        origin = typing.get_origin(hints[key])
        if isinstance(value, str) and origin in (tuple, list):
            values[key] = [value]
    merged = to_dict(base) if base is not None else {}
    merged.update(values)
    try:
        return pydantic.TypeAdapter(config_cls).validate_python(merged)
    except pydantic.ValidationError as exc:
        problems = "; ".join(_problem(err) for err in exc.errors())
        raise ConfigError(f"invalid value in {where}: {problems}") from None
    except Exception as exc:  # noqa: BLE001 - a __post_init__ refusing in its own way
        # pydantic reports ValueError and AssertionError; a check that raises anything
        # else (TypeError, KeyError, ...) still refused these values, and the user
        # needs the section and the reason, not a traceback.
        raise ConfigError(
            f"invalid value in {where}: {config_cls.__name__} refused "
            f"{_given(values)} ({type(exc).__name__}: {exc})"
        ) from None


def check_strict(config_cls: type, values: Mapping[str, Any], where: str = "config") -> None:
    """Raise :class:`ConfigError` for a value pydantic's lax mode would quietly convert.

    pydantic turns ``true`` into 1 for an int field and ``"yes"``, ``"on"`` or 1
    into True for a bool field; a value like that from a user is far more likely
    a mistake (the wrong key, a misplaced value) than meant. Keys must be fields
    of ``config_cls`` (see :func:`check_keys`).
    """
    hints = type_hints(config_cls)
    for key, value in values.items():
        if (problem := _strict_problem(hints[key], value)) is not None:
            raise ConfigError(f"invalid value in {where}: {key}: {problem} (got {value!r})")


def _strict_problem(hint: Any, value: Any) -> str | None:
    """What is wrong with ``value`` for a field typed ``hint``, if anything (None: fine).

    An on/off field takes only true or false (in any case: ``progress=False``
    as Python spells it), a number never takes true or false, and the items of a tuple or
    list field are checked the same way. ``"64"`` for an int field (every
    command-line value starts as text) is fine: pydantic converts it.
    """
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        choices = typing.get_args(hint)
        if isinstance(value, bool) and not any(isinstance(c, bool) for c in choices):
            return f"expected one of {', '.join(map(repr, choices))}, not {str(value).lower()}"
        return None
    if origin in (typing.Union, types.UnionType):
        kinds = {arg for arg in typing.get_args(hint) if arg is not type(None)}
    elif origin in (tuple, list) and isinstance(value, list | tuple):
        items = [arg for arg in typing.get_args(hint) if arg is not Ellipsis]
        for i, item in enumerate(value):
            item_hint = items[0] if len(items) == 1 else items[i] if i < len(items) else Any
            if (problem := _strict_problem(item_hint, item)) is not None:
                return f"item {i + 1}: {problem}"
        return None
    else:
        kinds = {hint}
    if value is None:
        return None
    if kinds == {bool} and not isinstance(value, bool):
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return None  # `progress=False`, as Python spells it: pydantic takes it
        return "expected true or false"
    if isinstance(value, bool) and kinds & {int, float} and bool not in kinds:
        return f"expected a number, not {str(value).lower()}"
    return None


def _given(values: Mapping[str, Any]) -> str:
    """``a=1, b='x'`` for the values a user gave, or "its defaults"."""
    return ", ".join(f"{k}={v!r}" for k, v in values.items()) or "its defaults"


def _problem(err: Any) -> str:
    """One pydantic error as a user reads it: the key, the message and the bad value.

    An error raised by the dataclass's own checks (``__post_init__``) has no key
    and already names the value, so it is shown as written, without pydantic's
    "Value error, " prefix and the dump of every option.
    """
    message = str(err["msg"]).removeprefix("Value error, ")
    if not err["loc"]:
        return message
    key = ".".join(str(part) for part in err["loc"])
    return f"{key}: {message} (got {err.get('input')!r})"


def to_dict(config: Any) -> dict[str, Any]:
    """Return a config dataclass instance as a plain dict (tuples stay tuples)."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


def to_json(config: Any) -> dict[str, Any]:
    """Return a config as a JSON-compatible dict (tuples become lists)."""

    def convert(v: Any) -> Any:
        if isinstance(v, tuple | list):
            return [convert(x) for x in v]
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return to_json(v)
        return v

    return {k: convert(v) for k, v in to_dict(config).items()}


def parse_value(text: str) -> Any:
    """Parse an override's value: a TOML literal if it is one, else the text itself.

    ``64`` -> 64, ``1e-4`` -> 0.0001, ``true`` -> True, ``[0.0, 0.9]`` -> list,
    ``0.0,0.9`` -> [0.0, 0.9], ``hinge`` -> "hinge".
    """
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        pass
    if "," in text:
        return [parse_value(part.strip()) for part in text.split(",") if part.strip()]
    return text


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` strings into a dict; keys may be dotted (``arch.latent_dim``).

    A key given twice (``lr_g=1e-4 lr_g=2e-4``) is an error, not the last value
    silently winning. Keys are compared as written (less surrounding spaces), so two
    spellings of one field, ``lr_g`` and ``train.lr_g``, are not caught here: which
    section a key without one belongs to is known only when a run is resolved.
    """
    out: dict[str, Any] = {}
    given: dict[str, str] = {}  # key -> the value text it was first given
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form KEY=VALUE (e.g. lr_g=1e-4)")
        if key in given:
            raise ConfigError(
                f"override {key!r} is given twice, as {key}={given[key]} and {key}={value}; "
                f"give it once"
            )
        given[key] = value
        out[key] = parse_value(value)
    return out


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file, with an error that names the file and the problem."""
    path = Path(path)
    name = str(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {name!r} does not exist") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {name!r} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at "
            f"offset {exc.start}): give a TOML file, saved as UTF-8"
        ) from None
    except OSError as exc:  # IsADirectoryError; PermissionError for a directory on Windows
        if path.is_dir():
            raise ConfigError(f"config file {name!r} is a directory: give a .toml file") from None
        raise ConfigError(f"config file {name!r} cannot be read: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {name!r} is not valid TOML: {exc}") from None


def check_at_least(config: Any, least: int, *names: str, note: str = "") -> None:
    """Raise :class:`ConfigError` unless every field ``names`` of ``config`` is ``>= least``.

    For a plugin's factory to check sizes (widths, depths) before building
    layers, where a zero or negative size would fail deep inside torch. ``note``
    follows the bound in the message (e.g. `` (0: the same as G's)``).
    """
    for name in names:
        value = getattr(config, name)
        if value < least:
            raise ConfigError(f"arch.{name} must be >= {least}{note}, got {value}")
