"""Step time of gankit's trainer vs a plain hand-written PyTorch loop, same networks.

Both train the textbook MNIST GAN (see textbook.py) on 28x28 Fashion-MNIST (or
the bundled digits resized to 28 when Fashion-MNIST is absent), batch 128, in
the same process. Rounds alternate between the two so that machine noise hits
both alike; the reported step time is the median over rounds.

    python benchmarks/train_speed.py                      # CPU, default settings
    python benchmarks/train_speed.py --rounds 7 --steps 40 --json out.json

On a GPU, ``--preset dcgan64`` times DCGAN 64x64 RGB at batch 256 on random
images: the hand-written loop (fp32 eager), gankit fp32 eager, and gankit with
its speed options (channels_last, fused Adam, bf16 autocast, torch.compile):

    python benchmarks/train_speed.py --preset dcgan64 --json out.json
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

import gankit
from gankit.training.config import resolve
from gankit.training.trainer import Trainer

import textbook
from report import write_json


def build_trainer(data: str, data_cfg: dict[str, object], ema: bool, out: Path) -> Trainer:
    """The gankit trainer for the textbook nets with its default settings."""
    textbook.register()
    overrides = {
        **{f"data.{k}": v for k, v in data_cfg.items()},
        "progress": False,
        "batch_size": 128,
        "ema": ema,
    }
    return Trainer(resolve("textbook", data, overrides=overrides, seed=0), out)


def register_random_images(shape: tuple[int, ...], n: int) -> None:
    """A dataset of random images (speed does not depend on the pixels)."""
    from dataclasses import dataclass

    from gankit.components import Dataset
    from gankit.data import TensorData

    @dataclass
    class RandomConfig:
        """No options."""

    class RandomImages:
        @gankit.hookimpl
        def gankit_register_datasets(self, register):
            register(
                Dataset(
                    name="random-images",
                    description="random images for speed tests",
                    config=RandomConfig,
                    factory=lambda c: TensorData(torch.rand(n, *shape) * 2 - 1, name="random"),
                )
            )

    manager = gankit.get_manager()
    if not any(p.name == "benchmark-random" for p in manager.plugins()):
        manager.register_plugin(RandomImages(), name="benchmark-random")


def dcgan64(args: argparse.Namespace) -> dict[str, object]:
    """DCGAN 64x64 RGB, batch 256: hand loop vs gankit eager vs gankit's speed options."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    register_random_images((3, 64, 64), 256 * 4)
    base = {"progress": False, "batch_size": 256, "device": device, "ema": False}
    fast = {
        **base,
        "channels_last": True,
        "adam": "fused" if device == "cuda" else "foreach",
        "amp": "bf16",
        "compile": True,
    }
    out = Path("benchmarks/results/train_speed_run")
    trainers = {
        "gankit fp32 eager": Trainer(resolve("dcgan", "random-images", overrides=base), out),
        "gankit fast (channels_last, fused Adam, bf16, compile)": Trainer(
            resolve("dcgan", "random-images", overrides=fast), out
        ),
    }
    hand = HandDCGAN(trainers["gankit fp32 eager"], device)
    runners = {
        "hand-written loop (fp32 eager)": hand.step,
        **{k: t.train_step for k, t in trainers.items()},
    }
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    result: dict[str, object] = {
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "torch": torch.__version__,
        "batch_size": 256,
    }
    ips = {}
    for name, fn in runners.items():
        timed(fn, args.warmup)
        sync()

        def step_and_sync(f: Callable[[], object] = fn) -> None:
            f()
            sync()

        t = statistics.median(timed(step_and_sync, args.steps) for _ in range(args.rounds))
        ips[name] = round(256 / t, 1)
    result["images_per_s"] = ips
    base_ips = ips["hand-written loop (fp32 eager)"]
    result["ratio_to_hand_loop"] = {k: round(v / base_ips, 2) for k, v in ips.items()}
    return result


class HandDCGAN:
    """A plain loop training the same DCGAN nets (fp32, BCE on logits)."""

    def __init__(self, like: Trainer, device: str) -> None:
        import copy

        self.G = copy.deepcopy(like.G).to(device)
        self.D = copy.deepcopy(like.D).to(device)
        self.images = like.data.samples.to(device)
        self.device = device
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.bce = torch.nn.BCEWithLogitsLoss()

    def step(self) -> None:
        """One D step and one G step."""
        idx = torch.randint(0, len(self.images), (256,), device=self.device)
        real = self.images[idx]
        ones = torch.ones(256, device=self.device)
        zeros = torch.zeros(256, device=self.device)
        fake = self.G(torch.randn(256, 100, device=self.device))
        self.opt_d.zero_grad()
        loss_d = self.bce(self.D(real), ones) + self.bce(self.D(fake.detach()), zeros)
        loss_d.backward()
        self.opt_d.step()
        self.opt_g.zero_grad()
        self.bce(self.D(self.G(torch.randn(256, 100, device=self.device))), ones).backward()
        self.opt_g.step()


def timed(fn: Callable[[], object], steps: int) -> float:
    """Seconds per call of ``fn`` over ``steps`` calls."""
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t0) / steps


def main() -> None:
    """Run the benchmark and print (and optionally save) the results."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=30, help="steps per round")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--no-ema", action="store_true", help="also time gankit without EMA")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--preset", choices=["textbook", "dcgan64"], default="textbook")
    args = ap.parse_args()
    if args.preset == "dcgan64":
        result = dcgan64(args)
        write_json(result, args.json)
        return

    data_cfg: dict[str, object]
    if Path("/usr/share/datasets/fashion-mnist").is_dir():
        data, data_cfg = "fashion-mnist", {"pad_to_32": False}
    else:
        data, data_cfg = "digits", {"size": 28}
    out = Path("benchmarks/results/train_speed_run")
    variants = {"gankit (default, EMA on)": build_trainer(data, data_cfg, True, out)}
    if args.no_ema:
        variants["gankit (EMA off)"] = build_trainer(data, data_cfg, False, out)
    images = variants["gankit (default, EMA on)"].data.samples
    hand = textbook.HandLoop(images, batch_size=128)

    runners = {"hand-written loop": hand.step, **{k: t.train_step for k, t in variants.items()}}
    for fn in runners.values():
        timed(fn, args.warmup)
    times: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(args.rounds):
        for name, fn in runners.items():
            times[name].append(timed(fn, args.steps))
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["hand-written loop"]
    result = {
        "data": data,
        "batch_size": 128,
        "rounds": args.rounds,
        "steps_per_round": args.steps,
        "torch": torch.__version__,
        "gankit": gankit.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "ms_per_step": {k: round(v * 1000, 2) for k, v in med.items()},
        "ratio_to_hand_loop": {k: round(v / base, 3) for k, v in med.items()},
        "all_rounds_ms": {k: [round(x * 1000, 2) for x in v] for k, v in times.items()},
    }
    write_json(result, args.json)


if __name__ == "__main__":
    main()
