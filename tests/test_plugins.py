"""Plugin discovery, failure reporting, disabling, name resolution and the plugin CLI.

Third-party plugins are installed for real: each test site is a directory with
plugin modules and a ``*.dist-info`` holding ``entry_points.txt``, put on
``PYTHONPATH`` (subprocess) or ``sys.path`` (in-process), so discovery runs
through ``importlib.metadata`` exactly as for a pip-installed plugin.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import gankit
from gankit import hookimpl
from gankit.components import ArchConfig, Architecture, Loss
from gankit.config import describe
from gankit.errors import AmbiguousComponentError, PluginLoadError, UnknownComponentError
from gankit.plugins import PluginManager, set_manager
from gankit.training.config import TrainConfig

from cli_in_process import cli

TESTPLUG = """
import math
from dataclasses import dataclass

from torch import nn

from gankit import hookimpl
from gankit.components import ArchConfig, Architecture, Loss


@dataclass
class ToyConfig(ArchConfig):
    latent_dim: int = 4
    data_shape: tuple[int, ...] = (3,)


class ToyG(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.shape = tuple(cfg.data_shape)
        self.lin = nn.Linear(cfg.latent_dim, math.prod(self.shape))

    def forward(self, z, labels=None):
        return self.lin(z).reshape(z.shape[0], *self.shape)


class ToyD(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.lin = nn.Linear(math.prod(cfg.data_shape), 1)

    def forward(self, x, labels=None):
        return self.lin(x.flatten(1)).reshape(x.shape[0])


class ToyLoss:
    def d_loss(self, real_logits, fake_logits):
        return fake_logits.mean() - real_logits.mean()

    def g_loss(self, fake_logits):
        return -fake_logits.mean()


@hookimpl
def gankit_register_architectures(register):
    register(Architecture(name="toy", description="toy linear pair", config=ToyConfig,
                          generator=ToyG, discriminator=ToyD))


@hookimpl
def gankit_register_losses(register):
    register(Loss(name="toy-loss", description="toy loss", factory=lambda cfg: ToyLoss()))
"""

BROKEN = 'raise RuntimeError("boom")\n'

# registers an architecture, then fails in a later registration hook
REGFAIL = """
from torch import nn

from gankit import hookimpl
from gankit.components import ArchConfig, Architecture, Loss


@hookimpl
def gankit_register_architectures(register):
    register(Architecture(name="half-registered", description="must not be kept",
                          config=ArchConfig, generator=nn.Identity, discriminator=nn.Identity))


@hookimpl
def gankit_register_losses(register):
    raise ValueError("register exploded")
"""

# declares the entry-point name of a built-in plugin from another distribution
CLASH = """
from gankit import hookimpl
from gankit.components import Loss


@hookimpl
def gankit_register_losses(register):
    register(Loss(name="clash-loss", description="must not be loaded", factory=dict))
"""

TEST_MODULES = ("gankit_testplug", "gankit_testbroken", "gankit_testregfail", "gankit_testclash")


def install(site: Path, dist: str, modules: dict[str, str], entry_points: dict[str, str]) -> None:
    """Install a plugin distribution into ``site``: its modules and a dist-info."""
    site.mkdir(parents=True, exist_ok=True)
    for module, code in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(code))
    info = site / f"{dist.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[gankit]\n{lines}")


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``good``: the working plugin ``testplug``; ``bad``: ``broken`` and ``regfail``."""
    root = tmp_path_factory.mktemp("sites")
    install(
        root / "good",
        "gankit-testplug",
        {"gankit_testplug": TESTPLUG},
        {"testplug": "gankit_testplug"},
    )
    install(
        root / "bad",
        "gankit-testbroken",
        {"gankit_testbroken": BROKEN},
        {"broken": "gankit_testbroken"},
    )
    install(
        root / "bad",
        "gankit-testregfail",
        {"gankit_testregfail": REGFAIL},
        {"regfail": "gankit_testregfail"},
    )
    install(
        root / "clash",
        "gankit-testclash",
        {"gankit_testclash": CLASH},
        {"gankit-losses": "gankit_testclash"},
    )
    return {"good": root / "good", "bad": root / "bad", "clash": root / "clash"}


@pytest.fixture(autouse=True)
def clean_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No GANKIT_* settings from outside; no manager or test module left behind."""
    for var in ("GANKIT_STRICT_PLUGINS", "GANKIT_DISABLE_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    set_manager(None)
    yield
    set_manager(None)
    for module in TEST_MODULES:
        sys.modules.pop(module, None)


def use_sites(monkeypatch: pytest.MonkeyPatch, *paths: Path) -> None:
    for path in paths:
        monkeypatch.syspath_prepend(str(path))


def run_cli(*args: str, sites: list[Path], env: dict[str, str] | None = None) -> Any:
    """Run ``python -m gankit ARGS`` in a subprocess with ``sites`` on PYTHONPATH."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GANKIT_")}
    paths = [str(p) for p in sites] + [p for p in [os.environ.get("PYTHONPATH")] if p]
    environ["PYTHONPATH"] = os.pathsep.join(paths)
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "gankit", *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=sites[0].parent,
        timeout=120,
    )


