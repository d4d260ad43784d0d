"""Prometheus metrics of one server app (its own ``CollectorRegistry``)."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

KNOWN_PATHS = ("/v1/samples", "/healthz", "/readyz", "/metrics", "/openapi.json")


def _batch_buckets(max_batch: int) -> list[float]:
    sizes, b = {float(max_batch)}, 1
    while b < max_batch:
        sizes.add(float(b))
        b *= 2
    return sorted(sizes)


class ServerMetrics:
    """Request counts by status, request latency, images per onnxruntime run, in-flight."""

    def __init__(self, max_batch: int) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.max_batch = max_batch
        self.requests = Counter(
            "gankit_http_requests",
            "HTTP requests by path, method and status code",
            ["path", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "gankit_http_request_duration_seconds",
            "HTTP request latency",
            ["path"],
            registry=self.registry,
        )
        self.batch_size = self._batch_histogram(max_batch)
        self.in_flight = Gauge(
            "gankit_sample_requests_in_flight",
            "Sampling requests being served",
            registry=self.registry,
        )
        self.images = Counter(
            "gankit_images_generated", "Samples generated", registry=self.registry
        )

    def _batch_histogram(self, max_batch: int) -> Histogram:
        return Histogram(
            "gankit_batch_images",
            "Images per onnxruntime run (after micro-batching)",
            buckets=_batch_buckets(max_batch),
            registry=self.registry,
        )

    def set_max_batch(self, max_batch: int) -> None:
        """Rebuild the batch-size buckets for ``max_batch`` (a fixed-batch export's size).

        Call it before anything is observed: the old histogram's counts are dropped.
        """
        self.registry.unregister(self.batch_size)
        self.max_batch = max_batch
        self.batch_size = self._batch_histogram(max_batch)

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Pure ASGI middleware: counts every HTTP response by status and times it."""

    def __init__(self, app: Any, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Pass the request through, recording its status code and duration."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        label = path if path in KNOWN_PATHS else "other"
        status = {"code": 500}
        start = time.perf_counter()

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.requests.labels(label, scope.get("method", ""), str(status["code"])).inc()
            self.metrics.latency.labels(label).observe(time.perf_counter() - start)
