"""Sample quality on Fashion-MNIST: gankit's default DCGAN recipe vs the hand-written loop.

Both train 2000 steps at batch 128 on CPU. Quality is the Frechet distance between
10k samples and the 10k test images in the 128-d penultimate feature space of the
small Fashion-MNIST classifier that the metrics plugin ships (the features of
`gankit eval --metrics fd`; plugins/gankit_metrics/weights/fashion-mnist.*), plus
class coverage of the samples under that classifier. Real train images vs the
test images give the floor.

    python benchmarks/fmnist_quality.py --json benchmarks/results/fmnist_quality.json
    python benchmarks/fmnist_quality.py --runs dcgan --set lr_decay=linear   # a recipe trial
    python benchmarks/fmnist_quality.py --runs dcgan hand --seed 1 --ema-sweep 5 20
    python benchmarks/fmnist_quality.py --runs progan --set regularizers.gradient-penalty.interval=4
    # ProGAN and DCGAN at once for the same 30 minutes, one thread each (and each its own --json):
    OMP_NUM_THREADS=1 python benchmarks/fmnist_quality.py --runs progan &
    OMP_NUM_THREADS=1 python benchmarks/fmnist_quality.py --runs dcgan-equal-time --minutes 30

Needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import gankit
from gankit import config as config_mod
from gankit.artifacts import LoadedGenerator
from gankit.sampling import GeneratorSampler
from gankit.training.config import resolve
from gankit.training.ema import EMA
from gankit.training.trainer import Trainer
from gankit_metrics.classifier import LoadedClassifier, accuracy, classify, load_classifier
from gankit_metrics.domain import coverage_stats
from gankit_metrics.frechet import frechet_distance

import textbook
from report import write_json

N_EVAL = 10_000


def load_split(split: str) -> gankit.data.TensorData:
    """Fashion-MNIST padded to 32x32."""
    return gankit.create_dataset("fashion-mnist", split=split, pad_to_32=True)


def get_classifier(test: gankit.data.TensorData) -> tuple[LoadedClassifier, float]:
    """The shipped Fashion-MNIST classifier and its accuracy on ``test``, measured now."""
    clf = load_classifier("fashion-mnist")
    assert test.labels is not None
    return clf, accuracy(clf, test.samples, test.labels)


def features_and_predictions(
    clf: LoadedClassifier, images: torch.Tensor
) -> tuple[np.ndarray, np.ndarray]:
    """Classifier features and predicted classes of images in [-1, 1]."""
    feats, preds = classify(clf, images, batch_size=1000)
    return feats.numpy(), preds.numpy()


def coverage(preds: np.ndarray, num_classes: int = 10) -> dict[str, object]:
    """Classes covered: classes predicted for at least half their uniform share of samples."""
    stats = coverage_stats(torch.as_tensor(preds), num_classes)
    return {
        "classes_covered": int(stats["classes_covered"]),
        "class_histogram": [round(stats[f"share_{c}"], 4) for c in range(num_classes)],
    }


def evaluate(
    name: str,
    images: torch.Tensor,
    clf: LoadedClassifier,
    test_feats: np.ndarray,
    seconds: float | None = None,
    **extra: object,
) -> dict[str, object]:
    """Frechet distance and coverage of one set of images."""
    feats, preds = features_and_predictions(clf, images)
    out = {
        "name": name,
        "frechet_distance": round(frechet_distance(feats, test_feats), 3),
        **coverage(preds),
        **extra,
    }
    if seconds is not None:
        out["train_seconds"] = round(seconds, 1)
    print(json.dumps(out))
    return out


def per_class_scores(
    images: torch.Tensor,
    clf: LoadedClassifier,
    test: gankit.data.TensorData,
    test_feats: np.ndarray,
    labels: torch.Tensor | None = None,
) -> dict[str, object]:
    """Per-class Frechet distance, and the conditional accuracy of labelled samples.

    Per-class distance: the samples of class c against the test images of class c
    (1000 each in Fashion-MNIST's test split). A sample's class is the requested
    label when ``labels`` is given (conditional models), else the classifier's
    prediction. Conditional accuracy: the share of samples the classifier assigns
    to the requested class (only with ``labels``).
    """
    feats, preds = features_and_predictions(clf, images)
    assert test.labels is not None
    lab, test_lab = (preds if labels is None else labels.numpy()), test.labels.numpy()
    per_class = [
        round(frechet_distance(feats[lab == c], test_feats[test_lab == c]), 3)
        if (lab == c).sum() >= 2
        else float("nan")
        for c in range(10)
    ]
    out: dict[str, object] = {
        "per_class_frechet_distance": per_class,
        "mean_per_class_frechet_distance": round(float(np.nanmean(per_class)), 3),
    }
    if labels is not None:
        out["conditional_accuracy"] = round(float((preds == lab).mean()), 4)
    else:
        out["per_class_by"] = "the classifier's predicted class"
    return out


def train(
    arch: str,
    out: Path,
    overrides: dict[str, object],
    steps: int | None,
    extra_plugins: tuple[object, ...] = (),
    seed: int = 0,
) -> tuple[LoadedGenerator, float]:
    """Train an architecture with its default recipe plus ``overrides``, from scratch.

    ``steps`` replaces any ``steps`` in ``overrides``; ``None`` leaves it to them.
    Returns the trained (averaged) generator and the training seconds.
    """
    if out.exists():
        shutil.rmtree(out)
    spec = resolve(arch, "fashion-mnist", overrides=overrides, steps=steps, seed=seed)
    trainer = Trainer(spec, out)
    names = [f"benchmark-{type(plugin).__name__}" for plugin in extra_plugins]
    for plugin, name in zip(extra_plugins, names, strict=True):
        trainer.manager.register_plugin(plugin, name=name)
    t0 = time.perf_counter()
    try:
        artifact = trainer.fit()
    finally:
        for name in names:
            trainer.manager.unregister_plugin(name)
    seconds = time.perf_counter() - t0
    return gankit.load_generator(str(artifact)), seconds


def training_counts(g: LoadedGenerator) -> dict[str, int]:
    """Steps and images seen of the run that trained ``g`` (its artifact's config)."""
    record = g.config["training"]
    return {"steps": int(record["steps"]), "images_seen": int(record["images_seen"])}


def samples(g: GeneratorSampler, labels: torch.Tensor | None = None) -> torch.Tensor:
    """N_EVAL samples (seeded), upsampled to 32x32 if the generator is smaller."""
    chunks = []
    for i in range(N_EVAL // 1000):
        lab = None if labels is None else labels[i * 1000 : (i + 1) * 1000]
        chunks.append(g.sample(1000, seed=i, labels=lab))
    x = torch.cat(chunks)
    if x.shape[-1] != 32:
        x = F.interpolate(x, size=(32, 32), mode="nearest")
    return x


def module_samples(model: torch.nn.Module, like: GeneratorSampler) -> torch.Tensor:
    """:func:`samples` of a bare generator module with ``like``'s latent size and classes."""
    return samples(GeneratorSampler(model, like.latent_dim, like.num_classes))


def train_hand_loop(
    train: torch.Tensor, steps: int, batch: int, seed: int = 0
) -> tuple[torch.Tensor, float]:
    """Train the textbook loop on 28x28 images; return 10k samples padded to 32x32."""
    t0 = time.perf_counter()
    loop = textbook.HandLoop(train[:, :, 2:30, 2:30].contiguous(), batch_size=batch, seed=seed)
    for _ in range(steps):
        loop.step()
    seconds = time.perf_counter() - t0
    loop.G.eval()
    with torch.no_grad():
        torch.manual_seed(1)
        x = torch.cat([loop.G(torch.randn(1000, 100)) for _ in range(N_EVAL // 1000)])
    return F.pad(x, (2, 2, 2, 2), value=-1.0), seconds


class PhaseSnapshots:
    """A benchmark-local plugin: copies the averaged G at every ProGAN phase change.

    At a phase change the growth state is already the new phase's, whose start
    (alpha 0 of a fade-in, or alpha 1 after one) computes exactly what the phase
    that just ended computed at its end, so the copy is the previous phase's result.
    """

    def __init__(self) -> None:
        self.snapshots: list[tuple[str, int, float, torch.nn.Module]] = []
        self.previous = ""

    @gankit.hookimpl
    def gankit_on_phase_change(self, trainer: Trainer, phase: str) -> None:
        """Keep a copy of the model that samples now, named after the phase that ended."""
        if self.previous:
            model = copy.deepcopy(trainer.sampling_model()).eval()
            self.snapshots.append((self.previous, trainer.step, time.perf_counter(), model))
        self.previous = phase


class EMASweep:
    """A benchmark-local plugin: averages G at other EMA half-lives next to the trainer's own.

    One training run then shows what each half-life (thousands of images, with the
    trainer's ramp-up) would have given, and what the live G gives without averaging.
    At the end each average gets its batch-norm statistics refreshed exactly as the
    trainer does for its own (by lending it to ``Trainer.sampling_model``).
    """

    def __init__(self, half_lives_kimg: list[float]) -> None:
        self.half_lives = half_lives_kimg
        self.emas: dict[float, EMA] = {}
        self.models: dict[str, torch.nn.Module] = {}

    @gankit.hookimpl
    def gankit_on_train_start(self, trainer: Trainer) -> None:
        """Start one average per half-life from G's initial weights."""
        rampup = trainer.cfg.ema_rampup
        self.emas = {h: EMA(trainer.G, h, rampup) for h in self.half_lives}

    @gankit.hookimpl
    def gankit_on_step_end(self, trainer: Trainer, step: int, logs: dict[str, float]) -> None:
        """Move every average towards G, as the trainer moves its own."""
        for ema in self.emas.values():
            ema.update(trainer.G, trainer.images_seen, trainer.batch_size)

    @gankit.hookimpl
    def gankit_on_train_end(self, trainer: Trainer) -> None:
        """Keep each average (statistics refreshed) and the live G."""
        assert trainer.ema is not None, "--ema-sweep needs ema=true"
        own = trainer.ema.model
        try:
            for h, ema in self.emas.items():
                trainer.ema.model = ema.model
                self.models[f"EMA half-life {h:g} kimg"] = trainer.sampling_model()
        finally:
            trainer.ema.model = own
        self.models["live G, no EMA"] = copy.deepcopy(trainer.G).eval()


#: ProGAN in 30 minutes on CPU, 4 -> 8 -> 16 -> 32 px. The default widths (128
#: channels at every level) cost about 4 s per step at 32x32 on 2 cores; fmap_base
#: 128 gives 128, 64, 32, 16 channels at 4, 8, 16, 32 px: 0.57 s per 32x32 step on
#: one thread in the 2026-11-24 run (docs/benchmarks.md; DCGAN at batch 64: 0.34 s,
#: and fmap_base 256, 128, 128, 64, 32 channels, took about 1.6 s on two threads).
#: 16k images per phase reach the last stabilization after about 7 minutes on one
#: thread, which then runs to the time limit.
PROGAN_OVERRIDES: dict[str, object] = {
    "arch.fmap_base": 128,
    # both runs of the equal-time comparison use it: in 30 minutes on one thread
    # ProGAN (batch 16) made 16567 steps with it against 13943 without, DCGAN 6058
    # against 5344 (docs/benchmarks.md, 2026-11-24)
    "channels_last": True,
    "arch.images_per_phase": 16_000,
    "max_minutes": 30.0,
    "progress": False,
    "log_every": 25,
}


def progan_row(minutes: float) -> str:
    """Name of a ProGAN row trained for ``minutes`` (a trial's overrides are appended)."""
    return f"gankit progan, 4 -> 32 px, {minutes:g} min on CPU"


#: name of the row of ProGAN's default recipe (dcgan-equal-time trains for its seconds)
PROGAN_ROW = progan_row(float(str(PROGAN_OVERRIDES["max_minutes"])))


def main() -> None:
    """Run the benchmark (the runs named by --runs) and merge the rows into --json."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=128, help="batch of the dcgan and hand runs")
    ap.add_argument(
        "--runs",
        nargs="+",
        default=["dcgan", "hand"],
        choices=["dcgan", "hand", "cgan", "wgan-gp", "progan", "dcgan-equal-time"],
        help="dcgan-equal-time trains DCGAN (its default recipe, channels_last like the progan "
        "run) for ProGAN's seconds",
    )
    ap.add_argument("--skip-hand", action="store_true", help="same as leaving out `hand`")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="cgan / wgan-gp: measure the artifact a previous run left in "
        "benchmarks/results/fmnist_runs/RUN instead of training (training seconds "
        "are kept from --json)",
    )
    ap.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="overrides of the dcgan and progan runs' recipes (as `gankit train`); "
        "the row name lists them",
    )
    ap.add_argument(
        "--seed",
        type=int,
        default=0,
        help="training seed of the dcgan, hand, progan and dcgan-equal-time runs (named in "
        "their rows when not 0)",
    )
    ap.add_argument(
        "--ema-sweep",
        nargs="+",
        type=float,
        default=[],
        metavar="KIMG",
        help="dcgan, progan and dcgan-equal-time runs: also measure G averaged with these "
        "EMA half-lives (thousands of images) and the live G, from the same training run",
    )
    ap.add_argument(
        "--minutes",
        type=float,
        help="dcgan-equal-time: train for this many minutes instead of the progan row's "
        "seconds (to run both at once, one thread each, for the same wall time)",
    )
    ap.add_argument("--json", type=Path, help="merge the rows into this file")
    args = ap.parse_args()
    runs = [r for r in args.runs if not (args.skip_hand and r == "hand")]

    train_set, test = load_split("train"), load_split("test")
    clf, acc = get_classifier(test)
    print(f"classifier test accuracy: {acc:.4f}")
    test_feats, _ = features_and_predictions(clf, test.samples)
    old = json.loads(args.json.read_text()) if args.json and args.json.exists() else {}
    rows = {r["name"]: r for r in old.get("rows", [])}
    floor = evaluate("floor: real train (10k) vs test", train_set.samples[:N_EVAL], clf, test_feats)
    rows[floor["name"]] = floor
    out_root = Path("benchmarks/results/fmnist_runs")
    quiet: dict[str, object] = {"sample_every": 500}
    # --set: overrides of the dcgan and progan runs, named in their rows
    trial = config_mod.parse_overrides(args.set)
    trial_suffix = f" + {' '.join(args.set)}" if trial else ""
    seed_suffix = f", seed {args.seed}" if args.seed else ""
    seed_dir = f"-seed{args.seed}" if args.seed else ""

    def add(row: dict[str, object]) -> None:
        rows[str(row["name"])] = row
        save()

    def add_sweep(name: str, sweep: EMASweep, g: LoadedGenerator) -> None:
        """Rows of the other EMA half-lives and the live G (``--ema-sweep``) of run ``name``."""
        for variant, model in sweep.models.items():
            add(evaluate(f"{name}, {variant}", module_samples(model, g), clf, test_feats))

    def save() -> None:
        result = {
            "n_eval": N_EVAL,
            "extractor": "gankit_metrics fashion-mnist classifier (the fd metric's 128-d features)",
            "classifier_test_accuracy": round(acc, 4),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "rows": list(rows.values()),
        }
        write_json(result, args.json, show=False)

    for run in runs:
        if run == "dcgan":
            overrides = {"batch_size": args.batch, **trial}
            out = out_root / (("dcgan-trial" if trial else "dcgan") + seed_dir)
            sweep = EMASweep(args.ema_sweep)
            extra = (sweep,) if args.ema_sweep else ()
            g, sec = train("dcgan", out, overrides, args.steps, extra, seed=args.seed)
            recipe = f"default recipe{trial_suffix}"
            name = f"gankit dcgan ({recipe}), {args.steps} steps, batch {args.batch}{seed_suffix}"
            # the steps made: a trial's max_minutes may stop it before args.steps
            add(evaluate(name, samples(g), clf, test_feats, sec, **training_counts(g)))
            add_sweep(name, sweep, g)
        elif run == "hand":
            x, sec = train_hand_loop(train_set.samples, args.steps, args.batch, args.seed)
            name = (
                f"hand-written loop (textbook GAN), {args.steps} steps, batch {args.batch}"
                f"{seed_suffix}"
            )
            add(evaluate(name, x, clf, test_feats, sec))
        elif run in ("cgan", "wgan-gp"):
            name = f"gankit {run} (default recipe), {args.steps} G steps"
            artifact = out_root / run / "artifact"
            if args.reuse and (artifact / "config.json").is_file():
                g = gankit.load_generator(str(artifact))
                old = rows.get(name, {}).get("train_seconds")
                run_seconds = float(old) if isinstance(old, int | float) else None
            else:
                g, run_seconds = train(run, out_root / run, quiet, args.steps)
            labels = torch.arange(N_EVAL) % 10 if run == "cgan" else None
            x = samples(g, labels)
            scores = per_class_scores(x, clf, test, test_feats, labels)
            add(evaluate(name, x, clf, test_feats, run_seconds, **scores))
        elif run == "progan":
            snaps, sweep = PhaseSnapshots(), EMASweep(args.ema_sweep)
            # a trial's own directory, so trials with other options can run at once
            tag = hashlib.sha1(" ".join(args.set).encode()).hexdigest()[:8]
            out = out_root / ((f"progan-trial-{tag}" if trial else "progan") + seed_dir)
            overrides = {**quiet, **PROGAN_OVERRIDES, **trial}
            plugins: tuple[object, ...] = (snaps, sweep) if args.ema_sweep else (snaps,)
            # time-bound (max_minutes) unless a trial sets steps, e.g. for lr_decay
            steps = None if "steps" in trial else 10**9
            g, sec = train("progan", out, overrides, steps, plugins, seed=args.seed)
            phases = []
            for phase, step, _, model in snaps.snapshots:
                row = evaluate(f"progan after {phase}", module_samples(model, g), clf, test_feats)
                phases.append({"phase": phase, "step": step, **row})
            name = progan_row(float(str(overrides["max_minutes"]))) + trial_suffix + seed_suffix
            counts = training_counts(g)
            add(evaluate(name, samples(g), clf, test_feats, sec, **counts, phases=phases))
            add_sweep(name, sweep, g)
        elif run == "dcgan-equal-time":
            if args.minutes is not None:
                minutes, whose = args.minutes, ""
            else:
                progan = rows.get(PROGAN_ROW)  # the default recipe's run, not a trial
                if progan is None:
                    raise SystemExit(
                        "dcgan-equal-time needs the progan row (run --runs progan first) "
                        "or --minutes"
                    )
                minutes, whose = float(str(progan["train_seconds"])) / 60.0, "ProGAN's "
            overrides = {
                **quiet,
                "max_minutes": minutes,
                "progress": False,
                "channels_last": PROGAN_OVERRIDES["channels_last"],
            }
            sweep = EMASweep(args.ema_sweep)
            extra = (sweep,) if args.ema_sweep else ()
            out = out_root / f"dcgan-equal-time{seed_dir}"
            g, sec = train("dcgan", out, overrides, 10**9, extra, seed=args.seed)
            name = (
                f"gankit dcgan (default recipe, channels_last), {whose}{minutes:.1f} min"
                f"{seed_suffix}"
            )
            add(evaluate(name, samples(g), clf, test_feats, sec, **training_counts(g)))
            add_sweep(name, sweep, g)
    save()
    print(json.dumps(list(rows.values()), indent=2))


if __name__ == "__main__":
    main()