@pytest.fixture(scope="module")
def plugins_json(sites: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """``gankit plugins --json`` with the good and the bad site installed."""
    result = run_cli("plugins", "--json", sites=[sites["good"], sites["bad"]])
    assert result.returncode == 0, result.stderr
    return {p["name"]: p for p in json.loads(result.stdout)}


# -- discovery ---------------------------------------------------------------


def test_installed_plugin_is_discovered_with_version_source_and_components(
    plugins_json: dict[str, dict[str, Any]],
) -> None:
    info = plugins_json["testplug"]
    assert info["status"] == "loaded" and info["error"] is None
    assert info["version"] == "0.1.0"
    assert info["source"] == "gankit-testplug"
    assert info["module"] == "gankit_testplug"
    assert {(c["kind"], c["name"]) for c in info["components"]} == {
        ("architecture", "toy"),
        ("loss", "toy-loss"),
    }
    # the built-ins come through the same entry-point group, next to it
    builtins = {n: p for n, p in plugins_json.items() if p["source"] == "gankit"}
    assert "gankit-dcgan" in builtins
    assert all(p["status"] == "loaded" for p in builtins.values())


def test_list_shows_third_party_architecture_despite_broken_plugins(
    sites: dict[str, Path],
) -> None:
    result = run_cli("list", "architecture", "--json", sites=[sites["good"], sites["bad"]])
    assert result.returncode == 0, result.stderr
    listed = {c["name"]: c for c in json.loads(result.stdout)}
    assert listed["toy"]["plugin"] == "testplug"
    assert {"dcgan", "wgan-gp", "cgan"} <= set(listed)
    assert "half-registered" not in listed
    assert {c["kind"] for c in listed.values()} == {"architecture"}


def test_create_generator_from_installed_plugin(monkeypatch: pytest.MonkeyPatch, sites) -> None:
    use_sites(monkeypatch, sites["good"])
    g = gankit.create_generator("toy")
    d = gankit.create_discriminator("toy")
    assert isinstance(g, nn.Module)
    x = g(torch.randn(5, 4))
    assert x.shape == (5, 3)
    assert d(x).shape == (5,)
    g2 = gankit.create_generator("toy", latent_dim=2, data_shape=(2, 4))
    assert g2(torch.randn(3, 2)).shape == (3, 2, 4)
    loss = gankit.create_loss("toy-loss@testplug")
    assert loss.g_loss(torch.ones(4)).item() == -1.0


# -- failures -------------------------------------------------------------------


def test_import_failure_is_reported_not_fatal(plugins_json: dict[str, dict[str, Any]]) -> None:
    info = plugins_json["broken"]
    assert info["status"] == "failed"
    assert info["error"] == "RuntimeError: boom"
    assert info["components"] == [] and info["version"] == "0.1.0"
    assert plugins_json["testplug"]["status"] == "loaded"


def test_register_failure_keeps_no_component(plugins_json: dict[str, dict[str, Any]]) -> None:
    info = plugins_json["regfail"]
    assert info["status"] == "failed"
    assert info["error"] == "ValueError: register exploded"
    assert info["components"] == []


def test_every_command_warns_about_failed_plugins(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    sites,
) -> None:
    use_sites(monkeypatch, sites["bad"])
    code, out, _ = cli(capsys, "list")
    assert code == 0
    assert "dcgan" in out and "non-saturating" in out
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("plugin 'broken' failed to load (RuntimeError: boom)" in w for w in warnings)
    assert any(
        "plugin 'regfail' failed to load (ValueError: register exploded)" in w for w in warnings
    )
    # the warning comes from loading, so commands that build things warn too
    caplog.clear()
    set_manager(None)
    code, _, err = cli(capsys, "info", "no-such-thing")
    assert code == 2 and "no-such-thing" in err
    assert any("plugin 'broken' failed to load" in r.getMessage() for r in caplog.records)


def test_a_second_distribution_cannot_take_over_a_plugin_name(sites: dict[str, Path]) -> None:
    result = run_cli("plugins", "--json", sites=[sites["clash"]])
    assert result.returncode == 0, result.stderr
    declared = [p for p in json.loads(result.stdout) if p["name"] == "gankit-losses"]
    assert [(p["source"], p["status"]) for p in declared] == [
        ("gankit", "loaded"),
        ("gankit-testclash", "failed"),
    ]
    assert declared[1]["error"] == (
        "PluginLoadError: distribution 'gankit-testclash' declares plugin 'gankit-losses', "
        "which distribution 'gankit' already declares; rename the entry point in "
        "'gankit-testclash' (plugin names must be unique)"
    )
    assert "plugin 'gankit-losses' failed to load" in result.stderr
    listing = run_cli("list", "loss", sites=[sites["clash"]])
    assert "hinge" in listing.stdout and "clash-loss" not in listing.stdout
    strict = run_cli("--strict-plugins", "list", sites=[sites["clash"]])
    assert strict.returncode == 2 and "declares plugin 'gankit-losses'" in strict.stderr


def test_strict_env_makes_a_broken_plugin_fatal(sites: dict[str, Path]) -> None:
    result = run_cli("list", sites=[sites["bad"]], env={"GANKIT_STRICT_PLUGINS": "1"})
    assert result.returncode == 2
    assert "plugin 'broken' (gankit_testbroken) failed to import: RuntimeError: boom" in (
        result.stderr
    )


def test_strict_option_makes_a_broken_plugin_fatal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], sites
) -> None:
    use_sites(monkeypatch, sites["bad"])
    code, _, err = cli(capsys, "--strict-plugins", "list")
    assert code == 2
    assert err.startswith("error: plugin 'broken' (gankit_testbroken) failed to import")
    # the option only affects the command it is given to
    code, _, _ = cli(capsys, "list")
    assert code == 0


