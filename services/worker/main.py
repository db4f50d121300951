"""`cancelbus worker <kind>`: a worker as its own process, until SIGTERM or SIGINT.

On SIGTERM it stops claiming, gives the cancellations in flight `worker_shutdown_seconds`
to finish, leaves the rest uncommitted for another replica, and logs the counts.
"""

from __future__ import annotations

import asyncio
import resource
import signal

import structlog
from prometheus_client import start_http_server

from services.transport.factory import make_bus
from services.worker.bootstrap import build_worker
from services.worker.infrastructure import Infrastructure
from services.worker.settings import WorkerSettings

log = structlog.get_logger(__name__)


def _raise_fd_limit() -> None:
    """A pidfd per process being stopped: allow as many as the hard limit permits."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def run_worker(settings: WorkerSettings, infrastructure: Infrastructure) -> None:
    _raise_fd_limit()
    kind = infrastructure.kind.value
    bus = make_bus(
        settings.bus,
        client_id=f"cancelbus-worker-{kind}",
        graceful_timeout=settings.worker_shutdown_seconds,
    )
    worker = build_worker(settings, bus, infrastructure)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if settings.worker_metrics_port is not None:
        start_http_server(settings.worker_metrics_port, registry=worker.metrics.registry)
    await bus.start()
    try:
        worker.start()
        log.info(
            "worker_ready", bus=settings.bus.describe(), topic_prefix=settings.bus.topic_prefix
        )
        await stop.wait()
    finally:
        runtime = worker.runtime
        in_flight, finished_before = runtime.in_flight, runtime.finished
        log.info("worker_stopping", in_flight=in_flight, within=settings.worker_shutdown_seconds)
        await worker.stop_heartbeat()
        await bus.stop()
        log.info(
            "worker_stopped",
            in_flight_at_stop=in_flight,
            finished_while_stopping=runtime.finished - finished_before,
            left_for_another_replica=runtime.abandoned,
            handled_in_all=runtime.finished,
        )
