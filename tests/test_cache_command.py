"""``gankit cache`` and ``gankit cache clear``: gankit's cache directory, and only its own files."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from gankit.cache import CACHE_ENV, TAG_FILE, TAG_SIGNATURE, cache_entries, make_cache_dir
from gankit_metrics.feature_cache import SUBDIR, cached_features

from cli_in_process import cli

IDENTITY = {"extractor": "test", "weights": "0" * 64, "batch_size": "10"}


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """GANKIT_CACHE_DIR pointed at a directory that also holds a user's own files."""
    home = tmp_path / "home"
    (home / "photos").mkdir(parents=True)
    (home / "photos" / "cat.png").write_bytes(b"png")
    (home / "notes.txt").write_text("mine")
    other = home / "other-tool-cache"  # another program's cache, tagged by it
    other.mkdir()
    (other / TAG_FILE).write_text(f"{TAG_SIGNATURE}\n# made by another tool\n")
    monkeypatch.setenv(CACHE_ENV, str(home))
    return home


def _cache_features(n: int) -> None:
    """Store the features of ``n`` images in the cache, as a metric does (the same n: the
    same images, read from the cache the second time)."""
    images = torch.randn(n, 1, 4, 4, generator=torch.Generator().manual_seed(n))
    cached_features(images, IDENTITY, lambda x: x.flatten(1).double())


def test_cache_lists_what_is_cached_and_how_big(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "cache")
    assert code == 0 and f"gankit's cache: {root}" in out and "nothing is cached yet" in out
    _cache_features(10)
    _cache_features(20)
    files = list((root / SUBDIR).glob("*.safetensors"))
    assert len(files) == 2
    code, out, _ = cli(capsys, "cache", "--json")
    assert code == 0
    listing = json.loads(out)
    assert listing["root"] == str(root)
    assert listing["caches"] == [
        {
            "name": SUBDIR,
            "path": str(root / SUBDIR),
            "files": 2,
            "bytes": sum(f.stat().st_size for f in files),
        }
    ]
    code, out, _ = cli(capsys, "cache")
    assert code == 0 and SUBDIR in out and "other-tool-cache" not in out and "photos" not in out


def test_clear_removes_gankits_caches_and_nothing_else(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _cache_features(10)
    code, out, _ = cli(capsys, "cache", "clear")
    assert code == 0 and f"removed {root / SUBDIR} (1 file, " in out
    assert not (root / SUBDIR).exists()
    assert (root / "notes.txt").read_text() == "mine"
    assert (root / "photos" / "cat.png").exists()
    assert (root / "other-tool-cache" / TAG_FILE).exists()  # tagged, but not by gankit
    code, out, _ = cli(capsys, "cache", "clear")
    assert code == 0 and f"nothing to clear in {root}" in out
    _cache_features(10)  # the cache is made again when a metric needs it
    assert [e.files for e in cache_entries()] == [1]


def test_clear_by_name_checks_every_name_before_removing_anything(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _cache_features(10)
    make_cache_dir(root / "plugin-thumbnails")  # a second cache, as a plugin would make one
    (root / "plugin-thumbnails" / "a.png").write_bytes(b"x" * 10)
    code, _, err = cli(capsys, "cache", "clear", "plugin-thumbnails", "photos")
    assert code == 2
    assert f"no gankit cache named 'photos' in {root}" in err
    assert f"gankit's caches there: plugin-thumbnails, {SUBDIR}" in err
    assert "'photos' exists there but gankit did not make it" in err
    assert (root / "plugin-thumbnails" / "a.png").exists() and (root / "photos").exists()
    code, out, _ = cli(capsys, "cache", "--json", "clear", "plugin-thumbnails")
    assert code == 0
    assert json.loads(out) == {
        "removed": [
            {
                "name": "plugin-thumbnails",
                "path": str(root / "plugin-thumbnails"),
                "files": 1,
                "bytes": 10,
            }
        ]
    }
    assert [e.name for e in cache_entries()] == [SUBDIR]


def test_a_linked_directory_is_never_taken_for_gankits_cache(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    make_cache_dir(elsewhere)  # tagged by gankit, but reached through a link in the cache
    (elsewhere / "keep.bin").write_bytes(b"1")
    (root / "linked").symlink_to(elsewhere, target_is_directory=True)
    code, out, _ = cli(capsys, "cache", "clear")
    assert code == 0 and "nothing to clear" in out
    assert (elsewhere / "keep.bin").exists()


def test_an_off_cache_says_so_and_clearing_it_is_no_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(CACHE_ENV, "off")
    code, out, _ = cli(capsys, "cache")
    assert code == 0 and f"gankit's cache is off: {CACHE_ENV}=off" in out
    code, out, _ = cli(capsys, "cache", "--json")
    assert json.loads(out) == {"root": None, "off": f"{CACHE_ENV}=off", "caches": []}
    code, out, _ = cli(capsys, "cache", "clear")  # a script's clean-up step does not fail
    assert code == 0 and f"gankit's cache is off ({CACHE_ENV}=off): nothing to clear" in out


def test_a_relative_or_unusable_cache_path_is_explained(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(CACHE_ENV, "relative-cache")
    with caplog.at_level(logging.WARNING, logger="gankit.cache"):
        _cache_features(4)
    assert (tmp_path / "relative-cache" / SUBDIR).is_dir()
    assert "relative path, so the cache is " + str(tmp_path / "relative-cache") in caplog.text
    code, out, _ = cli(capsys, "cache", "--json")
    assert json.loads(out)["root"] == str(tmp_path / "relative-cache")  # shown absolute
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "a-file"))
    code, _, err = cli(capsys, "cache")
    assert code == 2 and f"gankit's cache {tmp_path / 'a-file'} is not a directory" in err


def test_a_cache_an_earlier_gankit_left_untagged_is_tagged_when_used(root: Path) -> None:
    _cache_features(4)
    (root / SUBDIR / TAG_FILE).unlink()  # as gankit wrote it before it tagged its caches
    assert cache_entries() == []
    _cache_features(4)  # the same images: read from the cache, not written
    assert [e.name for e in cache_entries()] == [SUBDIR]


@pytest.mark.skipif(shutil.which("tar") is None, reason="needs GNU tar")
def test_backups_skip_the_cache_by_its_tag(root: Path, tmp_path: Path) -> None:
    """The CACHEDIR.TAG follows the standard that tar --exclude-caches (and borg, restic) read."""
    _cache_features(10)
    listing = subprocess.run(
        ["tar", "--exclude-caches", "-cf", "-", "."],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout
    names = subprocess.run(
        ["tar", "-tf", "-"], input=listing, capture_output=True, check=True
    ).stdout.decode()
    assert "./notes.txt" in names
    # --exclude-caches keeps the tag and drops the rest of the directory
    assert f"./{SUBDIR}/{TAG_FILE}" in names and ".safetensors" not in names
