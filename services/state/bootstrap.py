"""The one place that picks the state service's adapters and wires them together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import structlog
from fastapi import FastAPI

from services.state.api import create_app
from services.state.api.app import Lifespan
from services.state.api.event_intake import EventIntake
from services.state.consumers import StateConsumers
from services.state.db.engine import Database, migrate
from services.state.live_fanout import LiveEvents
from services.state.metrics import StateMetrics
from services.state.outbox import OutboxRelay
from services.state.service import StateService
from services.state.settings import StateSettings
from services.state.worker_registry import WorkerRegistry
from services.transport import Bus

log = structlog.get_logger(__name__)


@dataclass
class StateRuntime:
    settings: StateSettings
    database: Database
    bus: Bus
    metrics: StateMetrics
    service: StateService
    relay: OutboxRelay
    workers: WorkerRegistry
    live: LiveEvents
    _relay_task: asyncio.Task[None] | None = field(default=None, init=False)

    async def migrate(self) -> None:
        await migrate(self.database)

    def start_relay(self) -> None:
        self._relay_task = asyncio.create_task(self.relay.run(), name="outbox-relay")

    async def stop(self) -> None:
        self.relay.stop()
        if self._relay_task is not None:
            try:
                await asyncio.wait_for(self._relay_task, 10)
            except TimeoutError:
                log.warning("outbox_relay_stop_timeout", seconds=10)
            self._relay_task = None
        await self.database.close()

    def app(self, lifespan: Lifespan | None = None) -> FastAPI:
        return create_app(
            self.service,
            self.metrics,
            self.relay,
            workers=self.workers,
            live=self.live,
            event_intake=EventIntake(self.bus, max_message_bytes=self.settings.max_message_bytes),
            api_token=self.settings.api_token,
            lifespan=lifespan,
        )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[StateRuntime]:
        """Migrate, start the bus, then the relay; stop in reverse order."""
        try:
            await self.migrate()
            await self.bus.start()
            try:
                self.start_relay()
                yield self
            finally:
                self.relay.stop()
                await self.bus.stop()
        finally:
            await self.stop()


def build_state(settings: StateSettings, bus: Bus) -> StateRuntime:
    """Wire the state service onto `bus` (its consumers subscribe now, before the bus starts)."""
    database = Database(settings.database_url)
    metrics = StateMetrics()
    relay = OutboxRelay(
        database,
        bus,
        metrics,
        poll_seconds=settings.outbox_poll_seconds,
        batch=settings.outbox_batch,
    )
    live = LiveEvents()
    service = StateService(
        database,
        settings.orchestration,
        metrics,
        on_outbox_write=relay.committed,
        on_commit=live.publish,
    )
    workers = WorkerRegistry(database)
    StateConsumers(service, workers, max_message_bytes=settings.max_message_bytes).subscribe(bus)
    return StateRuntime(settings, database, bus, metrics, service, relay, workers, live)
