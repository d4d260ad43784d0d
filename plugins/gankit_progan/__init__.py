"""Built-in gankit plugin: progressive growing of GANs (Karras et al., 2018).

The generic trainer knows nothing about growth: this plugin drives it through
the event hooks. Before every step it reads the schedule at the images seen so
far, sets level and alpha on G, D and the averaged G, makes the trainer serve
reals at the current resolution (blended during fade-in exactly as G's output
is), applies the per-resolution batch size and learning rate, records alpha and
resolution (logged and checkpointed), saves a sample grid when a phase ends and
enters the next phase (which fires ``gankit_on_phase_change``).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from gankit import hookimpl
from gankit.components import Architecture, Recipe
from gankit_progan.growth import growth_at, per_level, reals_at
from gankit_progan.networks import ProGANConfig, ProGANDiscriminator, ProGANGenerator

#: WGAN-GP loss with the epsilon-drift term (0.001) and a lazy gradient penalty,
#: Adam(4e-3, betas (0, 0.99)), batch 16.
RECIPE = Recipe(
    loss="wasserstein",
    loss_config={"drift": 0.001},
    regularizers=("gradient-penalty",),
    # The penalty on every 4th critic step, scaled by 4 (the paper: every step): in a
    # 30-minute CPU run on Fashion-MNIST 18% more images and a Frechet distance of
    # 62.5 against 85.3 (docs/benchmarks.md). `regularizers.gradient-penalty.interval=1`
    # restores the paper's schedule.
    regularizer_configs={"gradient-penalty": {"interval": 4}},
    n_critic=1,
    # The paper's 1e-3 learns slowly in short runs: 12 minutes on one CPU thread on
    # Fashion-MNIST (fmap_base 128) ended at Frechet distance 78.8 with 1e-3, 38.6
    # with 2e-3, 17.0 with 4e-3 (docs/benchmarks.md). `lr_g=1e-3 lr_d=1e-3` (or
    # arch.learning_rates, per resolution) restores it.
    lr_g=4e-3,
    lr_d=4e-3,
    betas_g=(0.0, 0.99),
    betas_d=(0.0, 0.99),
    # The paper's 16. 30 minutes on one CPU thread on Fashion-MNIST (fmap_base 128):
    # this recipe at batch 16 ended at Frechet distance 4.70; with the non-saturating
    # loss and R1, batch 64 / 32 / 16 / 8 ended at 7.96 / 6.56 / 4.57 / 4.65: fewer
    # images per step, many more steps (docs/benchmarks.md).
    batch_size=16,
)


@hookimpl
def gankit_register_architectures(register):
    """Register the growing generator/discriminator pair."""
    register(
        Architecture(
            name="progan",
            description="ProGAN: grows G and D from 4x4 by doubling with fade-in",
            config=ProGANConfig,
            generator=ProGANGenerator,
            discriminator=ProGANDiscriminator,
            recipe=RECIPE,
        )
    )


def _is_progan(trainer: Any) -> bool:
    return isinstance(getattr(trainer, "G", None), ProGANGenerator)


@hookimpl
def gankit_on_step_start(trainer: Any, step: int) -> None:
    """Apply the growth schedule for this step."""
    if not _is_progan(trainer):
        return
    cfg: ProGANConfig = trainer.arch_config
    growth = growth_at(trainer.images_seen, cfg)
    if trainer.phase and growth.phase != trainer.phase:
        trainer.save_grid(f"phase-{trainer.phase.replace(' ', '-')}")
    for module in trainer.modules():
        module.set_growth(growth.level, growth.alpha)
    last = trainer.G.max_level
    trainer.real_transform = functools.partial(
        reals_at, level=growth.level, alpha=growth.alpha, last_level=last
    )
    batch = per_level(cfg.batch_sizes, growth.level)
    if batch is not None:
        trainer.set_batch_size(int(batch))
    lr = per_level(cfg.learning_rates, growth.level)
    if lr is not None:
        trainer.set_learning_rates(float(lr), float(lr))
    trainer.state.update(alpha=growth.alpha, resolution=growth.resolution)
    trainer.set_phase(growth.phase)


@hookimpl
def gankit_on_step_end(trainer: Any, step: int, logs: dict[str, float]) -> None:
    """Log alpha and the current resolution with every step."""
    if _is_progan(trainer):
        logs["alpha"] = float(trainer.state["alpha"])
        logs["resolution"] = float(trainer.state["resolution"])


@hookimpl
def gankit_on_train_end(trainer: Any) -> None:
    """Warn when training stopped before the final resolution was reached."""
    if _is_progan(trainer) and trainer.G.level < trainer.G.max_level:
        logging.getLogger("gankit.progan").warning(
            "progan training ended at %s, before the final resolution: the artifact's "
            "full-resolution layers are untrained; train longer or lower "
            "arch.images_per_phase",
            trainer.phase,
        )
    if _is_progan(trainer):
        for module in trainer.modules():  # the artifact is the final-resolution generator
            module.set_growth(module.max_level, 1.0)
