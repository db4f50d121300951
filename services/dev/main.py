"""`cancelbus dev`: every service in one process, for trying cancelbus out and fast tests.

SQLite and the in-process bus by default; Kafka when CANCELBUS_KAFKA_BOOTSTRAP_SERVERS is set.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from rich.console import Console

from services.automations.bootstrap import build_automations
from services.automations.settings import AutomationsSettings
from services.automations.sources import InProcessAutomations
from services.runtime.serve import serve_http
from services.state.bootstrap import build_state
from services.state.settings import StateSettings
from services.timeout.bootstrap import build_timeout
from services.timeout.settings import TimeoutSettings
from services.timeout.sources import InProcessCancellingRuns
from services.transport.factory import make_bus
from services.worker.bootstrap import build_worker
from services.worker.docker import reachable_engine
from services.worker.process import ProcessInfrastructure
from services.worker.settings import WorkerSettings

log = logging.getLogger(__name__)


async def run_dev(
    settings: StateSettings, console: Console, timeout_settings: TimeoutSettings | None = None
) -> None:
    bus = make_bus(settings.bus, client_id="cancelbus-dev")
    state = build_state(settings, bus)
    timeout = build_timeout(
        timeout_settings or TimeoutSettings(),
        bus,
        InProcessCancellingRuns(state.service),
        registry=state.metrics.registry,  # one /metrics for both
    )

    automations = build_automations(
        AutomationsSettings(),
        bus,
        InProcessAutomations(state.service),
        registry=state.metrics.registry,
    )
    worker = build_worker(WorkerSettings(), bus, ProcessInfrastructure())
    # a Docker worker too, when an engine answers
    docker = await reachable_engine(WorkerSettings().docker)
    docker_worker = build_worker(WorkerSettings(), bus, docker) if docker else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with (
            state.running(),
            timeout.running(start_bus=False),
            automations.running(start_bus=False),
            worker.running(),
            docker_worker.running() if docker_worker else contextlib.nullcontext(),
        ):
            yield

    def ready() -> None:
        url = f"http://{settings.host}:{settings.port}"
        console.print(f"[bold green]cancelbus is ready[/] at {url}  (API: {url}/api)")
        console.print(f"  database: {settings.database_url}")
        console.print(f"  bus:      {settings.bus.describe()}")
        console.print(f"  worker:   process worker for {worker.runtime.infrastructure.scope}")
        if docker is not None:
            console.print(f"  worker:   docker worker for engine {docker.scope}", soft_wrap=True)
        console.print(f"  try:      export CANCELBUS_API_URL={url}/api")

    try:
        await serve_http(state.app(lifespan), settings.host, settings.port, on_listening=ready)
    finally:
        if docker is not None:
            docker.close()
