"""Keep docs/plugins.md honest: every hook documented, every example runnable.

Code blocks in the guide preceded by ``<!-- example: PATH -->`` are extracted
and run:

- ``my-plugin/...``: the complete example plugin. It is installed for real (its
  package plus a dist-info built from its own ``pyproject.toml``) and its own
  tests (``my-plugin/tests/test_my_plugin.py``) are run against it.
- ``snippets/NAME.py``: self-contained plugin modules; they are registered next
  to the example plugin and trained together for a few steps.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch

import gankit
from gankit import hookspecs
from gankit.plugins import PluginManager, set_manager
from gankit.training.config import resolve
from gankit.training.trainer import Trainer

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "plugins.md"
EXAMPLE = re.compile(r"^<!-- example: (\S+) -->\n```[\w-]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
PLUGIN_DIR = "my-plugin"
PLUGIN_FILES = ("pyproject.toml", "my_plugin/__init__.py", "tests/test_my_plugin.py")
SNIPPET_PLUGINS = {  # snippet -> what it registers
    "circle_dataset.py": ("dataset", "circle"),
    "mean_gap_metric.py": ("metric", "mean-gap"),
    "soft_hinge_loss.py": ("loss", "soft-hinge"),
    "logit_drift.py": ("regularizer", "logit-drift"),
    "gap_events.py": None,
}


def hook_names() -> list[str]:
    """The hooks of the contract: functions marked by pluggy's HookspecMarker."""
    marker = f"{hookspecs.PROJECT}_spec"
    return [n for n, f in vars(hookspecs).items() if callable(f) and hasattr(f, marker)]


def examples() -> dict[str, str]:
    found = EXAMPLE.findall(GUIDE.read_text())
    paths = [p for p, _ in found]
    assert len(paths) == len(set(paths)), f"an example path is used twice: {paths}"
    return dict(found)


def test_every_hook_has_a_section() -> None:
    names = hook_names()
    assert len(names) >= 12 and "gankit_register_architectures" in names
    headings = set(re.findall(r"^### (gankit_\w+)\s*$", GUIDE.read_text(), re.MULTILINE))
    missing = [n for n in names if n not in headings]
    assert not missing, f"docs/plugins.md has no '### NAME' section for: {missing}"
    stale = sorted(headings - set(names))
    assert not stale, f"docs/plugins.md documents hooks that do not exist: {stale}"


def test_guide_has_the_expected_examples() -> None:
    paths = set(examples())
    assert {f"{PLUGIN_DIR}/{f}" for f in PLUGIN_FILES} <= paths
    assert {f"snippets/{name}" for name in SNIPPET_PLUGINS} <= paths


@pytest.fixture
def example_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Install the guide's example plugin into a site directory on sys.path."""
    code = examples()
    src = tmp_path / PLUGIN_DIR
    for rel in PLUGIN_FILES:
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code[f"{PLUGIN_DIR}/{rel}"])
    project = tomllib.loads((src / "pyproject.toml").read_text())["project"]
    entry_points = project["entry-points"]["gankit"]
    assert entry_points == {"my-plugin": "my_plugin"}

    site = tmp_path / "site"
    (site / "my_plugin").mkdir(parents=True)
    (site / "my_plugin" / "__init__.py").write_text(code[f"{PLUGIN_DIR}/my_plugin/__init__.py"])
    dist_info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    (dist_info / "entry_points.txt").write_text(f"[gankit]\n{lines}")

    monkeypatch.delenv("GANKIT_DISABLE_PLUGINS", raising=False)
    monkeypatch.setenv("GANKIT_STRICT_PLUGINS", "1")  # as the guide tells plugin CI to
    monkeypatch.syspath_prepend(str(site))
    set_manager(None)
    yield site
    set_manager(None)
    for name in [m for m in sys.modules if m == "my_plugin" or m.startswith("gankit_doc_")]:
        del sys.modules[name]


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_example_plugin_loads_and_builds(example_site: Path) -> None:
    info = {p.name: p for p in gankit.get_manager().plugins()}["my-plugin"]
    assert info.status == "loaded", info.error
    assert (info.version, info.source, info.module) == ("0.1.0", "my-plugin", "my_plugin")
    assert info.components == [("architecture", "tiny-mlp")]
    for shape in [(2,), (1, 8, 8), (3, 4, 4)]:
        g = gankit.create_generator("tiny-mlp", latent_dim=5, data_shape=shape)
        d = gankit.create_discriminator("tiny-mlp@my-plugin", latent_dim=5, data_shape=shape)
        x = g(torch.randn(6, 5))
        assert x.shape == (6, *shape)
        if len(shape) == 3:
            assert x.abs().max() <= 1
        assert d(x).shape == (6,)
    g = gankit.create_generator("tiny-mlp")  # every config field has a default
    assert g(torch.randn(2, 16)).shape == (2, 2)
    with pytest.raises(ValueError, match="unconditional"):
        g(torch.randn(2, 16), labels=torch.tensor([0, 1]))


