"""Sampling throughput: torch eager vs OnnxSampler, and `gankit serve` under load.

For each generator (an untrained DCGAN 64x64 RGB, which has the shape and cost of
a real one, and the Fashion-MNIST zoo generator) it measures images/s and p50/p99
latency at batch 1 and 64 for torch eager (eval mode, no_grad, uint8 conversion
included, like the sampler's output) and for OnnxSampler (CPU provider here) on
the fp32 export and on the int8 one (``gankit export --int8``; its image quality
is measured by benchmarks/int8_quality.py). A fourth runner, torch eager with
batch norm folded into the convolutions (as every export has it), shows how much
of OnnxSampler's lead is that folding. The runners take turns in
interleaved rounds (--rounds) and speed-ups are medians over the rounds, so the
VM's drift in speed does not favour whichever runner happened to run first.
Then it starts `gankit serve` on 127.0.0.1 and drives it with N concurrent
clients (httpx, asyncio) for T seconds, requests of 1 and of 16 images in npy
format (--request-n), and reports delivered images/s and errors next to the
sampler's batch-64 rate; ``--serve fp32 int8`` serves the int8 export as well,
compared with the int8 sampler's own rate.

On a GPU (``--gpu auto``, the default, when torch sees a CUDA device) it also
measures, per generator, torch eager fp32 and fp16 on the GPU against
OnnxSampler with IO binding on the CUDA provider for the fp32 export, the fp16
one, and the fp16 one with the uint8 conversion in the graph (a quarter of the
bytes copied back to the host); ``--tensorrt`` adds the TensorRT provider on the
fp16 file. Every runner returns what the sampler does, uint8 NHWC images in host
memory, so the copy back is timed for all of them. ``--gpu cpu`` runs that
section's code on the CPU, to check it on a machine without a GPU (its numbers
mean nothing), and ``--sections gpu`` skips the CPU runners and the server.

    python benchmarks/sampler.py --json benchmarks/results/sampler.json
    python benchmarks/sampler.py --clients 64 --seconds 30
    python benchmarks/sampler.py --serve fp32 int8 --json benchmarks/results/sampler_int8.json
    python benchmarks/sampler.py --sections gpu --json benchmarks/results/sampler_gpu.json
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import functools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

import gankit
from gankit.artifacts import save_artifact
from gankit.errors import GankitError
from gankit.export import export_onnx
from gankit.export.int8 import fold_batchnorm
from gankit.images import to_uint8
from gankit.registry import get_architecture, make_config
from gankit.serving import OnnxSampler
from gankit.serving.providers import choose_providers

from report import write_json
from timing import add_rounds_argument, all_calls, speedup, time_interleaved


def latency_stats(seconds: list[float], batch: int) -> dict[str, float]:
    """images/s and p50/p99 latency (ms) of repeated calls at one batch size."""
    ms = sorted(s * 1000 for s in seconds)
    return {
        "images_per_s": round(batch * len(seconds) / sum(seconds), 1),
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 2),
    }


def torch_sample(
    model: torch.nn.Module,
    batch: int,
    latent_dim: int,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> np.ndarray:
    """Torch eager sampling as OnnxSampler returns it: uint8 NHWC images in host memory."""
    with torch.no_grad():
        return to_uint8(model(torch.randn(batch, latent_dim, device=device, dtype=dtype)))


def dcgan64_artifact(root: Path) -> Path:
    """An (untrained) DCGAN 64x64 RGB generator artifact."""
    arch = get_architecture("dcgan")
    cfg = make_config(arch, {"data_shape": [3, 64, 64]})
    assert arch.generator is not None
    g = arch.generator(cfg).eval()
    return save_artifact(
        root / "dcgan64", architecture=arch, arch_config=cfg, state_dict=g.state_dict()
    )


def bench_generator(
    name: str, source: str, root: Path, repeats: int, rounds: int
) -> dict[str, Any]:
    """Torch eager vs OnnxSampler (fp32 and int8 files) for one generator, interleaved."""
    g = gankit.load_generator(source)
    onnx_path = export_onnx(g, root / f"{name}.onnx")
    sampler = OnnxSampler(onnx_path, device="cpu")
    int8_sampler = OnnxSampler(export_onnx(g, root / f"{name}.int8.onnx", int8=True), device="cpu")
    # torch eager with eval-mode batch norm folded into the convolutions, as the
    # exports are (onnxruntime folds it, the int8 export folds it first): how much of
    # OnnxSampler's lead is the folding alone
    folded = copy.deepcopy(g).eval()
    rows: dict[str, Any] = {
        "generator": name,
        "onnx": str(onnx_path),
        "onnx_int8": str(int8_sampler.path),
        "rounds": rounds,
        "batch_norms_folded": fold_batchnorm(folded),
    }
    for batch in (1, 64):
        runners: dict[str, Callable[[], object]] = {
            f"torch_eager_b{batch}": functools.partial(torch_sample, g, batch, g.latent_dim),
            f"torch_eager_folded_b{batch}": functools.partial(
                torch_sample, folded, batch, g.latent_dim
            ),
            f"onnx_sampler_b{batch}": functools.partial(sampler.sample, batch),
            f"onnx_sampler_int8_b{batch}": functools.partial(int8_sampler.sample, batch),
        }
        times = time_interleaved(runners, repeats, rounds)
        for runner, per_round in times.items():
            rows[runner] = latency_stats(all_calls(per_round), batch)
        if batch == 64:
            rows["speedup_b64"] = speedup(times, "onnx_sampler_b64", "torch_eager_b64")
            rows["speedup_int8_b64"] = speedup(times, "onnx_sampler_int8_b64", "torch_eager_b64")
            rows["speedup_folded_b64"] = speedup(times, "torch_eager_folded_b64", "torch_eager_b64")
            rows["speedup_int8_over_folded_b64"] = speedup(
                times, "onnx_sampler_int8_b64", "torch_eager_folded_b64"
            )
    print(json.dumps(rows))
    return rows


def bench_generator_gpu(
    name: str, source: str, root: Path, repeats: int, rounds: int, device: str, tensorrt: bool
) -> dict[str, Any]:
    """Torch eager fp32/fp16 vs OnnxSampler with IO binding (fp32, fp16 files) on ``device``.

    ``device`` is a torch device (``cuda``, ``cuda:1``); ``cpu`` runs the same code
    with onnxruntime's CPU provider, as a check of this function without a GPU.
    """
    g = gankit.load_generator(source)
    dev = torch.device(device)
    on_gpu = dev.type == "cuda"
    eager32 = copy.deepcopy(g).to(dev).eval()
    eager16 = copy.deepcopy(g).to(dev).half().eval()
    # torch runs first, so that the CUDA and cuDNN libraries it loads are the ones
    # onnxruntime's CUDA provider finds (the way onnxruntime's docs pair the two)
    with torch.no_grad():
        eager32(torch.zeros(1, g.latent_dim, device=dev))
    files = {
        "fp32": export_onnx(g, root / f"{name}.onnx"),
        "fp16": export_onnx(g, root / f"{name}.fp16.onnx", fp16=True),
        "fp16_uint8": export_onnx(g, root / f"{name}.fp16.uint8.onnx", fp16=True, uint8=True),
    }
    device_id = dev.index or 0
    providers = choose_providers("cuda" if on_gpu else "cpu", device_id=device_id)
    samplers = {
        precision: OnnxSampler(path, providers=providers) for precision, path in files.items()
    }
    if tensorrt:
        samplers["tensorrt_fp16"] = OnnxSampler(
            files["fp16"], providers=choose_providers("tensorrt", device_id=device_id)
        )
    rows: dict[str, Any] = {
        "generator": name,
        "device": torch.cuda.get_device_name(dev) if on_gpu else "cpu (a check, not a measurement)",
        "providers": {precision: s.providers[0] for precision, s in samplers.items()},
        "rounds": rounds,
    }
    for batch in (1, 64):
        runners: dict[str, Callable[[], object]] = {
            f"torch_eager_fp32_b{batch}": functools.partial(
                torch_sample, eager32, batch, g.latent_dim, dev
            ),
            f"torch_eager_fp16_b{batch}": functools.partial(
                torch_sample, eager16, batch, g.latent_dim, dev, torch.float16
            ),
        }
        for precision, sampler in samplers.items():
            runners[f"onnx_{precision}_b{batch}"] = functools.partial(sampler.sample, batch)
        times = time_interleaved(runners, repeats, rounds)
        for runner, per_round in times.items():
            rows[runner] = latency_stats(all_calls(per_round), batch)
        if batch == 64:
            for precision in samplers:
                rows[f"speedup_{precision}_b64"] = speedup(
                    times, f"onnx_{precision}_b64", "torch_eager_fp32_b64"
                )
    print(json.dumps(rows))
    return rows


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def load(url: str, clients: int, seconds: float, request_n: int = 1) -> dict[str, Any]:
    """N clients posting ``request_n``-image npy requests in a loop for ``seconds``."""
    import httpx

    done = errors = 0
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client(http: httpx.AsyncClient, i: int) -> None:
        nonlocal done, errors
        seed = i * 1_000_000
        while time.perf_counter() < deadline:
            seed += 1
            t0 = time.perf_counter()
            r = await http.post(url, json={"n": request_n, "seed": seed, "format": "npy"})
            latencies.append(time.perf_counter() - t0)
            if r.status_code == 200:
                done += request_n
            else:
                errors += 1

    limits = httpx.Limits(max_connections=clients)
    t0 = time.perf_counter()
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        await asyncio.gather(*(client(http, i) for i in range(clients)))
    elapsed = time.perf_counter() - t0
    return {
        "clients": clients,
        "images_per_request": request_n,
        "seconds": round(elapsed, 1),
        "images": done,
        "errors": errors,
        **latency_stats(latencies, request_n),
        "images_per_s": round(done / elapsed, 1),
    }


def bench_server(
    onnx_path: str, clients: int, seconds: float, raw_b64: float, request_sizes: list[int]
) -> list[dict[str, Any]]:
    """Run `gankit serve` and measure it under load, once per request size."""
    import httpx

    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gankit",
            "serve",
            onnx_path,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--max-batch",
            "64",
            "--max-wait-ms",
            "5",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        results = []
        for request_n in request_sizes:
            result = asyncio.run(load(f"{base}/v1/samples", clients, seconds, request_n))
            result["fraction_of_sampler_b64"] = round(result["images_per_s"] / raw_b64, 3)
            print(json.dumps(result))
            results.append(result)
        return results
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def gpu_device(choice: str, tensorrt: bool = False) -> str | None:
    """The torch device of the GPU section for ``--gpu``, or None to skip it.

    A CUDA device is checked at once for the onnxruntime providers the section
    asks for: ``auto`` skips the section without them, a named device stops.
    """
    if choice == "none" or (choice == "auto" and not torch.cuda.is_available()):
        return None
    try:
        device = torch.device("cuda" if choice == "auto" else choice)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cuda", "cpu"):
        raise SystemExit(f"--gpu {choice!r}: use auto, none, cuda, cuda:N or cpu")
    if device.type == "cpu":
        return "cpu"
    if not torch.cuda.is_available():
        raise SystemExit(f"--gpu {choice}: torch sees no CUDA device; use --gpu none or cpu")
    try:  # fail before the CPU sections' minutes, not after them
        choose_providers("tensorrt" if tensorrt else "cuda", device_id=device.index or 0)
    except GankitError as exc:
        if choice == "auto":
            print(f"skipping the GPU section: {exc}", file=sys.stderr)
            return None
        raise SystemExit(f"--gpu {choice}: {exc}") from None
    return str(device)


def main() -> None:
    """Run the benchmark."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=40, help="timed calls per runner and batch")
    add_rounds_argument(ap)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument(
        "--request-n",
        type=int,
        nargs="+",
        default=[1, 16],
        help="images per request; the server is measured once per value",
    )
    ap.add_argument(
        "--serve",
        nargs="+",
        choices=["fp32", "int8"],
        default=["fp32"],
        help="which DCGAN 64x64 export the server runs; each is compared with its own sampler",
    )
    ap.add_argument(
        "--gpu",
        default="auto",
        help="torch device of the GPU section: auto (cuda when torch sees one, else the "
        "section is skipped), none, cuda, cuda:N, or cpu (runs that code on the CPU as a check)",
    )
    ap.add_argument(
        "--tensorrt",
        action="store_true",
        help="GPU section: also the TensorRT provider on the fp16 file (slow to start: "
        "TensorRT builds an engine for each warm-up batch size)",
    )
    ap.add_argument(
        "--sections",
        nargs="+",
        choices=["cpu", "server", "gpu"],
        default=["cpu", "server", "gpu"],
        help="what to measure (the server is compared with the cpu section's sampler rate)",
    )
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    gpu = gpu_device(args.gpu, args.tensorrt) if "gpu" in args.sections else None
    if "server" in args.sections and "cpu" not in args.sections:
        ap.error("--sections server needs cpu too: the server is compared with its sampler")
    root = Path(tempfile.mkdtemp(prefix="gankit-sampler-bench-"))
    generators = [
        ("dcgan-64x64-rgb", str(dcgan64_artifact(root))),
        ("zoo:dcgan-fashion-mnist", "zoo:dcgan-fashion-mnist"),
    ]
    result: dict[str, Any] = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    if "cpu" in args.sections:
        rows = [
            bench_generator(name, source, root, args.repeats, args.rounds)
            for name, source in generators
        ]
        result["generators"] = rows
    if "server" in args.sections:
        for precision in args.serve:
            suffix = "" if precision == "fp32" else "_int8"
            # "server" holds the fp32 file's rows, as in earlier results
            result["server" + suffix] = bench_server(
                rows[0]["onnx" + suffix],
                args.clients,
                args.seconds,
                rows[0][f"onnx_sampler{suffix}_b64"]["images_per_s"],
                args.request_n,
            )
    if gpu is not None:
        import onnxruntime as ort

        result["onnxruntime"] = ort.__version__
        result["gpu"] = [
            bench_generator_gpu(
                name, source, root / "gpu", args.repeats, args.rounds, gpu, args.tensorrt
            )
            for name, source in generators
        ]
    write_json(result, args.json, show=False)


if __name__ == "__main__":
    main()
