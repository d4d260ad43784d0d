"""Exceptions gankit raises for problems a user can fix.

The CLI prints a :class:`GankitError`'s message without a traceback, so each
message names the bad value and says what to do instead.
"""

from __future__ import annotations


class GankitError(Exception):
    """Base class for errors caused by input the user can correct."""


class ConfigError(GankitError, ValueError):
    """A config file or ``KEY=VALUE`` override is invalid."""


class UnknownComponentError(GankitError, KeyError):
    """No installed plugin provides a component of that name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class AmbiguousComponentError(GankitError):
    """Several plugins provide a component of the same name."""


class PluginLoadError(GankitError):
    """A plugin failed to import or register (raised in strict mode only)."""


class ArtifactError(GankitError):
    """An artifact directory or weights file is missing, unsafe or inconsistent."""


class DataNotFoundError(GankitError, FileNotFoundError):
    """A dataset's files are missing; the message says where it looked and how to get them."""


class ExportError(GankitError):
    """A generator could not be exported, or the exported model does not match PyTorch."""


class HubError(GankitError):
    """A Hub push/pull or zoo lookup failed: no token, refused upload, not cached offline."""


class IntegrityError(HubError):
    """A downloaded or shipped file does not match the sha256 the zoo catalogue pins."""


class PluginContractError(GankitError):
    """A plugin's component or event hook broke the plugin contract.

    For example a generator whose output does not match the real batch, a
    discriminator that returns more than one logit per sample, a loss that
    returns something other than a 0-d tensor with a gradient, or a value in
    ``logs`` / ``trainer.state`` that cannot be written as JSON. The message
    names the component and the plugin that provides it, what it returned,
    what was expected and how to fix it.
    """
