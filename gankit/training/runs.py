"""Run directories: starting a run in a new one, continuing one, and locking it meanwhile.

``gankit train`` and the Python API (:func:`gankit.train`, :func:`gankit.resume`)
share these rules, so a run started from a notebook is refused, locked and
cleaned up exactly as one started from a shell:

- a new run goes into a new or empty directory, or one holding a run that
  stopped before its first checkpoint (that run is started over);
- a run is continued from its newest checkpoint, to a total step count beyond it;
- while a process writes a run it holds ``RUN_DIR/.gankit.lock``, so a second
  one stops with an error instead of deleting or interleaving its files;
- a directory this process created and the run never wrote into is removed
  when the run fails.

Errors name the option to change as the caller spells it (:class:`Spelling`):
``--out`` on the command line, ``out=`` in Python.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from gankit.errors import GankitError
from gankit.run_lock import LOCK_FILE, locked_by_another
from gankit.training import checkpoint as ckpt
from gankit.training import distributed
from gankit.training.config import SEED_LIMIT, RunSpec, replace_train
from gankit.training.trainer import METRICS_FILE, RUN_FILE, load_run

log = logging.getLogger(__name__)

T = TypeVar("T")

_STEP_GRID = re.compile(r"^step-\d+\.png$")


@dataclass(frozen=True)
class Spelling:
    """How error messages name the options of the caller: the CLI's flags or Python's arguments.

    ``steps_name`` and ``seed_name`` name the two arguments; ``steps`` takes a
    step count; ``resume`` and ``new_run`` are how to continue a
    run and how to start one afresh (format strings of the run directory, and of
    the architecture and dataset).
    """

    out: str = "--out"
    start: str = "gankit train --out DIR"
    steps_name: str = "--steps"
    steps: str = "--steps {}"
    seed_name: str = "--seed"
    resume: str = "gankit train --resume {run}"
    new_run: str = "without --resume: `gankit train --out {run} --arch {arch} --data {data} ...`"


#: the command line's spelling (the default)
CLI = Spelling()
#: the Python API's spelling
PYTHON = Spelling(
    out="`out`",
    start="gankit.train(ARCH, DATA, out=DIR)",
    steps_name="`steps`",
    steps="steps={}",
    seed_name="`seed`",
    resume="gankit.resume({run!r})",
    new_run="with `gankit.train({arch!r}, {data!r}, out={run!r}, ...)`",
)


@contextlib.contextmanager
def run_lock(run_dir: Path, spelling: Spelling = CLI) -> Iterator[None]:
    """Hold ``RUN_DIR/.gankit.lock`` while this process writes the run.

    A second process training the same directory (a new run, a start over or a
    resume) stops with an error instead of deleting or interleaving the first
    one's files. The operating system drops the lock when the process ends,
    however it ends. Under ``torchrun`` the main process holds it for all ranks.
    filelock rather than a hand-written ``fcntl.flock``: it is the lock
    huggingface_hub and torch already use, and it works on Windows too.
    """
    if not distributed.from_env().is_main or not run_dir.is_dir():
        yield  # (no directory: nothing to protect, and the caller reports it)
        return
    from filelock import FileLock, Timeout

    lock = FileLock(run_dir / LOCK_FILE, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise GankitError(
            f"another `gankit train` is writing to {str(run_dir)!r} (it holds "
            f"{run_dir / LOCK_FILE}); wait for it to end or stop it, or choose another "
            f"{spelling.out} (on a file system without locks a crashed run can leave the file "
            f"behind: delete it once no gankit train uses the directory)"
        ) from None
    except OSError as exc:  # a read-only directory, or a lock file another user owns
        raise GankitError(
            f"cannot lock {str(run_dir / LOCK_FILE)!r}: {exc.strerror or exc}; the run "
            f"directory must be writable by you"
        ) from None
    try:
        yield
    finally:
        lock.release()


def run_started(run_dir: Path) -> bool:
    """Whether a run directory holds a checkpoint or an artifact (training got somewhere)."""
    return (
        ckpt.newest_step(run_dir / "checkpoints") is not None
        or (run_dir / "artifact").exists()
        or (run_dir / "artifact-best").exists()
        or (run_dir / "checkpoints" / "best").exists()
    )


def _shown(items: list[str], limit: int = 3) -> str:
    """``a, b, c, ...`` (the first ``limit`` items)."""
    return ", ".join(items[:limit]) + (", ..." if len(items) > limit else "")


def check_new_out(out: Path, *, locked_here: bool = False, spelling: Spelling = CLI) -> bool:
    """Refuse a directory a new run must not write to; True if it holds an unstarted run.

    ``locked_here``: this process holds the run's lock already (so it is not asked
    whether another does: a second lock on the file in this process would fail).
    """
    flag = spelling.out
    if out.exists() and not out.is_dir():
        raise GankitError(f"{flag} {str(out)!r} is a file; choose a new or empty directory")
    if not out.is_dir():
        return False
    if (out / RUN_FILE).exists():
        if run_started(out):
            if not locked_here and locked_by_another(out):
                raise GankitError(
                    f"another `gankit train` is writing to {str(out)!r} (it holds "
                    f"{out / LOCK_FILE}); wait for it to end, or choose another {flag}"
                )
            raise GankitError(
                f"{str(out)!r} already holds a run; continue it with "
                f"`{spelling.resume.format(run=str(out))}` or choose another {flag}"
            )
        return True
    entries = sorted(p.name for p in out.iterdir() if p.name != LOCK_FILE)
    if entries:
        raise GankitError(
            f"{str(out)!r} exists and is not a gankit run (it holds {_shown(entries)}); "
            f"choose an empty or new {flag}"
        )
    return False


def _first_missing(path: Path) -> Path | None:
    """The highest of ``path`` and its parents that does not exist yet (None: it exists)."""
    top = None
    while not path.exists():
        top = path
        if path.parent == path:
            break
        path = path.parent
    return top


def _remove_empty_parents(out: Path, top: Path) -> None:
    """Remove the empty parents of ``out`` up to ``top``: the ones this process created."""
    for parent in out.parents:
        if parent != top and top not in parent.parents:
            return
        try:
            parent.rmdir()  # only an empty directory: never anything another process wrote
        except OSError:
            return
        if parent == top:
            return


def _remove_if_empty(out: Path) -> None:
    """Remove a run directory this process created when it failed before writing into it.

    A config the trainer refused (a device the machine lacks, a size the network
    cannot take) is found after the directory and its lock file were made; an
    empty directory left behind would only be litter.
    """
    try:
        if {p.name for p in out.iterdir()} <= {LOCK_FILE}:
            (out / LOCK_FILE).unlink(missing_ok=True)
            out.rmdir()
    except OSError:
        pass  # (best effort: another process may have begun to write into it)


def _clear_unstarted(out: Path) -> None:
    """Remove what a run that never reached a checkpoint left (its log and step grids)."""
    log.warning(
        "%s holds a run that stopped before its first checkpoint; starting it over "
        "(its run.json, metrics.jsonl and step grids are replaced)",
        out,
    )
    (out / METRICS_FILE).unlink(missing_ok=True)
    samples = out / "samples"
    if samples.is_dir():
        for p in samples.iterdir():
            if _STEP_GRID.match(p.name):
                p.unlink(missing_ok=True)


def start_run(
    spec: RunSpec,
    out: Path,
    train: Callable[[RunSpec, Path], T],
    spelling: Spelling = CLI,
) -> T:
    """Run ``train(spec, out)`` for a new run in ``out``, created and locked here.

    Call :func:`check_new_out` first for an early error: it is checked again here,
    under the lock, since the run seen before may have been another process's.
    """
    created = _first_missing(out)  # the highest directory made here, removed on failure
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GankitError(
            f"cannot create the run directory {str(out)!r}: {exc.strerror or exc}; "
            f"choose an {spelling.out} in a writable place"
        ) from None
    main = distributed.from_env().is_main
    with run_lock(out, spelling):
        try:
            # Only the main process clears (the others under torchrun hold no lock and
            # must not delete).
            if main and check_new_out(out, locked_here=True, spelling=spelling):
                _clear_unstarted(out)
            return train(spec, out)
        except BaseException:
            if created is not None and main:  # (under the lock: no other process writes it)
                _remove_if_empty(out)
                if created != out:
                    _remove_empty_parents(out, created)
            raise


def resumable(run_dir: Path, steps: int | None, spelling: Spelling = CLI) -> RunSpec:
    """The spec to resume ``run_dir`` with, refusing a resume that would not train."""
    if not (run_dir / RUN_FILE).exists():
        raise GankitError(
            f"{str(run_dir)!r} is not a gankit run directory (no {RUN_FILE}); start one with "
            f"`{spelling.start}`"
        )
    spec = load_run(run_dir)
    at = ckpt.newest_step(run_dir / "checkpoints")
    if at is None:
        if run_started(run_dir):
            raise GankitError(
                f"the run in {str(run_dir)!r} has no checkpoint in {run_dir / 'checkpoints'} "
                f"to resume from; train a new run with another {spelling.out}"
            )
        again = spelling.new_run.format(run=str(run_dir), arch=spec.arch, data=spec.data)
        raise GankitError(
            f"the run in {str(run_dir)!r} stopped before its first checkpoint, so there is "
            f"nothing to resume; start it afresh {again} with its options (or changed "
            f"ones), which replaces the unstarted run"
        )
    if steps is not None and steps <= at:
        raise GankitError(
            f"the run in {str(run_dir)!r} is at step {at} already, so "
            f"{spelling.steps.format(steps)} would not train it further ({spelling.steps_name} "
            f"is the total, not the steps to add): give more than {at}"
        )
    if steps is None and at >= spec.train.steps:
        raise GankitError(
            f"the run in {str(run_dir)!r} has trained its {spec.train.steps} steps (it is at "
            f"step {at}); to train further give {spelling.steps_name} more than {at}"
        )
    return replace_train(spec, steps=steps) if steps is not None else spec


def continue_run(
    run_dir: Path,
    steps: int | None,
    train: Callable[[RunSpec, Path], T],
    spelling: Spelling = CLI,
) -> T:
    """Run ``train(spec, run_dir)`` for the run in ``run_dir`` from its newest checkpoint."""
    check_steps(steps, "the run's own step count", spelling)
    with run_lock(run_dir, spelling):
        return train(resumable(run_dir, steps, spelling), run_dir)


# -- the Python API: gankit.train and gankit.resume --------------------------------------


def _fit(spec: RunSpec, run_dir: Path) -> Path:
    """Train ``spec`` in ``run_dir`` to its step count; the artifact's directory."""
    from gankit.training.trainer import Trainer

    return Trainer(spec, run_dir).fit(spec.train.steps)


