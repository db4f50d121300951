"""`cancelbus timeout`: the timeout service as its own process, with its metrics server.

SIGINT and SIGTERM stop it cleanly (the loop checks its stop flag at least once a second);
the process then exits 0. A crash of the deadline loop ends the process with its error.
"""

from __future__ import annotations

import asyncio
import signal

import structlog
from prometheus_client import start_http_server

from services.timeout.bootstrap import build_timeout
from services.timeout.settings import TimeoutSettings
from services.transport.factory import make_bus

log = structlog.get_logger(__name__)


async def run_timeout_service(settings: TimeoutSettings) -> None:
    bus = make_bus(settings.bus, client_id="cancelbus-timeout")
    runtime = build_timeout(settings, bus)
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
                "timeout_service_ready",
                timeout_seconds=settings.cancelling_timeout_seconds,
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
            log.info("timeout_service_stopping", signal_received=stop_requested.is_set())
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        if server is not None:
            server.shutdown()
            server.server_close()
