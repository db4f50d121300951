"""`cancelbus state`: the state service as its own process (API, consumers, outbox relay)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from services.runtime.serve import serve_http
from services.state.bootstrap import build_state
from services.state.settings import StateSettings
from services.transport.factory import make_bus

log = structlog.get_logger(__name__)


async def run_state_service(settings: StateSettings) -> None:
    bus = make_bus(settings.bus, client_id="cancelbus-state")
    runtime = build_state(settings, bus)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with runtime.running():
            yield

    def ready() -> None:
        log.info(
            "state_service_ready",
            api=f"http://{settings.host}:{settings.port}/api",
            bus=settings.bus.describe(),
            topic_prefix=settings.bus.topic_prefix,
        )

    await serve_http(runtime.app(lifespan), settings.host, settings.port, on_listening=ready)
