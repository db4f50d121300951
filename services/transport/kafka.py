"""The production bus: Apache Kafka through aiokafka.

Why aiokafka and not FastStream: the worker runtime needs per-offset commit control
(commit `{tp: offset + 1}` exactly when one record's effect is durable; FastStream's ack
commits every assigned partition's position), and the very same handler code must run on
`InMemoryBus`. A thin layer over aiokafka gives both, plus one error policy (`dispatch.py`).

Semantics
- Producer: idempotent, acks=all; `publish` returns once the broker acknowledged, and
  raises (never hangs) when the broker is unreachable: callers such as the outbox relay
  retry (kafka_publisher.py).
- One consumer per subscription, auto-commit off, `earliest` for a new group. Each
  fetched batch of a partition runs in its own task while that partition is paused, so a
  partition is handled strictly in order and partitions run concurrently. After each
  record the dispatcher returned for, `{tp: offset + 1}` is committed.
- On revocation the in-flight record gets `graceful_timeout` to finish and commit; the
  rest of the batch is left to the new owner. On `stop()` the same, then cancellation:
  a cancelled record is not committed and will be redelivered (kafka_consumer.py).
- `start()` creates missing topics with `max.message.bytes` raised, so an oversized
  message reaches a handler (and is dead-lettered with a reason) instead of being refused
  by the broker where no consumer ever sees it (kafka_topics.py).

`subscribe_concurrent` (the workers) runs records out of order and commits each partition
up to its oldest unfinished offset: see kafka_concurrent.py. `subscribe_broadcast` reads
every partition in every subscriber, outside any group: see kafka_broadcast.py. Ordered
subscriptions use the range assignor, so partition p of each of their topics goes to one
member (co-partitioned).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

from schemas.topics import Topics
from services.transport.base import Subscription
from services.transport.dispatch import Dispatcher, RetryPolicy
from services.transport.kafka_broadcast import BroadcastKafkaSubscriber
from services.transport.kafka_concurrent import ConcurrentKafkaSubscriber
from services.transport.kafka_consumer import KafkaSubscriber
from services.transport.kafka_group import KafkaMember
from services.transport.kafka_publisher import KafkaPublisher, Message
from services.transport.kafka_topics import KafkaTopics
from services.transport.subscriptions import Subscriptions

MIB = 1024 * 1024
_DEFAULT_FETCH_MAX_BYTES = 50 * MIB

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
        session_timeout: float = 10.0,
        fetch_max_wait_ms: int = FETCH_MAX_WAIT_MS,
    ) -> None:
        """`topics` are created by `start()` besides the subscribed ones (default: all `Topics`)."""
        self._servers = bootstrap_servers
        self._client_id = client_id
        self._max_message_bytes = max_message_bytes
        self._retry = retry or RetryPolicy()
        self._dead_letter_topic = dead_letter_topic
        self._topics = tuple(Topics) if topics is None else tuple(topics)
        self._graceful_timeout = graceful_timeout
        self._request_timeout = request_timeout
        self._prefix = topic_prefix
        self._session_timeout_ms = int(session_timeout * 1000)
        self._fetch_max_wait_ms = fetch_max_wait_ms  # of ordered subscriptions
        super().__init__()
        self._subscribers: list[KafkaMember] = []
        self._broker_topics = KafkaTopics(
            prefix=topic_prefix,
            partitions=partitions,
            replication_factor=replication_factor,
            max_message_bytes=max_message_bytes,
            request_timeout=request_timeout,
        )
        self._publisher = KafkaPublisher(
            self._broker_topics,
            max_message_bytes=max_message_bytes,
            request_timeout=request_timeout,
        )
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
        await self._broker_topics.start(self._servers, self._client_id)
        subscribed = [t for sub in self._subscriptions for t in sub.topics]
        await self._broker_topics.ensure([*self._topics, self._dead_letter_topic, *subscribed])
        await self._publisher.start(self._servers, self._client_id, self._topics)
        per_group = Counter(sub.group for sub in self._subscriptions if not sub.broadcast)
        for sub in self._subscriptions:
            kind: type[KafkaMember]
            group: str | None
            if sub.broadcast:
                kind, group = BroadcastKafkaSubscriber, None
            else:
                kind = ConcurrentKafkaSubscriber if sub.concurrent else KafkaSubscriber
                group = self._kafka_group(sub, shared=per_group[sub.group] > 1)
            subscriber = kind(
                self._new_consumer(
                    group,
                    CONCURRENT_FETCH_MAX_WAIT_MS if sub.concurrent else self._fetch_max_wait_ms,
                    co_partitioned=not sub.concurrent,
                ),
                sub,
                self._dispatcher(sub),
                topic_name=self._broker_topics.name,
                logical_name=self._broker_topics.logical_name,
            )
            self._subscribers.append(subscriber)
            await subscriber.start(self._graceful_timeout)

    async def stop(self) -> None:
        subscribers, self._subscribers = self._subscribers, []
        await asyncio.gather(
            *(s.stop(self._graceful_timeout, self._request_timeout) for s in subscribers)
        )
        await self._publisher.close()
        await self._broker_topics.close()

    async def publish(
        self,
        topic: str,
        key: str,
        value: bytes,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        await self._publisher.send(topic, key.encode(), value, headers)

    async def publish_many(self, messages: Sequence[Message]) -> None:
        """Send all, one record batch per partition in the given order, then wait for every
        acknowledgement (see `KafkaPublisher.send_many`)."""
        await self._publisher.send_many(messages)

    def _accepts_subscriptions(self) -> bool:
        return not self._started

    def _dispatcher(self, sub: Subscription) -> Dispatcher:
        return Dispatcher(
            group=sub.group,
            publish=self._publisher.send,
            dead_letter_topic=self._dead_letter_topic,
            retry=self._retry,
        )

    def _kafka_group(self, sub: Subscription, *, shared: bool) -> str:
        """The Kafka group id of a subscription: namespaced by the prefix like the topics,
        and one group per subscription when a service subscribes several times under one
        name, so one consumer joining never makes the service's other consumers rebalance."""
        group = f"{sub.group}.{'+'.join(sub.topics)}" if shared else sub.group
        return self._prefix + group

    def _new_consumer(
        self, group: str | None, fetch_max_wait_ms: int, *, co_partitioned: bool
    ) -> AIOKafkaConsumer:
        """A consumer in `group` (None: none, partitions assigned by hand)."""
        return AIOKafkaConsumer(
            bootstrap_servers=self._servers,
            client_id=f"{self._client_id}-{group or 'broadcast'}",
            group_id=group,
            session_timeout_ms=self._session_timeout_ms,
            heartbeat_interval_ms=max(100, self._session_timeout_ms // 3),
            partition_assignment_strategy=(
                (RangePartitionAssignor,) if co_partitioned else (RoundRobinPartitionAssignor,)
            ),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=self._max_message_bytes,
            fetch_max_bytes=max(_DEFAULT_FETCH_MAX_BYTES, self._max_message_bytes),
            # A partition paused while its batch runs joins the next fetch request only:
            # a long broker-side wait would hold its next record back that long.
            fetch_max_wait_ms=fetch_max_wait_ms,
        )
