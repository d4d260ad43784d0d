"""OnnxSampler, the micro-batcher and a real ``gankit serve`` process on 127.0.0.1."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("onnxruntime")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from gankit import hookimpl  # noqa: E402
from gankit.artifacts import LoadedGenerator, load_generator, save_artifact  # noqa: E402
from gankit.components import ArchConfig, Architecture  # noqa: E402
from gankit.errors import ArtifactError, GankitError  # noqa: E402
from gankit.export import export_onnx  # noqa: E402
from gankit.images import to_uint8  # noqa: E402
from gankit.plugins import get_manager  # noqa: E402
from gankit.registry import make_config  # noqa: E402
from gankit.serving import providers as prov  # noqa: E402
from gankit.serving.batching import MicroBatcher  # noqa: E402
from gankit.serving.encoding import make_grid  # noqa: E402
from gankit.serving.errors import InvalidInputError  # noqa: E402
from gankit.serving.sampler import OnnxSampler  # noqa: E402
from gankit.serving.schemas import Limits, parse_body  # noqa: E402

MAX_N = 64
REPO = Path(__file__).resolve().parents[1]

# -- tiny generators ---------------------------------------------------------------------


@dataclass
class ServeConfig(ArchConfig):
    """Config of the tiny serving-test generators."""

    width: int = 8


class ServeG(nn.Module):
    """ConvTranspose + BatchNorm + tanh (8x8 images), or an MLP for 2-D points."""

    def __init__(self, cfg: ServeConfig) -> None:
        super().__init__()
        self.points = len(cfg.data_shape) == 1
        self.embed = nn.Embedding(cfg.num_classes, cfg.latent_dim) if cfg.num_classes else None
        if self.points:
            self.net: nn.Module = nn.Sequential(
                nn.Linear(cfg.latent_dim, 16), nn.ReLU(), nn.Linear(16, 2)
            )
        else:
            c = cfg.data_shape[0]
            self.net = nn.Sequential(
                nn.ConvTranspose2d(cfg.latent_dim, cfg.width, 4, 1, 0),
                nn.BatchNorm2d(cfg.width),
                nn.ReLU(),
                nn.ConvTranspose2d(cfg.width, c, 4, 2, 1),
                nn.Tanh(),
            )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            assert labels is not None
            z = z * self.embed(labels)
        return self.net(z) if self.points else self.net(z[:, :, None, None])


class ServePlugin:
    """Registers ``serve-tiny`` (unconditional) and ``serve-tiny-cond``."""

    @hookimpl
    def gankit_register_architectures(self, register: Any) -> None:
        for name, labels in (("serve-tiny", False), ("serve-tiny-cond", True)):
            register(
                Architecture(
                    name=name,
                    description="serving test generator",
                    config=ServeConfig,
                    generator=ServeG,
                    discriminator=ServeG,
                    needs_labels=labels,
                )
            )


def _artifact(out: Path, arch_name: str, data_shape: tuple[int, ...], classes: int) -> Path:
    manager = get_manager()
    if not any(p.name == "test-serving-tiny" for p in manager.plugins()):
        manager.register_plugin(ServePlugin(), name="test-serving-tiny")
    arch = manager.get("architecture", arch_name)
    assert isinstance(arch, Architecture)
    cfg = make_config(arch, {"latent_dim": 8, "data_shape": data_shape, "num_classes": classes})
    torch.manual_seed(0)
    g = ServeG(cfg)
    for m in g.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
    return save_artifact(out, architecture=arch, arch_config=cfg, state_dict=g.state_dict())


@dataclass
class Models:
    """The ONNX files (and source artifacts) used by these tests."""

    uncond: Path
    cond: Path
    cond_uint8: Path
    uncond_fixed4: Path
    points: Path
    uncond_artifact: Path
    cond_artifact: Path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    """Exports of untrained tiny generators (no training needed)."""
    d = tmp_path_factory.mktemp("serving")
    ua = _artifact(d / "uncond", "serve-tiny", (3, 8, 8), 0)
    ca = _artifact(d / "cond", "serve-tiny-cond", (1, 8, 8), 10)
    pa = _artifact(d / "points", "serve-tiny", (2,), 0)
    return Models(
        uncond=export_onnx(ua, d / "uncond.onnx"),
        cond=export_onnx(ca, d / "cond.onnx"),
        cond_uint8=export_onnx(ca, d / "cond8.onnx", uint8=True),
        uncond_fixed4=export_onnx(ua, d / "uncond4.onnx", batch=4),
        points=export_onnx(pa, d / "points.onnx"),
        uncond_artifact=ua,
        cond_artifact=ca,
    )


# -- OnnxSampler ---------------------------------------------------------------------------


def test_sampler_is_deterministic_per_seed_and_matches_torch(models: Models) -> None:
    s = OnnxSampler(models.cond, device="cpu")
    a = s.sample(12, seed=3)
    assert a.dtype == np.uint8 and a.shape == (12, 8, 8, 1)
    assert np.array_equal(a, s.sample(12, seed=3))
    assert not np.array_equal(a, s.sample(12, seed=4))
    # no labels: classes are cycled, as LoadedGenerator.sample does
    assert np.array_equal(a, s.sample(12, seed=3, labels=[i % 10 for i in range(12)]))
    gen: LoadedGenerator = load_generator(models.cond_artifact)
    labels = torch.arange(12) % 10
    with torch.no_grad():
        want = to_uint8(gen(torch.from_numpy(s.latents(12, 3)), labels))
    assert np.abs(a.astype(int) - want.astype(int)).max() <= 1


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        ([1, 2], "2 labels for 3"),
        ([0, 1, 10], "label 10 is outside"),
        ([0, -1, 2], "label -1"),
        ([[0], [1], [2]], "flat list"),
        (["a", "b", "c"], "integers"),
    ],
)
def test_sampler_rejects_bad_labels_before_running(models: Models, labels: Any, match: str) -> None:
    s = OnnxSampler(models.cond, device="cpu", warmup=False)
    with pytest.raises(InvalidInputError, match=match) as info:
        s.sample(3, seed=0, labels=labels)
    assert info.value.field == "labels" and isinstance(info.value, GankitError)


def test_sampler_rejects_labels_for_unconditional_and_bad_n_seed(models: Models) -> None:
    s = OnnxSampler(models.uncond, device="cpu", warmup=False)
    with pytest.raises(InvalidInputError, match="unconditional") as info:
        s.sample(2, labels=[0, 1])
    assert info.value.field == "labels"
    for n in (0, -3, 2.5, True):
        with pytest.raises(InvalidInputError) as info:
            s.sample(n)  # type: ignore[arg-type]
        assert info.value.field == "n"
    with pytest.raises(InvalidInputError) as info:
        s.sample(2, seed=-1)
    assert info.value.field == "seed"


def test_uint8_export_fixed_batch_and_chunking_agree(models: Models) -> None:
    ref = OnnxSampler(models.cond, device="cpu").sample(70, seed=9)
    as_uint8 = OnnxSampler(models.cond_uint8, device="cpu").sample(70, seed=9)
    assert np.abs(ref.astype(int) - as_uint8.astype(int)).max() <= 1
    small = OnnxSampler(models.cond, device="cpu", max_batch=8)
    assert np.array_equal(small.sample(70, seed=9), ref)
    fixed = OnnxSampler(models.uncond_fixed4, device="cpu", max_batch=64)
    assert fixed.max_batch == 4
    want = OnnxSampler(models.uncond, device="cpu").sample(10, seed=1)
    assert np.array_equal(fixed.sample(10, seed=1), want)


def test_points_model_returns_float_points(models: Models) -> None:
    s = OnnxSampler(models.points, device="cpu")
    pts = s.sample(5, seed=0)
    assert pts.dtype == np.float32 and pts.shape == (5, 2) and not s.is_image


def test_sampler_is_thread_safe(models: Models) -> None:
    s = OnnxSampler(models.cond, device="cpu")
    jobs = [(1 + i % 9, i) for i in range(48)]
    expected = [s.sample(n, seed=seed) for n, seed in jobs]
    with ThreadPoolExecutor(max_workers=16) as pool:
        got = list(pool.map(lambda job: s.sample(job[0], seed=job[1]), jobs))
    assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))


def test_sampler_without_spinning_threads_gives_the_same_images(models: Models) -> None:
    spinning = OnnxSampler(models.cond, device="cpu")
    idle = OnnxSampler(models.cond, device="cpu", spin_threads=False)
    key = "session.intra_op.allow_spinning"
    assert idle.session.get_session_options().get_session_config_entry(key) == "0"
    assert np.array_equal(idle.sample(9, seed=5), spinning.sample(9, seed=5))


def test_model_without_gankit_metadata_is_refused(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["z"], ["images"])],
        "g",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["b", 4])],
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["b", 4])],
    )
    path = tmp_path / "plain.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)
    onnx.save(model, str(path))
    with pytest.raises(ArtifactError, match="gankit export"):
        OnnxSampler(path, device="cpu")
    with pytest.raises(ArtifactError, match="does not exist"):
        OnnxSampler(tmp_path / "missing.onnx")


def test_providers_use_gpu_only_when_a_device_exists(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert prov.choose_providers("cpu") == [prov.CPU]
    monkeypatch.setattr(prov, "cuda_device_count", lambda: 0)
    assert prov.choose_providers("auto") == [prov.CPU]
    with pytest.raises(GankitError, match="device 'cuda'"):
        prov.choose_providers("cuda")
    with pytest.raises(GankitError, match="unknown device"):
        prov.choose_providers("gpu")
    import onnxruntime as ort

    if prov.CUDA in ort.get_available_providers():
        monkeypatch.setattr(prov, "cuda_device_count", lambda: 1)
        chosen = prov.choose_providers("auto")
        assert prov.provider_name(chosen[0]) == prov.CUDA and chosen[-1] == prov.CPU
    caplog.set_level("WARNING")
    prov.check_providers([(prov.CUDA, {}), prov.CPU], [prov.CPU], "m.onnx")
    assert len(caplog.records) == 1 and "CPUExecutionProvider" in caplog.text


# -- micro-batcher and request parsing ---------------------------------------------------------


def test_batcher_merges_requests_and_results_do_not_depend_on_batching() -> None:
    sizes: list[int] = []

    def run(z: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        time.sleep(0.01)
        return z * 2

    batcher = MicroBatcher(run, max_batch=8, max_wait_ms=100, on_batch=sizes.append)
    batcher.start()
    inputs = [np.full((n, 2), i, np.float32) for i, n in enumerate([3, 2, 4, 1, 9, 2])]
    futures = [batcher.submit(z, None) for z in inputs]
    results = [f.result(timeout=10) for f in futures]
    batcher.close(5)
    assert all(np.array_equal(r, z * 2) for r, z in zip(results, inputs, strict=True))
    assert max(sizes) > 3 and max(sizes) <= 8 and sum(sizes) == 21


def test_batcher_skips_cancelled_requests() -> None:
    gate = threading.Event()
    seen: list[int] = []

    def run(z: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        gate.wait(5)
        seen.append(z.shape[0])
        return z

    batcher = MicroBatcher(run, max_batch=4, max_wait_ms=0)
    batcher.start()
    first = batcher.submit(np.zeros((4, 2), np.float32), None)  # occupies the worker
    time.sleep(0.05)
    gone = batcher.submit(np.zeros((3, 2), np.float32), None)
    kept = batcher.submit(np.ones((2, 2), np.float32), None)
    assert gone.cancel()  # the client disconnected while queued
    gate.set()
    assert first.result(5).shape == (4, 2) and np.array_equal(kept.result(5), np.ones((2, 2)))
    batcher.close(5)
    assert seen == [4, 2]


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        (b"{", "body", 400),
        (b"[1]", "body", 400),
        (b"{}", "n", 400),
        (b'{"n": "3"}', "n", 400),
        (b'{"n": 0}', "n", 400),
        (b'{"n": 1000}', "n", 400),
        (b'{"n": 2, "seed": -1}', "seed", 400),
        (b'{"n": 2, "labels": [1]}', "labels", 400),
        (b'{"n": 2, "format": "gif"}', "format", 400),
        (b'{"n": 2, "grid": 1}', "grid", 400),
        (b'{"n": 2, "size": 3}', "size", 400),
        (b" " * 70_000, "body", 413),
    ],
)
def test_parse_body_names_the_field(body: bytes, field: str, status: int) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_body(body, Limits(max_n=MAX_N))
    assert info.value.field == field and info.value.status == status


def test_parse_body_defaults_and_points_models() -> None:
    req = parse_body(b'{"n": 3}', Limits())
    assert (req.n, req.seed, req.labels, req.format, req.grid) == (3, None, None, "png", True)
    with pytest.raises(InvalidInputError) as info:
        parse_body(b'{"n": 3}', Limits(), is_image=False)
    assert info.value.field == "format"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", 'request body is empty; send a JSON object such as {"n": 16}'),
        (b" \n", 'request body is empty; send a JSON object such as {"n": 16}'),
        (b'{"n": true}', "n must be an integer, got true"),
        (b'{"n": null}', "n must be an integer, got null"),
        (b'{"n": "3"}', 'n must be an integer, got "3"'),
        (b'{"n": 2, "seed": true}', "seed must be an integer in 0..2**64-1 or null, got true"),
        (b'{"n": 2, "grid": null}', "grid must be true or false, got null"),
        (b'{"n": 2, "format": null}', "unknown format null; use one of png, npy, json"),
        (b'{"n": 2, "labels": [1, false]}', "labels must be a list of integers or null, got"),
    ],
)
def test_parse_body_messages_quote_json(body: bytes, message: str) -> None:
    """Messages show the value as the client sent it (JSON true/null), not Python's repr."""
    with pytest.raises(InvalidInputError) as info:
        parse_body(body, Limits(max_n=MAX_N))
    assert str(info.value).startswith(message)
    assert "True" not in str(info.value) and "None" not in str(info.value)


