"""The HTTP server: a Starlette app around an :class:`OnnxSampler` and a micro-batcher.

Routes: ``POST /v1/samples``, ``GET /healthz``, ``GET /readyz``, ``GET /metrics``,
``GET /openapi.json`` (see :func:`gankit.serving.schemas.openapi_schema`).

The model is loaded and warmed up in a background thread after start-up, so
``/healthz`` answers at once and ``/readyz`` says 503 until the model is ready.
Client errors are 4xx JSON ``{"error": ..., "field": ...}`` (415 for a body
that is not declared ``application/json``); a 5xx means a server fault, except
503: not ready yet, or shutting down. On SIGTERM/SIGINT uvicorn stops accepting
connections, waits for in-flight requests (including those queued in the
batcher) up to the graceful timeout, answers those still running then with 503,
then the lifespan closes the batcher; :func:`run_server` then returns normally
(exit status 0).

:func:`run_server` binds its socket before the app starts: a port in use or a
bad host is a one-line :class:`~gankit.errors.GankitError`, raised before the
model loader thread (and onnxruntime with it) has started.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import secrets
import signal
import socket
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
from gankit.serving import MAX_PORT
from gankit.serving.batching import MicroBatcher
from gankit.serving.encoding import encode
from gankit.serving.errors import InvalidInputError
from gankit.serving.metrics import MetricsMiddleware, ServerMetrics
from gankit.serving.sampler import OnnxSampler
from gankit.serving.schemas import Limits, openapi_schema, parse_body

log = logging.getLogger(__name__)

#: how long a shutdown waits for a model still being loaded (onnxruntime cannot be interrupted)
LOADER_JOIN_TIMEOUT_S = 120.0


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
            if sampler.max_batch != self.metrics.max_batch:  # a fixed-batch export's size
                self.metrics.set_max_batch(sampler.max_batch)
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
        log.info(
            "ready: %s on %s (max batch %d)",
            cfg.model_path,
            sampler.providers[0],
            sampler.max_batch,
        )


def _error(status: int, message: str, field_name: str | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "field": field_name}, status_code=status)


JSON_MEDIA_TYPE = "application/json"


def check_content_type(value: str | None) -> None:
    """Refuse (415) a request body not declared as ``application/json``.

    Parameters such as ``; charset=utf-8`` are allowed. The check matters beyond
    strictness: ``text/plain`` and form types are CORS "simple" requests, which
    any web page can make a browser send without asking the server first.
    """
    media_type = (value or "").split(";", 1)[0].strip().lower()
    if media_type == JSON_MEDIA_TYPE:
        return
    got = f"Content-Type {value.strip()!r}" if value and value.strip() else "no Content-Type"
    raise InvalidInputError(
        f"the request body must be JSON, sent with Content-Type: application/json; got {got}. "
        "Add the header (curl: -H 'Content-Type: application/json')",
        "body",
        415,
    )


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
        loader = threading.Thread(
            target=state.load, args=(on_load_error,), name="gankit-loader", daemon=True
        )
        loader.start()
        try:
            yield
        finally:
            # a shutdown while the model loads waits for the loader: a process that
            # exits while onnxruntime runs in another thread aborts (SIGABRT)
            await run_in_threadpool(loader.join, LOADER_JOIN_TIMEOUT_S)
            if state.batcher is not None:
                await run_in_threadpool(state.batcher.close, 60.0)

    async def samples(request: Request) -> Response:
        """POST /v1/samples: draw samples (see the OpenAPI schema)."""
        sampler, batcher = state.sampler, state.batcher
        if not state.ready or sampler is None or batcher is None:
            return _error(503, "the model is still loading; retry when /readyz says ready")
        state.metrics.in_flight.inc()
        try:
            check_content_type(request.headers.get("content-type"))
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
        except asyncio.CancelledError:
            # uvicorn cancels what still runs when --graceful-timeout expires: answer
            # 503 (the connection is still open) rather than a 500 and a traceback
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            log.warning("shutting down: a request still in flight was answered 503")
            return _error(
                503,
                "the server is shutting down and stopped this request "
                "(its --graceful-timeout ran out); retry it",
            )
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


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind a listening TCP socket as uvicorn would, or raise a one-line :class:`GankitError`.

    uvicorn binds only after the app's start-up, where the model loader thread
    (onnxruntime) is already running, and then calls ``sys.exit`` on failure,
    which aborts the process. Binding first keeps a port in use or a bad host a
    plain error.
    """
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= MAX_PORT:
        raise GankitError(
            f"cannot listen on {where}: --port must be in 0..{MAX_PORT} (0 picks a free port), "
            f"got {port}"
        )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family=family)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except (OSError, OverflowError, UnicodeError) as exc:
        sock.close()
        raise GankitError(f"cannot listen on {where}: {_bind_problem(exc)}") from None
    sock.set_inheritable(True)
    return sock


def _bind_problem(exc: BaseException) -> str:
    """What went wrong binding, and what to change."""
    code = getattr(exc, "errno", None)
    reason = (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__).lower()
    if code == errno.EADDRINUSE:
        return f"{reason}; choose another --port (or stop the process that holds it)"
    if code == errno.EACCES:
        return f"{reason}; choose a --port of 1024 or more (lower ones need privileges)"
    if isinstance(exc, (socket.gaierror, UnicodeError)) or code == errno.EADDRNOTAVAIL:
        return (
            f"{reason}; --host must be an address of this machine: 127.0.0.1 (the default), "
            "0.0.0.0 for every interface, or a host name that resolves to one"
        )
    return f"{reason}; check --host and --port"


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

    Raises :class:`GankitError` if the address cannot be bound (before anything
    is loaded) or the model could not be loaded.
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
    sock = bind_socket(host, port)  # uvicorn.Config has set up its loggers by now
    url = f"http://[{host}]" if ":" in host else f"http://{host}"
    logging.getLogger("uvicorn.error").info(
        "Uvicorn running on %s:%d (Press CTRL+C to quit)", url, sock.getsockname()[1]
    )
    server = uvicorn.Server(uv_config)
    # uvicorn re-raises the signal it caught after its graceful shutdown, with the
    # handler that was installed before it started: make that a no-op, so a
    # SIGTERM after a clean shutdown ends the process with status 0.
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: None)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    if failure:
        exc = failure[0]
        if isinstance(exc, GankitError):
            raise exc
        raise GankitError(f"cannot serve {str(config.model_path)!r}: {exc}")
