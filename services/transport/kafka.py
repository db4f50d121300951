"""The production bus: Apache Kafka through aiokafka.

Why aiokafka and not FastStream: the worker runtime needs per-offset commit control
(commit `{tp: offset + 1}` exactly when one record's effect is durable; FastStream's ack
commits every assigned partition's position), and the very same handler code must run on
`InMemoryBus`. A thin layer over aiokafka gives both, plus one error policy (`dispatch.py`).

Semantics
- Producer: idempotent, acks=all; `publish` returns once the broker acknowledged, and
  raises (never hangs) when the broker is unreachable: callers such as the outbox relay
  retry.
- One consumer per subscription, auto-commit off, `earliest` for a new group. Each
  fetched batch of a partition runs in its own task while that partition is paused, so a
  partition is handled strictly in order and partitions run concurrently. After each
  record the dispatcher returned for, `{tp: offset + 1}` is committed.
- On revocation the in-flight record gets `graceful_timeout` to finish and commit; the
  rest of the batch is left to the new owner. On `stop()` the same, then cancellation:
  a cancelled record is not committed and will be redelivered.
- `start()` creates missing topics with `max.message.bytes` raised, so an oversized
  message reaches a handler (and is dead-lettered with a reason) instead of being refused
  by the broker where no consumer ever sees it.

A future worker runtime that completes records out of order replaces `_Subscriber._run_batch`
with a tracker that commits up to the oldest unfinished offset; nothing else changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaError,
    TopicAlreadyExistsError,
    for_code,
)

from schemas.topics import Topics
from services.transport.base import Handler, Record
from services.transport.dispatch import Dispatcher, RetryPolicy

log = structlog.get_logger(__name__)

MIB = 1024 * 1024
_DEFAULT_FETCH_MAX_BYTES = 50 * MIB


@dataclass(frozen=True, slots=True)
class _Subscription:
    topics: tuple[str, ...]
    group: str
    handler: Handler


def _to_record(msg: ConsumerRecord) -> Record:
    return Record(
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        key=msg.key,
        value=msg.value if msg.value is not None else b"",
        headers=tuple((k, v if v is not None else b"") for k, v in msg.headers),
        timestamp_ms=msg.timestamp,
    )


class KafkaBus:
    """`Bus` on a Kafka cluster; nothing connects before `start`."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        client_id: str,
        partitions: int = 6,
        replication_factor: int = 1,
        max_message_bytes: int = 16 * MIB,
        retry: RetryPolicy | None = None,
        dead_letter_topic: str = Topics.DEAD_LETTERS,
        topics: Sequence[str] | None = None,
        graceful_timeout: float = 10.0,
        request_timeout: float = 10.0,
    ) -> None:
        """`topics` are created by `start()` besides the subscribed ones (default: all `Topics`)."""
        self._servers = bootstrap_servers
        self._client_id = client_id
        self._partitions = partitions
        self._replication_factor = replication_factor
        self._max_message_bytes = max_message_bytes
        self._retry = retry or RetryPolicy()
        self._dead_letter_topic = dead_letter_topic
        self._topics = tuple(Topics) if topics is None else tuple(topics)
        self._graceful_timeout = graceful_timeout
        self._request_timeout = request_timeout
        self._subscriptions: list[_Subscription] = []
        self._subscribers: list[_Subscriber] = []
        self._admin: AIOKafkaAdminClient | None = None
        self._producer: AIOKafkaProducer | None = None
        self._known_topics: set[str] = set()
        self._topics_lock = asyncio.Lock()
        self._started = False

    async def start(self) -> None:
        if self._started:
            raise RuntimeError("bus already started")
        self._started = True
        try:
            await self._connect()
        except BaseException:
            await self.stop()
            raise

    async def _connect(self) -> None:
        timeout_ms = int(self._request_timeout * 1000)
        self._admin = AIOKafkaAdminClient(
            bootstrap_servers=self._servers,
            client_id=f"{self._client_id}-admin",
            request_timeout_ms=timeout_ms,
        )
        await self._admin.start()
        subscribed = [t for sub in self._subscriptions for t in sub.topics]
        await self._ensure_topics([*self._topics, self._dead_letter_topic, *subscribed])
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self._servers,
            client_id=self._client_id,
            enable_idempotence=True,
            acks="all",
            max_request_size=self._max_message_bytes,
            request_timeout_ms=timeout_ms,
        )
        await self._producer.start()
        for sub in self._subscriptions:
            subscriber = _Subscriber(self._new_consumer(sub.group), sub, self._dispatcher(sub))
            self._subscribers.append(subscriber)
            await subscriber.start(self._graceful_timeout)

    async def stop(self) -> None:
        subscribers, self._subscribers = self._subscribers, []
        await asyncio.gather(
            *(s.stop(self._graceful_timeout, self._request_timeout) for s in subscribers)
        )
        producer, self._producer = self._producer, None
        if producer is not None:
            await self._close_producer(producer)
        admin, self._admin = self._admin, None
        if admin is not None:
            await admin.close()

    async def _close_producer(self, producer: AIOKafkaProducer) -> None:
        try:
            await asyncio.wait_for(producer.flush(), self._request_timeout)
        except TimeoutError:
            log.warning("producer_flush_timed_out", timeout=self._request_timeout)
            await _abandon_undelivered(producer)
        try:
            await asyncio.wait_for(producer.stop(), self._request_timeout)
        except TimeoutError:
            log.error("producer_stop_timed_out", timeout=self._request_timeout)

    async def publish(
        self,
        topic: str,
        key: str,
        value: bytes,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        await self._send(topic, key.encode(), value, headers)

    async def publish_many(
        self, messages: Sequence[tuple[str, str, bytes, Sequence[tuple[str, bytes]]]]
    ) -> None:
        """Enqueue all in order (the idempotent producer keeps per-partition order), then wait."""
        producer = self._require_producer()
        async with asyncio.timeout(self._request_timeout * 1.5):
            await self._ensure_topics([topic for topic, *_ in messages])
            acks = [
                await producer.send(topic, value, key=key.encode(), headers=list(headers))
                for topic, key, value, headers in messages
            ]
            outcomes = await asyncio.gather(*acks, return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:
            raise failures[0]

    def subscribe(self, topics: Sequence[str], group: str, handler: Handler) -> None:
        if self._started:
            raise RuntimeError("subscribe before start")
        if isinstance(topics, str):
            raise TypeError("topics must be a sequence of topic names, not one string")
        self._subscriptions.append(_Subscription(tuple(topics), group, handler))

    # -- internals ------------------------------------------------------------------------

    async def _send(
        self, topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]]
    ) -> None:
        producer = self._require_producer()
        # Bounded even when the broker is gone: metadata waits and acks both count.
        async with asyncio.timeout(self._request_timeout * 1.5):
            await self._ensure_topics([topic])
            await producer.send_and_wait(topic, value, key=key, headers=list(headers))

    def _require_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("cannot publish: the bus is not started")
        return self._producer

    def _dispatcher(self, sub: _Subscription) -> Dispatcher:
        return Dispatcher(
            group=sub.group,
            publish=self._send,
            dead_letter_topic=self._dead_letter_topic,
            retry=self._retry,
        )

    def _new_consumer(self, group: str) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self._servers,
            client_id=f"{self._client_id}-{group}",
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=self._max_message_bytes,
            fetch_max_bytes=max(_DEFAULT_FETCH_MAX_BYTES, self._max_message_bytes),
        )

    async def _ensure_topics(self, topics: Sequence[str]) -> None:
        """Create the topics not known to exist; an existing topic is fine (services race)."""
        missing = [t for t in dict.fromkeys(topics) if t not in self._known_topics]
        if not missing:
            return
        admin = self._admin
        if admin is None:
            raise RuntimeError("the bus is not started")
        async with self._topics_lock:
            missing = [t for t in missing if t not in self._known_topics]
            if not missing:
                return
            config = {"max.message.bytes": str(self._max_message_bytes)}
            response = await admin.create_topics(
                [
                    NewTopic(t, self._partitions, self._replication_factor, topic_configs=config)
                    for t in missing
                ]
            )
            for topic, code, *rest in response.topic_errors:
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise for_code(code)(f"cannot create topic {topic}: {rest}")
                if code == 0:
                    log.info("topic_created", topic=topic, partitions=self._partitions)
            await self._wait_visible(admin, missing)
            self._known_topics.update(missing)

    async def _wait_visible(self, admin: AIOKafkaAdminClient, topics: list[str]) -> None:
        """Wait until the broker's metadata lists the topics, so clients see them at once."""
        async with asyncio.timeout(self._request_timeout):
            while True:
                described = await admin.describe_topics(topics)
                if all(t["error_code"] == 0 and t["partitions"] for t in described):
                    return
                await asyncio.sleep(0.1)


