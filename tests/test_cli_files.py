"""Files and sources the CLI is pointed at that are not what it wants: one clear line, exit 2.

A config that is not UTF-8 or is a directory, an ``eval --json`` path that
cannot be written (refused before any metric is computed), a zoo entry added
without a license (none is stated), and ``push`` of a run without an artifact or
of a ``zoo:``/``hf://`` source. One tiny 1-step DCGAN run on digits, trained
through the CLI, is shared by the module.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gankit import hub

from cli_in_process import cli
from hub_server import HubEnv, hub_environment, zoo_copy_in
from tiny_run import TINY_ARGS

ZOO = Path(__file__).resolve().parents[1] / "zoo" / "gankit_zoo"
NAME = "dcgan-fashion-mnist"


def error_line(err: str) -> str:
    """The one ``error: ...`` line of ``err`` (asserting there is no traceback)."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 1-step tiny run (with its artifact)."""
    from gankit.cli import main

    run_dir = tmp_path_factory.mktemp("cli-files") / "run"
    with pytest.raises(SystemExit) as exc:
        main(["train", "--steps", "1", "--out", str(run_dir), *TINY_ARGS])
    assert exc.value.code in (0, None)
    assert (run_dir / "artifact" / "config.json").is_file()
    return run_dir


@pytest.fixture
def run_without_artifact(run: Path, tmp_path: Path) -> Path:
    """A copy of the tiny run whose artifact/ is gone."""
    copy = tmp_path / "bare-run"
    shutil.copytree(run, copy)
    shutil.rmtree(copy / "artifact")
    return copy


