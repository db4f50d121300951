"""Which offset of each partition the open windows still depend on.

A unit of state (a bucket's window, a composite's pending child firings) is built from the
records of one partition, from the one that opened it (`start`) to the last that touched it
(`last`). Replaying a partition from offset H rebuilds the same state only if no unit, open or
already closed, spans H (started before it and was touched at or after it): a closed unit's
later records would otherwise be replayed into a fresh bucket. `held` is the highest such H
at or below every open unit's start; it never moves back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass

# a partition as the service names it: its number, or (topic, number) when the engine is fed
# from more than one topic (the events topic and the re-keying topic)
Partition = int | tuple[str, int]
Position = tuple[Partition, int]  # (partition, offset)


@dataclass(slots=True)
class _Span:
    partition: Partition
    start: int
    last: int


class Holds:
    def __init__(self) -> None:
        self._open: dict[Hashable, _Span] = {}
        self._by_partition: defaultdict[Partition, dict[Hashable, _Span]] = defaultdict(dict)
        self._closed: defaultdict[Partition, list[tuple[int, int]]] = defaultdict(list)

    def track(self, unit: Hashable, partition: Partition, start: int, offset: int) -> None:
        """The unit is open, depends on the records from `start` on, and `offset` touched it."""
        span = self._open.get(unit)
        if span is not None and span.partition != partition:
            self.release(unit)
            span = None
        if span is None:
            span = _Span(partition, start, max(start, offset))
            self._open[unit] = span
            self._by_partition[partition][unit] = span
        span.start = start
        span.last = max(span.last, offset)

    def partition_of(self, unit: Hashable) -> Partition | None:
        span = self._open.get(unit)
        return None if span is None else span.partition

    def release(self, unit: Hashable, offset: int | None = None) -> None:
        """The unit is closed (by the record at `offset`, if one): it depends on nothing."""
        span = self._open.pop(unit, None)
        if span is None:
            return
        if offset is not None:
            span.last = max(span.last, offset)
        del self._by_partition[span.partition][unit]
        if span.last > span.start:
            self._closed[span.partition].append((span.start, span.last))

    def held(self, partition: Partition) -> int | None:
        opened = self._by_partition.get(partition)
        if not opened:
            self._closed.pop(partition, None)
            return None
        held = min(span.start for span in opened.values())
        closed = self._closed[partition]
        moved = True
        while moved:
            moved = False
            for start, last in closed:
                if start < held <= last:
                    held, moved = start, True
        closed[:] = [(start, last) for start, last in closed if last >= held]
        return held

    def drop_partition(self, partition: Partition) -> list[Hashable]:
        """Forget the partition; answers the units that were open on it."""
        units = list(self._by_partition.pop(partition, {}))
        for unit in units:
            del self._open[unit]
        self._closed.pop(partition, None)
        return units

    def __len__(self) -> int:
        return len(self._open)
