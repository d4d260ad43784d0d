"""The zoo catalogue: listing, offline loading with sha256 checks, resolution order, publish."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import gankit
from gankit import artifacts, hub
from gankit.cli import app
from gankit.errors import ArtifactError, GankitError, HubError, IntegrityError

from hub_server import HubEnv, hub_environment, zoo_copy_in

NAME = "dcgan-fashion-mnist"
ZOO = Path(__file__).resolve().parents[1] / "zoo" / "gankit_zoo"


@pytest.fixture
def hub_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubEnv]:
    """The local Hub endpoint, with huggingface_hub pointed at it (see hub_server)."""
    yield from hub_environment(tmp_path, monkeypatch)


@pytest.fixture
def zoo_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp copy of the zoo, used as the zoo (GANKIT_ZOO_DIR)."""
    return zoo_copy_in(tmp_path, monkeypatch)


def test_catalogue_entries_are_complete_and_match_the_shipped_files() -> None:
    entries = hub.load_catalogue(ZOO / "catalogue.json")
    assert NAME in entries
    for entry in entries.values():
        assert hub.check_repo_id(entry.repo_id)
        assert entry.architecture and entry.dataset and entry.resolution and entry.license
        assert entry.revision == "" or len(entry.revision) == 40
        for metric in entry.metrics.values():
            assert "value" in metric and metric.get("command"), metric
        shipped = hub.shipped_artifact(entry, ZOO / "catalogue.json")
        assert shipped is not None and shipped.is_relative_to(ZOO)
        assert hub.sha256_file(shipped / "model.safetensors") == entry.sha256
        info = artifacts.read_info(shipped)
        assert info.architecture == entry.architecture
        assert info.raw["dataset"] == entry.dataset
        # the catalogue's training record is the artifact's own, plus how it was made
        assert entry.training["steps"] == info.raw["training"]["steps"]
        assert entry.training["command"]


def test_the_default_zoo_is_found_without_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GANKIT_ZOO_DIR", raising=False)
    assert (hub.zoo_dir() / "catalogue.json").is_file()


def test_zoo_list_and_info() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["zoo", "list", "--json"])
    assert result.exit_code == 0, result.output
    listed = {e["name"]: e for e in json.loads(result.output)}
    assert listed[NAME]["repo_id"] == "gankit/dcgan-fashion-mnist"
    assert len(listed[NAME]["sha256"]) == 64

    result = runner.invoke(app, ["zoo", "list"])
    assert result.exit_code == 0 and NAME in result.output

    result = runner.invoke(app, ["zoo", "info", NAME])
    assert result.exit_code == 0, result.output
    for text in (
        listed[NAME]["sha256"],
        "frechet_distance",
        "gankit eval zoo:",
        f"zoo:{NAME}",
    ):
        assert text in result.output
    result = runner.invoke(app, ["zoo", "info", NAME, "--json"])
    assert json.loads(result.output)["shipped_path"].endswith(NAME)

    result = runner.invoke(app, ["zoo", "info", "nope"])
    assert isinstance(result.exception, GankitError)
    assert NAME in str(result.exception)  # the message lists the known names


