"""``gankit train``, ``gankit sample`` and ``gankit interpolate``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gankit import config as config_mod
from gankit.cli.app import app
from gankit.errors import GankitError

if TYPE_CHECKING:  # torch is imported lazily so `gankit --help` stays fast
    import torch


@app.command(
    "train",
    context_settings={"help_option_names": ["-h", "--help"]},
)
def train_command(
    overrides: Annotated[
        list[str] | None,
        typer.Argument(
            help="KEY=VALUE overrides, e.g. lr_g=1e-4 arch.latent_dim=64 data.size=32; "
            "`gankit info train` lists the trainer's keys, `gankit info NAME` a component's",
            show_default=False,
        ),
    ] = None,
    arch: Annotated[
        str, typer.Option("--arch", help="Architecture (see `gankit list arch`).")
    ] = "dcgan",
    data: Annotated[
        str, typer.Option("--data", help="Dataset (see `gankit list dataset`).")
    ] = "digits",
    steps: Annotated[int | None, typer.Option("--steps", help="Total generator steps.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Run directory to write.")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="A TOML config file.")] = None,
    resume: Annotated[
        Path | None,
        typer.Option("--resume", help="Continue the run in this directory (to --steps total)."),
    ] = None,
) -> None:
    """Train a GAN, writing sample grids, checkpoints and a generator artifact."""
    from gankit.training.config import replace_train, resolve
    from gankit.training.trainer import Trainer, load_run

    if resume is not None:
        if overrides or config is not None or out is not None:
            raise GankitError(
                "--resume continues a run with its own config; only --steps may be given"
            )
        spec = load_run(resume)
        if steps is not None:
            spec = replace_train(spec, steps=steps)
        run_dir = resume
    else:
        if out is None:
            raise GankitError("--out RUN_DIR is required (where the run writes its files)")
        if out.exists() and (out / "run.json").exists():
            raise GankitError(
                f"{str(out)!r} already holds a run; continue it with `gankit train --resume "
                f"{out}` or choose another --out"
            )
        file_values = config_mod.load_toml(config) if config is not None else {}
        spec = resolve(
            arch,
            data,
            file_values,
            config_mod.parse_overrides(overrides or []),
            steps=steps,
            seed=seed,
        )
        run_dir = out
    trainer = Trainer(spec, run_dir)
    artifact = trainer.fit(spec.train.steps)
    typer.echo(f"trained {trainer.step} steps; artifact written to {artifact}")


def _parse_labels(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise GankitError(f"--labels must be comma-separated integers, got {text!r}") from None


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
    import numpy as np
    import torch

    import gankit
    from gankit.images import save_samples_image

    g = gankit.load_generator(artifact)
    label_list = _parse_labels(labels)
    nrow = None
    if per_class is not None:
        if g.num_classes <= 0:
            raise GankitError("--per-class needs a conditional generator; this one has no classes")
        if label_list is not None:
            raise GankitError("give either --labels or --per-class, not both")
        label_list = [c for c in range(g.num_classes) for _ in range(per_class)]
        nrow = per_class
        n = None
    if label_list is not None:
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
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npy":
        np.save(out, samples.numpy().astype(np.float32))
    elif out.suffix.lower() == ".png":
        centers = g.config.get("mode_centers")
        save_samples_image(
            samples,
            out,
            nrow=nrow,
            value_range=g.value_range,
            centers=torch.tensor(centers) if centers else None,
        )
    else:
        raise GankitError(f"--out must end in .png or .npy, got {str(out)!r}")
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
    steps: Annotated[int, typer.Option("--steps", help="Images along each strip.")] = 8,
    rows: Annotated[int, typer.Option("--rows", help="Number of strips.")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the end points.")] = 0,
    label: Annotated[
        int | None, typer.Option("--label", help="Class (conditional models).")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Output PNG.")] = Path("interpolation.png"),
) -> None:
    """Write strips of images along spherical interpolations between random latents."""
    import torch

    import gankit
    from gankit.images import save_samples_image

    if steps < 2:
        raise GankitError(f"--steps must be at least 2, got {steps}")
    g = gankit.load_generator(artifact)
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
    labels = None
    if g.num_classes > 0:
        labels = g.check_labels([label if label is not None else 0] * len(z), len(z))
    elif label is not None:
        raise GankitError("--label needs a conditional generator; this one has no classes")
    with torch.no_grad():
        images = g(z, labels)
    if images.ndim != 4:
        raise GankitError("interpolate draws image strips; this generator does not make images")
    save_samples_image(images.cpu(), out, nrow=steps)
    typer.echo(f"wrote {rows} strip(s) of {steps} images to {out}")