def test_failed_register_hook_leaves_nothing_behind() -> None:
    class HalfPlugin:
        @hookimpl
        def gankit_register_architectures(self, register: Any) -> None:
            register(
                Architecture(
                    name="half",
                    description="kept only if all succeed",
                    config=ArchConfig,
                    generator=nn.Identity,
                    discriminator=nn.Identity,
                )
            )

        @hookimpl
        def gankit_register_losses(self, register: Any) -> None:
            raise KeyError("no such thing")

        @hookimpl
        def gankit_on_train_start(self, trainer: Any) -> None:  # pragma: no cover
            raise AssertionError("a failed plugin's event hooks must not run")

    manager = PluginManager(load_entrypoints=False)
    info = manager.register_plugin(HalfPlugin(), name="half-plugin")
    assert info.status == "failed" and "no such thing" in (info.error or "")
    assert info.components == []
    with pytest.raises(UnknownComponentError, match="half-plugin"):  # "failed to load" hint
        manager.get("architecture", "half")
    manager.hook.gankit_on_train_start(trainer=None)  # the failed plugin is unregistered

    strict = PluginManager(load_entrypoints=False, strict=True)
    with pytest.raises(PluginLoadError, match=r"plugin 'half-plugin' .*failed to register"):
        strict.register_plugin(HalfPlugin(), name="half-plugin")
    assert strict.components() == []


def test_register_callable_rejects_bad_records() -> None:
    class WrongKind:
        @hookimpl
        def gankit_register_architectures(self, register: Any) -> None:
            register(Loss(name="x", description="a loss in the wrong hook"))

    class Twice:
        @hookimpl
        def gankit_register_losses(self, register: Any) -> None:
            register(Loss(name="dup", description="first", factory=dict))
            register(Loss(name="dup", description="second", factory=dict))

    class Qualified:
        @hookimpl
        def gankit_register_losses(self, register: Any) -> None:
            register(Loss(name="a@b", description="reserved character"))

    class Misspelt:
        @hookimpl
        def gankit_register_loss(self, register: Any) -> None:  # pragma: no cover
            register(Loss(name="never", description="never registered"))

    manager = PluginManager(load_entrypoints=False)
    errors = {
        name: str(manager.register_plugin(plugin, name=name).error)
        for name, plugin in [
            ("wrong-kind", WrongKind()),
            ("twice", Twice()),
            ("qualified", Qualified()),
            ("misspelt", Misspelt()),
        ]
    }
    assert "expected a gankit.components.Architecture record" in errors["wrong-kind"]
    assert errors["twice"] == "ValueError: plugin 'twice' registered loss 'dup' twice"
    assert "invalid loss name 'a@b'" in errors["qualified"]
    assert (
        "unknown hook gankit_register_loss; did you mean gankit_register_losses"
        in (errors["misspelt"])
    )
    assert all(p.status == "failed" for p in manager.plugins())
    assert manager.components() == []


