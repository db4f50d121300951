"""The one place that wires a worker: its infrastructure, the bus, policy and heartbeat."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import structlog

from services.transport import Bus
from services.worker.heartbeat import Heartbeat
from services.worker.infrastructure import Infrastructure
from services.worker.metrics import WorkerMetrics
from services.worker.runtime import Policy, WorkerRuntime
from services.worker.settings import WorkerSettings

log = structlog.get_logger(__name__)


@dataclass
class Worker:
    runtime: WorkerRuntime
    heartbeat: Heartbeat
    metrics: WorkerMetrics
    _beating: asyncio.Task[None] | None = field(default=None, init=False)

    def start(self) -> None:
        """Start announcing liveness (the bus must be started)."""
        self._beating = asyncio.create_task(self.heartbeat.run(), name="worker-heartbeat")
        log.info(
            "worker_started",
            worker=self.runtime.worker,
            kind=self.runtime.infrastructure.kind.value,
            scope=self.runtime.infrastructure.scope,
            group=self.runtime.group,
        )

    async def stop_heartbeat(self) -> None:
        self.heartbeat.stop()
        if self._beating is not None:
            await asyncio.gather(self._beating, return_exceptions=True)
            self._beating = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Worker]:
        """Heartbeat while inside (the bus is started and stopped by its owner)."""
        self.start()
        try:
            yield self
        finally:
            await self.stop_heartbeat()


def build_worker(settings: WorkerSettings, bus: Bus, infrastructure: Infrastructure) -> Worker:
    """Wire a worker onto `bus`; it subscribes now, so call this before the bus starts."""
    kind = infrastructure.kind.value
    name = settings.worker_name or f"{kind}@{socket.gethostname()}:{os.getpid()}"
    metrics = WorkerMetrics()
    policy = Policy(
        grace_override=settings.worker_grace_seconds,
        grace_cap=settings.worker_max_grace_seconds,
        attempts=settings.worker_attempts,
        backoff_seconds=settings.worker_retry_backoff_seconds,
        max_in_flight=settings.worker_max_in_flight,
    )
    runtime = WorkerRuntime(infrastructure, bus, worker=name, policy=policy, metrics=metrics)
    runtime.subscribe()
    heartbeat = Heartbeat(
        bus,
        worker=name,
        kind=infrastructure.kind,
        scope=infrastructure.scope,
        interval=settings.worker_heartbeat_seconds,
    )
    return Worker(runtime, heartbeat, metrics)
