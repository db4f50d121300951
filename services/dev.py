"""`cancelbus dev`: every service in one process, for trying cancelbus out and fast tests.

SQLite and the in-process bus by default; Kafka when CANCELBUS_KAFKA_BOOTSTRAP_SERVERS is set.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from rich.console import Console

from services.serve import serve_http
from services.state.bootstrap import build_state
from services.state.settings import StateSettings
from services.transport.factory import make_bus

log = logging.getLogger(__name__)


async def run_dev(settings: StateSettings, console: Console) -> None:
    bus = make_bus(
        settings.kafka_bootstrap_servers,
        client_id="cancelbus-dev",
        partitions=settings.topic_partitions,
        replication_factor=settings.topic_replication_factor,
    )
    state = build_state(settings, bus)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with state.running():
            url = f"http://{settings.host}:{settings.port}"
            console.print(f"[bold green]cancelbus is ready[/] at {url}  (API: {url}/api)")
            console.print(f"  database: {settings.database_url}")
            console.print(f"  bus:      {settings.kafka_bootstrap_servers or 'in-process'}")
            console.print(f"  try:      export CANCELBUS_API_URL={url}/api")
            yield

    await serve_http(state.app(lifespan), settings.host, settings.port)
