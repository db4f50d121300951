"""The one place that picks the timeout service's adapters and wires them together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from services.timeout.deadlines import DeadlineSchedule
from services.timeout.metrics import TimeoutMetrics
from services.timeout.service import TimeoutService
from services.timeout.settings import TimeoutSettings
from services.timeout.sources import CancellingRunsSource, HttpCancellingRuns
from services.transport import Bus


@dataclass
class TimeoutRuntime:
    bus: Bus
    service: TimeoutService
    source: CancellingRunsSource
    metrics: TimeoutMetrics
    loop: asyncio.Task[None] | None = field(default=None, init=False)
    _bus_owned: bool = field(default=True, init=False)

    async def start(self, *, start_bus: bool = True) -> None:
        """Start the bus (unless a caller shares one it starts itself), then the loop."""
        self._bus_owned = start_bus
        if start_bus:
            await self.bus.start()
        self.loop = asyncio.create_task(self.service.start(), name="timeout-service")

    async def stop(self) -> None:
        """Stop the loop (within a second), then the bus it owns; safe to call twice."""
        loop, self.loop = self.loop, None
        try:
            if loop is not None:
                self.service.stop()
                await loop
        finally:
            if loop is not None and self._bus_owned:
                await self.bus.stop()
            await self.source.aclose()

    @contextlib.asynccontextmanager
    async def running(self, *, start_bus: bool = True) -> AsyncIterator[TimeoutRuntime]:
        try:
            await self.start(start_bus=start_bus)
            yield self
        finally:
            await self.stop()


def build_timeout(
    settings: TimeoutSettings,
    bus: Bus,
    source: CancellingRunsSource | None = None,
    *,
    registry: CollectorRegistry | None = None,
) -> TimeoutRuntime:
    """Wire the timeout service onto `bus` (it subscribes now, before the bus starts).

    `source` defaults to the state service's API at `settings.api_url`.
    """
    if source is None:
        source = HttpCancellingRuns(
            settings.api_url, token=settings.api_token, timeout=settings.api_timeout_seconds
        )
    metrics = TimeoutMetrics(registry)
    service = TimeoutService(
        DeadlineSchedule(settings.cancelling_timeout_seconds),
        bus,
        source,
        metrics,
        publish_batch=settings.publish_batch,
    )
    service.subscribe()
    return TimeoutRuntime(bus, service, source, metrics)
