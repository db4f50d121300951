"""One Kafka consumer whose records run concurrently, even within a partition.

Used by the workers: a cancellation may wait out a grace period of minutes, and must not
hold back the next request of its partition. Each record runs in its own task (at most
`max_in_flight` at once; beyond that every partition is paused). A finished record is not
committed by itself: each partition commits up to its oldest unfinished offset (offsets.py),
so a consumer that stops or dies leaves exactly its unfinished records (and maybe some
finished ones after them) to the next owner of the partition.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from services.transport.base import Record, Subscription
from services.transport.dispatch import Dispatcher
from services.transport.kafka_group import GroupMember, to_record
from services.transport.offsets import PartitionOffsets

log = structlog.get_logger(__name__)

_FULL_POLL_MS = 100  # keeps polling (paused) while full, so the group keeps us


class ConcurrentKafkaSubscriber(GroupMember):
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        subscription: Subscription,
        dispatcher: Dispatcher,
        *,
        topic_name: Callable[[str], str],
        logical_name: Callable[[str], str],
    ) -> None:
        assert subscription.handler is not None
        super().__init__(
            consumer,
            subscription,
            dispatcher,
            topic_name=topic_name,
            logical_name=logical_name,
        )
        self._handler = subscription.handler
        self._offsets: dict[TopicPartition, PartitionOffsets] = {}
        self._tasks: dict[TopicPartition, set[asyncio.Task[None]]] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._dirty: set[TopicPartition] = set()
        self._commit_wanted = asyncio.Event()
        self._in_flight = 0
        self._committer: asyncio.Task[None] | None = None

    async def start(self, graceful_timeout: float) -> None:
        await super().start(graceful_timeout)
        self._committer = asyncio.create_task(
            self._commit_loop(), name=f"kafka-bus:{self._sub.group}:commit"
        )

    async def stop(self, graceful_timeout: float, close_timeout: float) -> None:
        await self._stop_fetching()
        in_flight = self._in_flight
        cancelled = await self._finish(set(self._tasks), graceful_timeout)
        await self._commit(set(self._dirty))
        if self._committer is not None:
            self._committer.cancel()
            await asyncio.gather(self._committer, return_exceptions=True)
        await self._close_consumer(close_timeout)
        log.info(
            "kafka_consumer_stopped",
            group=self._sub.group,
            in_flight=in_flight,
            finished=in_flight - cancelled,
            left_uncommitted=cancelled,
        )

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        cancelled = await self._finish(set(revoked), self._graceful_timeout)
        await self._commit(set(revoked) & self._dirty)
        for tp in revoked:
            self._offsets.pop(tp, None)
            self._committed.pop(tp, None)
        if cancelled:
            log.warning("revoked_records_cancelled", group=self._sub.group, count=cancelled)

    async def _finish(self, tps: set[TopicPartition], grace: float) -> int:
        """Give the records in flight on `tps` up to `grace` seconds; cancel the rest."""
        tasks = [task for tp in tps for task in self._tasks.get(tp, ())]
        if not tasks:
            return 0
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return len(pending)

    async def _fetch_loop(self) -> None:
        while True:
            free = self._sub.max_in_flight - self._in_flight
            assigned = self._consumer.assignment()
            if free <= 0:
                self._consumer.pause(*assigned)
            elif self._consumer.paused():
                self._consumer.resume(*self._consumer.paused())
            try:
                batches = await self._consumer.getmany(
                    timeout_ms=_FULL_POLL_MS if free <= 0 else 500, max_records=max(free, 1)
                )
            except KafkaError as exc:
                log.warning("kafka_fetch_failed", group=self._sub.group, error=repr(exc))
                await asyncio.sleep(1.0)
                continue
            for tp, messages in batches.items():
                for message in messages:
                    self._start(tp, message)

    def _start(self, tp: TopicPartition, message: ConsumerRecord) -> None:
        offsets = self._offsets.setdefault(tp, PartitionOffsets())
        offsets.start(message.offset)
        record = to_record(message, self._logical_name(tp.topic))
        task = asyncio.create_task(self._run(tp, offsets, record))
        self._tasks.setdefault(tp, set()).add(task)
        self._in_flight += 1

    async def _run(self, tp: TopicPartition, offsets: PartitionOffsets, record: Record) -> None:
        try:
            await self._dispatcher.run(record, self._handler)
        finally:
            self._in_flight -= 1
            current = asyncio.current_task()
            if current is not None:
                self._tasks.get(tp, set()).discard(current)
        offsets.finish(record.offset)
        self._dirty.add(tp)
        self._commit_wanted.set()

    async def _commit_loop(self) -> None:
        while True:
            await self._commit_wanted.wait()
            self._commit_wanted.clear()
            await self._commit(set(self._dirty))

    async def _commit(self, tps: set[TopicPartition]) -> None:
        offsets: dict[TopicPartition, int] = {}
        for tp in tps:
            self._dirty.discard(tp)
            point = self._offsets[tp].commit_point() if tp in self._offsets else None
            if point is not None and point > self._committed.get(tp, -1):
                offsets[tp] = point
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # no longer ours: the new owner redelivers from the last committed offset
            log.warning("commit_rejected", group=self._sub.group, error=repr(exc))
            return
        except KafkaError as exc:
            log.warning("commit_failed", group=self._sub.group, error=repr(exc))
            self._dirty.update(offsets)
            return
        for tp, point in offsets.items():
            self._committed[tp] = max(point, self._committed.get(tp, -1))
