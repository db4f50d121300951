"""A Kafka consumer outside any group: every partition of its topics, for every subscriber.

Each replica of a service that keeps some state whole (the rules of a compacted topic) reads
all of it, so a change reaches every replica, not one member of a group. The consumer assigns
itself every partition and starts at the end (or the beginning) before `start()` returns, so
whatever is published afterwards is seen. Records of a partition run in order through the
shared error policy; nothing is committed (there is no group to commit to).
"""

from __future__ import annotations

import asyncio

import structlog
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from services.transport.kafka_group import KafkaMember, to_record

log = structlog.get_logger(__name__)


class BroadcastKafkaSubscriber(KafkaMember):
    async def start(self, graceful_timeout: float) -> None:
        """Assign every partition and fix where reading starts; then fetch in a task."""
        await self._consumer.start()
        tps: list[TopicPartition] = []
        for topic in self._sub.topics:
            name = self._topic_name(topic)
            partitions = self._consumer.partitions_for_topic(name)
            while not partitions:
                await self._consumer._client.force_metadata_update()
                partitions = self._consumer.partitions_for_topic(name)
            tps.extend(TopicPartition(name, p) for p in sorted(partitions))
        self._consumer.assign(tps)
        if self._sub.from_beginning:
            await self._consumer.seek_to_beginning(*tps)
        else:
            await self._consumer.seek_to_end(*tps)
        for tp in tps:  # resolves the offsets now: a record published later is seen
            await self._consumer.position(tp)
        self._fetcher = asyncio.create_task(
            self._fetch_loop(), name=f"kafka-bus:{self._sub.group}:broadcast"
        )

    async def stop(self, graceful_timeout: float, close_timeout: float) -> None:
        await self._stop_fetching()
        await self._close_consumer(close_timeout)
        log.info("kafka_broadcast_stopped", group=self._sub.group)

    async def _fetch_loop(self) -> None:
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=500)
            except KafkaError as exc:
                log.warning("kafka_fetch_failed", group=self._sub.group, error=repr(exc))
                await asyncio.sleep(1.0)
                continue
            for tp, messages in batches.items():
                topic = self._logical_name(tp.topic)
                records = [to_record(message, topic) for message in messages]
                await self._dispatcher.run_subscription(records, self._sub)
