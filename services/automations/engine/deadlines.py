"""When each open window ends, per partition: the clock of a partition is the wall clock (`due`)
or, while its records are replayed, the time of the events themselves."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterator
from datetime import datetime
from itertools import count
from uuid import UUID

from services.automations.engine.holds import Partition

# a bucket's window: (automation, event trigger, bucket); a composite's pending: (.., .., None)
Unit = tuple[UUID, UUID, tuple[str, ...] | None]
Entry = tuple[datetime, int, Unit]


class Deadlines:
    def __init__(self, current: Callable[[Unit], datetime | None]) -> None:
        """`current(unit)` is the unit's window's end now (None when it has none), so a
        superseded entry is skipped."""
        self._heaps: dict[Partition | None, list[Entry]] = {}
        self._current = current
        self._sequence = count()

    def push(self, partition: Partition | None, end: datetime, unit: Unit) -> None:
        heapq.heappush(self._heaps.setdefault(partition, []), (end, next(self._sequence), unit))

    def pop(
        self,
        until: datetime,
        partitions: Collection[Partition | None] | None = None,
        skip: Collection[Partition | None] = (),
    ) -> Iterator[tuple[Unit, Partition | None]]:
        """The units whose window ends at or before `until`, earliest first (in `partitions`,
        or all but `skip`)."""
        chosen = [
            p
            for p in (self._heaps if partitions is None else partitions)
            if p not in skip and p in self._heaps
        ]
        while True:
            best: tuple[Entry, Partition | None] | None = None
            for partition in chosen:
                heap = self._heaps[partition]
                while heap and self._current(heap[0][2]) != heap[0][0]:
                    heapq.heappop(heap)
                if heap and heap[0][0] <= until and (best is None or heap[0] < best[0]):
                    best = (heap[0], partition)
            if best is None:
                return
            heapq.heappop(self._heaps[best[1]])
            yield best[0][2], best[1]

    def next(self) -> datetime | None:
        ends = []
        for heap in self._heaps.values():
            while heap and self._current(heap[0][2]) != heap[0][0]:
                heapq.heappop(heap)
            if heap:
                ends.append(heap[0][0])
        return min(ends, default=None)

    def drop(self, partition: Partition) -> None:
        self._heaps.pop(partition, None)