def test_out_of_range_labels_are_named_with_the_range(models: Models) -> None:
    s = OnnxSampler(models.cond, device="cpu", warmup=False)
    huge = 100000000000000000000000  # a valid JSON integer, beyond int64
    for labels, bad in (([1, huge], huge), ([-huge, 1], -huge), ([1, 10], 10)):
        with pytest.raises(InvalidInputError) as info:
            s.check_labels(labels, 2)
        assert str(info.value) == f"label {bad} is outside this generator's classes 0..9"
        assert info.value.field == "labels"


def test_warmup_uses_seeded_normal_latents(models: Models, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not zeros: a generator that normalizes z would divide 0 by 0 at every start."""
    seen: list[np.ndarray] = []
    real = OnnxSampler._run_chunk

    def spy(self: OnnxSampler, z: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        seen.append(z.copy())
        return real(self, z, labels)

    monkeypatch.setattr(OnnxSampler, "_run_chunk", spy)
    OnnxSampler(models.cond, device="cpu", max_batch=16)
    assert [z.shape for z in seen] == [(1, 8), (16, 8)]
    rng = np.random.default_rng(0)
    for z in seen:
        assert np.array_equal(z, rng.standard_normal(z.shape, dtype=np.float32))


def test_fixed_batch_export_sets_the_metric_buckets(models: Models) -> None:
    from starlette.testclient import TestClient

    from gankit.serving import server

    app = server.create_app(server.ServerConfig(models.uncond_fixed4, device="cpu", max_batch=64))
    with TestClient(app) as client:
        deadline = time.monotonic() + 30
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert client.post("/v1/samples", json={"n": 3, "format": "npy"}).status_code == 200
        text = client.get("/metrics").text
    assert 'gankit_batch_images_bucket{le="4.0"} 1.0' in text  # padded to the file's batch
    assert 'le="64.0"' not in text and 'le="8.0"' not in text


def test_readyz_is_503_until_the_model_is_warm(
    models: Models, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.testclient import TestClient

    from gankit.serving import server

    release = threading.Event()
    real = server.OnnxSampler

    made: list[OnnxSampler] = []

    def slow_sampler(*args: Any, **kwargs: Any) -> OnnxSampler:
        release.wait(10)
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(server, "OnnxSampler", slow_sampler)
    app = server.create_app(server.ServerConfig(models.uncond, device="cpu"))
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 503
        assert client.post("/v1/samples", json={"n": 1}).status_code == 503
        release.set()
        deadline = time.monotonic() + 10
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert client.post("/v1/samples", json={"n": 2, "format": "npy"}).status_code == 200
        # the server's onnxruntime threads do not spin while HTTP work needs the cores
        options = made[0].session.get_session_options()
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


# -- a real server process ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A ``python -m gankit serve`` subprocess on 127.0.0.1."""

    def __init__(self, model: Path, log: Path, *args: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gankit",
                    "serve",
                    str(model),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--max-n",
                    str(MAX_N),
                    "--device",
                    "cpu",
                    *args,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                env=env,
            )

    def wait_ready(self, timeout: float = 60) -> None:
        """Poll /readyz until it says 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"server exited {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        pytest.fail(f"server not ready after {timeout}s:\n{self.log.read_text()}")

    def stop(self) -> None:
        """Terminate the process if it still runs."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def servers(
    models: Models, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Server]]:
    """Two servers started together: conditional (fast) and unconditional (slow batching)."""
    d = tmp_path_factory.mktemp("logs")
    started = {
        "cond": Server(models.cond, d / "cond.log", "--max-batch", "64", "--max-wait-ms", "50"),
        "uncond": Server(
            models.uncond, d / "uncond.log", "--max-batch", "64", "--max-wait-ms", "300"
        ),
    }
    try:
        for server in started.values():
            server.wait_ready()
        yield started
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """An HTTP client."""
    with httpx.Client(timeout=30) as c:
        yield c


