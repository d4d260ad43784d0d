"""Hub push/pull against a local Hub-compatible endpoint, with the real huggingface_hub client."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

import gankit
from gankit import artifacts, hub
from gankit.errors import ArtifactError, HubError, IntegrityError

from hub_server import READ_TOKEN, HubEnv, hub_environment

ZOO_ARTIFACT = Path(__file__).resolve().parents[1] / "zoo" / "gankit_zoo" / "dcgan-fashion-mnist"
POINTS_ARTIFACT = ZOO_ARTIFACT.parent / "mlp-r1-grid25"  # a 2-D points generator
FILES = ("config.json", "model.safetensors", "samples.png")


def _artifact(tmp_path: Path, name: str, scale: float | None = None) -> Path:
    """A copy of the zoo's small DCGAN artifact; ``scale`` changes its weights."""
    out = tmp_path / name
    shutil.copytree(ZOO_ARTIFACT, out)
    if scale is not None:
        state = load_file(str(out / "model.safetensors"))
        state = {k: v * scale if v.is_floating_point() else v for k, v in state.items()}
        save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out


@pytest.fixture
def hub_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubEnv]:
    """The local Hub endpoint, with huggingface_hub pointed at it (see hub_server)."""
    yield from hub_environment(tmp_path, monkeypatch)


