"""The one place that picks the automations service's adapters and wires them together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from services.automations.engine import Evaluator
from services.automations.metrics import AutomationsMetrics
from services.automations.publishing import Outgoing
from services.automations.rules import RuleBook
from services.automations.service import AutomationsService
from services.automations.settings import AutomationsSettings
from services.automations.sources import AutomationsSource, HttpAutomations
from services.transport import Bus


@dataclass
class AutomationsRuntime:
    bus: Bus
    service: AutomationsService
    source: AutomationsSource
    metrics: AutomationsMetrics
    loop: asyncio.Task[None] | None = field(default=None, init=False)
    _loader: asyncio.Task[None] | None = field(default=None, init=False)
    _bus_owned: bool = field(default=True, init=False)

    async def start(self, *, start_bus: bool = True) -> None:
        """Start the bus (unless a caller shares one it starts itself), then read the rules
        and run the proactive loop."""
        self._bus_owned = start_bus
        if start_bus:
            await self.bus.start()
        self._loader = asyncio.create_task(self.service.rules.load(), name="automations-load")
        self.loop = asyncio.create_task(self.service.due.run(), name="automations-proactive")

    async def stop(self) -> None:
        """Stop the loop (within a second), then the bus it owns; safe to call twice."""
        loop, self.loop = self.loop, None
        loader, self._loader = self._loader, None
        try:
            if loader is not None:
                loader.cancel()
                await asyncio.gather(loader, return_exceptions=True)
            if loop is not None:
                self.service.due.stop()
                await loop
        finally:
            if loop is not None and self._bus_owned:
                await self.bus.stop()
            await self.source.aclose()

    @contextlib.asynccontextmanager
    async def running(self, *, start_bus: bool = True) -> AsyncIterator[AutomationsRuntime]:
        try:
            await self.start(start_bus=start_bus)
            yield self
        finally:
            await self.stop()


def build_automations(
    settings: AutomationsSettings,
    bus: Bus,
    source: AutomationsSource | None = None,
    *,
    registry: CollectorRegistry | None = None,
) -> AutomationsRuntime:
    """Wire the automations service onto `bus` (it subscribes now, before the bus starts).

    `source` defaults to the state service's API at `settings.api_url`.
    """
    if source is None:
        source = HttpAutomations(
            settings.api_url, token=settings.api_token, timeout=settings.api_timeout_seconds
        )
    metrics = AutomationsMetrics(registry)
    evaluator = Evaluator()
    outgoing = Outgoing(
        bus,
        metrics,
        retry_base=settings.automations_publish_retry_seconds,
        retry_ceiling=settings.automations_publish_retry_max_seconds,
    )
    service = AutomationsService(
        evaluator,
        RuleBook(evaluator, source, metrics),
        bus,
        outgoing,
        metrics,
        max_batch=settings.automations_batch,
    )
    service.subscribe()
    return AutomationsRuntime(bus, service, source, metrics)