def check_steps(steps: object, default: str, spelling: Spelling = CLI) -> None:
    """Refuse a step count that is not a whole number of at least 1 (``None`` is ``default``)."""
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        name = spelling.steps_name
        raise GankitError(
            f"{name} must be a whole number of at least 1, got {steps!r}; leave {name} out "
            f"for {default}"
        )


def check_seed(seed: object, spelling: Spelling = CLI) -> None:
    """Refuse a training seed that ``TrainConfig.seed`` would not take (``None``: the default)."""
    if seed is None:
        return
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise GankitError(f"{spelling.seed_name} must be a whole number, got {seed!r}; use e.g. 0")
    if not 0 <= seed < SEED_LIMIT:  # what TrainConfig.seed takes
        raise GankitError(
            f"{spelling.seed_name} must be from 0 to 2**32 - 1 for training, got {seed}; use e.g. 0"
        )


def _check_path(name: str, value: object) -> Path:
    """``value`` as a Path, or a GankitError naming the argument ``name``."""
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        raise GankitError(f"{name} must be a directory path (a str or pathlib.Path), got {value!r}")
    return Path(value)


def _config_sections(config: Mapping[Any, Any]) -> dict[str, Any]:
    """A ``config`` dict checked for the shape of a config file: a dict per section."""
    from gankit.training.config import SECTIONS

    for key, value in config.items():
        if key not in SECTIONS or not isinstance(value, Mapping):
            raise GankitError(
                f"config[{key!r}]: config takes the sections of a config file as keys, each "
                f"a dict of options (for example config={{'train': {{'lr_g': 1e-4}}, 'arch': "
                f"{{'latent_dim': 64}}}}); sections: {', '.join(SECTIONS)}"
            )
    return {str(k): dict(v) for k, v in config.items()}