def test_example_plugin_own_tests_pass(
    example_site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = load_module(
        example_site.parent / PLUGIN_DIR / "tests" / "test_my_plugin.py", "gankit_doc_tests"
    )
    # its CLI test runs `python -m gankit` in a subprocess: make the plugin visible there
    paths = [str(example_site)] + [p for p in [os.environ.get("PYTHONPATH")] if p]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    tests = {n: f for n, f in vars(module).items() if n.startswith("test_")}
    assert set(tests) == {"test_plugin_is_loaded", "test_shapes", "test_cli_lists_and_trains"}
    tests["test_plugin_is_loaded"]()
    for mark in tests["test_shapes"].pytestmark:
        if mark.name == "parametrize":
            for shape in mark.args[1]:
                tests["test_shapes"](shape)
    run_dir = tmp_path / "example-run"
    run_dir.mkdir()
    tests["test_cli_lists_and_trains"](run_dir)


def test_snippets_register_and_train_together(
    example_site: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    code = examples()
    manager = PluginManager(strict=True)  # built-ins and my-plugin, from entry points
    for name, registers in SNIPPET_PLUGINS.items():
        path = tmp_path / "snippets" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(code[f"snippets/{name}"])
        module = load_module(path, f"gankit_doc_{path.stem}")
        info = manager.register_plugin(module, name=f"doc-{path.stem}")
        assert info.status == "loaded", info.error
        assert info.components == ([registers] if registers else [])
    set_manager(manager)

    loss = gankit.create_loss("soft-hinge", margin=0.5)
    r, f = torch.randn(8), torch.randn(8)
    assert loss.d_loss(r, f).shape == () and loss.g_loss(f).shape == ()
    data = gankit.create_dataset("circle", n=100)
    assert data.samples.shape == (100, 2)
    reg = gankit.create_regularizer("logit-drift")
    assert reg.acts_on == ("d_step",)

    spec = resolve(
        "tiny-mlp",
        "circle",
        overrides={
            "loss": "soft-hinge",
            "regularizers": ["logit-drift"],
            "metrics": ["mean-gap"],
            "batch_size": 32,
            "log_every": 1,
            "checkpoint_every": 2,
            "progress": False,
        },
        steps=2,
        seed=0,
    )
    run = tmp_path / "run"
    with caplog.at_level(logging.INFO, logger="gankit_doc_gap_events"):
        artifact = Trainer(spec, run).fit()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2]
    assert all(r["d_gap"] == pytest.approx(r["d_real"] - r["d_fake"]) for r in records)
    assert "step 2: checkpoint written to" in caplog.text
    config = json.loads((artifact / "config.json").read_text())
    assert "mean-gap/gap" in config["metrics"]
    assert gankit.load_generator(str(artifact)).sample(4, seed=0).shape == (4, 2)


def test_the_training_guides_config_file_resolves_for_the_default_run() -> None:
    """The TOML example in docs/training.md works for `gankit train` with its defaults."""
    guide = (ROOT / "docs" / "training.md").read_text()
    example = re.search(r"```toml\n(.*?)```", guide, flags=re.S)
    assert example is not None
    values = tomllib.loads(example.group(1))
    spec = resolve("dcgan", "digits", values)
    assert spec.train.steps == 3000 and spec.arch_config == {"latent_dim": 64}
    assert spec.data_config == {"size": 32}
    assert spec.regularizer_configs == {"r1": {"gamma": 5.0}}
