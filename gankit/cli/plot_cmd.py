"""``gankit plot``: PNG figures of a training run (needs the ``plot`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gankit.cli.app import app


@app.command("plot")
def plot_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (`gankit train --out DIR`).")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Directory for the PNGs (default: RUN_DIR/plots)."),
    ] = None,
    grids: Annotated[
        int, typer.Option("--grids", min=1, help="Sample grids in samples.png, evenly spaced.")
    ] = 8,
) -> None:
    """Plot a run: losses, mean D logits, metrics and a timeline of sample grids."""
    from gankit.plotting import plot_run

    for path in plot_run(run_dir, out, grids=grids):
        typer.echo(str(path))
