"""``gankit train``, ``gankit sample`` and ``gankit interpolate``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gankit import config as config_mod
from gankit.cli.app import app
from gankit.errors import GankitError

if TYPE_CHECKING:  # torch is imported lazily so `gankit --help` stays fast
    import torch

    from gankit.sampling import GeneratorSampler
    from gankit.training.config import RunSpec

#: the defaults of a new run's ``--arch`` and ``--data`` (None on the command line,
#: so that ``--resume`` can tell whether they were given)
DEFAULT_ARCH = "dcgan"
DEFAULT_DATA = "digits"

#: what ``sample`` and ``interpolate`` write, by suffix of ``--out``
OUTPUT_SUFFIXES = (".png", ".npy")

#: the seeds torch's generators take (64 bits, signed or unsigned)
_SEED_RANGE = (-(2**63), 2**64 - 1)


def _check_min(option: str, value: int | None, minimum: int, advice: str = "") -> None:
    if value is not None and value < minimum:
        raise GankitError(f"{option} must be at least {minimum}, got {value}{advice}")


def _check_seed(seed: int) -> None:
    low, high = _SEED_RANGE
    if not low <= seed <= high:
        raise GankitError(f"--seed must fit in 64 bits ({low}..{high}), got {seed}; use e.g. 0")


def _check_output(out: Path) -> None:
    """Refuse an ``--out`` that ``sample``/``interpolate`` cannot write, before any work."""
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise GankitError(
            f"--out must end in .png (an image grid) or .npy (a float32 array), got {str(out)!r}"
        )
    if out.is_dir():
        raise GankitError(
            f"--out {str(out)!r} is a directory; give a file name such as {out}/x.png"
        )


def _write_output(out: Path, samples: torch.Tensor, **image_options: Any) -> None:
    """Write samples as a PNG grid/scatter plot or a float32 ``.npy`` array."""
    import numpy as np

    from gankit.images import save_samples_image

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() == ".npy":
            with out.open("wb") as fh:  # a file object: np.save would append .npy to X.NPY
                np.save(fh, samples.numpy().astype(np.float32))
        else:
            save_samples_image(samples, out, **image_options)
    except OSError as exc:
        raise GankitError(
            f"cannot write --out {str(out)!r}: {exc.strerror or exc}; choose a writable path"
        ) from None


# -- train ----------------------------------------------------------------------------


@app.command("train")
def train_command(
    overrides: Annotated[
        list[str] | None,
        typer.Argument(
            help="KEY=VALUE overrides, e.g. lr_g=1e-4 arch.latent_dim=64 data.size=32 "
            "regularizers.r1.gamma=5 plugins.PLUGIN.KEY=1; `gankit info train` lists the "
            "trainer's keys, `gankit info NAME` a component's or a plugin's",
            show_default=False,
        ),
    ] = None,
    arch: Annotated[
        str | None,
        typer.Option(
            "--arch",
            help=f"Architecture (default: {DEFAULT_ARCH}; see `gankit list arch`).",
            show_default=False,
        ),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help=f"Dataset (default: {DEFAULT_DATA}; see `gankit list dataset`).",
            show_default=False,
        ),
    ] = None,
    steps: Annotated[
        int | None,
        typer.Option(
            "--steps", help="Total generator steps (default: the dataset's).", show_default=False
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed.")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Run directory to write (new or empty).")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="A TOML config file.")] = None,
    resume: Annotated[
        Path | None,
        typer.Option("--resume", help="Continue the run in this directory (to --steps total)."),
    ] = None,
) -> None:
    """Train a GAN, writing sample grids, checkpoints and a generator artifact."""
    from gankit.training import runs
    from gankit.training.config import resolve

    if resume is not None:
        given = [
            name
            for name, value in [
                ("KEY=VALUE overrides", overrides),
                ("--config", config),
                ("--out", out),
                ("--arch", arch),
                ("--data", data),
                ("--seed", seed),
            ]
            if value is not None and value != []
        ]
        if given:
            raise GankitError(
                f"--resume continues a run with its own config; only --steps may be given, "
                f"not {', '.join(given)}"
            )
        runs.continue_run(resume, steps, _train)
        return
    runs.check_steps(steps, "the dataset's default")
    runs.check_seed(seed)
    if out is None:
        raise GankitError("--out RUN_DIR is required (where the run writes its files)")
    runs.check_new_out(out)  # before the work of resolving: a clear error early
    file_values = config_mod.load_toml(config) if config is not None else {}
    spec = resolve(
        arch or DEFAULT_ARCH,
        data or DEFAULT_DATA,
        file_values,
        config_mod.parse_overrides(overrides or []),
        steps=steps,
        seed=seed,
    )
    runs.start_run(spec, out, _train)


def _train(spec: RunSpec, run_dir: Path) -> None:
    """Train ``spec`` in ``run_dir`` and say where the artifact went (Ctrl-C: exit 130)."""
    from gankit.training.trainer import Trainer

    trainer = Trainer(spec, run_dir)
    try:
        artifact = trainer.fit(spec.train.steps)
    except KeyboardInterrupt:
        _report_interrupt(trainer.step, run_dir, spec.train.steps)
        raise typer.Exit(130) from None  # the shell's code for a run ended by SIGINT
    steps = f"{trainer.step} step{'' if trainer.step == 1 else 's'}"
    typer.echo(f"trained {steps}; artifact written to {artifact}")


def _report_interrupt(step: int, run_dir: Path, steps: int) -> None:
    """Tell a user who pressed Ctrl-C what is kept and how to go on."""
    from gankit.training import checkpoint as ckpt

    newest = ckpt.newest_step(run_dir / "checkpoints")
    if newest is None:
        then = "no checkpoint was written yet, so run the same command again to start over"
    else:
        then = (
            f"the newest checkpoint (step {newest}) is kept: continue with "
            f"`gankit train --resume {run_dir} --steps {steps}`"
        )
    typer.echo(f"interrupted at step {step}; {then}", err=True)


# -- sample and interpolate -----------------------------------------------------------


def _parse_labels(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        labels = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise GankitError(f"--labels must be comma-separated integers, got {text!r}") from None
    if not labels:
        raise GankitError(f"--labels names no label ({text!r}); give e.g. --labels 0,3,7")
    return labels


def _check_classes(option: str, labels: list[int], g: GeneratorSampler) -> None:
    """``g.check_labels`` (unconditional model, class range), naming the option to change."""
    try:
        g.check_labels(labels)
    except GankitError as exc:
        fix = f"leave out {option}" if g.num_classes <= 0 else f"give {option} in that range"
        raise GankitError(f"{exc}; {fix}") from None


@app.command("sample")
def sample_command(
    artifact: Annotated[str, typer.Argument(help="Artifact dir, run dir, zoo:NAME or hf://...")],
    n: Annotated[
        int | None, typer.Option("--n", help="Number of samples (default: 64, or one per label).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the latents.")] = 0,
    out: Annotated[Path, typer.Option("--out", help="Output: .png grid or .npy array.")] = Path(
        "samples.png"
    ),
    labels: Annotated[
        str | None, typer.Option("--labels", help="Class labels, e.g. 0,3,7 (conditional models).")
    ] = None,
    per_class: Annotated[
        int | None, typer.Option("--per-class", help="N samples of every class, one row each.")
    ] = None,
) -> None:
    """Sample from a generator: a PNG grid, or .npy (float32, images NCHW / points Nx2)."""
    import torch

    import gankit

    _check_output(out)
    _check_min("--n", n, 1)
    _check_min("--per-class", per_class, 1)
    _check_seed(seed)
    label_list = _parse_labels(labels)
    if per_class is not None and label_list is not None:
        raise GankitError("give either --labels or --per-class, not both")
    if per_class is not None and n is not None:
        raise GankitError(
            "--per-class sets the number of samples (per class); leave out --n, or use --n "
            "without --per-class"
        )
    g = gankit.load_generator(artifact)
    nrow = None
    if per_class is not None:
        if g.num_classes <= 0:
            raise GankitError(
                "--per-class needs a conditional generator; this one is unconditional "
                "(it has no classes): leave out --per-class"
            )
        label_list = [c for c in range(g.num_classes) for _ in range(per_class)]
        nrow = per_class
    if label_list is not None:
        if labels is not None:
            _check_classes("--labels", label_list, g)
        if n is None:
            n = len(label_list)
        elif len(label_list) == 1:
            label_list = label_list * n
        elif len(label_list) != n:
            raise GankitError(
                f"--labels has {len(label_list)} labels but --n is {n}; give one label per "
                f"sample, a single label for all, or leave out --n"
            )
    n = 64 if n is None else n
    samples = g.sample(n, seed=seed, labels=label_list).cpu()
    centers = g.config.get("mode_centers")
    _write_output(
        out,
        samples,
        nrow=nrow,
        value_range=g.value_range,
        centers=torch.tensor(centers) if centers else None,
    )
    typer.echo(f"wrote {n} samples to {out}")


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latent batches ``a`` and ``b`` at fractions ``t``."""
    import torch

    a_n = a / a.norm(dim=-1, keepdim=True)
    b_n = b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((a_n * b_n).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    t = t.reshape(-1, 1)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


@app.command("interpolate")
def interpolate_command(
    artifact: Annotated[str, typer.Argument(help="Artifact dir, run dir, zoo:NAME or hf://...")],
    steps: Annotated[int, typer.Option("--steps", help="Images along each strip (>= 2).")] = 8,
    rows: Annotated[int, typer.Option("--rows", help="Number of strips.")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the end points.")] = 0,
    label: Annotated[
        int | None, typer.Option("--label", help="Class (conditional models).")
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", help="Output: .png strips or .npy array (float32 NCHW).")
    ] = Path("interpolation.png"),
) -> None:
    """Write strips of images along spherical interpolations between random latents."""
    import torch

    import gankit

    _check_output(out)
    _check_min("--steps", steps, 2, " (the two end points of each strip)")
    _check_min("--rows", rows, 1)
    _check_seed(seed)
    g = gankit.load_generator(artifact)
    labels = None
    if label is not None:
        _check_classes("--label", [label], g)
    if g.num_classes > 0:
        labels = g.check_labels([label if label is not None else 0] * (rows * steps))
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(rows, g.latent_dim, generator=gen)
    b = torch.randn(rows, g.latent_dim, generator=gen)
    t = torch.linspace(0, 1, steps)
    z = torch.cat(
        [
            slerp(a[i : i + 1].expand(steps, -1), b[i : i + 1].expand(steps, -1), t)
            for i in range(rows)
        ]
    )
    with torch.no_grad():
        images = g(z, labels)
    if images.ndim != 4:
        raise GankitError(
            "interpolate draws image strips; this generator does not make images "
            "(use `gankit sample` for 2-D points)"
        )
    _write_output(out, images.cpu(), nrow=steps)
    typer.echo(f"wrote {rows} strip(s) of {steps} images to {out}")
