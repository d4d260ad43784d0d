"""The example third-party plugin, examples/gankit-plugin-lsgan, installed for real.

A copy of the package is pip-installed into this environment (no dependencies, no
build isolation, no index: it works offline with setuptools in the environment) and
uninstalled afterwards, so the environment is left as it was found. Everything
else runs in subprocesses, the way users run it: the plugin's own tests,
``gankit plugins --json``, ``gankit train``, ``gankit sample`` and, when the
``onnx`` extra is there, ``gankit export --format onnx`` (which checks parity
with PyTorch itself).

While the test runs, the plugin is visible to every gankit process using this
environment.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "gankit-plugin-lsgan"
DIST = "gankit-plugin-lsgan"
PIP_ENV = {"PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}

pytestmark = pytest.mark.slow


def run(*args: str, cwd: Path, timeout: float = 300) -> str:
    env = {**os.environ, **PIP_ENV, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(args)}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    return proc.stdout


def gankit(*args: str, cwd: Path) -> str:
    return run(sys.executable, "-m", "gankit", *args, cwd=cwd)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Install a copy of the example (the build leaves build/ and *.egg-info behind)."""
    try:
        found = importlib.metadata.distribution(DIST)
    except importlib.metadata.PackageNotFoundError:
        pass
    else:
        pytest.skip(
            f"{DIST} {found.version} is already installed in this environment; this test "
            "installs and removes it itself, so uninstall it first"
        )
    src = tmp_path_factory.mktemp("lsgan") / "gankit-plugin-lsgan"
    skip = shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache")
    shutil.copytree(EXAMPLE, src, ignore=skip)
    pip = (sys.executable, "-m", "pip")
    run(*pip, "install", "--no-deps", "--no-build-isolation", str(src), cwd=src)
    try:
        yield src
    finally:
        run(*pip, "uninstall", "--yes", DIST, cwd=src)
        importlib.invalidate_caches()


def test_the_plugins_own_tests_pass(installed: Path) -> None:
    run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=installed)


def test_cli_lists_trains_samples_and_exports(installed: Path, tmp_path: Path) -> None:
    plugins = {p["name"]: p for p in json.loads(gankit("plugins", "--json", cwd=tmp_path))}
    info = plugins["gankit-lsgan"]
    assert info["status"] == "loaded", info["error"]
    assert (info["version"], info["source"], info["module"]) == ("0.1.0", DIST, "gankit_lsgan")
    assert info["components"] == [{"kind": "architecture", "name": "lsgan"}]

    gankit(
        "train", "--arch", "lsgan", "--data", "digits", "--steps", "3", "--out", "run",
        "data.size=16", "arch.g_width=8", "arch.d_width=8", "batch_size=8", "progress=false",
        cwd=tmp_path,
    )  # fmt: skip
    config = json.loads((tmp_path / "run" / "artifact" / "config.json").read_text())
    assert config["architecture"] == "lsgan"
    assert json.loads((tmp_path / "run" / "run.json").read_text())["train"]["loss"] == (
        "least-squares"
    )

    gankit("sample", "run", "--n", "16", "--seed", "0", "--out", "grid.png", cwd=tmp_path)
    assert (tmp_path / "grid.png").stat().st_size > 0

    if importlib.util.find_spec("gankit.export") is None:
        pytest.skip("gankit.export is not in this installation: ONNX export not checked")
    if importlib.util.find_spec("onnxruntime") is None:
        pytest.skip("onnxruntime is not installed (the onnx extra): ONNX export not checked")
    out = gankit("export", "run/artifact", "--format", "onnx", "--out", "lsgan.onnx", cwd=tmp_path)
    assert "matches PyTorch" in out, out
    assert (tmp_path / "lsgan.onnx").stat().st_size > 0