BAD_REQUESTS = [
    (b"{not json", "body"),
    (b"[1, 2]", "body"),
    (b'"n"', "body"),
    (b"{}", "n"),
    (b'{"n": "4"}', "n"),
    (b'{"n": true}', "n"),
    (b'{"n": 1.5}', "n"),
    (b'{"n": 0}', "n"),
    (b'{"n": -2}', "n"),
    (json.dumps({"n": MAX_N + 1}).encode(), "n"),
    (b'{"n": 2, "seed": "x"}', "seed"),
    (b'{"n": 2, "seed": -5}', "seed"),
    (b'{"n": 2, "labels": [1]}', "labels"),
    (b'{"n": 2, "labels": [1, 10]}', "labels"),
    (b'{"n": 2, "labels": [1, -1]}', "labels"),
    (b'{"n": 2, "labels": "1,2"}', "labels"),
    (b'{"n": 2, "labels": [1, 2.0]}', "labels"),
    (b'{"n": 2, "format": "gif"}', "format"),
    (b'{"n": 2, "format": 3}', "format"),
    (b'{"n": 2, "grid": "no"}', "grid"),
    (b'{"n": 2, "colour": 1}', "colour"),
    (b"", "body"),
    (b"\xff\xfe{", "body"),
    (b"[" * 20_000 + b"]" * 20_000, "body"),
    (b'{"n": NaN}', "n"),
    (b'{"n": 2, "seed": 100000000000000000000000}', "seed"),
    (b'{"n": 2, "labels": [1, 100000000000000000000000]}', "labels"),
]