class _NotAConfig:
    pass


@dataclasses.dataclass
class _NoDefaultConfig:
    margin: float


@dataclasses.dataclass
class _PlainConfig:
    width: int = 4


def test_register_rejects_records_that_break_the_config_and_name_rules() -> None:
    class Margin(float):
        pass

    @dataclasses.dataclass
    class LocalHints:  # its hint names a class that is not at module level
        margin: Margin = Margin(1.0)

    def plugin_with(record: Any) -> Any:
        hook = (
            "gankit_register_architectures"
            if record.kind == "architecture"
            else ("gankit_register_losses")
        )

        class Plugin:
            pass

        setattr(Plugin, hook, staticmethod(hookimpl(lambda register: register(record))))
        return Plugin()

    records = {
        "no-default": Loss(name="m", description="d", config=_NoDefaultConfig, factory=dict),
        "not-dataclass": Loss(name="m", description="d", config=_NotAConfig, factory=dict),
        "local-hints": Loss(name="m", description="d", config=LocalHints, factory=dict),
        "no-factory": Loss(name="m", description="d", config=_PlainConfig),
        "bad-name": Loss(name="Bad Name", description="d", factory=dict),
        "not-arch-config": Architecture(
            name="m",
            description="d",
            config=_PlainConfig,
            generator=nn.Linear,
            discriminator=nn.Linear,
        ),
        "no-generator": Architecture(name="m", description="d", config=_PairConfig),
    }
    manager = PluginManager(load_entrypoints=False)
    errors = {}
    for name, record in records.items():
        info = manager.register_plugin(plugin_with(record), name=name)
        assert info.status == "failed", name
        errors[name] = str(info.error)
    assert manager.components() == []
    assert errors["no-default"] == (
        "ValueError: plugin 'no-default': loss 'm': config _NoDefaultConfig field(s) margin "
        "have no default; give every field a default (users set only the options they change)"
    )
    assert "config must be a dataclass type" in errors["not-dataclass"]
    assert "type hints of config LocalHints do not resolve (NameError" in errors["local-hints"]
    assert "define the dataclass and the types it names at module level" in errors["local-hints"]
    assert "loss 'm': factory must be a callable" in errors["no-factory"]
    assert (
        "invalid loss name 'Bad Name': use lowercase letters, digits and dashes"
        in (errors["bad-name"])
    )
    assert (
        "config _PlainConfig must subclass gankit.components.ArchConfig"
        in (errors["not-arch-config"])
    )
    assert "generator must be a callable" in errors["no-generator"]
    # each error names the plugin, so `gankit plugins` points at the package to fix
    assert all(
        error.split(": ", 1)[1].startswith(f"plugin {name!r}") for name, error in (errors.items())
    )


# -- disabling ----------------------------------------------------------------------


def test_disable_by_environment(monkeypatch: pytest.MonkeyPatch, sites) -> None:
    use_sites(monkeypatch, sites["good"])
    monkeypatch.setenv("GANKIT_DISABLE_PLUGINS", "other, testplug")
    manager = PluginManager()
    info = {p.name: p for p in manager.plugins()}["testplug"]
    assert info.status == "disabled" and info.components == []
    assert info.version == "0.1.0"
    assert "gankit_testplug" not in sys.modules  # a disabled plugin is never imported
    with pytest.raises(UnknownComponentError):
        manager.get("architecture", "toy")
    assert manager.get("architecture", "dcgan").plugin == "gankit-dcgan"


