"""Which partition a key goes to: Kafka's default partitioner (murmur2 of the key bytes).

The same function as aiokafka's and the Java client's, so a key lands on the same partition
whoever produces it, and the timeout service can tell which runs its partitions own. It is
computed once per key: every message about a run carries the run's id as its key, and a
bulk cancellation publishes three messages per run.
"""

from __future__ import annotations

import functools
import random
import struct
from collections.abc import Sequence

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (seed 0x9747b28c), reading the key four bytes at a time."""
    length = len(data)
    h = 0x9747B28C ^ length
    words = length >> 2
    for k in struct.unpack_from(f"<{words}I", data):
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = words << 2
    left = length & 3
    if left:
        if left == 3:
            h ^= data[tail + 2] << 16
        if left >= 2:
            h ^= data[tail + 1] << 8
        h ^= data[tail]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


@functools.lru_cache(maxsize=32768)
def kafka_partition(key: bytes, partitions: int) -> int:
    """The partition the default partitioner picks for `key` among `partitions`."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def partition_for(
    key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]
) -> int:
    """aiokafka's `partitioner` hook, choosing as its default one does."""
    if key is None:  # e.g. a dead letter of a message that came without a key
        return random.choice(available or all_partitions)
    return all_partitions[kafka_partition(key, len(all_partitions))]
