"""One Kafka consumer in one group: fetch, run partitions concurrently, commit after effect.

Each fetched batch of a partition runs in its own task while that partition is paused, so
a partition is handled strictly in order and partitions run concurrently. Offsets are
committed once the records before them are handled: after each fetched batch, and at
least every `COMMIT_INTERVAL` seconds within a long one, so a crash redelivers little
(handlers are idempotent). A capped subscription commits no further than its `commit_cap`
says (offsets.py), and re-asks the cap every `COMMIT_INTERVAL` while the partition is idle,
as a cap moves on when what it held is released (a window closed) with no new record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from services.transport.base import Subscription
from services.transport.dispatch import Dispatcher
from services.transport.kafka_group import GroupMember, to_record
from services.transport.offsets import capped

log = structlog.get_logger(__name__)

COMMIT_INTERVAL = 0.5


class KafkaSubscriber(GroupMember):
    """Records of a partition run in order, one at a time or in batches; partitions run
    concurrently; offsets commit after each fetched batch."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        subscription: Subscription,
        dispatcher: Dispatcher,
        *,
        topic_name: Callable[[str], str],
        logical_name: Callable[[str], str],
    ) -> None:
        super().__init__(
            consumer,
            subscription,
            dispatcher,
            topic_name=topic_name,
            logical_name=logical_name,
        )
        self._batches: dict[TopicPartition, asyncio.Task[None]] = {}
        self._halted: set[TopicPartition] = set()
        self._closing = False
        # capped subscriptions: per partition, one past the last handled record, and the
        # commit point last committed
        self._handled: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._recommitted_at = time.monotonic()

    async def stop(self, graceful_timeout: float, close_timeout: float) -> None:
        self._closing = True
        await self._stop_fetching()
        cancelled = await self._finish(set(self._batches), graceful_timeout)
        await self._close_consumer(close_timeout)
        log.info("kafka_consumer_stopped", group=self._sub.group, cancelled_batches=cancelled)

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        cancelled = await self._finish(set(revoked), self._graceful_timeout)
        for tp in revoked:
            self._handled.pop(tp, None)
            self._committed.pop(tp, None)
        if cancelled:
            log.warning("revoked_partitions_cancelled", group=self._sub.group, count=cancelled)

    async def _finish(self, tps: set[TopicPartition], grace: float) -> int:
        """Let the in-flight records of each partition finish (bounded); cancel the rest."""
        self._halted.update(tps)
        tasks = [self._batches[tp] for tp in tps if tp in self._batches]
        pending: set[asyncio.Task[None]] = set()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self._halted.difference_update(tps)
        return len(pending)

    async def _fetch_loop(self) -> None:
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=500)
            except KafkaError as exc:
                log.warning("kafka_fetch_failed", group=self._sub.group, error=repr(exc))
                await asyncio.sleep(1.0)
                continue
            except Exception:
                log.exception("kafka_fetch_crashed", group=self._sub.group)
                await asyncio.sleep(1.0)
                continue
            for tp, messages in batches.items():
                if not messages:
                    continue
                # Paused until the batch is done: the next fetch starts after it.
                self._consumer.pause(tp)
                self._batches[tp] = asyncio.create_task(self._run_batch(tp, messages))
            if self._sub.commit_cap is not None:
                await self._recommit_idle()

    async def _recommit_idle(self) -> None:
        """Commit idle partitions whose cap has moved on since their last commit."""
        if time.monotonic() - self._recommitted_at < COMMIT_INTERVAL:
            return
        self._recommitted_at = time.monotonic()
        for tp, handled in list(self._handled.items()):
            if tp not in self._batches and tp not in self._halted:
                await self._commit(tp, handled)

    async def _run_batch(self, tp: TopicPartition, messages: list[ConsumerRecord]) -> None:
        done = committed = messages[0].offset
        last_commit = time.monotonic()
        size = self._sub.max_batch
        topic = self._logical_name(tp.topic)
        try:
            for start in range(0, len(messages), size):
                if self._closing or tp in self._halted:
                    break
                chunk = messages[start : start + size]
                records = [to_record(m, topic) for m in chunk]
                await self._dispatcher.run_subscription(records, self._sub)
                done = chunk[-1].offset + 1
                if time.monotonic() - last_commit >= COMMIT_INTERVAL:
                    if not await self._commit(tp, done):
                        return
                    committed, last_commit = done, time.monotonic()
            if done > committed and not await self._commit(tp, done):
                return
        finally:
            self._batches.pop(tp, None)
            if not self._closing and tp not in self._halted:
                self._resume_at(tp, done, rewind=done <= messages[-1].offset)

    async def _commit(self, tp: TopicPartition, offset: int) -> bool:
        cap = self._sub.commit_cap
        if cap is not None:
            self._handled[tp] = offset
            offset = capped(offset, cap(self._logical_name(tp.topic), tp.partition))
            if offset <= self._committed.get(tp, -1):
                return True
        try:
            await self._consumer.commit({tp: offset})
        except (CommitFailedError, IllegalStateError) as exc:
            log.warning("commit_rejected", group=self._sub.group, tp=str(tp), error=repr(exc))
            return False
        except KafkaError as exc:
            # A later commit covers this offset too; a crash before it means a redelivery.
            log.warning("commit_failed", group=self._sub.group, tp=str(tp), error=repr(exc))
            return True
        if cap is not None:
            self._committed[tp] = offset
        return True

    def _resume_at(self, tp: TopicPartition, offset: int, *, rewind: bool) -> None:
        try:
            if rewind:
                self._consumer.seek(tp, offset)
            self._consumer.resume(tp)
        except IllegalStateError:
            pass  # no longer ours: the new owner starts from the committed offset