def _override_values(overrides: object) -> dict[str, Any]:
    """``overrides`` checked, with strings parsed as the command line parses ``VALUE``."""
    from gankit import config as config_mod

    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise GankitError(
            f"overrides must be a dict of option names to values, got {type(overrides).__name__}"
            f"; for example overrides={{'lr_g': 1e-4}}"
        )
    bad = [k for k in overrides if not isinstance(k, str) or not k.strip()]
    if bad:
        raise GankitError(f"overrides keys must be option names (strings), got {bad!r}")
    return {
        key: config_mod.parse_value(value) if isinstance(value, str) else value
        for key, value in overrides.items()
    }


def train(
    arch: str = "dcgan",
    data: str = "digits",
    *,
    out: str | os.PathLike[str],
    steps: int | None = None,
    seed: int | None = None,
    config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Path:
    """Train a GAN in a new run directory and return the generator artifact's directory.

    The Python form of ``gankit train --arch ARCH --data DATA --out OUT``, with
    the same run directory (run.json, checkpoints, sample grids, metrics.jsonl,
    ``artifact/``), the same checks and the same lock::

        artifact = gankit.train("dcgan", "digits", out="runs/digits", steps=300,
                                overrides={"lr_g": 1e-4, "arch.latent_dim": 64})
        g = gankit.load_generator(artifact)

    Args:
        arch: the architecture (``gankit list architecture``).
        data: the dataset (``gankit list dataset``).
        out: the run directory: new, empty, or holding a run that stopped before
            its first checkpoint (started over).
        steps: total generator steps (default: the dataset's).
        seed: the random seed, 0 to 2**32 - 1 (default: the trainer's).
        config: a TOML config file, or the same as a dict of sections
            (``{"train": {"lr_g": 1e-4}, "arch": {"latent_dim": 64}}``).
        overrides: options as ``gankit train`` takes ``KEY=VALUE``, which win over
            ``config``: trainer keys (``lr_g``), sectioned ones (``arch.latent_dim``,
            ``regularizers.r1.gamma``, ``plugins.PLUGIN.KEY``). Values are Python
            values (``1e-4``, ``True``, ``[0.0, 0.99]``) or strings as on the
            command line (``"1e-4"``).

    Raises:
        GankitError: a bad option (:class:`~gankit.errors.ConfigError`), an ``out``
            that holds something else, or a run already being trained there.

    Interrupting it (Ctrl-C, ``KeyboardInterrupt``) keeps the newest checkpoint;
    :func:`resume` continues from there.
    """
    from gankit import config as config_mod
    from gankit.training.config import resolve

    for name, value in (("arch", arch), ("data", data)):
        if not isinstance(value, str) or not value.strip():
            raise GankitError(
                f"{name} must be a component name (a str; see `gankit list`), got {value!r}"
            )
    check_steps(steps, "the dataset's default", PYTHON)
    check_seed(seed, PYTHON)
    run_dir = _check_path("out", out)
    check_new_out(run_dir, spelling=PYTHON)  # before the work of resolving: an early error
    if config is None:
        file_values: dict[str, Any] = {}
    elif isinstance(config, Mapping):
        file_values = _config_sections(config)
    elif isinstance(config, (str, os.PathLike)):
        file_values = config_mod.load_toml(Path(config))
    else:
        raise GankitError(
            f"config must be a TOML file's path or a dict of sections, got {config!r}"
        )
    spec = resolve(arch, data, file_values, _override_values(overrides), steps=steps, seed=seed)
    return start_run(spec, run_dir, _fit, PYTHON)


def resume(run_dir: str | os.PathLike[str], *, steps: int | None = None) -> Path:
    """Continue the run in ``run_dir`` from its newest checkpoint; the artifact's directory.

    The Python form of ``gankit train --resume RUN_DIR``: the run goes on with
    its own recorded config, exactly as if it had not stopped (bit for bit on CPU).

    Args:
        run_dir: the run directory :func:`train` (or ``gankit train``) wrote.
        steps: total generator steps, more than the newest checkpoint's (default:
            the run's own step count).

    Raises:
        GankitError: ``run_dir`` is not a run, has no checkpoint, has trained its
            steps already, or another process is training it.
    """
    return continue_run(_check_path("run_dir", run_dir), steps, _fit, PYTHON)
