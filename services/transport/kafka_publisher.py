"""The Kafka bus's producer: idempotent, acks=all, every send bounded in time.

`send` returns once the broker acknowledged and raises (never hangs) when the broker is
unreachable: callers such as the outbox relay retry. `send_many` writes one record batch
per partition, in order, then waits for every acknowledgement.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from services.transport.kafka_topics import KafkaTopics
from services.transport.partitioner import partition_for

log = structlog.get_logger(__name__)

BATCH_BYTES = 256 * 1024  # a relay pass of 2,000 outbox rows fills a few batches per partition

Headers = Sequence[tuple[str, bytes]]
Message = tuple[str, str, bytes, Headers]
Record = tuple[bytes, bytes, list[tuple[str, bytes]]]


class KafkaPublisher:
    def __init__(
        self, topics: KafkaTopics, *, max_message_bytes: int, request_timeout: float
    ) -> None:
        self._topics = topics
        self._max_message_bytes = max_message_bytes
        self._request_timeout = request_timeout
        self._producer: AIOKafkaProducer | None = None

    async def start(
        self, bootstrap_servers: str, client_id: str, known_topics: Sequence[str]
    ) -> None:
        """Connect, and learn where `known_topics`' partitions lead before the first send."""
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            client_id=client_id,
            enable_idempotence=True,
            acks="all",
            max_request_size=self._max_message_bytes,
            request_timeout_ms=int(self._request_timeout * 1000),
            partitioner=partition_for,
            max_batch_size=BATCH_BYTES,
        )
        await self._producer.start()
        for topic in known_topics:
            await self._producer.partitions_for(self._topics.name(topic))

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            await asyncio.wait_for(producer.flush(), self._request_timeout)
        except TimeoutError:
            log.warning("producer_flush_timed_out", timeout=self._request_timeout)
            await _abandon_undelivered(producer)
        try:
            await asyncio.wait_for(producer.stop(), self._request_timeout)
        except TimeoutError:
            log.error("producer_stop_timed_out", timeout=self._request_timeout)

    async def send(self, topic: str, key: bytes | None, value: bytes, headers: Headers) -> None:
        producer = self._require_producer()
        # Bounded even when the broker is gone: metadata waits and acks both count.
        async with asyncio.timeout(self._request_timeout * 1.5):
            await self._topics.ensure([topic])
            await producer.send_and_wait(
                self._topics.name(topic), value, key=key, headers=list(headers)
            )

    async def send_many(self, messages: Sequence[Message]) -> None:
        """Send all, one record batch per partition in the given order (the idempotent
        producer keeps each partition's order), then wait for every acknowledgement.

        Batches skip the producer's per-message path: a bulk cancellation publishes three
        messages per run, and per-message sends cost three times the CPU."""
        producer = self._require_producer()
        async with asyncio.timeout(self._request_timeout * 1.5):
            await self._topics.ensure([topic for topic, *_ in messages])
            acks: list[asyncio.Future[object]] = []
            for (topic, partition), records in (await self._by_partition(messages)).items():
                acks.extend(await _send_batches(producer, topic, partition, records))
            outcomes = await asyncio.gather(*acks, return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:
            raise failures[0]

    async def _by_partition(
        self, messages: Sequence[Message]
    ) -> dict[tuple[str, int], list[Record]]:
        """Messages grouped by the partition the default partitioner gives them, in order."""
        producer = self._require_producer()
        partitions: dict[str, list[int]] = {}
        grouped: dict[tuple[str, int], list[Record]] = {}
        for topic, key, value, headers in messages:
            name = self._topics.name(topic)
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

    def _require_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("cannot publish: the bus is not started")
        return self._producer


async def _send_batches(
    producer: AIOKafkaProducer, topic: str, partition: int, records: list[Record]
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


def _record_size(key: bytes, value: bytes, headers: Headers) -> int:
    size: int = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, list(headers))
    return size