def test_disable_by_option(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], sites
) -> None:
    use_sites(monkeypatch, sites["good"])
    code, out, err = cli(capsys, "--disable-plugin", "testplug", "plugins", "--json")
    assert code == 0, err
    info = {p["name"]: p for p in json.loads(out)}["testplug"]
    assert info["status"] == "disabled" and info["components"] == []
    code, out, err = cli(capsys, "--disable-plugin", "testplug", "list", "architecture", "--json")
    assert code == 0, err
    names = {c["name"] for c in json.loads(out)}
    assert "toy" not in names and "dcgan" in names


# -- names ------------------------------------------------------------------------------


@dataclasses.dataclass
class _PairConfig(ArchConfig):
    latent_dim: int = 3
    data_shape: tuple[int, ...] = (2,)


def _pair_plugin(tag: str) -> Any:
    class G(nn.Module):
        origin = tag

        def __init__(self, cfg: _PairConfig) -> None:
            super().__init__()
            self.lin = nn.Linear(cfg.latent_dim, 2)

        def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
            return self.lin(z)

    class Plugin:
        @hookimpl
        def gankit_register_architectures(self, register: Any) -> None:
            register(
                Architecture(
                    name="toy",
                    description=f"toy from {tag}",
                    config=_PairConfig,
                    generator=G,
                    discriminator=G,
                )
            )

    return Plugin()


def test_same_name_from_two_plugins_needs_qualifying() -> None:
    manager = PluginManager(load_entrypoints=False)
    manager.register_plugin(_pair_plugin("A"), name="plugA")
    manager.register_plugin(_pair_plugin("B"), name="plugB")
    set_manager(manager)
    with pytest.raises(AmbiguousComponentError) as exc:
        gankit.create_generator("toy")
    message = str(exc.value)
    for text in ("plugA", "plugB", "toy@plugA", "toy@plugB"):
        assert text in message
    g = gankit.create_generator("toy@plugA")
    assert type(g).origin == "A" and g(torch.randn(4, 3)).shape == (4, 2)
    assert type(gankit.create_discriminator("toy@plugB")).origin == "B"
    with pytest.raises(UnknownComponentError) as unknown:
        gankit.create_generator("toy@plugC")
    assert str(unknown.value).startswith(
        "no plugin named 'plugC' is installed (did you mean 'plugB'?), so it provides no "
        "architecture 'toy'; architecture 'toy' comes from plugA, plugB"
    )
    with pytest.raises(UnknownComponentError, match="plugin 'plugA' provides no architecture"):
        gankit.create_generator("other@plugA")


def test_a_clash_with_a_builtin_name_is_reported_and_artifacts_still_load(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from gankit.artifacts import save_artifact
    from gankit.registry import get_architecture, make_config
    from gankit.training.config import resolve

    builtin = get_architecture("dcgan")
    config = make_config(
        builtin, {"data_shape": (1, 16, 16), "latent_dim": 4, "g_width": 8, "d_width": 8}
    )
    generator = builtin.generator(config)
    save_artifact(
        tmp_path / "artifact",
        architecture=builtin,
        arch_config=config,
        state_dict=generator.state_dict(),
    )

    class Clash:
        @hookimpl
        def gankit_register_architectures(self, register: Any) -> None:
            register(
                Architecture(
                    name="dcgan",
                    description="someone else's dcgan",
                    config=_PairConfig,
                    generator=nn.Linear,
                    discriminator=nn.Linear,
                )
            )

        @hookimpl
        def gankit_register_losses(self, register: Any) -> None:
            register(Loss(name="hinge", description="another hinge", factory=dict))

    manager = PluginManager()
    set_manager(manager)
    info = manager.register_plugin(Clash(), name="clash")
    assert info.status == "loaded"
    assert info.conflicts == [
        "architecture 'dcgan' is also provided by 'gankit-dcgan': the bare name is now "
        "ambiguous, so write dcgan@PLUGIN",
        "loss 'hinge' is also provided by 'gankit-losses': the bare name is now ambiguous, "
        "so write hinge@PLUGIN",
    ]
    assert any(
        "plugin 'clash': architecture 'dcgan' is also provided by" in r.getMessage()
        for r in caplog.records
        if r.levelname == "WARNING"
    )
    # the artifact records the plugin that built it, so it still loads
    loaded = gankit.load_generator(tmp_path / "artifact")
    assert type(loaded.generator) is type(generator)
    saved = generator.state_dict()
    assert all(torch.equal(v, saved[k]) for k, v in loaded.generator.state_dict().items())
    # a name the user did not type says where it comes from and what to set
    with pytest.raises(AmbiguousComponentError) as exc:
        resolve("cgan", "digits")
    message = str(exc.value)
    assert message.startswith("loss (the default of architecture 'cgan') names loss 'hinge'")
    assert "hinge@gankit-losses" in message and message.endswith("set loss= to one of them")
    spec = resolve("cgan", "digits", overrides={"loss": "hinge@gankit-losses"})
    assert spec.train.loss == "hinge@gankit-losses"


def test_options_of_a_qualified_regularizer_go_under_its_bare_name() -> None:
    from gankit.training.config import resolve

    spec = resolve(
        "dcgan",
        "digits",
        overrides={"regularizers": ["r1@gankit-regularizers"], "regularizers.r1.gamma": 5},
    )
    assert spec.regularizer_configs == {"r1@gankit-regularizers": {"gamma": 5}}


def test_unknown_name_lists_close_matches() -> None:
    with pytest.raises(UnknownComponentError) as exc:
        gankit.create_generator("dcgn")
    message = str(exc.value)
    assert "unknown architecture 'dcgn'" in message and "did you mean 'dcgan'" in message
    assert "Known architectures:" in message and "wgan-gp" in message


def test_cli_info_unknown_name_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "info", "dcgn")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: no component or plugin named 'dcgn'")
    assert "did you mean dcgan" in err
    assert "Traceback" not in err