def test_load_zoo_entry_offline_with_sha256_verified(
    hub_env: HubEnv, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    hub_env.go_offline(monkeypatch)
    caplog.set_level(logging.DEBUG, logger="gankit.hub")
    g = gankit.load_generator(f"zoo:{NAME}")
    x = g.sample(4, seed=0)
    assert x.shape == (4, 1, 32, 32) and torch.isfinite(x).all()
    log = caplog.text
    assert "is not in the huggingface_hub cache" in log
    assert "using the artifact shipped with gankit" in log
    assert "sha256 of" in log and "verified" in log


def test_acceptance_offline_load_in_a_fresh_process(tmp_path: Path) -> None:
    """No network at all (sockets refused): load zoo:NAME and time it after `import gankit`."""
    script = (
        "import socket, time\n"
        "def _refuse(*a, **k):\n"
        "    raise OSError('network disabled in this test')\n"
        "socket.socket.connect = _refuse\n"
        "import gankit\n"
        "t = time.perf_counter()\n"
        f"g = gankit.load_generator('zoo:{NAME}'); print(tuple(g.sample(4).shape))\n"
        "print(f'seconds {time.perf_counter() - t:.3f}')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "GANKIT_"))}
    env |= {
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
        "HF_ENDPOINT": "http://127.0.0.1:9",
    }
    r = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert lines[0] == "(4, 1, 32, 32)"
    seconds = float(lines[1].split()[1])
    print(f"zoo:{NAME} offline load + sample after import gankit: {seconds:.2f} s")
    assert seconds < 15  # ~0.4 s of gankit work plus the torch import (slow on a busy CI box)


def test_publish_writes_revisions_and_resolution_order(
    hub_env: HubEnv,
    zoo_copy: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    real = (ZOO / "catalogue.json").read_bytes()
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "zoo",
            "publish",
            "--endpoint",
            hub_env.url,
            "--catalogue",
            str(zoo_copy / "catalogue.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    entry = hub.load_catalogue(zoo_copy / "catalogue.json")[NAME]
    repo = hub_env.server.repos[entry.repo_id]
    assert entry.revision == repo.branches["main"]
    assert f"{NAME}: {entry.revision}" in result.output
    shipped = zoo_copy / NAME
    for name in ("config.json", "model.safetensors", "samples.png"):
        assert (
            hub_env.server.file_at(entry.repo_id, entry.revision, name)
            == (shipped / name).read_bytes()
        )
    card = hub_env.server.file_at(entry.repo_id, entry.revision, "README.md").decode()
    assert "library_name: gankit" in card and "frechet_distance" in card
    assert f"license: {entry.license}" in card  # the catalogue's license is the zoo's choice
    assert (ZOO / "catalogue.json").read_bytes() == real  # the real catalogue is untouched

    caplog.set_level(logging.DEBUG, logger="gankit.hub")
    # 1. nothing cached yet: the shipped files
    assert hub.resolve(f"zoo:{NAME}") == shipped
    assert "shipped with gankit" in caplog.text
    # 2. once pulled at the pinned revision, the huggingface_hub cache comes first
    result = runner.invoke(app, ["zoo", "pull", NAME])
    assert result.exit_code == 0, result.output
    cached = Path(result.stdout.strip())
    assert cached.name == entry.revision and cached.is_relative_to(hub_env.cache)
    caplog.clear()
    assert hub.resolve(f"zoo:{NAME}") == cached
    assert "using the huggingface_hub cache" in caplog.text
    # 3. neither cached nor shipped: the Hub, at the pinned revision
    shutil.rmtree(hub_env.cache)
    shutil.rmtree(shipped)
    caplog.clear()
    assert hub.resolve(f"zoo:{NAME}") == cached
    assert "downloading gankit/dcgan-fashion-mnist@" in caplog.text
    # ... and never the Hub when offline
    shutil.rmtree(hub_env.cache)
    with pytest.raises(HubError, match="neither in the huggingface_hub cache nor shipped"):
        hub.resolve(f"zoo:{NAME}", local_files_only=True)


def test_tampered_cache_or_shipped_file_is_refused_before_loading(
    hub_env: HubEnv, zoo_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.zoo_publish(catalogue=zoo_copy / "catalogue.json")
    cached = hub.zoo_pull(NAME)
    weights = cached / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[100] ^= 0x01
    blob = weights.resolve()
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))

    def forbidden(path: Path) -> dict[str, torch.Tensor]:
        raise AssertionError(f"weights were read from {path}")

    monkeypatch.setattr(artifacts, "load_weights", forbidden)
    with pytest.raises(IntegrityError, match="sha256 mismatch.*Nothing was loaded"):
        gankit.load_generator(f"zoo:{NAME}")
    shutil.rmtree(hub_env.cache)
    shipped = zoo_copy / NAME / "model.safetensors"
    shipped.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="shipped"):
        gankit.load_generator(f"zoo:{NAME}")
    with pytest.raises(IntegrityError):  # nor is a tampered artifact published
        hub.zoo_publish(catalogue=zoo_copy / "catalogue.json")


def test_zoo_add_is_one_step(zoo_copy: Path, tmp_path: Path) -> None:
    catalogue = zoo_copy / "catalogue.json"
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"fd": {"value": 1.5, "command": "python measure.py"}}))
    args = ["zoo", "add", "mini", str(zoo_copy / NAME), "--repo", "gankit/mini"]
    args += ["--metrics", str(metrics), "--train-command", "gankit train ...", "--catalogue"]
    runner = CliRunner()
    result = runner.invoke(app, [*args, str(catalogue)])
    assert result.exit_code == 0, result.output
    entry = hub.load_catalogue(catalogue)["mini"]
    assert entry.sha256 == hub.sha256_file(zoo_copy / NAME / "model.safetensors")
    assert (entry.architecture, entry.dataset, entry.resolution) == (
        "dcgan",
        "fashion-mnist",
        "32x32",
    )
    assert entry.metrics["fd"]["value"] == 1.5 and entry.revision == ""
    card = (zoo_copy / "mini" / "README.md").read_text()  # shows how each metric was measured
    assert "| fd | 1.5 | command: python measure.py |" in card
    steps = artifacts.read_info(zoo_copy / NAME).raw["training"]["steps"]
    assert entry.training["command"] == "gankit train ..." and entry.training["steps"] == steps
    assert sorted(p.name for p in (zoo_copy / "mini").iterdir()) == sorted(hub.ARTIFACT_FILES)
    assert gankit.load_generator("zoo:mini").sample(1).shape == (1, 1, 32, 32)

    result = runner.invoke(app, [*args, str(catalogue)])
    assert isinstance(result.exception, HubError) and "--replace" in str(result.exception)
    result = runner.invoke(app, [*args, str(catalogue), "--replace", "--arch", "wgan-gp"])
    assert isinstance(result.exception, HubError) and "dcgan" in str(result.exception)


