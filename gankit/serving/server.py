"""The HTTP server: a Starlette app around an :class:`OnnxSampler` and a micro-batcher.

Routes: ``POST /v1/samples``, ``GET /healthz``, ``GET /readyz``, ``GET /metrics``,
``GET /openapi.json`` (see :func:`gankit.serving.schemas.openapi_schema`).

The model is loaded and warmed up in a background thread after start-up, so
``/healthz`` answers at once and ``/readyz`` says 503 until the model is ready.
Client errors are 4xx JSON ``{"error": ..., "field": ...}``; a 5xx means a
server fault. On SIGTERM/SIGINT uvicorn stops accepting connections, waits for
in-flight requests (including those queued in the batcher), then the lifespan
closes the batcher; :func:`run_server` then returns normally (exit status 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gankit.errors import GankitError
from gankit.serving.batching import MicroBatcher
from gankit.serving.encoding import encode
from gankit.serving.errors import InvalidInputError
from gankit.serving.metrics import MetricsMiddleware, ServerMetrics
from gankit.serving.sampler import OnnxSampler
from gankit.serving.schemas import Limits, openapi_schema, parse_body

log = logging.getLogger(__name__)


@dataclass
class ServerConfig:
    """What the server loads and how it batches."""

    model_path: Path
    device: str = "auto"
    providers: list[Any] | None = None
    max_batch: int = 64
    max_wait_ms: float = 5.0
    limits: Limits = field(default_factory=Limits)
    intra_op_threads: int = 0
    # onnxruntime's idle threads spin-wait by default; here they would take the cores
    # from the HTTP work between batches (docs/serving.md, OnnxSampler's spin_threads)
    spin_threads: bool = False


class _State:
    """The app's mutable state: set by the loader thread, read by the handlers."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.metrics = ServerMetrics(config.max_batch)
        self.sampler: OnnxSampler | None = None
        self.batcher: MicroBatcher | None = None
        self.ready = False
        self.load_error: str | None = None

    def load(self, on_error: Callable[[BaseException], None] | None) -> None:
        """Load and warm up the sampler, then start the batcher (in a thread)."""
        try:
            cfg = self.config
            sampler = OnnxSampler(
                cfg.model_path,
                cfg.device,
                cfg.providers,
                max_batch=cfg.max_batch,
                intra_op_threads=cfg.intra_op_threads,
                spin_threads=cfg.spin_threads,
            )
            batcher = MicroBatcher(
                sampler.sample_latents,
                max_batch=sampler.max_batch,
                max_wait_ms=cfg.max_wait_ms,
                on_batch=self.metrics.batch_size.observe,
            )
            batcher.start()
        except BaseException as exc:  # noqa: BLE001 - reported by /readyz and the CLI
            self.load_error = str(exc)
            log.error("cannot serve %s: %s", self.config.model_path, exc)
            if on_error is not None:
                on_error(exc)
            return
        self.sampler, self.batcher = sampler, batcher
        self.ready = True
        log.info("ready: %s on %s", cfg.model_path, sampler.providers[0])


def _error(status: int, message: str, field_name: str | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "field": field_name}, status_code=status)


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) one larger than ``limit`` before and while reading."""
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise InvalidInputError(f"bad Content-Length header {length!r}", "body")
        if int(length) > limit:
            raise InvalidInputError(f"request body is larger than {limit} bytes", "body", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise InvalidInputError(f"request body is larger than {limit} bytes", "body", 413)
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    config: ServerConfig, on_load_error: Callable[[BaseException], None] | None = None
) -> Any:
    """Build the ASGI app (Starlette wrapped in the metrics middleware).

    ``on_load_error`` is called (from the loader thread) if the model cannot be loaded.
    """
    state = _State(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        threading.Thread(
            target=state.load, args=(on_load_error,), name="gankit-loader", daemon=True
        ).start()
        try:
            yield
        finally:
            if state.batcher is not None:
                await run_in_threadpool(state.batcher.close, 60.0)

    async def samples(request: Request) -> Response:
        """POST /v1/samples: draw samples (see the OpenAPI schema)."""
        sampler, batcher = state.sampler, state.batcher
        if not state.ready or sampler is None or batcher is None:
            return _error(503, "the model is still loading; retry when /readyz says ready")
        state.metrics.in_flight.inc()
        try:
            body = await _read_body(request, config.limits.max_body_bytes)
            req = parse_body(body, config.limits, sampler.is_image)
            seed = req.seed if req.seed is not None else secrets.randbits(63)
            z = sampler.latents(req.n, seed)
            labels = sampler.check_labels(req.labels, req.n)
            out = await asyncio.wrap_future(batcher.submit(z, labels))
            payload, media_type = await run_in_threadpool(
                encode, out, req.format, req.grid, sampler.is_image
            )
            state.metrics.images.inc(req.n)
            headers = {
                "X-Gankit-Seed": str(seed),
                "X-Gankit-Shape": ",".join(str(s) for s in out.shape),
            }
            return Response(payload, media_type=media_type, headers=headers)
        except InvalidInputError as exc:
            return _error(exc.status, str(exc), exc.field)
        except ClientDisconnect:
            return Response(status_code=499)
        finally:
            state.metrics.in_flight.dec()

    async def healthz(request: Request) -> Response:
        """GET /healthz: the process is alive."""
        return JSONResponse({"status": "alive"})

    async def readyz(request: Request) -> Response:
        """GET /readyz: 200 once the model is loaded and warmed up, 503 before."""
        if state.ready and state.sampler is not None:
            s = state.sampler
            return JSONResponse(
                {
                    "status": "ready",
                    "model": s.path.name,
                    "providers": s.providers,
                    "max_batch": s.max_batch,
                    "latent_dim": s.latent_dim,
                    "num_classes": s.num_classes,
                    "data_shape": list(s.data_shape),
                }
            )
        if state.load_error is not None:
            return JSONResponse({"status": "failed", "error": state.load_error}, 503)
        return JSONResponse({"status": "loading"}, 503)

    async def metrics(request: Request) -> Response:
        """GET /metrics: Prometheus text format."""
        payload, content_type = state.metrics.render()
        return Response(payload, headers={"Content-Type": content_type})

    async def openapi(request: Request) -> Response:
        """GET /openapi.json: the API description."""
        return JSONResponse(openapi_schema(config.limits))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _error(exc.status_code, str(exc.detail))

    app = Starlette(
        routes=[
            Route("/v1/samples", samples, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    app.state.gankit = state
    return MetricsMiddleware(app, state.metrics)


def run_server(
    config: ServerConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
    graceful_timeout: int | None = 30,
    access_log: bool = True,
) -> None:
    """Serve until SIGTERM/SIGINT, then shut down gracefully and return.

    Raises :class:`GankitError` if the model could not be loaded.
    """
    import uvicorn

    failure: list[BaseException] = []
    server: uvicorn.Server | None = None

    def on_load_error(exc: BaseException) -> None:
        failure.append(exc)
        if server is not None:
            server.should_exit = True

    app = create_app(config, on_load_error)
    uv_config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        timeout_graceful_shutdown=graceful_timeout,
        access_log=access_log,
    )
    server = uvicorn.Server(uv_config)
    # uvicorn re-raises the signal it caught after its graceful shutdown, with the
    # handler that was installed before it started: make that a no-op, so a
    # SIGTERM after a clean shutdown ends the process with status 0.
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: None)
    server.run()
    if failure:
        exc = failure[0]
        if isinstance(exc, GankitError):
            raise exc
        raise GankitError(f"cannot serve {str(config.model_path)!r}: {exc}")