def test_bad_requests_get_4xx_naming_the_field(servers: dict[str, Server], client: Any) -> None:
    url = f"{servers['cond'].url}/v1/samples"
    for body, field in BAD_REQUESTS:
        r = client.post(url, content=body, headers={"content-type": "application/json"})
        assert 400 <= r.status_code < 500, (body, r.status_code, r.text)
        assert r.json()["field"] == field, (body, r.json())
        assert r.json()["error"]
    # too large: by Content-Length, and streamed without one (chunked)
    json_type = {"content-type": "application/json"}
    r = client.post(url, content=b" " * (65 * 1024), headers=json_type)
    assert r.status_code == 413 and r.json()["field"] == "body"
    chunks = iter([b'{"n": 1, "x": "', b"a" * (70 * 1024), b'"}'])
    r = client.post(url, content=chunks, headers=json_type)
    assert r.status_code == 413 and r.json()["field"] == "body"
    r = client.post(f"{servers['uncond'].url}/v1/samples", json={"n": 2, "labels": [0, 1]})
    assert r.status_code == 400 and r.json()["field"] == "labels"
    assert client.get(url).status_code == 405
    assert client.get(f"{servers['cond'].url}/nothing").json()["field"] is None


def test_valid_responses_match_the_sampler(
    servers: dict[str, Server], client: Any, models: Models
) -> None:
    from PIL import Image

    url = f"{servers['cond'].url}/v1/samples"
    sampler = OnnxSampler(models.cond, device="cpu")
    want = sampler.sample(6, seed=11, labels=[5, 4, 3, 2, 1, 0])
    body = {"n": 6, "seed": 11, "labels": [5, 4, 3, 2, 1, 0]}

    r = client.post(url, json={**body, "format": "npy"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    arr = np.load(io.BytesIO(r.content), allow_pickle=False)
    assert arr.dtype == np.uint8 and arr.shape == (6, 8, 8, 1)
    assert np.array_equal(arr, want)

    r = client.post(url, json=body)  # png grid is the default
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    grid = np.asarray(Image.open(io.BytesIO(r.content)))
    assert np.array_equal(grid, make_grid(want)[:, :, 0])

    r = client.post(url, json={**body, "format": "png", "grid": False})
    assert r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        names = sorted(zf.namelist())
        assert names == [f"sample_{i:04d}.png" for i in range(6)]
        first = np.asarray(Image.open(io.BytesIO(zf.read(names[0]))))
    assert np.array_equal(first, want[0, :, :, 0])

    r = client.post(url, json={**body, "format": "json"})
    data = r.json()
    assert data["shape"] == [6, 8, 8, 1] and len(data["images"]) == 6
    import base64

    img = np.asarray(Image.open(io.BytesIO(base64.b64decode(data["images"][5]))))
    assert np.array_equal(img, want[5, :, :, 0])
    assert r.headers["x-gankit-seed"] == "11"

    r = client.post(url, json={"n": 3, "format": "npy"})  # no seed: one is chosen and returned
    again = client.post(
        url, json={"n": 3, "format": "npy", "seed": int(r.headers["x-gankit-seed"])}
    )
    assert np.array_equal(np.load(io.BytesIO(r.content)), np.load(io.BytesIO(again.content)))


def test_health_ready_openapi(servers: dict[str, Server], client: Any) -> None:
    base = servers["cond"].url
    assert client.get(f"{base}/healthz").json() == {"status": "alive"}
    ready = client.get(f"{base}/readyz").json()
    assert ready["status"] == "ready" and ready["num_classes"] == 10
    assert ready["providers"] == ["CPUExecutionProvider"]
    spec = client.get(f"{base}/openapi.json").json()
    assert set(spec["paths"]) == {"/v1/samples", "/healthz", "/readyz", "/metrics"}
    props = spec["components"]["schemas"]["SampleRequest"]["properties"]
    assert props["n"]["maximum"] == MAX_N and props["format"]["enum"] == ["png", "npy", "json"]


def test_body_must_be_declared_json(servers: dict[str, Server], client: Any) -> None:
    """text/plain is a CORS simple request: any web page could make a browser send it."""
    url = f"{servers['cond'].url}/v1/samples"
    body = b'{"n": 2, "format": "npy"}'
    for headers in ({"content-type": "text/plain"}, {}, {"content-type": "application/jsonx"}):
        r = client.post(url, content=body, headers=headers)
        assert r.status_code == 415, (headers, r.text)
        assert r.headers["content-type"] == "application/json"
        error = r.json()
        assert error["field"] == "body"
        assert "Content-Type: application/json" in error["error"]
        got = repr(headers["content-type"]) if headers else "no Content-Type"
        assert got in error["error"]
    for media_type in ("application/json; charset=utf-8", "Application/JSON"):
        r = client.post(url, content=body, headers={"content-type": media_type})
        assert r.status_code == 200, (media_type, r.text)


def test_ready_line_is_logged_at_the_default_log_level(servers: dict[str, Server]) -> None:
    server = servers["cond"]
    deadline = time.monotonic() + 10
    while "gankit.serving.server: ready:" not in server.log.read_text():
        assert time.monotonic() < deadline, server.log.read_text()
        time.sleep(0.05)
    assert "on CPUExecutionProvider (max batch 64)" in server.log.read_text()


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert match, name
    return float(match.group(1))


def test_concurrent_requests_are_batched(servers: dict[str, Server], models: Models) -> None:
    base = servers["cond"].url
    sampler = OnnxSampler(models.cond, device="cpu")
    jobs = [(1 + i % 3, 100 + i) for i in range(32)]

    def post(job: tuple[int, int]) -> tuple[int, np.ndarray]:
        with httpx.Client(timeout=30) as c:
            r = c.post(f"{base}/v1/samples", json={"n": job[0], "seed": job[1], "format": "npy"})
        return r.status_code, np.load(io.BytesIO(r.content))

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(post, jobs))
    for (status, arr), (n, seed) in zip(results, jobs, strict=True):
        assert status == 200
        assert np.array_equal(arr, sampler.sample(n, seed=seed))
    text = httpx.get(f"{base}/metrics").text
    runs = _metric(text, "gankit_batch_images_count")
    single = _metric(text, 'gankit_batch_images_bucket{le="1.0"}')
    assert runs - single > 0, "no onnxruntime run had more than one image"
    assert _metric(text, "gankit_batch_images_sum") >= sum(n for n, _ in jobs)
    ok = _metric(text, 'gankit_http_requests_total{method="POST",path="/v1/samples",status="200"}')
    assert ok >= 32
    assert 'status="500"' not in text and "gankit_http_request_duration_seconds_bucket" in text


def test_sigterm_finishes_queued_requests_and_exits_0(servers: dict[str, Server]) -> None:
    server = servers["uncond"]  # --max-wait-ms 300: requests wait in the batch queue
    results: list[int] = []

    def post(seed: int) -> None:
        with httpx.Client(timeout=30) as c:
            r = c.post(f"{server.url}/v1/samples", json={"n": 1, "seed": seed, "format": "npy"})
        results.append(r.status_code)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    # SIGTERM once every request has arrived and some still wait in the queue. On a
    # loaded machine the threads can start more than --max-wait-ms apart, so the
    # first batch may be answered before the last request arrives: count those too.
    deadline = time.monotonic() + 10
    while True:
        in_flight = _metric(
            httpx.get(f"{server.url}/metrics").text, "gankit_sample_requests_in_flight"
        )
        if in_flight >= 1 and in_flight + len(results) >= len(threads):
            break
        assert time.monotonic() < deadline, f"requests did not arrive ({in_flight} in flight)"
        time.sleep(0.005)
    server.proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(30)
    assert results == [200] * len(threads)
    assert server.proc.wait(30) == 0, server.log.read_text()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.url}/healthz", timeout=2)