async def _abandon_undelivered(producer: AIOKafkaProducer) -> None:
    """Stop retrying the batches the broker never acknowledged, so `producer.stop()` returns.

    aiokafka 0.14 has no close timeout: `stop()` waits for every batch, forever while the
    broker is unreachable, and its `fail_all` trips over re-queued batches. Their publishers
    have already timed out (the outbox retries), so cancelling the sender loses nothing.
    Private attribute, hence guarded; the caller bounds `stop()` as well.
    """
    task = getattr(getattr(producer, "_sender", None), "sender_task", None)
    if isinstance(task, asyncio.Task):
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


class _Subscriber(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """One consumer in one group: fetches, runs partitions concurrently, commits per record."""

    def __init__(
        self, consumer: AIOKafkaConsumer, subscription: _Subscription, dispatcher: Dispatcher
    ) -> None:
        self._consumer = consumer
        self._sub = subscription
        self._dispatcher = dispatcher
        self._batches: dict[TopicPartition, asyncio.Task[None]] = {}
        self._halted: set[TopicPartition] = set()
        self._closing = False
        self._graceful_timeout = 10.0
        self._fetcher: asyncio.Task[None] | None = None

    async def start(self, graceful_timeout: float) -> None:
        self._graceful_timeout = graceful_timeout
        await self._consumer.start()
        self._consumer.subscribe(list(self._sub.topics), listener=self)
        self._fetcher = asyncio.create_task(
            self._fetch_loop(), name=f"kafka-bus:{self._sub.group}:fetch"
        )

    async def stop(self, graceful_timeout: float, close_timeout: float) -> None:
        self._closing = True
        if self._fetcher is not None:
            self._fetcher.cancel()
            await asyncio.gather(self._fetcher, return_exceptions=True)
        cancelled = await self._finish(set(self._batches), graceful_timeout)
        await self._close_consumer(close_timeout)
        log.info("kafka_consumer_stopped", group=self._sub.group, cancelled_batches=cancelled)

    async def _close_consumer(self, timeout_s: float) -> None:
        try:
            # Leaving the group needs the broker: bounded, so an outage cannot hang shutdown.
            await asyncio.wait_for(self._consumer.stop(), timeout_s)
        except TimeoutError:
            log.error("kafka_consumer_stop_timed_out", group=self._sub.group)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            # aiokafka 0.14 lets its fetcher's own cancellation escape stop() when the
            # broker is unreachable; the consumer is closed all the same.
            log.warning("kafka_consumer_stop_cancelled_internally", group=self._sub.group)

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        cancelled = await self._finish(set(revoked), self._graceful_timeout)
        if cancelled:
            log.warning("revoked_partitions_cancelled", group=self._sub.group, count=cancelled)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("partitions_assigned", group=self._sub.group, partitions=sorted(assigned))

    async def _finish(self, tps: set[TopicPartition], grace: float) -> int:
        """Let the in-flight record of each partition finish (bounded); cancel the rest."""
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

    async def _run_batch(self, tp: TopicPartition, messages: list[ConsumerRecord]) -> None:
        next_offset = messages[0].offset
        try:
            for msg in messages:
                if self._closing or tp in self._halted:
                    return
                await self._dispatcher.run(_to_record(msg), self._sub.handler)
                next_offset = msg.offset + 1
                if not await self._commit(tp, next_offset):
                    return
        finally:
            self._batches.pop(tp, None)
            if not self._closing and tp not in self._halted:
                self._resume_at(tp, next_offset, rewind=next_offset <= messages[-1].offset)

    async def _commit(self, tp: TopicPartition, offset: int) -> bool:
        try:
            await self._consumer.commit({tp: offset})
        except (CommitFailedError, IllegalStateError) as exc:
            log.warning("commit_rejected", group=self._sub.group, tp=str(tp), error=repr(exc))
            return False
        except KafkaError as exc:
            # A later commit covers this offset too; a crash before it means a redelivery.
            log.warning("commit_failed", group=self._sub.group, tp=str(tp), error=repr(exc))
        return True

    def _resume_at(self, tp: TopicPartition, offset: int, *, rewind: bool) -> None:
        try:
            if rewind:
                self._consumer.seek(tp, offset)
            self._consumer.resume(tp)
        except IllegalStateError:
            pass  # no longer ours: the new owner starts from the committed offset
