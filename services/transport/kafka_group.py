"""What every Kafka consumer of the bus does alike (`KafkaMember`: fetch in a task, close
within a bound), and what every one in a group does besides (`GroupMember`: join, tell the
subscription which partitions it owns after each rebalance, and which of them will be read
again from an older commit point)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from services.transport.base import Assignment, Record, Subscription
from services.transport.dispatch import Dispatcher
from services.transport.partitioner import kafka_partition

log = structlog.get_logger(__name__)


def to_record(msg: ConsumerRecord, topic: str) -> Record:
    return Record(
        topic=topic,
        partition=msg.partition,
        offset=msg.offset,
        key=msg.key,
        value=msg.value if msg.value is not None else b"",
        headers=tuple((k, v if v is not None else b"") for k, v in msg.headers),
        timestamp_ms=msg.timestamp,
    )


class KafkaMember:
    """What every consumer of the bus does alike, in a group or not: fetch in a task, stop
    fetching, close within a bound. Subclasses decide how they start and how fetched records
    run (and commit)."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        subscription: Subscription,
        dispatcher: Dispatcher,
        *,
        topic_name: Callable[[str], str],
        logical_name: Callable[[str], str],
    ) -> None:
        self._consumer = consumer
        self._sub = subscription
        self._dispatcher = dispatcher
        self._topic_name = topic_name
        self._logical_name = logical_name
        self._graceful_timeout = 10.0
        self._fetcher: asyncio.Task[None] | None = None

    async def start(self, graceful_timeout: float) -> None:
        raise NotImplementedError

    async def stop(self, graceful_timeout: float, close_timeout: float) -> None:
        raise NotImplementedError

    async def _fetch_loop(self) -> None:
        raise NotImplementedError

    async def _stop_fetching(self) -> None:
        if self._fetcher is not None:
            self._fetcher.cancel()
            await asyncio.gather(self._fetcher, return_exceptions=True)

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


class GroupMember(KafkaMember, ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """What every consumer of a group does alike: join, report assignments after each
    rebalance. Subclasses decide how fetched records run and commit."""

    async def start(self, graceful_timeout: float) -> None:
        self._graceful_timeout = graceful_timeout
        await self._consumer.start()
        topics = [self._topic_name(t) for t in self._sub.topics]
        self._consumer.subscribe(topics, listener=self)
        self._fetcher = asyncio.create_task(
            self._fetch_loop(), name=f"kafka-bus:{self._sub.group}:fetch"
        )

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("partitions_assigned", group=self._sub.group, partitions=sorted(assigned))
        if self._sub.on_assigned is None:
            return
        owned = self._consumer.assignment()  # the whole assignment (aiokafka rebalances eagerly)
        for topic in self._sub.topics:
            name = self._topic_name(topic)
            count = len(self._consumer.partitions_for_topic(name) or ())
            if count == 0:
                log.error("assignment_without_metadata", group=self._sub.group, topic=name)
                continue
            mine = frozenset(tp.partition for tp in owned if tp.topic == name)
            replaying = await self._replaying([tp for tp in owned if tp.topic == name])
            await self._sub.on_assigned(
                Assignment(topic, mine, count, kafka_partition, replaying=replaying)
            )

    async def _replaying(self, tps: list[TopicPartition]) -> dict[int, int]:
        """The end offsets of the partitions whose commit point is behind them."""
        try:
            ends = await self._consumer.end_offsets(tps)
            behind = {}
            for tp in tps:
                committed = await self._consumer.committed(tp)
                if ends[tp] > (committed or 0):
                    behind[tp.partition] = ends[tp]
        except KafkaError as exc:
            log.warning("replay_extent_unknown", group=self._sub.group, error=repr(exc))
            return {}
        return behind
