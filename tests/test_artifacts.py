"""Artifacts and checkpoints on disk: file modes that follow the umask; model card text."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import gankit
from gankit.artifacts import LoadedGenerator, save_artifact
from gankit.modelcard import model_card
from gankit.registry import get_architecture, make_config
from gankit.training import checkpoint as ckpt
from gankit.training.config import TrainConfig, resolve
from gankit.training.trainer import Trainer

from tiny_run import TINY

ZOO = Path(__file__).resolve().parents[1] / "zoo" / "gankit_zoo"
IMAGES = ZOO / "dcgan-fashion-mnist"  # data_shape (1, 32, 32)
CONDITIONAL = ZOO / "cgan-fashion-mnist"  # data_shape (1, 32, 32), 10 classes
POINTS = ZOO / "mlp-r1-grid25"  # data_shape (2,)


@pytest.fixture(params=[0o002, 0o022, 0o077])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run the test under this umask; the previous one is restored afterwards."""
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _save(g: LoadedGenerator, out: Path, samples: Path | None = None) -> Path:
    arch = get_architecture(g.info.architecture)
    return save_artifact(
        out,
        architecture=arch,
        arch_config=make_config(arch, g.info.arch_config),
        state_dict=g.generator.state_dict(),
        extra={"dataset": g.config["dataset"]},
        card="# card\n",
        samples_png=samples,
    )


def test_saved_artifacts_follow_the_umask(umask: int, tmp_path: Path) -> None:
    """Directory 0o777 & ~umask, every file 0o666 & ~umask, also when replacing one."""
    g = gankit.load_generator(IMAGES)
    out = _save(g, tmp_path / "shared" / "artifact", samples=IMAGES / "samples.png")
    files = sorted(p.name for p in out.iterdir())
    assert files == ["README.md", "config.json", "model.safetensors", "samples.png"]
    assert _mode(out) == 0o777 & ~umask
    for name in files:
        assert _mode(out / name) == 0o666 & ~umask, name
    # replacing an older artifact publishes the new one with the same modes
    _save(g, out)
    assert _mode(out) == 0o777 & ~umask
    assert _mode(out / "model.safetensors") == 0o666 & ~umask
    assert sorted(p.name for p in out.parent.iterdir()) == ["artifact"]  # no temp dir left
    assert gankit.load_generator(out).sample(1).shape == (1, 1, 32, 32)


def test_a_setgid_directory_keeps_its_group_bit(tmp_path: Path) -> None:
    """A team directory with the set-group-ID bit passes it on to the artifact directory."""
    old = os.umask(0o002)
    try:
        team = tmp_path / "team"
        team.mkdir()
        os.chmod(team, 0o2775)
        if not team.stat().st_mode & stat.S_ISGID:
            pytest.skip("this file system does not keep the set-group-ID bit")
        out = _save(gankit.load_generator(IMAGES), team / "artifact")
        assert out.stat().st_mode & stat.S_ISGID
        assert _mode(out) & 0o777 == 0o775
    finally:
        os.umask(old)


def test_checkpoints_follow_the_umask(umask: int, tmp_path: Path) -> None:
    g = gankit.load_generator(IMAGES)
    directory = tmp_path / "run" / "checkpoints"
    json_path = ckpt.save(directory, 5, dict(g.generator.state_dict()), {"note": "x"})
    tensors = directory / "ckpt-00000005.safetensors"
    assert _mode(directory) == 0o777 & ~umask
    assert _mode(json_path) == 0o666 & ~umask
    assert _mode(tensors) == 0o666 & ~umask
    loaded = ckpt.load_latest(directory)
    assert loaded is not None and loaded.step == 5


def test_a_training_run_directory_is_shareable_by_its_group(tmp_path: Path) -> None:
    """With umask 002, every directory and file a run writes is group-writable."""
    spec = resolve(
        "dcgan",
        "digits",
        overrides={**TINY, "checkpoint_every": 1},
        steps=2,
        seed=3,
    )
    old = os.umask(0o002)
    try:
        run = tmp_path / "run"
        Trainer(spec, run).fit()
    finally:
        os.umask(old)
    written = [run, *run.rglob("*")]
    assert run / "artifact" / "model.safetensors" in written
    assert any(p.suffix == ".safetensors" for p in (run / "checkpoints").iterdir())
    for path in written:
        expected = 0o775 if path.is_dir() else 0o664
        assert _mode(path) == expected, path


# -- model cards -----------------------------------------------------------------------------


def _front_matter(card: str) -> dict[str, object]:
    assert card.startswith("---\n")
    meta = yaml.safe_load(card.split("---")[1])
    assert isinstance(meta, dict)
    return meta


def _card(source: Path, license: str | None = None) -> str:
    g = gankit.load_generator(source)
    arch = get_architecture(g.info.architecture)
    cfg = make_config(arch, g.info.arch_config)
    metrics = {"fd": {"value": 1.5, "n": 100}}
    return model_card(
        g.info.architecture,
        g.config["dataset"],
        cfg,
        10,
        TrainConfig(steps=10),
        metrics,
        g.num_classes,
        license,
    )


def test_card_of_a_2d_points_generator_has_no_image_pipeline_tag() -> None:
    card = _card(POINTS)
    meta = _front_matter(card)
    assert "pipeline_tag" not in meta and "image" not in card.split("---")[1]
    assert meta["datasets"] == ["grid25"] and meta["library_name"] == "gankit"
    assert "points = g.sample(16, seed=0)  # [16, 2]" in card


@pytest.mark.parametrize("card", sorted(ZOO.glob("*/README.md")), ids=lambda p: p.parent.name)
def test_shipped_zoo_cards_have_the_front_matter_the_hub_expects(card: Path) -> None:
    """What the Hub's model card schema takes: metric names as a list, not a mapping."""
    from huggingface_hub import ModelCard

    meta = _front_matter(card.read_text())
    assert meta["library_name"] == "gankit"
    assert all(isinstance(x, str) for x in meta.get("metrics", [])), meta.get("metrics")
    assert isinstance(meta.get("metrics", []), list)
    parsed = ModelCard(card.read_text(), ignore_metadata_errors=False).data.to_dict()
    assert parsed["datasets"] == meta["datasets"]


def test_card_of_an_image_generator_has_the_image_pipeline_tag() -> None:
    meta = _front_matter(_card(IMAGES))
    assert meta["pipeline_tag"] == "unconditional-image-generation"
    assert meta["tags"] == ["gan", "gankit", "dcgan"]
    # the Hub has no class-conditional image generation tag: same tag, plus "conditional"
    meta = _front_matter(_card(CONDITIONAL))
    assert meta["pipeline_tag"] == "unconditional-image-generation"
    assert meta["tags"] == ["gan", "gankit", "cgan", "conditional"]


def test_card_has_a_license_only_when_one_is_given() -> None:
    card = _card(IMAGES)
    assert "license" not in _front_matter(card) and "license:" not in card
    assert _front_matter(_card(IMAGES, license="mit"))["license"] == "mit"
    assert _front_matter(_card(POINTS, license="cc-by-4.0"))["license"] == "cc-by-4.0"


def test_card_lists_metric_names_as_the_hub_schema_does_and_tables_the_values() -> None:
    card = _card(IMAGES)
    assert _front_matter(card)["metrics"] == ["fd"]  # a list of ids, not a mapping
    assert "| fd | 1.5 |" in card
