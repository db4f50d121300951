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

`subscribe_concurrent` (the workers) runs records out of order and commits each partition
up to its oldest unfinished offset: see kafka_concurrent.py.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    MessageSizeTooLargeError,
    TopicAlreadyExistsError,
    for_code,
)
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from schemas.topics import Topics
from services.transport.base import Subscription
from services.transport.dispatch import Dispatcher, RetryPolicy
from services.transport.kafka_concurrent import ConcurrentKafkaSubscriber
from services.transport.kafka_consumer import KafkaSubscriber
from services.transport.partitioner import partition_for
from services.transport.subscriptions import Subscriptions

log = structlog.get_logger(__name__)

MIB = 1024 * 1024
_DEFAULT_FETCH_MAX_BYTES = 50 * MIB
BATCH_BYTES = 256 * 1024  # a relay pass of 2,000 outbox rows fills a few batches per partition

# How long the broker may hold a fetch that finds no records. Data ends the wait at once; the
# wait costs latency only to a partition resumed while a fetch without it is in flight, and
# an idle consumer polls 1000/wait times a second.
# Ordered subscriptions pause a partition while its batch runs, so a run's next result can
# land on a paused partition: at 100 ms that cost the p95 of CANCELLED 50 ms.
FETCH_MAX_WAIT_MS = 20
# Concurrent ones (the workers) pause only when full: they poll rarely while idle.
CONCURRENT_FETCH_MAX_WAIT_MS = 500


class KafkaBus(Subscriptions):
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
        topic_prefix: str = "",
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
        self._prefix = topic_prefix
        super().__init__()
        self._subscribers: list[KafkaSubscriber | ConcurrentKafkaSubscriber] = []
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
            partitioner=partition_for,
            max_batch_size=BATCH_BYTES,
        )
        await self._producer.start()
        # where each topic's partitions lead, known now rather than at the first publish
        for topic in self._topics:
            await self._producer.partitions_for(self._topic_name(topic))
        per_group = Counter(sub.group for sub in self._subscriptions)
        for sub in self._subscriptions:
            kind = ConcurrentKafkaSubscriber if sub.concurrent else KafkaSubscriber
            subscriber = kind(
                self._new_consumer(
                    self._kafka_group(sub, shared=per_group[sub.group] > 1),
                    CONCURRENT_FETCH_MAX_WAIT_MS if sub.concurrent else FETCH_MAX_WAIT_MS,
                ),
                sub,
                self._dispatcher(sub),
                topic_name=self._topic_name,
                logical_name=self._logical_name,
            )
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
        """Send all, one record batch per partition in the given order (the idempotent
        producer keeps each partition's order), then wait for every acknowledgement.

        Batches skip the producer's per-message path: a bulk cancellation publishes three
        messages per run, and per-message sends cost three times the CPU."""
        producer = self._require_producer()
        async with asyncio.timeout(self._request_timeout * 1.5):
            await self._ensure_topics([topic for topic, *_ in messages])
            acks: list[asyncio.Future[object]] = []
            for (topic, partition), records in (await self._by_partition(messages)).items():
                acks.extend(await self._send_batches(producer, topic, partition, records))
            outcomes = await asyncio.gather(*acks, return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:
            raise failures[0]

    async def _by_partition(
        self, messages: Sequence[tuple[str, str, bytes, Sequence[tuple[str, bytes]]]]
    ) -> dict[tuple[str, int], list[tuple[bytes, bytes, list[tuple[str, bytes]]]]]:
        """Messages grouped by the partition the default partitioner gives them, in order."""
        producer = self._require_producer()
        partitions: dict[str, list[int]] = {}
        grouped: dict[tuple[str, int], list[tuple[bytes, bytes, list[tuple[str, bytes]]]]] = {}
        for topic, key, value, headers in messages:
            name = self._topic_name(topic)
            if name not in partitions:
                partitions[name] = sorted(await producer.partitions_for(name))
            encoded = key.encode()
            if _record_size(encoded, value, headers) > self._max_message_bytes:
                raise MessageSizeTooLargeError(
                    f"a {len(value)}-byte message for {topic} is over the "
                    f"{self._max_message_bytes}-byte limit"
                )
            partition = partition_for(encoded, partitions[name], ())
            grouped.setdefault((name, partition), []).append((encoded, value, list(headers)))
        return grouped

    @staticmethod
    async def _send_batches(
        producer: AIOKafkaProducer,
        topic: str,
        partition: int,
        records: list[tuple[bytes, bytes, list[tuple[str, bytes]]]],
    ) -> list[asyncio.Future[object]]:
        acks: list[asyncio.Future[object]] = []
        batch = producer.create_batch()
        for key, value, headers in records:
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                batch.close()  # closed: no other sender's message can join it
                acks.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                # an empty batch takes any one record the size check above let through
                batch.append(key=key, value=value, timestamp=None, headers=headers)
        batch.close()
        acks.append(await producer.send_batch(batch, topic, partition=partition))
        return acks

    def _accepts_subscriptions(self) -> bool:
        return not self._started

    def _topic_name(self, topic: str) -> str:
        """The broker's name of a topic: namespaced by the prefix (shared clusters, tests)."""
        return self._prefix + topic

    def _logical_name(self, topic: str) -> str:
        return topic.removeprefix(self._prefix)

    # -- internals ------------------------------------------------------------------------

    async def _send(
        self, topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]]
    ) -> None:
        producer = self._require_producer()
        # Bounded even when the broker is gone: metadata waits and acks both count.
        async with asyncio.timeout(self._request_timeout * 1.5):
            await self._ensure_topics([topic])
            await producer.send_and_wait(
                self._topic_name(topic), value, key=key, headers=list(headers)
            )

    def _require_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("cannot publish: the bus is not started")
        return self._producer

    def _dispatcher(self, sub: Subscription) -> Dispatcher:
        return Dispatcher(
            group=sub.group,
            publish=self._send,
            dead_letter_topic=self._dead_letter_topic,
            retry=self._retry,
        )

    def _kafka_group(self, sub: Subscription, *, shared: bool) -> str:
        """The Kafka group id of a subscription: namespaced by the prefix like the topics,
        and one group per subscription when a service subscribes several times under one
        name, so one consumer joining never makes the service's other consumers rebalance."""
        group = f"{sub.group}.{'+'.join(sub.topics)}" if shared else sub.group
        return self._prefix + group

    def _new_consumer(self, group: str, fetch_max_wait_ms: int) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self._servers,
            client_id=f"{self._client_id}-{group}",
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=self._max_message_bytes,
            fetch_max_bytes=max(_DEFAULT_FETCH_MAX_BYTES, self._max_message_bytes),
            # A partition paused while its batch runs joins the next fetch request only:
            # a long broker-side wait would hold its next record back that long.
            fetch_max_wait_ms=fetch_max_wait_ms,
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
                    NewTopic(
                        self._topic_name(t),
                        self._partitions,
                        self._replication_factor,
                        topic_configs=config,
                    )
                    for t in missing
                ]
            )
            for topic, code, *rest in response.topic_errors:
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise for_code(code)(f"cannot create topic {topic}: {rest}")
                if code == 0:
                    log.info("topic_created", topic=topic, partitions=self._partitions)
            await self._wait_visible(admin, [self._topic_name(t) for t in missing])
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


def _record_size(key: bytes, value: bytes, headers: Sequence[tuple[str, bytes]]) -> int:
    size: int = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, list(headers))
    return size
