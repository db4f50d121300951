"""The error policy both buses apply to each record: retry, dead-letter, or re-raise.

`Dispatcher.run(record, handler)` returns once the record may be committed: the handler
succeeded, or the record is on the dead-letter topic. It raises only
`asyncio.CancelledError`, in which case the record must not be committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog

from services.runtime.backoff import backoff
from services.transport.base import Handler, InvalidMessage, Record, Subscription

log = structlog.get_logger(__name__)

DLQ_REASON = "cancelbus-dlq-reason"
DLQ_TOPIC = "cancelbus-dlq-topic"
DLQ_PARTITION = "cancelbus-dlq-partition"
DLQ_OFFSET = "cancelbus-dlq-offset"
DLQ_GROUP = "cancelbus-dlq-group"
DLQ_ORIGINAL_SIZE = "cancelbus-dlq-original-size"
_DLQ_PREFIX = "cancelbus-dlq-"

MAX_DEAD_LETTER_VALUE = 64 * 1024
_MAX_REASON_CHARS = 2000

# (topic, key, value, headers) -> published durably, or raises.
RawPublish = Callable[[str, bytes | None, bytes, Sequence[tuple[str, bytes]]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff for handler faults: `attempts` tries in all, then dead-letter."""

    attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 10.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_delay < 0 or self.max_delay < 0:
            raise ValueError(f"invalid retry policy: {self!r}")

    def delay(self, failed_attempts: int) -> float:
        """Seconds to wait after the `failed_attempts`-th failure (1-based)."""
        return backoff(failed_attempts, base=self.base_delay, ceiling=self.max_delay)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """What a dead-letter entry says about the record it replaces."""

    reason: str
    topic: str
    partition: int
    offset: int
    group: str
    original_size: int


def one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _MAX_REASON_CHARS else flat[: _MAX_REASON_CHARS - 1] + "…"


def dead_letter_headers(record: Record, group: str, reason: str) -> list[tuple[str, bytes]]:
    """The original headers (minus older dead-letter headers) plus where and why."""
    kept = [(k, v) for k, v in record.headers if not k.startswith(_DLQ_PREFIX)]
    return [
        *kept,
        (DLQ_REASON, one_line(reason).encode()),
        (DLQ_TOPIC, record.topic.encode()),
        (DLQ_PARTITION, str(record.partition).encode()),
        (DLQ_OFFSET, str(record.offset).encode()),
        (DLQ_GROUP, group.encode()),
        (DLQ_ORIGINAL_SIZE, str(len(record.value)).encode()),
    ]


def dead_letter_reason(headers: Sequence[tuple[str, bytes]]) -> str | None:
    """The reason of a dead-letter entry, or None if these are not dead-letter headers."""
    for key, value in headers:
        if key == DLQ_REASON:
            return value.decode(errors="replace")
    return None


def parse_dead_letter(record: Record) -> DeadLetter:
    """Read the origin headers of a dead-letter entry; KeyError/ValueError if absent."""
    found = {k: v.decode(errors="replace") for k, v in record.headers if k.startswith(_DLQ_PREFIX)}
    return DeadLetter(
        reason=found[DLQ_REASON],
        topic=found[DLQ_TOPIC],
        partition=int(found[DLQ_PARTITION]),
        offset=int(found[DLQ_OFFSET]),
        group=found[DLQ_GROUP],
        original_size=int(found[DLQ_ORIGINAL_SIZE]),
    )


class Dispatcher:
    """Runs handlers for one consumer group under the shared error policy."""

    def __init__(
        self,
        *,
        group: str,
        publish: RawPublish,
        dead_letter_topic: str,
        retry: RetryPolicy,
    ) -> None:
        self._group = group
        self._publish = publish
        self._dead_letter_topic = dead_letter_topic
        self._retry = retry

    async def run(self, record: Record, handler: Handler) -> None:
        failed = 0
        while True:
            try:
                await handler(record)
                return
            except asyncio.CancelledError:
                raise
            except InvalidMessage as exc:
                await self.dead_letter(record, f"invalid message: {exc.reason}")
                return
            except Exception as exc:
                failed += 1
                fault = f"{type(exc).__name__}: {exc}"
                if failed >= self._retry.attempts:
                    await self.dead_letter(record, f"failed after {failed} attempts: {fault}")
                    return
                delay = self._retry.delay(failed)
                log.warning(
                    "handler_failed_retrying",
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    group=self._group,
                    attempt=failed,
                    retry_in=delay,
                    error=fault,
                )
                await asyncio.sleep(delay)

    async def run_subscription(self, records: Sequence[Record], sub: Subscription) -> None:
        """Handle consecutive records of one partition as `sub` asks (one by one, or batched)."""
        if sub.handler is not None:
            for record in records:
                await self.run(record, sub.handler)
            return
        batch_handler = sub.batch_handler
        assert batch_handler is not None
        if len(records) > 1:
            try:
                await batch_handler(records)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info(
                    "batch_failed_retrying_one_by_one",
                    group=self._group,
                    records=len(records),
                    error=f"{type(exc).__name__}: {exc}",
                )

        async def alone(record: Record) -> None:
            await batch_handler([record])

        for record in records:
            await self.run(record, alone)

    async def dead_letter(self, record: Record, reason: str) -> None:
        """Publish the dead-letter entry, retrying until it is durable (or cancelled).

        The record is committed right after this returns, so giving up here would lose it;
        a broker outage therefore holds the partition, which is what we want.
        """
        headers = dead_letter_headers(record, self._group, reason)
        value = record.value[:MAX_DEAD_LETTER_VALUE]
        failed = 0
        while True:
            try:
                await self._publish(self._dead_letter_topic, record.key, value, headers)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failed += 1
                delay = max(0.05, self._retry.delay(min(failed, 32)))
                log.error(
                    "dead_letter_publish_failed",
                    dead_letter_topic=self._dead_letter_topic,
                    topic=record.topic,
                    offset=record.offset,
                    retry_in=delay,
                    error=repr(exc),
                )
                await asyncio.sleep(delay)
        log.error(
            "dead_lettered",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            group=self._group,
            size=len(record.value),
            reason=one_line(reason),
        )
