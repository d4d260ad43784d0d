"""``gankit eval``: compute metrics of a generator against a dataset."""

from __future__ import annotations

import json
import logging
import shlex
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from gankit.cli.app import app
from gankit.errors import ConfigError, GankitError


def metric_options(items: list[str], names: list[str]) -> dict[str, dict[str, Any]]:
    """Parse ``METRIC.KEY=VALUE`` options into ``{metric: {key: value}}``."""
    from gankit import config as config_mod

    out: dict[str, dict[str, Any]] = {}
    for key, value in config_mod.parse_overrides(items).items():
        metric, dot, field = key.partition(".")
        if not dot or not field:
            raise ConfigError(f"option {key!r}: write METRIC.KEY=VALUE, e.g. -o fd.classifier=PATH")
        if metric not in names:
            raise ConfigError(
                f"option {key!r} is for metric {metric!r}, which is not among --metrics "
                f"({', '.join(names)})"
            )
        out.setdefault(metric, {})[field] = value
    return out


def eval_command_line(
    artifact: str,
    data: str | None,
    names: list[str],
    n: int | None,
    seed: int | None,
    split: str | None,
    options: list[str],
    batch_size: int | None = None,
) -> str:
    """The ``gankit eval`` command line that reproduces a measurement (kept in its JSON)."""
    argv = ["gankit", "eval", artifact]
    if data:
        argv += ["--data", data]
    argv += ["--metrics", ",".join(names)]
    flags = (("--n", n), ("--seed", seed), ("--split", split), ("--batch-size", batch_size))
    for flag, value in flags:
        if value is not None:
            argv += [flag, str(value)]
    for item in options:
        argv += ["-o", item]
    return shlex.join(argv)


def check_json_out(path: Path) -> None:
    """Raise :class:`GankitError` unless ``path`` can be written as ``--json``'s file.

    It may not be a directory, and its nearest existing parent must be one (the
    missing folders below it are created when the JSON is written).
    """
    if path.is_dir():
        raise GankitError(
            f"--json {str(path)!r} is a directory: give a file name, e.g. "
            f"--json {str(path / 'metrics.json')!r}"
        )
    for parent in path.parents:
        if parent.is_dir():
            return
        if parent.exists() or parent.is_symlink():
            raise GankitError(
                f"--json {str(path)!r}: {str(parent)!r} is not a directory; "
                "give a path inside a directory"
            )


@app.command("eval")
def eval_command(
    artifact: Annotated[str, typer.Argument(help="Artifact dir, run dir, zoo:NAME or hf://...")],
    data: Annotated[
        str | None, typer.Option("--data", help="Dataset (default: the one it was trained on).")
    ] = None,
    metrics: Annotated[
        str | None,
        typer.Option("--metrics", help="Comma-separated metrics (default: the dataset's)."),
    ] = None,
    n: Annotated[int | None, typer.Option("--n", help="Samples per metric.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Latent seed.")] = None,
    split: Annotated[
        str | None,
        typer.Option("--split", help="Reference split (default: each metric's, e.g. test)."),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            help="A metric option, METRIC.KEY=VALUE (e.g. fid.weights=PATH); repeatable.",
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            min=1,
            help="Samples per generator and feature-extractor batch, for every metric "
            "with a batch_size option (default: each metric's).",
        ),
    ] = None,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="Progress bars (on stderr) while sampling and extracting features "
            "(default: only when stderr is a terminal).",
            show_default=False,
        ),
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write JSON here.")] = None,
) -> None:
    """Evaluate a generator: print a table of metrics and optionally write JSON.

    Each metric with a ``split`` option compares with that split of the dataset
    (its test split by default), built with the dataset options the generator
    was trained with. The table's reference column says what each metric
    compares with, and is empty for metrics that compare with no data.
    """
    import gankit
    from gankit import config as config_mod
    from gankit.evaluation import (
        ReferenceData,
        compared_with,
        metric_pass,
        metric_split,
        reference_text,
    )
    from gankit.registry import get_component, make_config
    from gankit.sampling import progress as showing_progress

    if json_out is not None:
        check_json_out(json_out)  # before the work, which a bad path would throw away
    g = gankit.load_generator(artifact)
    trained_on = g.config.get("dataset")
    data_name = data or _recorded_dataset(g.config)
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
    options = metric_options(option or [], names)
    same_data = data is None or data == trained_on
    data_config = dict(g.config.get("data_config") or {}) if same_data else {}
    reference = ReferenceData(data_name, data_config)
    results: dict[str, Any] = {
        "artifact": artifact,
        "data": data or trained_on,
        "command": eval_command_line(
            artifact, data, names, n, seed, split, option or [], batch_size
        ),
        "metrics": {},
    }
    with metric_pass():  # metrics scoring the same samples (fd, coverage) draw them once
        for name in names:
            comp = get_component("metric", name)
            fields = config_mod.field_names(comp.config)
            common = (("n", n), ("seed", seed), ("split", split), ("batch_size", batch_size))
            values = {k: v for k, v in common if v is not None and k in fields}
            cfg = make_config(comp, {**values, **options.get(name, {})}, strict=True)
            metric = comp.factory(cfg)  # type: ignore[attr-defined]
            with showing_progress(progress, label=name):
                computed = metric.compute(g, reference.get(metric_split(cfg)))
            results["metrics"][name] = {
                "config": config_mod.to_json(cfg),
                "reference": compared_with(metric, cfg, reference),
                "values": computed,
            }
    table = Table(title=f"{artifact} on {data or trained_on}")
    for col in ("metric", "quantity", "value", "reference"):
        table.add_column(col)
    for name, res in results["metrics"].items():
        where = reference_text(res["reference"])
        for key, value in res["values"].items():
            table.add_row(name, key, f"{value:.4g}", where)
    Console().print(table)
    if json_out is not None:
        try:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(results, indent=2) + "\n")
        except OSError as exc:
            raise GankitError(
                f"--json {str(json_out)!r}: cannot write it: {exc.strerror or exc} "
                "(the metrics are in the table above)"
            ) from None


def _recorded_dataset(config: dict[str, Any]) -> str | None:
    """The dataset an artifact was trained on, as ``NAME@PLUGIN`` when it records the plugin.

    So the same dataset is used after another plugin starts to provide one of that
    name; the bare name when the recorded plugin no longer provides it (or for an
    artifact written before artifacts recorded it).
    """
    from gankit.errors import UnknownComponentError
    from gankit.plugins import QUALIFIER
    from gankit.registry import get_component

    name, plugin = config.get("dataset"), config.get("dataset_plugin")
    if not name or not plugin or QUALIFIER in name:
        return name
    qualified = f"{name}{QUALIFIER}{plugin}"
    try:
        get_component("dataset", qualified)
    except UnknownComponentError:
        logging.getLogger(__name__).warning(
            "the artifact was trained on dataset %r of plugin %r, which no longer provides "
            "it (not installed, disabled or failed); evaluating against dataset %r as "
            "found now: install that plugin again for the same data, or give --data",
            name,
            plugin,
            name,
        )
        return str(name)
    return qualified
