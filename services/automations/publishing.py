"""Publishing what a firing sends: retried with backoff until the bus has it, never dropped.

Commands go out before the input that caused them is committed (and proactive firings hold
their partitions' commits until they are out), so a crash at any point replays the input
and sends the same commands again, with the same ids: the state service applies a firing's
action once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog

from schemas.messages import Message
from schemas.topics import Topics
from services.automations.metrics import AutomationsMetrics
from services.runtime.backoff import backoff
from services.transport import Bus

log = structlog.get_logger(__name__)


class Outgoing:
    def __init__(
        self, bus: Bus, metrics: AutomationsMetrics, *, retry_base: float, retry_ceiling: float
    ) -> None:
        self._bus = bus
        self._metrics = metrics
        self._base = retry_base
        self._ceiling = retry_ceiling

    async def publish(self, messages: Sequence[Message]) -> None:
        """Publish all (pipelined, acks=all on Kafka); returns once the bus has every one."""
        if not messages:
            return
        wire = [(m.TOPIC.value, m.key, m.model_dump_json().encode(), ()) for m in messages]
        failures = 0
        while True:
            try:
                await self._bus.publish_many(wire)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                self._metrics.publish_failures.inc()
                retry = backoff(failures, base=self._base, ceiling=self._ceiling)
                log.warning(
                    "automations_publish_failed",
                    messages=len(wire),
                    attempt=failures,
                    retry_in_seconds=retry,
                    error=repr(exc),
                )
                await asyncio.sleep(retry)
        for message in messages:
            if message.TOPIC is not Topics.AUTOMATION_BUCKETS:
                self._metrics.commands.labels(type(message).__name__).inc()