# -- the CLI's view of components -------------------------------------------------------


def test_cli_info_json_shows_every_config_field(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "info", "dcgan", "--json")
    assert code == 0, err
    [info] = json.loads(out)
    assert info["kind"] == "architecture" and info["plugin"] == "gankit-dcgan"
    config_cls = gankit.get_manager().get("architecture", "dcgan").config
    expected = [(f.name, f.default) for f in dataclasses.fields(config_cls)]
    got = [(f["name"], f["default"]) for f in info["config"]]
    assert [n for n, _ in got] == [n for n, _ in expected]
    for (name, default), (_, shown) in zip(expected, got, strict=True):
        assert shown == (list(default) if isinstance(default, tuple) else default), name
    types = {f["name"]: f["type"] for f in info["config"]}
    assert types["latent_dim"] == "int" and types["minibatch_std"] == "bool"
    assert types["data_shape"] == "tuple[int, ...]"
    assert info["needs_labels"] is False and info["recipe"]["loss"] == "non-saturating"


def test_every_builtin_component_field_has_help() -> None:
    """``gankit info`` explains every option of the built-in plugins; a field that
    only changes its default (``latent_dim``) keeps its base class's help."""
    manager = gankit.get_manager()
    missing = []
    for comp in manager.components():
        if comp.plugin.startswith("gankit-"):
            fields = describe(comp.config)
            missing += [f"{comp.kind} {comp.name}: {f.name}" for f in fields if not f.help]
    assert not missing, missing
    dcgan = manager.get("architecture", "dcgan").config
    [latent] = [f for f in describe(dcgan) if f.name == "latent_dim"]
    assert latent.default == 100 and latent.help == "size of the latent vector z"


def test_cli_info_train_lists_every_trainer_option(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "info", "train", "--json")
    assert code == 0, err
    [info] = json.loads(out)
    fields = {f["name"]: f for f in info["config"]}
    assert list(fields) == [f.name for f in dataclasses.fields(TrainConfig)]
    assert fields["compile"]["default"] is False and fields["batch_size"]["default"] == 64
    assert [name for name, f in fields.items() if not f["help"]] == []
    code, _, err = cli(capsys, "info", "trian")
    assert code == 2 and "did you mean train" in err


def test_training_guide_documents_every_trainer_option() -> None:
    guide = (Path(__file__).resolve().parents[1] / "docs" / "training.md").read_text()
    start = guide.index("| train option |")
    table = guide[start : guide.index("\n\n", start)]
    listed = set(re.findall(r"`(\w+)`", "".join(row.split("|")[1] for row in table.splitlines())))
    names = [f.name for f in dataclasses.fields(TrainConfig)]
    missing = [n for n in names if n not in listed]
    assert not missing, f"docs/training.md's option table lacks {missing}"
    stale = sorted(listed - set(names))
    assert not stale, f"docs/training.md's option table lists options that do not exist: {stale}"


