"""The transport contract shared by the Kafka bus and the in-process bus.

Handlers receive one `Record` at a time, in partition order. A handler returns
normally once its effect is durable; only then is the record's offset committed.

Error policy, applied by both buses in the same way (see `dispatch.py`):
- `InvalidMessage` -> the record goes to the dead-letter topic with the reason, then is
  committed; the consumer carries on.
- any other exception -> retried with exponential backoff a bounded number of times,
  then dead-lettered with the reason.
- `asyncio.CancelledError` is re-raised and the record is not committed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = field(default=())
    timestamp_ms: int = 0


Handler = Callable[[Record], Awaitable[None]]
BatchHandler = Callable[[Sequence[Record]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Subscription:
    """A consumer group's interest in topics: one record at a time, or batches of one partition.

    A batch handler gets up to `max_batch` consecutive records of one partition and must
    apply them atomically (one transaction); if it raises, each record is retried alone
    under the error policy, so one bad record cannot hold back the rest.
    """

    topics: tuple[str, ...]
    group: str
    handler: Handler | None = None
    batch_handler: BatchHandler | None = None
    max_batch: int = 1


class InvalidMessage(Exception):
    """The record can never be processed (bad JSON, wrong schema, too large, unknown run)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Bus(Protocol):
    """Publish keyed messages and run consumer groups over topics."""

    async def start(self) -> None:
        """Create missing topics, connect, and start every subscription made so far."""

    async def stop(self) -> None:
        """Stop consuming (in-flight handlers get a bounded time), flush and disconnect."""

    async def publish(
        self,
        topic: str,
        key: str,
        value: bytes,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        """Publish one message and wait until the bus has it durably (acks=all on Kafka)."""

    async def publish_many(
        self, messages: Sequence[tuple[str, str, bytes, Sequence[tuple[str, bytes]]]]
    ) -> None:
        """Publish (topic, key, value, headers) messages pipelined, in order; wait for all."""

    def subscribe(self, topics: Sequence[str], group: str, handler: Handler) -> None:
        """Join consumer group `group` on `topics`; must be called before `start`."""

    def subscribe_batch(
        self, topics: Sequence[str], group: str, handler: BatchHandler, *, max_batch: int = 500
    ) -> None:
        """Like `subscribe`, delivering up to `max_batch` records of a partition at once."""