def _serve(model: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``gankit serve`` to completion (for the ways it must fail at start)."""
    return subprocess.run(
        [sys.executable, "-m", "gankit", "serve", str(model), "--device", "cpu", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
    )


def test_serve_cannot_listen_is_one_line_not_an_abort(models: Models) -> None:
    """uvicorn would start the loader (onnxruntime) first, then abort the process (rc 134)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with ThreadPoolExecutor(2) as pool:
            in_use, bad_host = pool.map(
                lambda args: _serve(models.uncond, *args),
                [["--port", str(port)], ["--host", "no-such-host.invalid", "--port", "0"]],
            )
    for result in (in_use, bad_host):
        assert result.returncode == 2, result.stderr
        assert "terminate called" not in result.stderr and "Traceback" not in result.stderr
    assert in_use.stderr.strip().splitlines()[-1] == (
        f"error: cannot listen on 127.0.0.1:{port}: address already in use; "
        "choose another --port (or stop the process that holds it)"
    )
    last = bad_host.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cannot listen on no-such-host.invalid:0: ")
    assert "--host must be an address of this machine" in last


def test_serve_options_are_checked(models: Models, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from gankit.cli import app
    from gankit.serving import server

    def no_server(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the server was started with a bad option")

    monkeypatch.setattr(server, "run_server", no_server)
    runner = CliRunner()
    for args, message in [
        (["--port", "70000"], "--port must be in 0..65535 (0 picks a free port), got 70000"),
        (["--port", "-1"], "--port must be in 0..65535 (0 picks a free port), got -1"),
        (["--graceful-timeout", "-5"], "--graceful-timeout must be >= 0 seconds, got -5"),
    ]:
        result = runner.invoke(app, ["serve", str(models.uncond), *args])
        assert isinstance(result.exception, GankitError), (args, result.output)
        assert str(result.exception).startswith(message)
    result = runner.invoke(app, ["serve", str(models.uncond), "--log-level", "loud"])
    assert result.exit_code == 2 and not isinstance(result.exception, KeyError)
    assert "'loud' is not one of" in result.output and "'trace'" in result.output
    result = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "250"})
    assert "critical|error|warning|info|debug|trace" in result.output
    assert "A fixed-batch export (`gankit export --batch N`) runs N instead." in result.output
    assert "cuda and tensorrt need a GPU" in result.output
    assert "those still running then are answered 503 (0: at once)" in result.output


def test_shutdown_answers_requests_past_the_graceful_timeout_with_503(
    models: Models, tmp_path: Path
) -> None:
    """--graceful-timeout 0: the request waiting for its batch gets 503, no traceback."""
    server = Server(
        models.uncond, tmp_path / "serve.log", "--graceful-timeout", "0", "--max-wait-ms", "20000"
    )
    try:
        server.wait_ready()
        result: dict[str, Any] = {}

        def post() -> None:
            with httpx.Client(timeout=30) as c:
                result["r"] = c.post(f"{server.url}/v1/samples", json={"n": 1, "format": "npy"})

        thread = threading.Thread(target=post)
        thread.start()
        deadline = time.monotonic() + 10
        while (
            _metric(httpx.get(f"{server.url}/metrics").text, "gankit_sample_requests_in_flight") < 1
        ):
            assert time.monotonic() < deadline, "the request did not arrive"
            time.sleep(0.01)
        server.proc.send_signal(signal.SIGTERM)
        thread.join(30)
        assert server.proc.wait(30) == 0
    finally:
        server.stop()
    log = server.log.read_text()
    r = result["r"]
    assert r.status_code == 503, (r.text, log)
    assert "retry" in r.json()["error"] and "--graceful-timeout" in r.json()["error"]
    assert "Traceback" not in log and "CancelledError" not in log, log


def test_cli_imports_serving_extras_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    code = (
        "import sys, gankit.cli; "
        "bad = {'onnx', 'onnxruntime', 'starlette', 'uvicorn', 'prometheus_client'} "
        "& set(sys.modules); assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
    import importlib

    from gankit.cli import serving_cmd

    real = importlib.import_module

    def fake(name: str, package: str | None = None) -> Any:
        if name == "uvicorn":
            raise ImportError("No module named 'uvicorn'")
        return real(name, package)

    monkeypatch.setattr(serving_cmd.importlib, "import_module", fake)
    with pytest.raises(GankitError, match=r"pip install 'gankit\[serve\]'"):
        serving_cmd.require_extra("serve")
