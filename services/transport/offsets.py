"""Which offset a partition may commit when its records finish out of order.

Records of a partition start in offset order and may finish in any order. The commit
point is the oldest unfinished offset (everything before it is done), or one past the
last started offset once nothing is unfinished. Committing it never skips a record that is
still in flight, so a consumer that dies redelivers exactly the unfinished records and
possibly some finished ones after them (handlers are idempotent).
"""

from __future__ import annotations


class PartitionOffsets:
    """Unfinished offsets of one partition, in the order they started."""

    def __init__(self) -> None:
        # dicts keep insertion order: the first key is the oldest unfinished offset
        self._unfinished: dict[int, None] = {}
        self._next: int | None = None

    def start(self, offset: int) -> None:
        if self._next is not None and offset < self._next:
            raise ValueError(f"offset {offset} started after {self._next - 1}")
        self._unfinished[offset] = None
        self._next = offset + 1

    def finish(self, offset: int) -> None:
        self._unfinished.pop(offset, None)

    @property
    def in_flight(self) -> int:
        return len(self._unfinished)

    def commit_point(self) -> int | None:
        """The offset to commit now (Kafka's "next record to read"), None before any start."""
        for oldest in self._unfinished:
            return oldest
        return self._next


def capped(point: int, held: int | None) -> int:
    """The commit point of a partition whose subscriber still needs the records from `held`
    on (None: nothing held): reading goes on, committing stops at the oldest needed record,
    so the next owner replays from there and rebuilds what they held (open windows)."""
    return point if held is None else min(point, held)
