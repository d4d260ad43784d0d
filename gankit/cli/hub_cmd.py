"""``gankit push``, ``gankit pull`` and ``gankit zoo ...``: the Hub and the model zoo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from gankit import hub
from gankit.cli.app import app
from gankit.errors import GankitError

zoo_app = typer.Typer(
    name="zoo",
    help="The zoo of pretrained generators: list, inspect, download, add, publish.",
    no_args_is_help=True,
)
app.add_typer(zoo_app, name="zoo")

CatalogueOpt = Annotated[
    Path | None,
    typer.Option("--catalogue", help="Catalogue file to use (default: the installed zoo's)."),
]
EndpointOpt = Annotated[
    str | None,
    typer.Option("--endpoint", help="Hub endpoint URL (default: HF_ENDPOINT or huggingface.co)."),
]


def check_push_source(source: Path) -> None:
    """Raise :class:`GankitError` unless ``source`` may be a local artifact for ``gankit push``.

    ``zoo:NAME`` and ``hf://...`` are sources to load from, not directories to
    upload: each gets a line saying which command does what was meant.
    """
    text = str(source)
    if not source.exists() and text.startswith("zoo:"):
        name = text[len("zoo:") :]
        raise GankitError(
            f"{text!r} is a zoo generator, and push uploads a local artifact or run "
            f"directory: zoo generators are published to their Hub repositories with "
            f"`gankit zoo publish {name}` (maintainers; `gankit zoo info {name}` shows its files)"
        )
    if not source.exists() and text.startswith("hf:/"):  # Path("hf://x") is "hf:/x"
        spec = text[len("hf:/") :].lstrip("/")
        raise GankitError(
            f"'hf://{spec}' is on the Hub already, and push uploads a local artifact or run "
            f"directory: download it with `gankit pull {spec}` and push that directory"
        )


@app.command("push")
def push_command(
    artifact: Annotated[Path, typer.Argument(help="Artifact directory (or its run directory).")],
    repo: Annotated[str, typer.Option("--repo", help="Hub repository, OWNER/NAME.")],
    revision: Annotated[
        str | None, typer.Option("--revision", help="Branch to commit to (default: main).")
    ] = None,
    private: Annotated[
        bool, typer.Option("--private", help="Create the repository as private.")
    ] = False,
    message: Annotated[str | None, typer.Option("--message", help="Commit message.")] = None,
    license: Annotated[
        str | None,
        typer.Option(
            "--license",
            help="License of the model, a Hub license id such as mit or apache-2.0 "
            "(default: none; the model card then has no license).",
        ),
    ] = None,
    endpoint: EndpointOpt = None,
) -> None:
    """Upload an artifact to the Hugging Face Hub and print the commit sha.

    Uses huggingface_hub's token (HF_TOKEN, or `hf auth login`). The model card
    states a license only when --license gives one.
    """
    check_push_source(artifact)
    sha = hub.push(
        artifact,
        repo,
        revision=revision,
        private=private,
        message=message,
        endpoint=endpoint,
        license=license,
    )
    typer.echo(sha)


@app.command("pull")
def pull_command(
    spec: Annotated[
        str,
        typer.Argument(
            help="OWNER/NAME or OWNER/NAME@REVISION (also hf://OWNER/NAME@REVISION); "
            "REVISION is a branch, tag or commit sha (default: main). "
            "Zoo entries: `gankit zoo pull NAME`.",
        ),
    ],
    local_files_only: Annotated[
        bool,
        typer.Option(
            "--local-files-only", help="Use the local cache only (like HF_HUB_OFFLINE=1)."
        ),
    ] = False,
    cache_dir: Annotated[
        Path | None, typer.Option("--cache-dir", help="huggingface_hub cache directory.")
    ] = None,
    endpoint: EndpointOpt = None,
) -> None:
    """Download an artifact into huggingface_hub's cache and print its local directory."""
    path = hub.pull(spec, local_files_only=local_files_only, cache_dir=cache_dir, endpoint=endpoint)
    typer.echo(str(path))


def _metric_text(metrics: dict[str, Any]) -> str:
    """One metric a line, ``name value`` (``9/10`` when the metric says out of how many)."""
    lines = []
    for name, m in metrics.items():
        value = m.get("value") if isinstance(m, dict) else m
        if isinstance(value, float):
            value = int(value) if value.is_integer() else f"{value:.4g}"
        out_of = m.get("out_of") if isinstance(m, dict) else None
        lines.append(f"{name.replace('_', ' ')} {value}" + (f"/{out_of}" if out_of else ""))
    return "\n".join(lines)


