"""Micro-batching: merge concurrent requests into one onnxruntime run.

Requests are queued with their own latents (from their own seeds). A worker
thread takes the first one, then keeps adding queued requests until the batch
holds ``max_batch`` images or ``max_wait_ms`` have passed since the first was
queued; it runs the merged latents (in chunks of ``max_batch``) and splits the
output back. A request that would overflow the batch waits for the next one.
Results do not depend on how requests were merged.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)

RunFn = Callable[[np.ndarray, "np.ndarray | None"], np.ndarray]


@dataclass
class _Job:
    z: np.ndarray
    labels: np.ndarray | None
    future: Future = field(default_factory=Future)
    queued_at: float = field(default_factory=time.monotonic)

    @property
    def n(self) -> int:
        return int(self.z.shape[0])


_STOP = object()


class MicroBatcher:
    """Queue of sampling jobs served by one worker thread.

    Args:
        run: ``run(z, labels) -> samples`` for at most ``max_batch`` rows.
        max_batch: most images per run.
        max_wait_ms: how long the first job of a batch waits for company.
        on_batch: called with the number of images of every run (metrics).
    """

    def __init__(
        self,
        run: RunFn,
        *,
        max_batch: int,
        max_wait_ms: float,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._run = run
        self.max_batch = max_batch
        self.max_wait = max(0.0, max_wait_ms) / 1000.0
        self._on_batch = on_batch
        self._queue: queue.Queue[object] = queue.Queue()
        self._carry: _Job | None = None
        self._thread = threading.Thread(target=self._loop, name="gankit-batcher", daemon=True)
        self._closed = False

    def start(self) -> None:
        """Start the worker thread."""
        self._thread.start()

    def submit(self, z: np.ndarray, labels: np.ndarray | None) -> Future:
        """Queue latents (and labels); the future resolves to their samples."""
        if self._closed:
            raise RuntimeError("the batcher is closed")
        job = _Job(z, labels)
        self._queue.put(job)
        return job.future

    def close(self, timeout: float | None = None) -> None:
        """Finish every queued job, then stop the worker."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        if self._thread.is_alive():
            self._thread.join(timeout)

    # -- worker ---------------------------------------------------------------------

    def _loop(self) -> None:
        stopping = False
        while True:
            first = self._carry
            self._carry = None
            if first is None:
                if stopping:
                    return
                item = self._queue.get()
                if item is _STOP:
                    return
                assert isinstance(item, _Job)
                first = item
            jobs, stopping = self._collect(first, stopping)
            self._process(jobs)

    def _collect(self, first: _Job, stopping: bool) -> tuple[list[_Job], bool]:
        jobs, total = [first], first.n
        deadline = first.queued_at + self.max_wait
        while total < self.max_batch and not stopping:
            remaining = deadline - time.monotonic()
            try:
                if remaining > 0:
                    item = self._queue.get(timeout=remaining)
                else:
                    item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                stopping = True
                break
            assert isinstance(item, _Job)
            if total + item.n > self.max_batch:
                self._carry = item
                break
            jobs.append(item)
            total += item.n
        return jobs, stopping

    def _process(self, jobs: list[_Job]) -> None:
        # A request whose client went away cancels its future: drop it. Once running,
        # a future can no longer be cancelled, so set_result below cannot fail.
        jobs = [j for j in jobs if j.future.set_running_or_notify_cancel()]
        if not jobs:
            return
        try:
            z = np.concatenate([j.z for j in jobs])
            labels = None if jobs[0].labels is None else np.concatenate([j.labels for j in jobs])
            parts = []
            for start in range(0, z.shape[0], self.max_batch):
                stop = min(start + self.max_batch, z.shape[0])
                parts.append(
                    self._run(z[start:stop], None if labels is None else labels[start:stop])
                )
                if self._on_batch is not None:
                    self._on_batch(stop - start)
            out = parts[0] if len(parts) == 1 else np.concatenate(parts)
        except Exception as exc:  # noqa: BLE001 - handed to every waiting request
            log.exception("sampling failed for a batch of %d requests", len(jobs))
            for job in jobs:
                job.future.set_exception(exc)
            return
        offset = 0
        for job in jobs:
            job.future.set_result(out[offset : offset + job.n])
            offset += job.n