@pytest.fixture
def zoo_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp copy of the zoo, used as the zoo (GANKIT_ZOO_DIR)."""
    return zoo_copy_in(tmp_path, monkeypatch)


@pytest.fixture
def hub_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubEnv]:
    """The local Hub endpoint, with huggingface_hub pointed at it (see hub_server)."""
    yield from hub_environment(tmp_path, monkeypatch)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # default outputs land here


# -- 1. train --config: a file that cannot be read as TOML text ---------------------------


def test_config_that_is_not_utf8_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bin.toml"
    config.write_bytes(b"[train]\nsteps = 1\n# \xff\xfe latin-1 \xe9\n")
    out = tmp_path / "r"
    code, _, err = cli(capsys, "train", "--config", str(config), "--out", str(out), *TINY_ARGS)
    assert code == 2
    line = error_line(err)
    assert f"config file {str(config)!r} is not UTF-8 text" in line
    assert "0xff" in line and "UnicodeDecodeError" not in err
    assert not out.exists()  # refused before the run directory is made


def test_config_that_is_a_directory_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "somedir.toml"
    config.mkdir()
    out = tmp_path / "r"
    code, _, err = cli(capsys, "train", "--config", str(config), "--out", str(out), *TINY_ARGS)
    assert code == 2
    assert (
        error_line(err) == f"error: config file {str(config)!r} is a directory: give a .toml file"
    )
    assert not out.exists()


def test_valid_utf8_config_still_loads(tmp_path: Path) -> None:
    from gankit.config import load_toml

    config = tmp_path / "ok.toml"
    config.write_text('[train]\nsteps = 1 # "naïve" comment\n', encoding="utf-8")
    assert load_toml(config) == {"train": {"steps": 1}}


# -- 2. eval --json: refused before the work when it cannot be written -----------------


def test_eval_json_into_a_directory_is_refused_before_any_metric(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "results"
    target.mkdir()
    code, out, err = cli(
        capsys, "eval", str(run), "--metrics", "fd", "--n", "20", "--json", str(target)
    )
    assert code == 2
    assert error_line(err) == (
        f"error: --json {str(target)!r} is a directory: give a file name, e.g. "
        f"--json {str(target / 'metrics.json')!r}"
    )
    assert "frechet_distance" not in out  # no metric was computed
    assert list(target.iterdir()) == []


def test_eval_json_under_a_file_is_refused_before_any_metric(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("keep me\n")
    for target in (afile / "x.json", afile / "sub" / "x.json"):
        code, out, err = cli(
            capsys, "eval", str(run), "--metrics", "fd", "--n", "20", "--json", str(target)
        )
        assert code == 2
        assert error_line(err) == (
            f"error: --json {str(target)!r}: {str(afile)!r} is not a directory; "
            "give a path inside a directory"
        )
        assert "frechet_distance" not in out
    assert afile.read_text() == "keep me\n"


def test_eval_json_creates_missing_folders(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "new" / "deeper" / "m.json"
    code, out, err = cli(
        capsys, "eval", str(run), "--metrics", "fd", "--n", "20", "--json", str(target)
    )
    assert code == 0, err
    written = json.loads(target.read_text())
    assert written["metrics"]["fd"]["values"]["frechet_distance"] > 0
    assert "frechet_distance" in out


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_eval_json_write_failure_is_one_line_after_the_table(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # /dev/full passes the checks (a file in a directory) but every write fails: ENOSPC
    code, out, err = cli(
        capsys, "eval", str(run), "--metrics", "fd", "--n", "20", "--json", "/dev/full"
    )
    assert code == 2
    line = error_line(err)
    assert line.startswith("error: --json '/dev/full': cannot write it: No space left on device")
    assert "the metrics are in the table above" in line
    assert "frechet_distance" in out  # the results were shown


# -- 4. zoo add: no license unless one is given --------------------------------------------


def test_zoo_add_states_no_license_by_default(
    zoo_copy: Path, hub_env: HubEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    catalogue = zoo_copy / "catalogue.json"
    code, out, err = cli(
        capsys, "zoo", "add", "mini", str(zoo_copy / NAME), "--repo", "gankit/mini",
        "--catalogue", str(catalogue),
    )  # fmt: skip
    assert code == 0, err
    raw = {e["name"]: e for e in json.loads(catalogue.read_text())["entries"]}
    assert raw["mini"]["license"] is None
    entries = hub.load_catalogue(catalogue)  # the entry without a license loads, as do the others
    assert entries["mini"].license is None and entries[NAME].license == "apache-2.0"

    code, out, err = cli(capsys, "zoo", "info", "mini", "--catalogue", str(catalogue))
    assert code == 0, err
    assert "license       (none stated)" in out and "None" not in out
    code, out, err = cli(capsys, "zoo", "list", "--catalogue", str(catalogue))
    assert code == 0 and "mini" in out, err

    # publishing it writes a model card without a license line
    code, out, err = cli(
        capsys, "zoo", "publish", "mini", "--endpoint", hub_env.url, "--catalogue", str(catalogue)
    )
    assert code == 0, err
    entry = hub.load_catalogue(catalogue)["mini"]
    card = hub_env.server.file_at("gankit/mini", entry.revision, "README.md").decode()
    assert "license" not in yaml.safe_load(card.split("---")[1])

    # a license given is recorded and shown
    code, _, err = cli(
        capsys, "zoo", "add", "mini", str(zoo_copy / NAME), "--repo", "gankit/mini",
        "--license", "mit", "--replace", "--catalogue", str(catalogue),
    )  # fmt: skip
    assert code == 0, err
    assert hub.load_catalogue(catalogue)["mini"].license == "mit"
    code, out, _ = cli(capsys, "zoo", "info", "mini", "--catalogue", str(catalogue))
    assert "license       mit" in out


def test_shipped_catalogue_still_loads() -> None:
    entries = hub.load_catalogue(ZOO / "catalogue.json")
    assert NAME in entries and all(e.license for e in entries.values())


def test_zoo_add_help_says_no_license_by_default(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # one help line per option
    code, out, _ = cli(capsys, "zoo", "add", "--help")
    assert code == 0
    line = next(line for line in out.splitlines() if "--license" in line)
    assert "(default: none; the entry and its model card then state no license)" in line
    assert "[default: apache-2.0]" not in out


# -- 5. push: a run without an artifact, a zoo or Hub source --------------------------------


def test_push_of_a_run_without_an_artifact_says_so(
    run_without_artifact: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bare = run_without_artifact
    expected = (
        f"error: the training run {str(bare)!r} has no artifact: its training ended at step 1 "
        f"of 1, and its artifact/ is missing (removed since, or writing it failed); `gankit "
        f"train --resume {bare} --steps 2` (or more) trains on and writes a new one"
    )
    for source in (bare, bare / "artifact"):
        code, _, err = cli(capsys, "push", str(source), "--repo", "alice/m")
        assert code == 2
        assert error_line(err) == expected
        # sample, eval and export load through the same check, so they say the same
        code, _, err = cli(capsys, "sample", str(source), "--out", str(bare / "s.png"))
        assert code == 2 and error_line(err) == expected
    code, _, err = cli(capsys, "zoo", "add", "x", str(bare), "--repo", "alice/m")
    assert code == 2 and error_line(err) == expected


def test_push_of_a_zoo_source_names_zoo_publish(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "push", f"zoo:{NAME}", "--repo", "alice/m")
    assert code == 2
    line = error_line(err)
    assert f"`gankit zoo publish {NAME}`" in line and "does not exist" not in line
    code, out, _ = cli(capsys, "zoo", "publish", "--help")  # the command it names is real
    assert code == 0 and "publish" in out


def test_push_of_a_hub_source_names_pull(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "push", "hf://alice/m@main", "--repo", "bob/m")
    assert code == 2
    line = error_line(err)
    assert "'hf://alice/m@main' is on the Hub already" in line
    assert "`gankit pull alice/m@main`" in line


def test_a_misspelt_section_is_named_with_the_one_meant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "run.toml"
    config.write_text("[trian]\nsteps = 3\n")
    code, _, err = cli(capsys, "train", "--config", str(config), "--out", str(tmp_path / "r"))
    assert code == 2
    assert "unknown section(s) ['trian'] in the config file ([trian]: did you mean [train]?)" in err