@zoo_app.command("list")
def zoo_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print the entries as JSON.")] = False,
    catalogue: CatalogueOpt = None,
) -> None:
    """List the zoo's pretrained generators (`gankit zoo info NAME` shows one in full)."""
    entries = hub.load_catalogue(catalogue)
    if as_json:
        typer.echo(json.dumps([e.to_json() for e in entries.values()], indent=2))
        return
    # readable at 80 columns: the model's three facts stacked in one column, one
    # metric a line, and long cells folded rather than cut
    table = Table(title="gankit zoo: load with zoo:NAME", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("model", overflow="fold")
    table.add_column("metrics", overflow="fold")
    table.add_column("revision", overflow="fold")
    for e in entries.values():
        revision = e.revision[:12] if e.revision else "unpublished"
        model = f"{e.architecture}\n{e.dataset}\n{e.resolution}"
        table.add_row(e.name, model, _metric_text(e.metrics), revision, end_section=True)
    Console().print(table)


@zoo_app.command("info")
def zoo_info(
    name: Annotated[str, typer.Argument(help="Zoo entry name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the entry as JSON.")] = False,
    catalogue: CatalogueOpt = None,
) -> None:
    """Show one zoo entry: where it lives, its pins, metrics and how they were measured."""
    entry = hub.zoo_entry(name, catalogue)
    shipped = hub.shipped_artifact(entry, catalogue)
    cached = hub.cached_snapshot(entry.repo_id, entry.revision or "main")
    if as_json:
        out = entry.to_json() | {
            "shipped_path": str(shipped) if shipped else None,
            "cached_path": str(cached) if cached else None,
        }
        typer.echo(json.dumps(out, indent=2))
        return
    lines = [
        f"[bold]{entry.name}[/]  {entry.description}",
        f"architecture  {entry.architecture}",
        f"dataset       {entry.dataset}",
        f"resolution    {entry.resolution}",
        f"license       {entry.license or '(none stated)'}",
        f"hub repo      {entry.repo_id}",
        f"revision      {entry.revision or '(unpublished)'}",
        f"sha256        {entry.sha256}  (model.safetensors)",
        f"shipped       {shipped or '(not shipped)'}",
        f"cached        {cached or '(not in the huggingface_hub cache)'}",
    ]
    for key, value in entry.training.items():
        lines.append(f"training      {key}: {value}")
    for metric, m in entry.metrics.items():
        if isinstance(m, dict):
            lines.append(f"metric        {metric} = {m.get('value')}")
            lines += [f"                {k}: {v}" for k, v in m.items() if k != "value"]
        else:
            lines.append(f"metric        {metric} = {m}")
    lines.append(f"load          gankit.load_generator('zoo:{entry.name}')")
    Console().print("\n".join(lines), highlight=False)


@zoo_app.command("pull")
def zoo_pull(
    name: Annotated[str, typer.Argument(help="Zoo entry name.")],
    endpoint: EndpointOpt = None,
    catalogue: CatalogueOpt = None,
) -> None:
    """Download a zoo entry from the Hub at its pinned revision, verify it, print its path."""
    typer.echo(str(hub.zoo_pull(name, endpoint=endpoint, catalogue=catalogue)))


@zoo_app.command("add")
def zoo_add(
    name: Annotated[str, typer.Argument(help="Entry name, e.g. dcgan-fashion-mnist.")],
    artifact: Annotated[Path, typer.Argument(help="Artifact directory (or its run directory).")],
    repo: Annotated[str, typer.Option("--repo", help="Planned Hub repository, OWNER/NAME.")],
    arch: Annotated[
        str | None, typer.Option("--arch", help="Architecture (default: the artifact's).")
    ] = None,
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Dataset (default: the artifact's).")
    ] = None,
    resolution: Annotated[
        str | None, typer.Option("--resolution", help="e.g. 32x32 (default: from its shape).")
    ] = None,
    license: Annotated[
        str | None,
        typer.Option(
            "--license",
            help="License of the model, a Hub license id such as mit or apache-2.0 "
            "(default: none; the entry and its model card then state no license).",
        ),
    ] = None,
    metrics: Annotated[
        Path | None,
        typer.Option(
            "--metrics",
            help="`gankit eval --json` output, or JSON {name: {value, command, ...}} "
            "(default: training's).",
        ),
    ] = None,
    train_command: Annotated[
        str | None, typer.Option("--train-command", help="The command that trained it.")
    ] = None,
    description: Annotated[str, typer.Option("--description", help="One line.")] = "",
    replace: Annotated[bool, typer.Option("--replace", help="Update an existing entry.")] = False,
    catalogue: CatalogueOpt = None,
) -> None:
    """Maintainers: copy an artifact into the zoo, hash it and write its catalogue entry."""
    metric_values = None
    if metrics is not None:
        try:
            metric_values = json.loads(metrics.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise GankitError(f"--metrics {str(metrics)!r}: {exc}") from None
        if isinstance(metric_values, dict) and isinstance(metric_values.get("metrics"), dict):
            from gankit.evaluation import catalogue_metrics

            metric_values = catalogue_metrics(metric_values)  # written by `gankit eval --json`
    training = {"command": train_command} if train_command else {}
    entry = hub.zoo_add(
        name,
        artifact,
        repo_id=repo,
        architecture=arch,
        dataset=dataset,
        resolution=resolution,
        license=license,
        metrics=metric_values,
        training=training,
        description=description,
        catalogue=catalogue,
        replace=replace,
    )
    typer.echo(f"added zoo:{entry.name} (sha256 {entry.sha256}); publish with `gankit zoo publish`")


@zoo_app.command("publish")
def zoo_publish(
    names: Annotated[
        list[str] | None, typer.Argument(help="Entries to publish (default: all).")
    ] = None,
    endpoint: EndpointOpt = None,
    private: Annotated[bool, typer.Option("--private", help="Create private repos.")] = False,
    catalogue: CatalogueOpt = None,
) -> None:
    """Maintainers: push every zoo entry to its Hub repo and record the commit shas."""
    done = hub.zoo_publish(names=names, endpoint=endpoint, catalogue=catalogue, private=private)
    for name, sha in done.items():
        typer.echo(f"{name}: {sha}")
    typer.echo(f"revisions written to {hub.catalogue_path(catalogue)}")
