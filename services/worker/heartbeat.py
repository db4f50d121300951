"""A worker's liveness: it announces its kind, scope and version every few seconds."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from schemas.infrastructure import InfrastructureKind
from schemas.messages import WorkerHeartbeat
from services.runtime.version import VERSION
from services.transport import Bus

log = structlog.get_logger(__name__)


class Heartbeat:
    """Publishes a `WorkerHeartbeat` at once and then every `interval` seconds until stopped."""

    def __init__(
        self, bus: Bus, *, worker: str, kind: InfrastructureKind, scope: str, interval: float
    ) -> None:
        self._bus = bus
        self._fields = {"worker": worker, "kind": kind, "scope": scope, "version": VERSION}
        self._interval = interval
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        while not self._stopped.is_set():
            await self.beat_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self._interval)

    async def beat_once(self) -> None:
        beat = WorkerHeartbeat.model_validate({**self._fields, "interval_seconds": self._interval})
        try:
            await self._bus.publish(beat.TOPIC, beat.key, beat.model_dump_json().encode())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("heartbeat_publish_failed", worker=beat.worker, error=repr(exc))

    def stop(self) -> None:
        self._stopped.set()