def _no_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any attempt to read weights fail the test."""

    def forbidden(path: Path) -> dict[str, torch.Tensor]:
        raise AssertionError(f"weights were read from {path}")

    monkeypatch.setattr(artifacts, "load_weights", forbidden)


def test_push_then_pull_round_trip(hub_env: HubEnv, tmp_path: Path) -> None:
    art = _artifact(tmp_path, "art")
    sha = hub.push(art, "alice/dcgan", message="first")
    assert sha == hub_env.server.repos["alice/dcgan"].branches["main"]
    assert len(sha) == 40

    local = hub.pull("alice/dcgan")
    assert local.name == sha and local.is_relative_to(hub_env.cache)
    for name in FILES:
        assert (local / name).read_bytes() == (art / name).read_bytes(), name
    # only the artifact files were fetched, each through the "regular" (inline) upload path
    assert sorted(p.name for p in local.iterdir()) == sorted((*FILES, "README.md"))
    paths = [p for _, p in hub_env.server.requests]
    assert "/api/models/alice/dcgan/preupload/main" in paths
    assert not any("lfs" in p or "xet" in p for p in paths)

    card = (local / "README.md").read_text()
    meta = yaml.safe_load(card.split("---")[1])
    assert meta["library_name"] == "gankit"
    assert meta["tags"] == ["gan", "gankit", "dcgan"]
    assert meta["datasets"] == ["fashion-mnist"]
    assert meta["pipeline_tag"] == "unconditional-image-generation"
    # no license was given: none is stated, not even the one in the artifact's own card
    assert "license: apache-2.0" in (art / "README.md").read_text()
    assert "license" not in meta
    assert "![samples](samples.png)" in card
    assert 'load_generator("hf://alice/dcgan")' in card

    g = gankit.load_generator("hf://alice/dcgan")
    assert g.sample(2, seed=0).shape == (2, 1, 32, 32)
    # pushing the same files again makes no new commit
    assert hub.push(art, "alice/dcgan") == sha


def test_card_carries_metrics(hub_env: HubEnv, tmp_path: Path) -> None:
    metrics = {"frechet_distance": {"value": 12.5, "command": "python measure.py"}}
    hub.push(_artifact(tmp_path, "art"), "alice/m", metrics=metrics, license="mit")
    card = hub_env.server.file_at("alice/m", "main", "README.md").decode()
    meta = yaml.safe_load(card.split("---")[1])
    assert meta["license"] == "mit" and meta["metrics"] == ["frechet_distance"]
    result = meta["model-index"][0]["results"][0]
    assert result["metrics"][0] == {
        "type": "frechet_distance",
        "name": "frechet_distance",
        "value": 12.5,
    }
    assert "| frechet_distance | 12.5 | command: python measure.py |" in card
    assert "No metrics were computed" not in card


def test_card_of_a_2d_points_generator(hub_env: HubEnv, tmp_path: Path) -> None:
    """No image pipeline tag for 2-D points; a license only when one is given."""
    art = tmp_path / "points"
    shutil.copytree(POINTS_ARTIFACT, art)
    # A card written before 2-D data had its own task, as the shipped one once was:
    # push writes a new card, which must not carry the old image tag over.
    readme = art / "README.md"
    assert "pipeline_tag" not in readme.read_text()  # the shipped card no longer has it
    readme.write_text(
        readme.read_text().replace(
            "library_name: gankit\n",
            "library_name: gankit\npipeline_tag: unconditional-image-generation\n",
            1,
        )
    )
    assert "pipeline_tag: unconditional-image-generation" in readme.read_text()
    metrics = {"modes_covered": {"value": 25, "n": 2500}}
    hub.push(art, "alice/points", metrics=metrics)
    card = hub_env.server.file_at("alice/points", "main", "README.md").decode()
    meta = yaml.safe_load(card.split("---")[1])
    assert "pipeline_tag" not in meta and "license" not in meta
    assert "image" not in card.split("---")[1]
    assert meta["tags"] == ["gan", "gankit", "wgan-gp"] and meta["datasets"] == ["grid25"]
    result = meta["model-index"][0]["results"][0]
    assert result["task"] == {"type": "other"}  # the Hub's task for what fits no pipeline tag
    assert "[16, 2]" in card  # the usage line samples points
    hub.push(art, "alice/points", metrics=metrics, license="cc-by-4.0")
    card = hub_env.server.file_at("alice/points", "main", "README.md").decode()
    assert yaml.safe_load(card.split("---")[1])["license"] == "cc-by-4.0"


def test_revision_pinning(hub_env: HubEnv, tmp_path: Path) -> None:
    first, second, third = (
        _artifact(tmp_path, n, s) for n, s in (("a", None), ("b", 0.5), ("c", 2.0))
    )
    sha1 = hub.push(first, "alice/dcgan")
    sha2 = hub.push(second, "alice/dcgan")
    sha3 = hub.push(third, "alice/dcgan", revision="dev")
    assert len({sha1, sha2, sha3}) == 3

    def weights(folder: Path) -> bytes:
        return (folder / "model.safetensors").read_bytes()

    assert weights(hub.pull(f"alice/dcgan@{sha1}")) == weights(first)
    assert weights(hub.pull("alice/dcgan")) == weights(second)
    assert weights(hub.pull("alice/dcgan@dev")) == weights(third)
    assert hub.pull("alice/dcgan", revision=sha1[:12]).name == sha1  # short sha resolves

    g1 = gankit.load_generator(f"hf://alice/dcgan@{sha1}")
    expected = load_file(str(first / "model.safetensors"))
    for key, value in g1.generator.state_dict().items():
        assert torch.equal(value, expected[key]), key
    with pytest.raises(HubError, match="no such revision"):
        hub.pull("alice/dcgan@does-not-exist")
    with pytest.raises(HubError, match="not found"):
        hub.pull("alice/missing")


def test_tampered_download_fails_sha256_and_nothing_is_loaded(
    hub_env: HubEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    art = _artifact(tmp_path, "art")
    sha = hub.push(art, "alice/dcgan")
    expected = hub.sha256_file(art / "model.safetensors")
    tampered = bytearray((art / "model.safetensors").read_bytes())
    tampered[-1] ^= 0xFF
    hub_env.server.tamper("alice/dcgan", sha, "model.safetensors", bytes(tampered))

    _no_load(monkeypatch)
    with pytest.raises(IntegrityError, match="sha256 mismatch") as err:
        hub.pull(f"alice/dcgan@{sha}", expected_sha256=expected)
    assert "Nothing was loaded" in str(err.value) and expected in str(err.value)

    # the same check through the catalogue, when it pins this repository at this commit
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    entry = hub.ZooEntry(
        name="alice-dcgan",
        repo_id="alice/dcgan",
        revision=sha,
        sha256=expected,
        architecture="dcgan",
        dataset="fashion-mnist",
        resolution="32x32",
        license="apache-2.0",
        artifact="",
    )
    hub.save_catalogue({entry.name: entry}, zoo / "catalogue.json")
    monkeypatch.setenv("GANKIT_ZOO_DIR", str(zoo))
    with pytest.raises(IntegrityError, match="Nothing was loaded"):
        gankit.load_generator(f"hf://alice/dcgan@{sha}")
    with pytest.raises(IntegrityError, match="Nothing was loaded"):
        gankit.load_generator("zoo:alice-dcgan")


def test_offline_mode_serves_the_cache(
    hub_env: HubEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    art = _artifact(tmp_path, "art")
    sha1 = hub.push(art, "alice/dcgan")
    hub.push(_artifact(tmp_path, "b", 0.5), "alice/dcgan")
    online = hub.pull("alice/dcgan")
    pinned = hub.pull(f"alice/dcgan@{sha1}")

    # local_files_only works without any request (the server is still up but unused)
    count = len(hub_env.server.requests)
    assert hub.pull("alice/dcgan", local_files_only=True) == online
    assert len(hub_env.server.requests) == count

    hub_env.server.stop()  # unreachable: like huggingface_hub, fall back to the cache
    assert hub.pull("alice/dcgan") == online
    with pytest.raises(HubError, match="the Hub is unreachable"):
        hub.pull("alice/other")

    hub_env.go_offline(monkeypatch)  # and now HF_HUB_OFFLINE=1 as well
    assert hub.pull("alice/dcgan") == online
    assert hub.pull(f"alice/dcgan@{sha1}") == pinned
    assert (pinned / "model.safetensors").read_bytes() == (art / "model.safetensors").read_bytes()
    assert gankit.load_generator(f"hf://alice/dcgan@{sha1}").sample(1).shape == (1, 1, 32, 32)
    with pytest.raises(HubError, match="not in the huggingface_hub cache"):
        hub.pull("alice/other")
    with pytest.raises(HubError, match="HF_HUB_OFFLINE"):
        hub.push(art, "alice/dcgan")

    # the same from a fresh process, with HF_HUB_OFFLINE=1 read by huggingface_hub at import
    r = subprocess.run(
        [sys.executable, "-m", "gankit", "pull", "alice/dcgan"],
        env=hub_env.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(online)


def test_pickle_only_repository_is_refused(hub_env: HubEnv, tmp_path: Path) -> None:
    config = (ZOO_ARTIFACT / "config.json").read_bytes()
    hub_env.server.seed("mallory/pickled", {"config.json": config, "pytorch_model.bin": b"\x80x"})
    with pytest.raises(HubError, match="pickle") as err:
        hub.pull("mallory/pickled")
    assert "arbitrary code" in str(err.value) and "Nothing was downloaded" in str(err.value)
    assert not (hub_env.cache / "models--mallory--pickled" / "snapshots").exists()
    with pytest.raises(HubError, match="pickle"):
        gankit.load_generator("hf://mallory/pickled")


@pytest.mark.parametrize(
    "name", ["../evil.json", "a/../../evil", "/etc/passwd", "sub\\evil.json", "C:evil"]
)
def test_path_traversal_names_are_refused(hub_env: HubEnv, name: str) -> None:
    files = {n: (ZOO_ARTIFACT / n).read_bytes() for n in ("config.json", "model.safetensors")}
    hub_env.server.seed("mallory/traversal", {**files, name: b"x"})
    with pytest.raises(HubError, match="path traversal"):
        hub.pull("mallory/traversal")
    assert not (hub_env.cache / "models--mallory--traversal" / "snapshots").exists()


def test_unsafe_names_and_specs() -> None:
    assert hub.unsafe_filename("model.safetensors") is None
    assert hub.unsafe_filename("dir/file.json") is None
    for bad in ("..", "../x", "x/..", "/abs", "a\\b", "", "D:x"):
        assert hub.unsafe_filename(bad) is not None, bad
    assert hub.parse_repo_spec("hf://alice/dcgan@v1") == ("alice/dcgan", "v1")
    assert hub.parse_repo_spec("alice/dcgan") == ("alice/dcgan", None)
    for bad in ("alice", "alice/../x", "a/b/c", "alice/dcgan@", "-x/y", "a--b/c"):
        with pytest.raises(HubError):
            hub.parse_repo_spec(bad)
    assert hub.parse_repo_spec("alice/dcgan@refs/pr/1") == ("alice/dcgan", "refs/pr/1")
    assert hub.parse_repo_spec("alice/dcgan@v1.0_rc-2") == ("alice/dcgan", "v1.0_rc-2")


@pytest.mark.parametrize(
    ("revision", "why"),
    [
        ("v1@v2", "'@'"),
        ("main:x", "':'"),
        ("%2e%2e", "'%'"),
        ("a~1", "'~'"),
        ("a^", "'^'"),
        ("a..b", "'..'"),
        ("ma in", "whitespace or a control character"),
        ("a\x01", "whitespace or a control character"),
        ("-x", "starts with '-'"),
        ("x.lock", "ends with '.lock'"),
    ],
)
def test_git_invalid_revisions_are_refused_before_any_request(
    hub_env: HubEnv, revision: str, why: str
) -> None:
    spec = f"hf://alice/dcgan@{revision}"
    with pytest.raises(HubError) as err:
        hub.parse_repo_spec(spec)
    message = str(err.value)
    assert message.startswith(f"revision {revision!r} in {spec!r} is not a valid git revision")
    assert why in message and "give a branch, tag or commit sha" in message
    with pytest.raises(HubError, match="not a valid git revision"):
        gankit.load_generator(spec)
    with pytest.raises(HubError, match="not a valid git revision"):
        hub.pull("alice/dcgan", revision=revision)
    assert not hub_env.server.requests  # nothing was sent to the endpoint


def test_pull_of_a_zoo_name_points_to_zoo_pull(capsys: pytest.CaptureFixture[str]) -> None:
    from typer.testing import CliRunner

    from gankit.cli import app, main

    with pytest.raises(SystemExit) as exit_:
        main(["pull", "zoo:dcgan-fashion-mnist"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "error: 'zoo:dcgan-fashion-mnist' is a zoo entry, not a Hub repository: download it "
        "with `gankit zoo pull dcgan-fashion-mnist` (at its pinned revision, sha256-checked)"
    )
    result = CliRunner().invoke(app, ["pull", "--help"], env={"COLUMNS": "250"})
    assert "OWNER/NAME or OWNER/NAME@REVISION (also hf://OWNER/NAME@REVISION)" in result.output
    assert "`gankit zoo pull NAME`" in result.output


def test_missing_token_gives_one_clear_line(
    hub_env: HubEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from gankit.cli import main

    monkeypatch.delenv("HF_TOKEN")
    art = _artifact(tmp_path, "art")
    with pytest.raises(
        HubError, match="no Hugging Face token: set HF_TOKEN or run `hf auth login`"
    ):
        hub.push(art, "alice/dcgan")
    with pytest.raises(SystemExit) as exit_:
        main(["push", str(art), "--repo", "alice/dcgan"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no Hugging Face token") and "\n" not in err
    assert "alice/dcgan" not in hub_env.server.repos


def test_refused_upload_gives_one_clear_line(
    hub_env: HubEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    art = _artifact(tmp_path, "art")
    hub.push(art, "alice/dcgan")
    monkeypatch.setenv("HF_TOKEN", READ_TOKEN)
    with pytest.raises(HubError, match=r"refused to push to alice/dcgan: HTTP 403") as err:
        hub.push(_artifact(tmp_path, "b", 0.5), "alice/dcgan")
    assert "\n" not in str(err.value)
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_token")
    with pytest.raises(HubError, match="HTTP 401"):
        hub.push(art, "alice/new")


def test_push_checks_the_artifact(hub_env: HubEnv, tmp_path: Path) -> None:
    art = _artifact(tmp_path, "art")
    (art / "model.safetensors").rename(art / "model.pt")
    with pytest.raises(ArtifactError, match="pickle"):
        hub.push(art, "alice/dcgan")
    with pytest.raises(ArtifactError, match="does not exist"):
        hub.push(tmp_path / "missing", "alice/dcgan")
    with pytest.raises(HubError, match="not a Hub repository id"):
        hub.push(_artifact(tmp_path, "ok"), "not-a-repo")
    assert not hub_env.server.repos


def test_cli_push_and_pull(hub_env: HubEnv, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gankit.cli import app

    art = _artifact(tmp_path, "art")
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["push", str(art), "--repo", "bob/gen", "--private", "--message", "hello"]
        + ["--license", "mit"],
    )
    assert result.exit_code == 0, result.output
    sha = result.output.strip()
    assert sha == hub_env.server.repos["bob/gen"].branches["main"]
    assert hub_env.server.repos["bob/gen"].private
    card = hub_env.server.file_at("bob/gen", sha, "README.md").decode()
    assert yaml.safe_load(card.split("---")[1])["license"] == "mit"
    result = runner.invoke(app, ["pull", f"bob/gen@{sha}"])
    assert result.exit_code == 0, result.output
    assert Path(result.stdout.strip()).name == sha
