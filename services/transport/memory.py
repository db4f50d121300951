"""An in-process bus with Kafka's consumer-group semantics, for `cancelbus dev` and fast tests.

Each topic has N partitions (memory_topics.py), chosen by a stable hash of the key, so one
key's messages stay in order. Each consumer group sees each message once; several
subscriptions in one group share the partitions. One task per (group, topic, partition) runs
the handlers in order, so partitions run concurrently. A group's offset advances only after
the dispatcher returned (memory_consumers.py: commit caps, concurrent and broadcast ones).
Nothing survives the process: this is not the production path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog

from schemas.topics import Topics
from services.transport.base import (
    Assignment,
    Record,
    Subscription,
)
from services.transport.dispatch import Dispatcher, RetryPolicy
from services.transport.memory_consumers import Positions, consume, consume_concurrent
from services.transport.memory_topics import MemoryTopics, crc32_partition
from services.transport.offsets import capped
from services.transport.subscriptions import Subscriptions

log = structlog.get_logger(__name__)


class InMemoryBus(Subscriptions):
    """`Bus` implemented in process memory; all state is per instance."""

    def __init__(
        self,
        *,
        partitions: int = 6,
        dead_letter_topic: str = Topics.DEAD_LETTERS,
        retry: RetryPolicy | None = None,
        graceful_timeout: float = 10.0,
    ) -> None:
        if partitions < 1:
            raise ValueError("partitions must be >= 1")
        self._partitions = partitions
        self._dead_letter_topic = dead_letter_topic
        self._retry = retry or RetryPolicy()
        self._graceful_timeout = graceful_timeout
        self._topics = MemoryTopics(partitions)
        super().__init__()
        self._positions = Positions(lambda: self._state == "started")
        self._tasks: list[asyncio.Task[None]] = []
        self._in_flight_slots: dict[int, asyncio.Semaphore] = {}
        self._state = "new"

    # -- Bus -----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._state != "new":
            raise RuntimeError(f"bus cannot start: it is {self._state}")
        self._state = "started"
        self._topics.partitions_of(self._dead_letter_topic)  # listed from the start, if empty
        await self._announce_assignments()
        dispatchers: dict[str, Dispatcher] = {}

        def dispatcher(group: str) -> Dispatcher:
            if group not in dispatchers:
                dispatchers[group] = Dispatcher(
                    group=group,
                    publish=self._append,
                    dead_letter_topic=self._dead_letter_topic,
                    retry=self._retry,
                )
            return dispatchers[group]

        positions = self._positions
        for (group, topic, partition), sub in self._assignment().items():
            partition_log = self._topics.partitions_of(topic)[partition]
            run = (
                consume_concurrent(
                    positions, partition_log, sub, dispatcher(group), self._slots(sub)
                )
                if sub.concurrent
                else consume(positions, partition_log, sub, dispatcher(group))
            )
            self._tasks.append(
                asyncio.create_task(run, name=f"memory-bus:{group}:{topic}:{partition}")
            )
        for n, sub in enumerate(s for s in self._subscriptions if s.broadcast):
            for topic in dict.fromkeys(sub.topics):
                for partition_log in self._topics.partitions_of(topic):
                    position = (f"{sub.group}#broadcast{n}", topic, partition_log.partition)
                    positions.handled[position] = (
                        0 if sub.from_beginning else len(partition_log.records)
                    )
                    run = consume(positions, partition_log, sub, dispatcher(sub.group), position)
                    self._tasks.append(asyncio.create_task(run, name=f"memory-bus:{position}"))

    async def stop(self) -> None:
        if self._state != "started":
            self._state = "stopped"
            return
        self._state = "stopped"
        self._positions.progressed.set()
        for partition_log in self._topics.partition_logs():
            partition_log.wake()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=self._graceful_timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        log.info("memory_bus_stopped", consumers=len(self._tasks), cancelled=len(pending))
        self._tasks.clear()

    async def publish(
        self,
        topic: str,
        key: str,
        value: bytes,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        if self._state != "started":
            raise RuntimeError(f"cannot publish: the bus is {self._state}")
        self._topics.append(topic, key.encode(), value, headers)

    async def publish_many(
        self, messages: Sequence[tuple[str, str, bytes, Sequence[tuple[str, bytes]]]]
    ) -> None:
        if self._state != "started":
            raise RuntimeError(f"cannot publish: the bus is {self._state}")
        for topic, key, value, headers in messages:
            self._topics.append(topic, key.encode(), value, headers)

    def _accepts_subscriptions(self) -> bool:
        return self._state == "new"

    # -- for tests and `cancelbus dev` ----------------------------------------------------

    def messages(self, topic: str) -> list[Record]:
        """Every record published to `topic`, in publish order."""
        return self._topics.published(topic)

    def lag(self) -> int:
        """Records published to subscribed topics that some consumer has not finished yet."""
        behind = 0
        positions = [*self._assignment(), *self._positions.handled]
        for group, topic, partition in dict.fromkeys(positions):
            size = len(self._topics.partitions_of(topic)[partition].records)
            behind += size - self._positions.handled.get((group, topic, partition), 0)
        return behind

    def committed(self, group: str, topic: str, partition: int) -> int:
        """The offset `group` would commit on Kafka now (held back by its commit cap)."""
        point = self._positions.committed.get((group, topic, partition), 0)
        sub = self._assignment().get((group, topic, partition))
        if sub is None or sub.commit_cap is None:
            return point
        return capped(point, sub.commit_cap(topic, partition))

    async def wait_idle(self) -> None:
        """Wait until every group has handled everything published so far (or the bus stops)."""
        while self._state == "started" and self.lag():
            progressed = self._positions.progressed
            await progressed.wait()

    # -- internals ------------------------------------------------------------------------

    async def _announce_assignments(self) -> None:
        """Tell each subscription that asked which partitions it owns (fixed for the bus's life)."""
        for sub in self._subscriptions:
            if sub.on_assigned is None or sub.broadcast:
                continue
            owned = [key for key, owner in self._assignment().items() if owner is sub]
            for topic in dict.fromkeys(sub.topics):
                mine = frozenset(p for (_, t, p) in owned if t == topic)
                await sub.on_assigned(Assignment(topic, mine, self._partitions, crc32_partition))

    async def _append(
        self, topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]]
    ) -> None:
        """The dispatcher's publish (retries, dead letters): the same append, awaitable."""
        self._topics.append(topic, key, value, headers)

    def _assignment(self) -> dict[tuple[str, str, int], Subscription]:
        """(group, topic, partition) -> the one subscription of that group that owns it."""
        owners: dict[tuple[str, str, int], Subscription] = {}
        members: dict[tuple[str, str], list[Subscription]] = {}
        for sub in self._subscriptions:
            if sub.broadcast:
                continue
            for topic in dict.fromkeys(sub.topics):
                members.setdefault((sub.group, topic), []).append(sub)
        for (group, topic), subs in members.items():
            for partition in range(self._partitions):
                owners[(group, topic, partition)] = subs[partition % len(subs)]
        return owners

    def _slots(self, sub: Subscription) -> asyncio.Semaphore:
        """One in-flight budget per concurrent subscription, shared by its partitions."""
        return self._in_flight_slots.setdefault(id(sub), asyncio.Semaphore(sub.max_in_flight))
