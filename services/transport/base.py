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

from collections.abc import Awaitable, Callable, Mapping, Sequence
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
class Assignment:
    """The partitions of `topic` a subscription owns after a rebalance, and how publishers
    map keys to partitions, so a consumer can tell which keys are now its own."""

    topic: str
    partitions: frozenset[int]
    partition_count: int
    partitioner: Callable[[bytes, int], int]  # (key, partition count) -> partition
    # partition -> its end offset, for the partitions that will be read again from an older
    # commit point: their records up to there were handled before (by someone)
    replaying: Mapping[int, int] = field(default_factory=dict)

    def owns(self, key: str) -> bool:
        return self.partitioner(key.encode(), self.partition_count) in self.partitions


# Called with the subscription's whole new assignment, once per topic, after every
# rebalance and before records of newly assigned partitions are handled. Keep it quick.
OnAssigned = Callable[[Assignment], Awaitable[None]]

# (topic, partition) -> the oldest offset the subscriber still needs, or None: nothing held.
# A capped subscription commits a partition no further than this, so whoever owns the
# partition next replays from there (state rebuilt from the records, e.g. open windows).
CommitCap = Callable[[str, int], int | None]


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
    on_assigned: OnAssigned | None = None
    # concurrent: records run at once (up to max_in_flight), committed up to the oldest
    # unfinished one (see offsets.py)
    concurrent: bool = False
    max_in_flight: int = 1
    commit_cap: CommitCap | None = None
    # broadcast: no group; every subscriber reads every partition, from the end (or the
    # beginning) at start, and commits nothing
    broadcast: bool = False
    from_beginning: bool = False


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
        self,
        topics: Sequence[str],
        group: str,
        handler: BatchHandler,
        *,
        max_batch: int = 500,
        on_assigned: OnAssigned | None = None,
        commit_cap: CommitCap | None = None,
    ) -> None:
        """Like `subscribe`, delivering up to `max_batch` records of a partition at once.

        `on_assigned` learns which partitions the subscription owns after each rebalance.
        `commit_cap`, asked after each batch, holds a partition's commit point back at the
        oldest record still needed (reading goes on past it). Partition p of each of the
        subscription's topics goes to the same member (co-partitioned, as Kafka Streams
        needs), so records keyed alike on several topics meet in one consumer.
        """

    def subscribe_broadcast(
        self, topics: Sequence[str], group: str, handler: Handler, *, from_beginning: bool = False
    ) -> None:
        """Every subscriber gets every record of `topics` (no group shares them), in
        partition order: those published after `start()` returned, or with
        `from_beginning` everything still on the topic. Nothing is committed; `group`
        names the subscription in dead letters and logs. For state every replica keeps
        whole, such as the rules of a compacted topic.
        """

    def subscribe_concurrent(
        self, topics: Sequence[str], group: str, handler: Handler, *, max_in_flight: int = 500
    ) -> None:
        """Like `subscribe`, but records run concurrently, even those of one partition.

        Up to `max_in_flight` records of the subscription run at once; a slow one never
        holds back the next. Offsets are committed only up to the oldest unfinished record,
        so a consumer that stops or dies leaves its unfinished records to the group.
        """
