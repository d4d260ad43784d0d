"""``gankit eval``: compute metrics of a generator against a dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from gankit.cli.app import app
from gankit.errors import GankitError


@app.command("eval")
def eval_command(
    artifact: Annotated[str, typer.Argument(help="Artifact dir, run dir, zoo:NAME or hf://...")],
    data: Annotated[
        str | None, typer.Option("--data", help="Dataset [default: the one it was trained on].")
    ] = None,
    metrics: Annotated[
        str | None,
        typer.Option("--metrics", help="Comma-separated metrics [default: the dataset's]."),
    ] = None,
    n: Annotated[int | None, typer.Option("--n", help="Samples per metric.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Latent seed.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write JSON here.")] = None,
) -> None:
    """Evaluate a generator: print a table of metrics and optionally write JSON."""
    import gankit
    from gankit import config as config_mod
    from gankit.registry import create_dataset, get_component, make_config

    g = gankit.load_generator(artifact)
    data_name = data or g.config.get("dataset")
    if not data_name:
        raise GankitError("the artifact does not record its dataset; pass --data NAME")
    dataset_comp = get_component("dataset", data_name)
    names = (
        [m.strip() for m in metrics.split(",") if m.strip()]
        if metrics
        else list(getattr(dataset_comp, "default_metrics", ()))
    )
    if not names:
        raise GankitError(
            f"dataset {data_name!r} has no default metrics; pass --metrics "
            f"(see `gankit list metric`)"
        )
    dataset = create_dataset(data_name)
    results: dict[str, Any] = {"artifact": artifact, "data": data_name, "metrics": {}}
    for name in names:
        comp = get_component("metric", name)
        fields = config_mod.field_names(comp.config)
        values = {k: v for k, v in (("n", n), ("seed", seed)) if v is not None and k in fields}
        cfg = make_config(comp, values)
        metric = comp.factory(cfg)  # type: ignore[attr-defined]
        results["metrics"][name] = {
            "config": config_mod.to_json(cfg),
            "values": metric.compute(g, dataset),
        }
    table = Table(title=f"{artifact} on {data_name}")
    for col in ("metric", "quantity", "value"):
        table.add_column(col)
    for name, res in results["metrics"].items():
        for key, value in res["values"].items():
            table.add_row(name, key, f"{value:.4g}")
    Console().print(table)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(results, indent=2) + "\n")
