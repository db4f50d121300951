"""`cancelbus automations`: the automations service as its own process, with its metrics server.

Run as many replicas as needed: they share the consumer group `cancelbus.automations`, and
each reads every rule. SIGINT and SIGTERM stop it cleanly (the proactive loop checks its stop
flag at least once a second); the process then exits 0. A crash of the loop ends the process
with its error.
"""

from __future__ import annotations

import asyncio
import signal

import structlog
from prometheus_client import start_http_server

from services.automations.bootstrap import build_automations
from services.automations.settings import AutomationsSettings
from services.transport.factory import make_bus

log = structlog.get_logger(__name__)


async def run_automations_service(settings: AutomationsSettings) -> None:
    bus = make_bus(
        settings.bus,
        client_id="cancelbus-automations",
        fetch_max_wait_ms=settings.automations_fetch_max_wait_ms,
    )
    runtime = build_automations(settings, bus)
    server = None
    if settings.metrics_port:
        server, _ = start_http_server(
            settings.metrics_port, addr=settings.metrics_host, registry=runtime.metrics.registry
        )
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop_requested.set)
    try:
        async with runtime.running():
            assert runtime.loop is not None
            log.info(
                "automations_service_ready",
                bus=settings.bus.describe(),
                topic_prefix=settings.bus.topic_prefix,
                state_api=settings.api_url,
                metrics=f"http://{settings.metrics_host}:{settings.metrics_port}/metrics"
                if server
                else None,
            )
            stopping = asyncio.create_task(stop_requested.wait())
            await asyncio.wait({runtime.loop, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            log.info("automations_service_stopping", signal_received=stop_requested.is_set())
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        if server is not None:
            server.shutdown()
            server.server_close()