def test_cli_list_takes_plural_kinds_and_info_shows_dataset_defaults(
    capsys: pytest.CaptureFixture[str],
) -> None:
    typed = {
        "losses": "loss",
        "loss": "loss",
        "archs": "architecture",
        "regularizers": "regularizer",
    }
    for kind, meant in typed.items():
        code, out, err = cli(capsys, "list", kind, "--json")
        assert code == 0, err
        assert {c["kind"] for c in json.loads(out)} == {meant}, kind
    code, _, err = cli(capsys, "list", "lossez")
    assert code == 2 and "unknown kind 'lossez'" in err
    code, out, _ = cli(capsys, "info", "grid25", "--json")
    assert code == 0
    assert json.loads(out)[0]["default_metrics"] == ["mixture-modes"]


def test_every_command_takes_dash_h(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("sample", "export", "serve", "eval", "info", "zoo"):
        code, out, _ = cli(capsys, command, "-h")
        assert code == 0 and "Usage: gankit " + command in " ".join(out.split()), command


def test_cli_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "--version")
    assert code == 0
    assert out.strip() == f"gankit {importlib.metadata.version('gankit')}"
    assert gankit.__version__ == importlib.metadata.version("gankit")


def test_unregister_removes_hooks_and_components_and_frees_the_name() -> None:
    calls: list[str] = []

    class Watcher:
        def __init__(self, tag: str) -> None:
            self.tag = tag

        @hookimpl
        def gankit_on_train_start(self, trainer: Any) -> None:
            calls.append(self.tag)

    manager = PluginManager(load_entrypoints=False, strict=True)
    manager.register_plugin(_pair_plugin("A"), name="plugA")
    manager.register_plugin(_pair_plugin("B"), name="plugB")
    manager.register_plugin(Watcher("first"), name="watcher")
    manager.hook.gankit_on_train_start(trainer=None)
    assert calls == ["first"]

    manager.unregister_plugin("watcher")
    manager.unregister_plugin("plugB")
    manager.hook.gankit_on_train_start(trainer=None)
    assert calls == ["first"]  # its hook no longer fires
    assert [p.name for p in manager.plugins()] == ["plugA"]
    # plugB's "toy" is gone, so the name is no longer ambiguous
    assert manager.get("architecture", "toy").plugin == "plugA"

    manager.register_plugin(Watcher("second"), name="watcher")  # the name is free again
    manager.hook.gankit_on_train_start(trainer=None)
    assert calls == ["first", "second"]

    manager.unregister_plugin("plugA")
    with pytest.raises(UnknownComponentError):
        manager.get("architecture", "toy")
    with pytest.raises(KeyError, match=r"no plugin named 'plugA' .*registered: watcher"):
        manager.unregister_plugin("plugA")


def test_info_on_a_plugin_shows_its_components_and_the_events_it_handles(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class EventsOnly:
        @hookimpl
        def gankit_on_step_end(self, trainer: Any, step: int, logs: dict[str, float]) -> None:
            pass

        @hookimpl
        def gankit_on_train_start(self, trainer: Any) -> None:
            pass

    manager = PluginManager()
    set_manager(manager)
    info = manager.register_plugin(EventsOnly(), name="events-only", version="1.2.3")
    assert info.hooks == ["gankit_on_step_end", "gankit_on_train_start"]
    # a component-only plugin lists no events (its registration hooks are not events)
    dcgan = {i.name: i for i in manager.plugins()}["gankit-dcgan"]
    assert dcgan.hooks == [] and dcgan.components == [("architecture", "dcgan")]

    code, out, err = cli(capsys, "info", "events-only")
    assert code == 0, err
    assert "events-only (plugin, loaded)" in out and "version: 1.2.3" in out
    assert "events: on_step_end, on_train_start" in out
    code, out, err = cli(capsys, "info", "gankit-dcgan", "--json")
    assert code == 0, err
    (record,) = json.loads(out)
    assert record["kind"] == "plugin" and record["components"] == [
        {"kind": "architecture", "name": "dcgan"}
    ]
    code, out, err = cli(capsys, "plugins", "--json")
    assert code == 0, err
    listed = {p["name"]: p for p in json.loads(out)}
    assert listed["events-only"]["hooks"] == ["gankit_on_step_end", "gankit_on_train_start"]
    code, _, err = cli(capsys, "info", "events-onyl")
    assert code == 2 and "no component or plugin named 'events-onyl'" in err
    assert "did you mean events-only" in err
