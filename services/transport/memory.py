"""An in-process bus with Kafka's consumer-group semantics, for `cancelbus dev` and fast tests.

Each topic has N partitions (memory_topics.py), chosen by a stable hash of the key, so one
key's messages stay in order. Each consumer group sees each message once; several
subscriptions in one group share the partitions. One task per (group, topic, partition) runs
the handlers in order, so partitions run concurrently. A group's offset advances only after
the dispatcher returned.
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
from services.transport.memory_topics import MemoryTopics, PartitionLog, crc32_partition
from services.transport.offsets import PartitionOffsets
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
        self._committed: dict[tuple[str, str, int], int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._progressed = asyncio.Event()
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
        for (group, topic, partition), sub in self._assignment().items():
            dispatcher = dispatchers.get(group)
            if dispatcher is None:
                dispatcher = dispatchers[group] = Dispatcher(
                    group=group,
                    publish=self._append,
                    dead_letter_topic=self._dead_letter_topic,
                    retry=self._retry,
                )
            partition_log = self._topics.partitions_of(topic)[partition]
            consume = (
                self._consume_concurrent(partition_log, sub, dispatcher, self._slots(sub))
                if sub.concurrent
                else self._consume(partition_log, sub, dispatcher)
            )
            self._tasks.append(
                asyncio.create_task(
                    consume,
                    name=f"memory-bus:{group}:{topic}:{partition}",
                )
            )

    async def stop(self) -> None:
        if self._state != "started":
            self._state = "stopped"
            return
        self._state = "stopped"
        self._progressed.set()
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
        """Records published to subscribed topics that some group has not finished yet."""
        behind = 0
        for (group, topic, partition), _ in self._assignment().items():
            size = len(self._topics.partitions_of(topic)[partition].records)
            behind += size - self._committed.get((group, topic, partition), 0)
        return behind

    async def wait_idle(self) -> None:
        """Wait until every group has handled everything published so far (or the bus stops)."""
        while self._state == "started" and self.lag():
            progressed = self._progressed
            await progressed.wait()

    # -- internals ------------------------------------------------------------------------

    async def _announce_assignments(self) -> None:
        """Tell each subscription that asked which partitions it owns (fixed for the bus's life)."""
        for sub in self._subscriptions:
            if sub.on_assigned is None:
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
            for topic in dict.fromkeys(sub.topics):
                members.setdefault((sub.group, topic), []).append(sub)
        for (group, topic), subs in members.items():
            for partition in range(self._partitions):
                owners[(group, topic, partition)] = subs[partition % len(subs)]
        return owners

    async def _consume(
        self, partition_log: PartitionLog, sub: Subscription, dispatcher: Dispatcher
    ) -> None:
        position = (sub.group, partition_log.topic, partition_log.partition)
        while self._state == "started":
            offset = self._committed.get(position, 0)
            if offset >= len(partition_log.records):
                await partition_log.wait_beyond(offset)
                continue
            records = partition_log.records[offset : offset + sub.max_batch]
            await dispatcher.run_subscription(records, sub)
            self._committed[position] = offset + len(records)
            self._progressed.set()
            self._progressed = asyncio.Event()

    def _slots(self, sub: Subscription) -> asyncio.Semaphore:
        """One in-flight budget per concurrent subscription, shared by its partitions."""
        return self._in_flight_slots.setdefault(id(sub), asyncio.Semaphore(sub.max_in_flight))

    async def _consume_concurrent(
        self,
        partition_log: PartitionLog,
        sub: Subscription,
        dispatcher: Dispatcher,
        slots: asyncio.Semaphore,
    ) -> None:
        position = (sub.group, partition_log.topic, partition_log.partition)
        handler = sub.handler
        assert handler is not None
        offsets = PartitionOffsets()
        running: set[asyncio.Task[None]] = set()

        async def run(record: Record) -> None:
            try:
                await dispatcher.run(record, handler)
            finally:
                slots.release()
            offsets.finish(record.offset)
            self._committed[position] = offsets.commit_point() or 0
            self._progressed.set()
            self._progressed = asyncio.Event()

        fetched = self._committed.get(position, 0)
        try:
            while self._state == "started":
                if fetched >= len(partition_log.records):
                    await partition_log.wait_beyond(fetched)
                    continue
                await slots.acquire()
                record = partition_log.records[fetched]
                offsets.start(fetched)
                fetched += 1
                task = asyncio.create_task(run(record))
                running.add(task)
                task.add_done_callback(running.discard)
            if running:
                await asyncio.wait(running)
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
