"""Buses for tests: the in-process bus, or the real Kafka broker with topics unique per test."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from services.transport import Bus, Record
from services.transport.dispatch import RetryPolicy
from services.transport.kafka import KafkaBus
from services.transport.memory import InMemoryBus

FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)


class BusKit(Protocol):
    name: str

    def make_bus(self, client: str) -> Bus: ...

    async def read(
        self, topic: str, *, until: Callable[[list[Record]], bool], within: float
    ) -> list[Record]: ...

    async def published(self, topic: str) -> list[Record]:
        """Everything published on `topic` so far, at once (to show something was not)."""
        ...


async def start_unless_shared(bus: Bus, shared: Bus, stack: contextlib.AsyncExitStack) -> None:
    """Start `bus` and stop it with `stack`, unless it is `shared` (started by its owner)."""
    if bus is not shared:
        await bus.start()
        stack.push_async_callback(bus.stop)


class MemoryKit:
    """One in-process bus shared by every service of the test (as in `cancelbus dev`)."""

    name = "memory"

    def __init__(self) -> None:
        self.bus = InMemoryBus(retry=FAST_RETRY)

    def make_bus(self, client: str) -> Bus:
        return self.bus

    async def read(
        self, topic: str, *, until: Callable[[list[Record]], bool], within: float
    ) -> list[Record]:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            records = self.bus.messages(topic)
            if until(records) or asyncio.get_running_loop().time() > deadline:
                return records
            await asyncio.sleep(0.01)

    async def published(self, topic: str) -> list[Record]:
        return self.bus.messages(topic)


class KafkaKit:
    """A bus per service on the real broker; a topic prefix keeps each test's topics apart."""

    name = "kafka"

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.prefix = f"t{uuid.uuid4().hex[:10]}."

    def make_bus(self, client: str) -> Bus:
        return KafkaBus(
            self.bootstrap,
            client_id=client,
            topic_prefix=self.prefix,
            partitions=3,
            retry=FAST_RETRY,
            graceful_timeout=2.0,
        )

    async def read(
        self, topic: str, *, until: Callable[[list[Record]], bool], within: float
    ) -> list[Record]:
        """Everything on `topic` from the start, polling until `until` holds or time runs out."""
        consumer = self._consumer()
        await consumer.start()
        records: list[Record] = []
        try:
            deadline = asyncio.get_running_loop().time() + within
            full = self.prefix + topic
            partitions: set[int] | None = None
            while partitions is None:
                partitions = consumer.partitions_for_topic(full)
                if partitions is None:
                    if asyncio.get_running_loop().time() > deadline:
                        return records
                    await consumer._client.force_metadata_update()
                    await asyncio.sleep(0.1)
            tps = [TopicPartition(full, p) for p in sorted(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            while not until(records) and asyncio.get_running_loop().time() < deadline:
                batch = await consumer.getmany(timeout_ms=100)
                for messages in batch.values():
                    records.extend(_record(topic, m) for m in messages)
            return records
        finally:
            await consumer.stop()

    async def published(self, topic: str) -> list[Record]:
        """Everything on `topic` up to each partition's end offset at the time of the call."""
        consumer = self._consumer()
        await consumer.start()
        try:
            full = self.prefix + topic
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(full)
            if not partitions:
                return []
            tps = [TopicPartition(full, p) for p in sorted(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            records: list[Record] = []
            for tp in tps:
                while await consumer.position(tp) < ends[tp]:
                    batch = await consumer.getmany(tp, timeout_ms=1000)
                    records.extend(_record(topic, m) for m in batch.get(tp, []))
            return records
        finally:
            await consumer.stop()

    def _consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            max_partition_fetch_bytes=32 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
        )


def _record(topic: str, message: ConsumerRecord[bytes, bytes]) -> Record:
    return Record(
        topic=topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value or b"",
        headers=tuple((k, v or b"") for k, v in message.headers),
    )