def test_zoo_add_help_shows_the_defaults() -> None:
    # rich would swallow "[default: ...]" as markup; the help says "(default: ...)"
    result = CliRunner().invoke(app, ["zoo", "add", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "Architecture (default: the artifact's)." in result.output


def test_unreachable_hub_suggests_zoo_pull(
    hub_env: HubEnv, zoo_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing cached, nothing shipped, the Hub down: `gankit zoo pull NAME`, not `gankit pull`."""
    from gankit.cli import main

    shutil.rmtree(zoo_copy / NAME)  # not shipped
    hub_env.server.stop()  # unreachable
    with pytest.raises(HubError) as err:
        hub.resolve(f"zoo:{NAME}")
    message = str(err.value)
    assert "the Hub is unreachable" in message
    assert f"run `gankit zoo pull {NAME}` with network access first" in message
    assert "HF_ENDPOINT" in message and "gankit pull " not in message
    with pytest.raises(SystemExit) as exit_:
        main(["export", f"zoo:{NAME}", "--out", str(zoo_copy / "g.onnx")])
    assert exit_.value.code == 2
    err_text = capsys.readouterr().err.strip()
    assert err_text.startswith("error: ") and "\n" not in err_text
    assert f"`gankit zoo pull {NAME}`" in err_text


def test_zoo_list_is_readable_at_80_columns() -> None:
    result = CliRunner().invoke(app, ["zoo", "list"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "\u2026" not in result.output  # nothing cut with an ellipsis
    text = result.output
    for entry in hub.load_catalogue(ZOO / "catalogue.json").values():
        assert entry.name in text and entry.dataset in text and entry.architecture in text
    assert "frechet distance 8.232" in text and "classes covered 10/10" in text


@pytest.mark.parametrize("command", ["export", "sample"])
def test_sources_are_resolved_alike_by_export_and_sample(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing path says so; a zoo name needs zoo: (docs/zoo.md) in every command."""
    from gankit.cli import main

    missing = str(tmp_path / "some" / "nonexistent" / "path")
    for source, message in [
        (
            missing,
            f"error: no such file or directory: {missing} (not a zoo name either; "
            "`gankit zoo list` shows those, to be given as zoo:NAME)",
        ),
        (
            NAME,
            f"error: no such file or directory: {NAME}; for the zoo entry of that name, "
            f"give zoo:{NAME}",
        ),
    ]:
        with pytest.raises(SystemExit) as exit_:
            main([command, source, "--out", str(tmp_path / "out.png")])
        assert exit_.value.code == 2
        assert capsys.readouterr().err.strip() == message


def test_python_api_names_the_missing_path_and_the_zoo_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gankit.load_generator gives the commands' message: a zoo name needs zoo:."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ArtifactError) as err:
        gankit.load_generator(NAME)
    assert str(err.value) == (
        f"no such file or directory: {NAME}; for the zoo entry of that name, give zoo:{NAME}"
    )
    assert gankit.load_generator(f"zoo:{NAME}").sample(1).shape == (1, 1, 32, 32)
    missing = str(tmp_path / "runs" / "fm")
    with pytest.raises(ArtifactError) as err:
        gankit.load_generator(Path(missing))
    assert str(err.value) == (
        f"no such file or directory: {missing} (not a zoo name either; `gankit zoo list` "
        "shows those, to be given as zoo:NAME)"
    )


def test_an_existing_path_is_loaded_even_with_a_zoo_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory named like a zoo entry is that directory (the zoo is never consulted)."""
    shutil.copytree(ZOO / NAME, tmp_path / NAME)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GANKIT_ZOO_DIR", str(tmp_path / "no-zoo-here"))
    assert gankit.load_generator(NAME).sample(1).shape == (1, 1, 32, 32)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert gankit.load_generator(f"~/{NAME}").sample(1).shape == (1, 1, 32, 32)


def test_zoo_add_follows_the_umask(zoo_copy: Path) -> None:
    """The entry directory, its files and the rewritten catalogue get the umask's modes."""
    old = os.umask(0o002)
    try:
        hub.zoo_add("mini", zoo_copy / NAME, repo_id="gankit/mini")
    finally:
        os.umask(old)
    entry = zoo_copy / "mini"
    assert entry.stat().st_mode & 0o777 == 0o775
    for path in [*entry.iterdir(), zoo_copy / "catalogue.json"]:
        assert path.stat().st_mode & 0o777 == 0o664, path
