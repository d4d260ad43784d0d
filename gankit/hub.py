"""Hugging Face Hub push/pull of generator artifacts, and the zoo of pretrained generators.

Sources :func:`gankit.load_generator` hands to :func:`resolve`:

- ``hf://OWNER/NAME[@REVISION]``: downloaded with ``huggingface_hub.snapshot_download``
  into its usual cache (only the artifact files), revision pinned to a commit.
- ``zoo:NAME``: an entry of the zoo catalogue (``gankit_zoo/catalogue.json``), looked
  up in this order, each step logged at debug level on ``gankit.hub``:

  1. huggingface_hub's local cache, at the catalogue's pinned revision (or ``main``
     while none is recorded);
  2. the artifact shipped with gankit in the zoo directory;
  3. the Hub (not when ``HF_HUB_OFFLINE=1`` or ``local_files_only``).

  Whatever the step, the sha256 of ``model.safetensors`` must equal the catalogue's
  before anything is loaded.

Safety: the repository's file list is read first; a repository with pickle weights
only is refused (unpickling can run code), file names with ``..``, a leading ``/``
or a backslash are refused, and only the known artifact files are ever downloaded
or read. huggingface_hub reads ``HF_ENDPOINT``, ``HF_HUB_OFFLINE`` and the cache
paths when it is imported; this module reads ``huggingface_hub.constants`` at call
time, so patching those constants in-process works, and it imports huggingface_hub's
heavy modules only when it has to talk to the Hub (a cached or shipped zoo entry
loads without them).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gankit.artifacts import (
    CARD_NAME,
    CONFIG_NAME,
    PICKLE_SUFFIXES,
    SAMPLES_NAME,
    WEIGHTS_NAME,
    ArtifactInfo,
    follow_umask,
    make_temp_dir,
    read_info,
    refuse_pickle,
    run_artifact_dir,
)
from gankit.errors import ArtifactError, GankitError, HubError, IntegrityError
from gankit.modelcard import metrics_table, pipeline_tag, sample_line

logger = logging.getLogger("gankit.hub")

#: The files of an artifact, the only ones ever downloaded from a repository.
ARTIFACT_FILES = (CONFIG_NAME, WEIGHTS_NAME, CARD_NAME, SAMPLES_NAME)
REQUIRED_FILES = (CONFIG_NAME, WEIGHTS_NAME)
CATALOGUE_NAME = "catalogue.json"
CATALOGUE_FORMAT = "gankit-zoo"
ZOO_ENV = "GANKIT_ZOO_DIR"

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_ENTRY_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,95}$")


# -- names, specs and files ----------------------------------------------------------


def check_repo_id(repo_id: str) -> str:
    """Return ``repo_id`` if it is a valid ``OWNER/NAME``, else raise a clear error."""
    if not _REPO_ID.match(repo_id) or "--" in repo_id or ".." in repo_id:
        raise HubError(
            f"{repo_id!r} is not a Hub repository id: expected OWNER/NAME (letters, digits, "
            "'-', '_', '.'; no '--' or '..')"
        )
    return repo_id


#: characters git refuses in a ref name (``git check-ref-format``), plus '@' and '%':
#: a second '@' would be ambiguous, and '%' would be URL-decoded by the endpoint
_REVISION_BAD_CHARS = "@:~^?*[\\%"


def check_revision(revision: str, spec: str | None = None) -> str:
    """Return ``revision`` if git would accept it as a branch, tag or commit, else raise.

    Refused, with a message naming the revision: whitespace and control characters,
    ``@ : ~ ^ ? * [ \\ %``, ``..``, a leading ``-`` or ``/``, a trailing ``/`` or
    ``.``, ``//``, a component starting with ``.`` or ending in ``.lock``. Such a
    revision could only fail on the Hub, or reach it as something else.
    """
    problem = None
    bad = sorted({c for c in revision if c in _REVISION_BAD_CHARS})
    if not revision:
        problem = "it is empty"
    elif any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in revision):
        problem = "it contains whitespace or a control character"
    elif bad:
        problem = "it contains " + " ".join(repr(c) for c in bad)
    elif ".." in revision:
        problem = "it contains '..'"
    elif revision.startswith(("-", "/")) or revision.endswith(("/", ".")) or "//" in revision:
        problem = "it starts with '-' or '/', ends with '/' or '.', or contains '//'"
    elif any(part.startswith(".") or part.endswith(".lock") for part in revision.split("/")):
        problem = "a part of it starts with '.' or ends with '.lock'"
    if problem is not None:
        where = f" in {spec!r}" if spec is not None else ""
        fix = " after a single '@' (OWNER/NAME@REVISION)" if spec is not None else ""
        raise HubError(
            f"revision {revision!r}{where} is not a valid git revision: {problem}; give a "
            f"branch, tag or commit sha{fix}"
        )
    return revision


def parse_repo_spec(spec: str) -> tuple[str, str | None]:
    """Split ``[hf://]OWNER/NAME[@REVISION]`` into the repo id and the revision (or None).

    The repo id is checked by :func:`check_repo_id`, the revision by
    :func:`check_revision`; ``zoo:NAME`` is refused with the command that pulls it.
    """
    if spec.startswith("zoo:"):
        name = spec[4:]
        raise HubError(
            f"{spec!r} is a zoo entry, not a Hub repository: download it with "
            f"`gankit zoo pull {name}` (at its pinned revision, sha256-checked)"
        )
    text = spec.removeprefix("hf://").strip()
    repo_id, _, revision = text.partition("@")
    if "@" in spec and not revision:
        raise HubError(
            f"{spec!r} has an empty revision after '@'; give OWNER/NAME or OWNER/NAME@REVISION"
        )
    if revision:
        check_revision(revision, spec)
    return check_repo_id(repo_id), revision or None


def unsafe_filename(name: str) -> str | None:
    """Why a repository file name is unsafe to handle, or None if it is fine."""
    if not name or "\0" in name:
        return "it is empty or contains a NUL byte"
    if "\\" in name:
        return "it contains a backslash"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "it is an absolute path"
    if ".." in name.split("/"):
        return "it contains a '..' path component"
    return None


def check_repo_files(repo: str, names: Iterable[str]) -> list[str]:
    """Check a repository's file list; return the artifact files it holds.

    Refuses a listing with an unsafe name (path traversal), a repository whose
    weights exist only as pickles, and one with no ``config.json`` or weights.
    """
    names = list(names)
    for name in names:
        why = unsafe_filename(name)
        if why is not None:
            raise HubError(
                f"refusing {repo}: it lists a file named {name!r} and {why}; such a name "
                "could write outside the download folder (path traversal). Nothing was downloaded."
            )
    present = set(names)
    if WEIGHTS_NAME not in present:
        pickles = sorted(n for n in names if n.lower().endswith(PICKLE_SUFFIXES))
        if pickles:
            raise HubError(
                f"refusing {repo}: its weights are only in pickle files ({', '.join(pickles)}), "
                "and unpickling a file can run arbitrary code. gankit downloads and loads "
                f"safetensors only: ask the owner to publish a {WEIGHTS_NAME}. "
                "Nothing was downloaded."
            )
        raise HubError(f"{repo} is not a gankit artifact: it has no {WEIGHTS_NAME}")
    if CONFIG_NAME not in present:
        raise HubError(f"{repo} is not a gankit artifact: it has no {CONFIG_NAME}")
    return [n for n in ARTIFACT_FILES if n in present]


def sha256_file(path: str | Path) -> str:
    """The hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str, what: str) -> None:
    """Raise :class:`IntegrityError` unless ``path`` hashes to ``expected``."""
    actual = sha256_file(path)
    if actual != expected.lower():
        raise IntegrityError(
            f"sha256 mismatch for {what} ({path}): expected {expected} (the zoo catalogue's "
            f"pin), the file hashes to {actual}. Nothing was loaded. The file was changed or "
            "corrupted after publication; delete it (or the cached snapshot) and download it again."
        )
    logger.debug("sha256 of %s verified (%s)", path, actual)


def _check_local_artifact(directory: Path, inside: Path | None = None) -> Path:
    """Check the artifact files of a downloaded or shipped directory before loading."""
    for name in REQUIRED_FILES:
        path = directory / name
        if not path.is_file():
            raise HubError(f"{directory} is missing {name}")
    if inside is not None:
        root = inside.resolve()
        for name in ARTIFACT_FILES:
            path = directory / name
            if path.exists() and not path.resolve().is_relative_to(root):
                raise HubError(f"{path} points outside the cache ({root}); refusing to use it")
    return directory


# -- huggingface_hub plumbing ---------------------------------------------------------


def _constants() -> Any:
    from huggingface_hub import constants

    return constants


def _endpoint(endpoint: str | None) -> str:
    return (endpoint or _constants().ENDPOINT).rstrip("/")


def is_offline() -> bool:
    """Whether huggingface_hub's offline mode (``HF_HUB_OFFLINE=1``) is on."""
    return bool(_constants().is_offline_mode())


def _cache_root(cache_dir: str | Path | None) -> Path:
    return Path(cache_dir if cache_dir is not None else _constants().HF_HUB_CACHE).expanduser()


def cached_snapshot(
    repo_id: str, revision: str = "main", cache_dir: str | Path | None = None
) -> Path | None:
    """The snapshot folder of ``repo_id`` at ``revision`` in huggingface_hub's cache, if complete.

    Reads the documented cache layout (``models--OWNER--NAME/refs`` and ``snapshots``)
    directly, without importing huggingface_hub's download machinery (which costs
    about half a second): this is the fast path of a cached zoo entry.
    """
    storage = _cache_root(cache_dir) / ("models--" + repo_id.replace("/", "--"))
    sha = revision
    if not _COMMIT.match(revision):
        ref = storage / "refs" / revision
        if not ref.is_file():
            return None
        sha = ref.read_text().strip()
    snapshot = storage / "snapshots" / sha
    if all((snapshot / name).is_file() for name in REQUIRED_FILES):
        return snapshot
    return None


@contextlib.contextmanager
def _hub_errors(
    action: str, repo: str, endpoint: str, reraise_unreachable: bool = False
) -> Iterator[None]:
    """Turn huggingface_hub and network errors into one-line :class:`HubError` messages.

    With ``reraise_unreachable``, connection errors and timeouts pass through (the
    caller falls back to the cache).
    """
    import httpx2
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        LocalTokenNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        yield
    except GankitError:
        raise
    except (httpx2.ConnectError, httpx2.TimeoutException) as exc:
        if reraise_unreachable:
            raise
        raise HubError(f"cannot {action} {repo}: cannot reach {endpoint} ({exc})") from None
    except LocalTokenNotFoundError:
        raise HubError(_NO_TOKEN) from None
    except RevisionNotFoundError:
        raise HubError(f"cannot {action} {repo}: no such revision on {endpoint}") from None
    except RepositoryNotFoundError:
        raise HubError(
            f"cannot {action} {repo}: repository not found on {endpoint} (if it is private, "
            "set HF_TOKEN or run `hf auth login`)"
        ) from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        detail = (exc.server_message or str(exc)).strip().splitlines()
        raise HubError(
            f"the Hub at {endpoint} refused to {action} {repo}: HTTP {status}"
            + (f": {detail[0]}" if detail else "")
        ) from None
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as exc:
        raise HubError(f"cannot {action} {repo} offline: {str(exc).splitlines()[0]}") from None
    except (httpx2.HTTPError, OSError) as exc:
        raise HubError(f"cannot {action} {repo}: {exc}") from None
    except ValueError as exc:  # e.g. the Hub rejecting the model card's metadata
        detail = str(exc).strip().splitlines()
        raise HubError(f"cannot {action} {repo}: {' '.join(detail[:3])}") from None


_NO_TOKEN = (
    "no Hugging Face token: set HF_TOKEN or run `hf auth login` (a token with write access "
    "is needed to push)"
)


# -- pull -----------------------------------------------------------------------------


def pull(
    spec: str,
    *,
    revision: str | None = None,
    local_files_only: bool = False,
    cache_dir: str | Path | None = None,
    endpoint: str | None = None,
    token: str | bool | None = None,
    expected_sha256: str | None = None,
) -> Path:
    """Download an artifact repository into huggingface_hub's cache; return its local folder.

    ``spec`` is ``[hf://]OWNER/NAME[@REVISION]`` (``revision`` overrides the one in
    ``spec``; default ``main``). Online, the revision is resolved to a commit and the
    file list is checked first (see :func:`check_repo_files`); then only the artifact
    files are downloaded. With ``local_files_only`` or ``HF_HUB_OFFLINE=1`` the cached
    snapshot is used and nothing goes over the network. ``model.safetensors`` is
    checked against ``expected_sha256``, or else against the zoo catalogue when it
    pins this repository at the downloaded commit.
    """
    repo_id, spec_revision = parse_repo_spec(spec)
    if revision is not None:
        check_revision(revision)
    revision = revision or spec_revision
    folder, commit = _download(
        repo_id,
        revision,
        local_files_only=local_files_only,
        cache_dir=cache_dir,
        endpoint=endpoint,
        token=token,
    )
    if expected_sha256 is None:
        expected_sha256 = _catalogue_sha256(repo_id, commit)
    if expected_sha256:
        verify_sha256(folder / WEIGHTS_NAME, expected_sha256, f"{repo_id}@{commit[:12]}")
    return folder


def _download(
    repo_id: str,
    revision: str | None,
    *,
    local_files_only: bool = False,
    cache_dir: str | Path | None = None,
    endpoint: str | None = None,
    token: str | bool | None = None,
    pull_command: str | None = None,
) -> tuple[Path, str]:
    """Fetch (or find in the cache) the artifact files; returns the snapshot folder and commit.

    As huggingface_hub does, an unreachable endpoint falls back to the cache.
    ``pull_command`` is the command the error suggests when neither works
    (default ``gankit pull OWNER/NAME@REVISION``).
    """
    import httpx2

    url = _endpoint(endpoint)
    rev = revision or "main"
    where = f"{repo_id}@{rev}"
    root = _cache_root(cache_dir)
    unreachable = False
    if local_files_only:
        reason = "downloads are off (local_files_only)"
    elif is_offline():
        reason = "downloads are off (HF_HUB_OFFLINE=1)"
    else:
        try:
            return _download_online(repo_id, rev, root, url, token)
        except (httpx2.ConnectError, httpx2.TimeoutException) as exc:
            reason = f"the Hub is unreachable ({url}: {exc})"
            unreachable = True
            logger.warning("%s: cannot reach %s (%s); trying the local cache", where, url, exc)
    logger.debug("%s: %s; looking in the huggingface_hub cache %s", where, reason, root)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    try:
        path = snapshot_download(
            repo_id,
            revision=rev,
            allow_patterns=list(ARTIFACT_FILES),
            local_files_only=True,
            cache_dir=str(root),
        )
    except (LocalEntryNotFoundError, OfflineModeIsEnabled, OSError):
        command = pull_command or f"gankit pull {where}"
        mirror = " (or set HF_ENDPOINT to a Hub mirror you can reach)" if unreachable else ""
        raise HubError(
            f"{where} is not in the huggingface_hub cache ({root}) and {reason}: "
            f"run `{command}` with network access first{mirror}"
        ) from None
    folder = Path(path)
    check_repo_files(where, [p.name for p in folder.iterdir()])
    return _check_local_artifact(folder, inside=root), folder.name


def _download_online(
    repo_id: str, rev: str, root: Path, url: str, token: str | bool | None
) -> tuple[Path, str]:
    from huggingface_hub import HfApi, snapshot_download

    where = f"{repo_id}@{rev}"
    api = HfApi(endpoint=url, token=token)
    with _hub_errors("download", where, url, reraise_unreachable=True):
        info = api.model_info(repo_id, revision=rev)
        commit = str(info.sha)
        names = api.list_repo_files(repo_id, revision=commit)
        wanted = check_repo_files(where, names)
        logger.debug("%s is commit %s; downloading %s from %s", where, commit, wanted, url)
        path = snapshot_download(
            repo_id,
            revision=rev,
            allow_patterns=wanted,
            cache_dir=str(root),
            endpoint=url,
            token=token,
        )
    folder = Path(path)
    if folder.name != commit:
        raise HubError(
            f"{where} moved from {commit[:12]} to {folder.name[:12]} during the download; "
            "pull again (or pin a commit sha)"
        )
    return _check_local_artifact(folder, inside=root), commit


# -- push -----------------------------------------------------------------------------


def _front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Split a model card into its YAML front matter (as a dict) and its body."""
    if not text.startswith("---"):
        return {}, text
    parts = text.split("\n---", 1)
    if len(parts) != 2:
        return {}, text
    try:
        import yaml

        meta = yaml.safe_load(parts[0][3:]) or {}
    except Exception:  # a broken front matter is replaced, not fatal
        meta = {}
    body = parts[1].split("\n", 1)[1] if "\n" in parts[1] else ""
    return (meta if isinstance(meta, dict) else {}), body.lstrip("\n")


def _metric_value(metric: Any) -> float | int | None:
    value = metric.get("value") if isinstance(metric, Mapping) else metric
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None


def _yaml_value(value: Any) -> str:
    """A YAML value: a plain scalar for simple strings, else JSON (valid YAML flow style)."""
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9._-]*", value):
        return value
    return json.dumps(value)


def model_card(
    info: ArtifactInfo,
    repo_id: str,
    *,
    metrics: Mapping[str, Any] | None = None,
    license: str | None = None,
    body: str = "",
    has_samples: bool = True,
) -> str:
    """The README.md pushed with an artifact: Hub YAML front matter, then ``body``.

    The front matter carries ``library_name: gankit``, tags, the pipeline tag
    (image generators only: :func:`gankit.modelcard.pipeline_tag`), the dataset,
    the license (only when ``license`` is given: gankit chooses none), the metric
    names and their values as ``model-index`` results (the Hub's schema for
    evaluation results; their task is the pipeline tag, or ``other`` without one).
    Values are written as JSON, which is valid YAML.
    """
    dataset = str(info.raw.get("dataset") or "unknown")
    task = pipeline_tag(info.data_shape)
    metrics = dict(metrics if metrics is not None else info.raw.get("metrics") or {})
    tags = ["gan", "gankit", info.architecture] + (["conditional"] if info.num_classes else [])
    results = [
        {"type": name, "name": name, "value": value}
        for name, m in metrics.items()
        if (value := _metric_value(m)) is not None
    ]
    meta: dict[str, Any] = {"library_name": "gankit", "tags": tags}
    if task is not None:
        meta["pipeline_tag"] = task
    meta["datasets"] = [dataset]
    if license:
        meta["license"] = license
    if results:
        meta["metrics"] = [r["name"] for r in results]
        meta["model-index"] = [
            {
                "name": repo_id.split("/")[1],
                "results": [
                    {
                        "task": {"type": task or "other"},
                        "dataset": {"name": dataset, "type": dataset},
                        "metrics": results,
                    }
                ],
            }
        ]
    lines = ["---"] + [f"{k}: {_yaml_value(v)}" for k, v in meta.items()] + ["---", ""]
    if not body.strip():
        body = (
            f"# {info.architecture} trained on {dataset}\n\n"
            f"A `{info.architecture}` generator made with gankit.\n\n"
            "## Use\n\n```python\nimport gankit\n"
            f'g = gankit.load_generator("hf://{repo_id}")\n'
            f"{sample_line(info.data_shape)}\n```\n"
        )
    body = body.replace("PATH_OR_ZOO_NAME", f"hf://{repo_id}")
    if has_samples and f"]({SAMPLES_NAME})" not in body:
        heading, _, rest = body.partition("\n")
        body = f"{heading}\n\n![samples]({SAMPLES_NAME})\n{rest}"
    return "\n".join(lines) + with_metrics(body, metrics)


def with_metrics(body: str, metrics: Mapping[str, Any]) -> str:
    """A model card body whose ``## Metrics`` section is a table of ``metrics``.

    Each row shows the value and every other field of the metric (extractor, n,
    reference, command...) as "how measured". The trainer's section (which may
    say that no metrics were computed) is replaced; a card without one gets it
    appended. Without metrics the body is returned unchanged.
    """
    if not metrics:
        return body
    table = "## Metrics\n\n" + "\n".join(metrics_table(metrics)) + "\n"
    if "## Metrics" in body:
        return re.sub(r"## Metrics\n.*?(?=\n## |\Z)", lambda _: table, body, flags=re.S)
    return body.rstrip("\n") + "\n\n" + table


def _artifact_dir(artifact: str | Path) -> Path:
    """The artifact directory ``artifact`` names (itself, or a run's ``artifact/``), checked."""
    directory = run_artifact_dir(Path(artifact))
    if (directory / "artifact" / CONFIG_NAME).is_file():  # also without run.json
        directory = directory / "artifact"
    if directory.is_file():
        if directory.suffix in PICKLE_SUFFIXES:
            raise refuse_pickle(directory)
        directory = directory.parent
    if not directory.is_dir():
        raise ArtifactError(f"artifact {str(artifact)!r} does not exist")
    read_info(directory)
    if not (directory / WEIGHTS_NAME).is_file():
        pickles = sorted(p for p in directory.iterdir() if p.suffix in PICKLE_SUFFIXES)
        if pickles:
            raise refuse_pickle(pickles[0])
        raise ArtifactError(f"artifact {str(directory)!r} has no {WEIGHTS_NAME}")
    return directory


def push(
    artifact: str | Path,
    repo_id: str,
    *,
    revision: str | None = None,
    private: bool = False,
    message: str | None = None,
    token: str | None = None,
    endpoint: str | None = None,
    metrics: Mapping[str, Any] | None = None,
    license: str | None = None,
) -> str:
    """Upload an artifact (config, weights, model card, sample grid); return the commit sha.

    The repository is created if needed (``private`` applies then), ``revision``
    names a branch (created from ``main`` if missing). The token is
    huggingface_hub's usual one (``HF_TOKEN``, then ``hf auth login``'s file)
    unless ``token`` is given. ``metrics`` (default: the artifact's training
    metrics) and ``license`` (a Hub license id such as ``mit``) go into the model
    card, whose front matter is written afresh from the artifact's config: without
    ``license`` it has no license line, even when the artifact's own README.md has
    one (older gankit versions wrote ``apache-2.0`` into every card, chosen by no
    one).
    """
    from huggingface_hub import CommitOperationAdd, HfApi, get_token

    directory = _artifact_dir(artifact)
    check_repo_id(repo_id)
    if revision is not None:
        check_revision(revision)
    url = _endpoint(endpoint)
    if is_offline():
        raise HubError(f"cannot push to {repo_id}: HF_HUB_OFFLINE=1 is set; unset it to push")
    token = token or get_token()
    if not token:
        raise HubError(_NO_TOKEN)
    info = read_info(directory)
    card_path = directory / CARD_NAME
    _, body = _front_matter(card_path.read_text()) if card_path.is_file() else ({}, "")
    card = model_card(
        info,
        repo_id,
        metrics=metrics,
        license=license,
        body=body,
        has_samples=(directory / SAMPLES_NAME).is_file(),
    )
    operations = [
        CommitOperationAdd(path_in_repo=CONFIG_NAME, path_or_fileobj=str(directory / CONFIG_NAME)),
        CommitOperationAdd(
            path_in_repo=WEIGHTS_NAME, path_or_fileobj=str(directory / WEIGHTS_NAME)
        ),
        CommitOperationAdd(path_in_repo=CARD_NAME, path_or_fileobj=card.encode()),
    ]
    if (directory / SAMPLES_NAME).is_file():
        operations.append(
            CommitOperationAdd(
                path_in_repo=SAMPLES_NAME, path_or_fileobj=str(directory / SAMPLES_NAME)
            )
        )
    api = HfApi(endpoint=url, token=token)
    where = f"{repo_id}@{revision}" if revision else repo_id
    with _hub_errors("push to", where, url):
        api.create_repo(repo_id, private=True if private else None, exist_ok=True)
        if revision and revision != "main":
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        commit = api.create_commit(
            repo_id,
            operations,
            commit_message=message or f"Upload gankit {info.architecture} generator",
            revision=revision,
        )
    logger.debug("pushed %s to %s: commit %s", directory, where, commit.oid)
    return str(commit.oid)


# -- the zoo catalogue ------------------------------------------------------------------


@dataclass
class ZooEntry:
    """One pretrained generator of the zoo catalogue."""

    name: str
    repo_id: str
    revision: str
    sha256: str
    architecture: str
    dataset: str
    resolution: str
    license: str | None  # a Hub license id; None: none stated (gankit never picks one)
    artifact: str
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ZooEntry:
        """Build from a catalogue record, with a clear error for a bad one."""
        try:
            entry = cls(**{k: raw[k] for k in raw if k in cls.__dataclass_fields__})
        except TypeError as exc:
            raise HubError(f"bad zoo catalogue entry {raw.get('name')!r}: {exc}") from None
        if entry.revision and not _COMMIT.match(entry.revision):
            raise HubError(f"zoo entry {entry.name!r}: revision must be a 40-hex commit sha")
        return entry

    def to_json(self) -> dict[str, Any]:
        """The catalogue record."""
        return asdict(self)


def zoo_dir() -> Path:
    """The directory of the zoo catalogue and its shipped artifacts.

    ``GANKIT_ZOO_DIR`` overrides it; otherwise the installed ``gankit_zoo``
    package (package data of a regular install), or ``zoo/gankit_zoo`` next to
    the ``gankit`` source tree (an editable install).
    """
    env = os.environ.get(ZOO_ENV)
    if env:
        return Path(env)
    spec = importlib.util.find_spec("gankit_zoo")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    source = Path(__file__).resolve().parents[1] / "zoo" / "gankit_zoo"
    if (source / CATALOGUE_NAME).is_file():
        return source
    raise HubError(
        "the zoo catalogue is not installed: reinstall gankit, or set GANKIT_ZOO_DIR to a "
        "directory holding catalogue.json"
    )


def catalogue_path(catalogue: str | Path | None = None) -> Path:
    """The catalogue file: ``catalogue`` if given, else the zoo directory's."""
    return Path(catalogue) if catalogue is not None else zoo_dir() / CATALOGUE_NAME


def load_catalogue(catalogue: str | Path | None = None) -> dict[str, ZooEntry]:
    """Read the catalogue; returns entries by name."""
    path = catalogue_path(catalogue)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise HubError(f"zoo catalogue {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise HubError(f"zoo catalogue {path} is not valid JSON: {exc}") from None
    if raw.get("format") != CATALOGUE_FORMAT:
        raise HubError(f"{path} is not a gankit zoo catalogue (format != {CATALOGUE_FORMAT})")
    entries = [ZooEntry.from_json(e) for e in raw.get("entries", [])]
    return {e.name: e for e in entries}


def save_catalogue(entries: Mapping[str, ZooEntry], catalogue: str | Path | None = None) -> Path:
    """Write the catalogue atomically, entries sorted by name."""
    path = catalogue_path(catalogue)
    raw = {
        "format": CATALOGUE_FORMAT,
        "format_version": 1,
        "about": "Official pretrained gankit generators; see docs/zoo.md. "
        "Add an entry with `gankit zoo add`, publish with `gankit zoo publish`.",
        "entries": [entries[name].to_json() for name in sorted(entries)],
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(raw, indent=2) + "\n")
    follow_umask(Path(tmp))  # mkstemp makes it 0o600
    os.replace(tmp, path)
    return path


def zoo_entry(name: str, catalogue: str | Path | None = None) -> ZooEntry:
    """The catalogue entry ``name``, or an error listing the known names."""
    entries = load_catalogue(catalogue)
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none"
        raise HubError(f"no zoo entry named {name!r}; known: {known} (see `gankit zoo list`)")
    return entries[name]


def shipped_artifact(entry: ZooEntry, catalogue: str | Path | None = None) -> Path | None:
    """The artifact directory shipped for ``entry``, if it is present."""
    if not entry.artifact:
        return None
    base = catalogue_path(catalogue).parent
    path = (base / entry.artifact).resolve()
    if not path.is_relative_to(base.resolve()):
        raise HubError(f"zoo entry {entry.name!r}: artifact path {entry.artifact!r} leaves the zoo")
    return path if (path / WEIGHTS_NAME).is_file() else None


def _catalogue_sha256(repo_id: str, commit: str) -> str | None:
    """The sha256 the catalogue pins for ``repo_id`` at ``commit``, if it pins that commit."""
    try:
        entries = load_catalogue()
    except HubError:
        return None
    for entry in entries.values():
        if entry.repo_id == repo_id and entry.revision == commit:
            logger.debug(
                "zoo entry %r pins %s@%s: checking its sha256", entry.name, repo_id, commit
            )
            return entry.sha256
    return None


def resolve_zoo(
    name: str,
    *,
    local_files_only: bool = False,
    cache_dir: str | Path | None = None,
    endpoint: str | None = None,
    catalogue: str | Path | None = None,
) -> Path:
    """The verified local artifact directory of zoo entry ``name`` (see the module docs)."""
    entry = zoo_entry(name, catalogue)
    revision = entry.revision or "main"
    snapshot = cached_snapshot(entry.repo_id, revision, cache_dir)
    if snapshot is not None:
        logger.debug("zoo:%s: using the huggingface_hub cache %s", name, snapshot)
        _check_local_artifact(snapshot, inside=_cache_root(cache_dir))
        verify_sha256(snapshot / WEIGHTS_NAME, entry.sha256, f"zoo:{name} (cached)")
        return snapshot
    logger.debug(
        "zoo:%s: %s@%s is not in the huggingface_hub cache %s",
        name,
        entry.repo_id,
        revision,
        _cache_root(cache_dir),
    )
    shipped = shipped_artifact(entry, catalogue)
    if shipped is not None:
        logger.debug("zoo:%s: using the artifact shipped with gankit, %s", name, shipped)
        _check_local_artifact(shipped)
        verify_sha256(shipped / WEIGHTS_NAME, entry.sha256, f"zoo:{name} (shipped)")
        return shipped
    logger.debug("zoo:%s: no shipped artifact (%r)", name, entry.artifact)
    if local_files_only or is_offline():
        why = "local_files_only" if local_files_only else "HF_HUB_OFFLINE=1"
        raise HubError(
            f"zoo:{name} is neither in the huggingface_hub cache nor shipped with gankit, and "
            f"downloads are off ({why}): run `gankit zoo pull {name}` with network access first"
        )
    logger.debug("zoo:%s: downloading %s@%s from the Hub", name, entry.repo_id, revision)
    return zoo_pull(name, cache_dir=cache_dir, endpoint=endpoint, catalogue=catalogue)


def zoo_pull(
    name: str,
    *,
    cache_dir: str | Path | None = None,
    endpoint: str | None = None,
    catalogue: str | Path | None = None,
) -> Path:
    """Download zoo entry ``name`` from the Hub at its pinned revision and verify it."""
    entry = zoo_entry(name, catalogue)
    folder, commit = _download(
        entry.repo_id,
        entry.revision or None,
        cache_dir=cache_dir,
        endpoint=endpoint,
        pull_command=f"gankit zoo pull {name}",
    )
    verify_sha256(folder / WEIGHTS_NAME, entry.sha256, f"zoo:{name} ({entry.repo_id}@{commit})")
    return folder


def _resolution(info: ArtifactInfo) -> str:
    shape = info.data_shape
    if len(shape) == 3:
        return f"{shape[1]}x{shape[2]}"
    return "x".join(str(s) for s in shape) + (" (points)" if len(shape) == 1 else "")


def _training_summary(info: ArtifactInfo) -> dict[str, Any]:
    raw = info.raw.get("training") or {}
    cfg = raw.get("train_config") or {}
    out = {k: raw[k] for k in ("steps", "images_seen", "weights", "loss") if k in raw}
    return out | {k: cfg[k] for k in ("batch_size", "seed") if k in cfg}


def zoo_add(
    name: str,
    artifact: str | Path,
    *,
    repo_id: str,
    architecture: str | None = None,
    dataset: str | None = None,
    resolution: str | None = None,
    license: str | None = None,
    metrics: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    description: str = "",
    catalogue: str | Path | None = None,
    replace: bool = False,
) -> ZooEntry:
    """Add (or with ``replace``, update) a zoo entry: copy the artifact, hash it, record it.

    The artifact is first loaded strictly (so a broken one never enters the zoo),
    then copied to ``<zoo>/NAME/``. ``architecture`` and ``dataset`` default to the
    artifact's own and must agree with it when given; ``metrics`` default to the
    artifact's training metrics. ``license`` (a Hub license id) is recorded as given:
    without one the entry, and the model card ``zoo publish`` writes, state none.
    The revision stays empty until ``zoo publish``.
    """
    import gankit

    if not _ENTRY_NAME.match(name):
        raise HubError(f"zoo entry name {name!r}: use lowercase letters, digits, '-', '_', '.'")
    check_repo_id(repo_id)
    path = catalogue_path(catalogue)
    entries = load_catalogue(path) if path.is_file() else {}
    if name in entries and not replace:
        raise HubError(f"zoo entry {name!r} exists; pass --replace to update it")
    source = _artifact_dir(artifact)
    info = read_info(source)
    if architecture and architecture != info.architecture:
        raise HubError(f"--arch {architecture!r} but the artifact is a {info.architecture!r}")
    recorded = info.raw.get("dataset")
    if dataset and recorded and dataset != recorded:
        raise HubError(f"--dataset {dataset!r} but the artifact was trained on {recorded!r}")
    dataset = dataset or recorded
    if not dataset:
        raise HubError("the artifact does not record its dataset; pass --dataset")
    gankit.load_generator(str(source))  # strict load: refuse a broken artifact now
    target = path.parent / name
    tmp = make_temp_dir(path.parent, prefix=f".{name}.")  # the umask's modes, like its files
    try:
        for file in ARTIFACT_FILES:
            if (source / file).is_file():
                shutil.copyfile(source / file, tmp / file)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    entry = ZooEntry(
        name=name,
        repo_id=repo_id,
        revision="",
        sha256=sha256_file(target / WEIGHTS_NAME),
        architecture=info.architecture,
        dataset=dataset,
        resolution=resolution or _resolution(info),
        license=license,
        artifact=name,
        metrics=dict(metrics if metrics is not None else info.raw.get("metrics") or {}),
        training=_training_summary(info) | dict(training or {}),
        description=description,
    )
    card = target / CARD_NAME
    if card.is_file():  # the shipped card shows the catalogue's metrics, as the Hub's will
        card.write_text(with_metrics(card.read_text(encoding="utf-8"), entry.metrics))
    entries[name] = entry
    save_catalogue(entries, path)
    return entry


def zoo_publish(
    *,
    names: Iterable[str] | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    catalogue: str | Path | None = None,
    private: bool = False,
) -> dict[str, str]:
    """Push every (or the named) shipped zoo artifact and record the commit shas.

    Each artifact's sha256 is checked against the catalogue before it is pushed;
    the catalogue is rewritten after each push, so a failure keeps what succeeded.
    Returns ``{name: commit sha}``.
    """
    path = catalogue_path(catalogue)
    entries = load_catalogue(path)
    selected = list(names) if names else sorted(entries)
    done: dict[str, str] = {}
    for name in selected:
        if name not in entries:
            raise HubError(f"no zoo entry named {name!r}")
        entry = entries[name]
        shipped = shipped_artifact(entry, path)
        if shipped is None:
            raise HubError(f"zoo entry {name!r} has no shipped artifact to publish")
        verify_sha256(shipped / WEIGHTS_NAME, entry.sha256, f"zoo:{name} (shipped)")
        commit = push(
            shipped,
            entry.repo_id,
            message=f"gankit zoo: {name}",
            token=token,
            endpoint=endpoint,
            metrics=entry.metrics,
            license=entry.license,
            private=private,
        )
        entry.revision = commit
        save_catalogue(entries, path)
        done[name] = commit
    return done


# -- the entry point of gankit.load_generator --------------------------------------------


def resolve(text: str, *, local_files_only: bool = False) -> Path:
    """Resolve ``zoo:NAME`` or ``hf://OWNER/NAME[@REV]`` to a verified local artifact directory."""
    if text.startswith("zoo:"):
        return resolve_zoo(text[4:], local_files_only=local_files_only)
    if text.startswith("hf://"):
        return pull(text, local_files_only=local_files_only)
    raise HubError(f"{text!r} is neither zoo:NAME nor hf://OWNER/NAME[@REVISION]")
