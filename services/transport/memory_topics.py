"""The in-process bus's topics: each an append-only log per partition, kept in memory.

A key's partition is a stable hash of it (CRC-32), so one key's messages stay in order;
unkeyed messages go round-robin. Every record is also kept in publish order per topic,
for tests and `cancelbus dev` to look at.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import zlib
from collections.abc import Iterator, Sequence

from services.transport.base import Record


def crc32_partition(key: bytes, partitions: int) -> int:
    return zlib.crc32(key) % partitions


class PartitionLog:
    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition
        self.records: list[Record] = []
        self._grown = asyncio.Event()

    def append(self, record: Record) -> None:
        self.records.append(record)
        self.wake()

    def wake(self) -> None:
        self._grown.set()
        self._grown = asyncio.Event()

    async def wait_beyond(self, offset: int) -> None:
        """Return once a record at `offset` exists, or on `wake()`."""
        grown = self._grown
        if offset < len(self.records):
            return
        await grown.wait()


class MemoryTopics:
    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self._logs: dict[str, list[PartitionLog]] = {}
        self._published: dict[str, list[Record]] = {}
        self._unkeyed = itertools.count()

    def partitions_of(self, topic: str) -> list[PartitionLog]:
        """The topic's partition logs, created empty on first use."""
        logs = self._logs.get(topic)
        if logs is None:
            logs = self._logs[topic] = [PartitionLog(topic, p) for p in range(self.partitions)]
            self._published[topic] = []
        return logs

    def partition_logs(self) -> Iterator[PartitionLog]:
        for logs in self._logs.values():
            yield from logs

    def published(self, topic: str) -> list[Record]:
        """Every record published to `topic`, in publish order."""
        return list(self._published.get(topic, ()))

    def append(
        self, topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]]
    ) -> None:
        partition_log = self.partitions_of(topic)[self._partition_for(key)]
        record = Record(
            topic=topic,
            partition=partition_log.partition,
            offset=len(partition_log.records),
            key=key,
            value=value,
            headers=tuple(headers),
            timestamp_ms=time.time_ns() // 1_000_000,
        )
        partition_log.append(record)
        self._published[topic].append(record)

    def _partition_for(self, key: bytes | None) -> int:
        if key is None:
            return next(self._unkeyed) % self.partitions
        return crc32_partition(key, self.partitions)
