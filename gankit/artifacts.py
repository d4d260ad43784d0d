"""The generator artifact: a directory anyone can load without the training code.

Layout (the one huggingface_hub's mixins and diffusers use)::

    ARTIFACT/
      config.json         architecture, plugin + version, every constructor
                          argument, latent size, classes, data shape, value range
      model.safetensors   the generator's weights (EMA weights by default)
      README.md           model card with Hugging Face YAML front matter
      samples.png         the last sample grid

Nothing here ever unpickles: weights are read with safetensors only, and a
``.pt``/``.pth``/``.pkl``/``.bin``/``.ckpt`` file offered as weights is refused.

Saved artifacts follow the user's umask like any other file they write
(directories ``0o777 & ~umask``, files ``0o666 & ~umask``); see :func:`make_temp_dir`
and :func:`follow_umask`, which the checkpoints use too.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from gankit import config as config_mod
from gankit.errors import ArtifactError, GankitError, UnknownComponentError
from gankit.sampling import GeneratorSampler

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
SAMPLES_NAME = "samples.png"
FORMAT = "gankit-generator"
FORMAT_VERSION = 1
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt")

log = logging.getLogger(__name__)


# -- file modes: follow the umask ---------------------------------------------------------


def current_umask() -> int:
    """The process's umask (file mode creation mask).

    Read from ``/proc/self/status`` where the system has it (Linux), which changes
    nothing; elsewhere set and restored at once with :func:`os.umask`.
    """
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        status = ""
    match = re.search(r"^Umask:\s*([0-7]+)$", status, flags=re.M)
    if match:
        return int(match.group(1), 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def follow_umask(path: Path) -> None:
    """Give a file the mode the umask gives any new file, ``0o666 & ~umask``.

    For files written by a library with a fixed mode (safetensors writes 0o600).
    A file system that refuses the change (some network mounts) leaves the file
    as it is, with a warning: saving it must not fail for that.
    """
    mode = 0o666 & ~current_umask()
    try:
        os.chmod(path, mode)
    except OSError as exc:
        log.warning("could not set the mode of %s to %o (%s); it keeps its mode", path, mode, exc)


def make_temp_dir(parent: Path, prefix: str) -> Path:
    """Create a new, uniquely named directory in ``parent`` and return it.

    Unlike :func:`tempfile.mkdtemp` (always 0o700) the directory gets the mode the
    umask gives any new directory, ``0o777 & ~umask`` (and a set-group-ID bit
    inherited from ``parent`` is kept), so renaming it into place publishes it
    with the permissions the user expects.
    """
    for _ in range(100):
        path = parent / f"{prefix}{secrets.token_hex(4)}"
        try:
            path.mkdir(mode=0o777)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"could not create a temporary directory {prefix}* in {str(parent)!r}")


def refuse_pickle(path: Path) -> ArtifactError:
    """The error for a pickle-based weights file (which is never opened)."""
    return ArtifactError(
        f"refusing to load {str(path)!r}: {path.suffix} files are Python pickles, and "
        "unpickling a file can run arbitrary code. gankit reads weights only from "
        f"safetensors. Load it yourself only if you trust its source, then save the state "
        f"dict with safetensors.torch.save_file(..., '{WEIGHTS_NAME}') next to a {CONFIG_NAME}."
    )


@dataclass
class ArtifactInfo:
    """The parsed ``config.json`` of an artifact."""

    architecture: str
    plugin: str
    plugin_version: str
    arch_config: dict[str, Any]
    latent_dim: int
    num_classes: int
    data_shape: tuple[int, ...]
    value_range: tuple[float, float]
    raw: dict[str, Any]

    @property
    def class_names(self) -> list[str] | None:
        """Class names recorded at training time, if any."""
        return self.raw.get("class_names")


class LoadedGenerator(GeneratorSampler):
    """A generator rebuilt from an artifact, ready to sample.

    Call it like the plugin's generator, ``G(z, labels=None)``, or use
    :meth:`sample`. ``latent_dim``, ``num_classes``, ``data_shape`` and
    ``config`` (the artifact's ``config.json`` as a dict) describe it.
    """

    def __init__(self, generator: nn.Module, info: ArtifactInfo, source: str = "") -> None:
        super().__init__(generator, info.latent_dim, info.num_classes)
        self.info = info
        self.source = source
        self.data_shape = info.data_shape
        self.value_range = info.value_range
        self.config = info.raw
        self.eval()


def run_artifact_dir(source: Path) -> Path:
    """``source``, or the ``artifact/`` of the training run it names; raise if the run has none.

    A training run directory (it has ``run.json``) stands for its ``artifact/``,
    which the run writes when its training ends; ``RUN/artifact`` names the same.
    When that is missing, :class:`ArtifactError` says why and what to do (see
    :func:`_why_no_artifact`), where the generic "not a gankit artifact" would
    not. Anything else comes back unchanged, unchecked.
    """
    run = source
    if source.name == "artifact" and not (source / "run.json").exists():
        run = source.parent
    if not (run / "run.json").is_file() or (run / CONFIG_NAME).exists():
        return source
    if (run / "artifact" / CONFIG_NAME).is_file():
        return run / "artifact"
    raise ArtifactError(f"the training run {str(run)!r} has no artifact: " + _why_no_artifact(run))


def _why_no_artifact(run_dir: Path) -> str:
    """What to do about a run without an artifact, as far as its directory tells."""
    from gankit.run_lock import LOCK_FILE, locked_by_another
    from gankit.training import checkpoint as ckpt

    if locked_by_another(run_dir):
        return (
            f"it is being trained now (another `gankit train` holds {run_dir / LOCK_FILE}); "
            f"wait for it to end"
        )
    at = ckpt.newest_step(run_dir / "checkpoints")
    if at is None:
        return (
            f"it stopped before its first checkpoint, so train it again: `gankit train "
            f"--out {run_dir} ...` with its options starts it over"
        )
    try:
        steps = int(json.loads((run_dir / "run.json").read_text())["train"]["steps"])
    except (OSError, ValueError, KeyError, TypeError):
        steps = None
    if steps is not None and at >= steps:
        return (
            f"its training ended at step {at} of {steps}, and its artifact/ is missing "
            f"(removed since, or writing it failed); "
            f"`gankit train --resume {run_dir} --steps {at + 1}` (or more) trains on and "
            f"writes a new one"
        )
    return f"finish it with `gankit train --resume {run_dir}`"


def read_info(directory: Path) -> ArtifactInfo:
    """Read and check an artifact's ``config.json``."""
    path = directory / CONFIG_NAME
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactError(
            f"{str(directory)!r} is not a gankit artifact: it has no {CONFIG_NAME}"
        ) from None
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{str(path)!r} is not valid JSON: {exc}") from None
    if raw.get("format") != FORMAT:
        raise ArtifactError(f"{str(path)!r} is not a gankit generator config (format != {FORMAT})")
    try:
        return ArtifactInfo(
            architecture=raw["architecture"],
            plugin=raw.get("plugin", ""),
            plugin_version=raw.get("plugin_version", ""),
            arch_config=dict(raw["arch_config"]),
            latent_dim=int(raw["latent_dim"]),
            num_classes=int(raw.get("num_classes", 0)),
            data_shape=tuple(int(s) for s in raw["data_shape"]),
            value_range=(float(raw["value_range"][0]), float(raw["value_range"][1])),
            raw=raw,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{str(path)!r} is missing or has a bad field: {exc}") from None


def _weights_path(directory: Path) -> Path:
    weights = directory / WEIGHTS_NAME
    if weights.is_file():
        return weights
    pickles = sorted(p for p in directory.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise refuse_pickle(pickles[0])
    raise ArtifactError(f"artifact {str(directory)!r} has no {WEIGHTS_NAME}")


def build_generator(info: ArtifactInfo) -> nn.Module:
    """Rebuild the (untrained) generator module an artifact describes, via the registry."""
    from gankit.plugins import QUALIFIER, get_manager
    from gankit.registry import get_architecture, make_config

    # The plugin recorded at training time comes first, so an artifact keeps
    # loading after another plugin starts to provide a component of the same name.
    names = [f"{info.architecture}{QUALIFIER}{info.plugin}"] if info.plugin else []
    names.append(info.architecture)
    for name in names:
        try:
            arch = get_architecture(name)
        except UnknownComponentError:
            continue
        assert arch.generator is not None
        return arch.generator(make_config(arch, info.arch_config))
    raise ArtifactError(_missing_architecture(info, get_manager().plugins()))


def _missing_architecture(info: ArtifactInfo, plugins: list[Any]) -> str:
    """Say why no installed plugin provides the artifact's architecture, and the fix."""
    needed = f"architecture {info.architecture!r}"
    if info.plugin:
        needed += f" (plugin {info.plugin!r} {info.plugin_version})".replace(" )", ")")
    state = {p.name: p for p in plugins}.get(info.plugin)
    if state is not None and state.status == "failed":
        return (
            f"this artifact needs {needed}, but that plugin failed to load ({state.error}); "
            f"fix or reinstall it (`gankit plugins` shows every plugin's status)"
        )
    if state is not None and state.status == "disabled":
        return (
            f"this artifact needs {needed}, but that plugin is disabled; drop it from "
            f"--disable-plugin / GANKIT_DISABLE_PLUGINS"
        )
    return (
        f"this artifact needs {needed}, which no installed plugin provides: install the "
        f"plugin that provides {info.architecture!r}"
    )


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file (never a pickle), with a clear error if it is not one."""
    if path.suffix in PICKLE_SUFFIXES:
        raise refuse_pickle(path)
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ArtifactError(f"{str(path)!r} is not a valid safetensors file: {exc}") from None


def _zoo_names() -> set[str]:
    """The zoo catalogue's entry names (none when the zoo client or catalogue is missing)."""
    if importlib.util.find_spec("gankit.hub") is None:
        return set()
    hub = importlib.import_module("gankit.hub")
    try:
        return set(hub.load_catalogue())
    except GankitError:
        return set()


def _missing_source(text: str) -> ArtifactError:
    """The error for a generator source that is no existing path.

    The name of a zoo entry gets the hint to give ``zoo:NAME``: a path never falls
    back to the zoo by itself, so that a mistyped directory is not taken for a zoo
    entry (nor a zoo entry for a directory that happens to exist).
    """
    if text in _zoo_names():
        return ArtifactError(
            f"no such file or directory: {text}; for the zoo entry of that name, give zoo:{text}"
        )
    return ArtifactError(
        f"no such file or directory: {text} (not a zoo name either; `gankit zoo list` "
        "shows those, to be given as zoo:NAME)"
    )


def load_generator(source: str | Path, device: str | torch.device = "cpu") -> LoadedGenerator:
    """Load a generator from an artifact or run directory, ``zoo:NAME`` or ``hf://``.

    ``source`` is an artifact directory (or its ``config.json`` or
    ``model.safetensors``), a training run directory (its ``artifact/`` is used),
    ``zoo:NAME`` or ``hf://OWNER/NAME[@REVISION]`` (see docs/zoo.md); ``~`` is
    expanded. A zoo entry needs its ``zoo:`` prefix: a path that does not exist
    raises :class:`ArtifactError` ("no such file or directory: X"), which for a
    zoo entry's name says to give ``zoo:X``. The module is returned in eval mode.
    """
    text = str(source)
    if not text.strip():
        raise ArtifactError(
            "no artifact given: name an artifact or run directory, zoo:NAME or "
            "hf://OWNER/NAME[@REVISION]"
        )
    if text.startswith(("zoo:", "hf://")):
        try:
            hub = importlib.import_module("gankit.hub")
        except ImportError:
            raise ArtifactError(
                f"cannot load {text!r}: this version of gankit has no zoo/Hub client yet"
            ) from None
        directory = hub.resolve(text)
    else:
        # a run stands for its artifact/ (checked before "no such directory": RUN/artifact)
        directory = run_artifact_dir(Path(text).expanduser())
        if not directory.exists():
            raise _missing_source(text)
    if directory.is_file():
        if directory.suffix in PICKLE_SUFFIXES:
            raise refuse_pickle(directory)
        if directory.name not in (WEIGHTS_NAME, CONFIG_NAME):
            raise ArtifactError(
                f"{text!r} is a file, not a gankit artifact: give the artifact directory "
                f"(with {CONFIG_NAME} and {WEIGHTS_NAME}), its {WEIGHTS_NAME}, or a run "
                f"directory"
            )
        directory = run_artifact_dir(directory.parent)
    info = read_info(directory)
    state = load_weights(_weights_path(directory))
    generator = build_generator(info)
    try:
        generator.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ArtifactError(
            f"the weights in {str(directory)!r} do not match architecture "
            f"{info.architecture!r}: {exc}"
        ) from None
    return LoadedGenerator(generator, info, source=text).to(device)


def save_artifact(
    out_dir: str | Path,
    *,
    architecture: Any,
    arch_config: Any,
    state_dict: Mapping[str, torch.Tensor],
    value_range: tuple[float, float] = (-1.0, 1.0),
    extra: Mapping[str, Any] | None = None,
    card: str | None = None,
    samples_png: str | Path | None = None,
) -> Path:
    """Write an artifact directory atomically (a temp dir renamed into place).

    ``architecture`` is the registered :class:`~gankit.components.Architecture`;
    ``extra`` adds fields to config.json (dataset, class names, training info,
    metrics). ``card`` is the model card text; ``samples_png`` is copied in.
    The directory and its files get the modes the umask gives any new directory
    and file (``0o777 & ~umask``, ``0o666 & ~umask``), so a team sharing a run
    directory through its group can read them when the umask allows it.
    """
    from gankit import __version__

    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    cfg = config_mod.to_json(arch_config)
    raw: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": architecture.name,
        "plugin": architecture.plugin,
        "plugin_version": _plugin_version(architecture.plugin),
        "arch_config": cfg,
        "latent_dim": int(cfg["latent_dim"]),
        "num_classes": int(cfg.get("num_classes", 0)),
        "data_shape": list(cfg["data_shape"]),
        "value_range": list(value_range),
        "gankit_version": __version__,
    }
    raw.update(extra or {})
    tmp = make_temp_dir(out.parent, prefix=f".{out.name}.")
    try:
        tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state_dict.items()}
        save_file(tensors, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
        follow_umask(tmp / WEIGHTS_NAME)  # safetensors writes 0o600
        (tmp / CONFIG_NAME).write_text(json.dumps(raw, indent=2) + "\n")
        if card is not None:
            (tmp / CARD_NAME).write_text(card)
        if samples_png is not None and Path(samples_png).is_file():
            shutil.copyfile(samples_png, tmp / SAMPLES_NAME)
        if out.exists():
            if not (out / CONFIG_NAME).is_file() and (not out.is_dir() or any(out.iterdir())):
                # replacing is for an older artifact only: never delete a user's files
                raise ArtifactError(
                    f"{str(out)!r} exists and is not a gankit artifact; it is left as it "
                    f"is: write the artifact somewhere else"
                )
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _plugin_version(plugin: str) -> str:
    from gankit.plugins import get_manager

    for info in get_manager().plugins():
        if info.name == plugin:
            return info.version
    return ""
