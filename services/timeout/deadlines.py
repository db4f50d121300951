"""Deadline arithmetic and the schedule of CANCELLING runs (pure: standard library only).

A run that entered CANCELLING at `since` is due at `since + timeout`. The schedule keeps one
entry per run in a dict and a heap ordered by deadline; replaced or dropped entries stay in
the heap until they surface or the heap is compacted, so memory stays proportional to the
number of runs now CANCELLING.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

# The heap is rebuilt when dead entries outnumber live ones by this much.
_COMPACT_SLACK = 64


@dataclass(frozen=True, slots=True)
class Cancelling:
    """A run in CANCELLING: which run, which CANCELLING state, since when."""

    run_id: UUID
    state_id: UUID
    since: datetime


def epoch_seconds(moment: datetime) -> float:
    """Seconds since the epoch; a naive datetime is taken as UTC (as the state service writes)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def deadline_of(since: datetime, timeout_seconds: float) -> float:
    """When a run CANCELLING since `since` must be forced, in seconds since the epoch."""
    return epoch_seconds(since) + timeout_seconds


@dataclass(frozen=True, slots=True)
class _Entry:
    deadline: float
    seq: int
    run: Cancelling

    def __lt__(self, other: _Entry) -> bool:
        return (self.deadline, self.seq) < (other.deadline, other.seq)


class DeadlineSchedule:
    """The deadline of each CANCELLING run, soonest first."""

    def __init__(self, timeout_seconds: float) -> None:
        if not timeout_seconds > 0:
            raise ValueError(f"timeout must be > 0, got {timeout_seconds!r}")
        self.timeout_seconds = timeout_seconds
        self._live: dict[UUID, _Entry] = {}
        self._heap: list[_Entry] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._live

    def __iter__(self) -> Iterator[Cancelling]:
        return (entry.run for entry in list(self._live.values()))

    @property
    def heap_size(self) -> int:
        """Entries held by the heap, dead ones included (bounded by compaction)."""
        return len(self._heap)

    def get(self, run_id: UUID) -> Cancelling | None:
        entry = self._live.get(run_id)
        return entry.run if entry is not None else None

    def deadline(self, run_id: UUID) -> float | None:
        entry = self._live.get(run_id)
        return entry.deadline if entry is not None else None

    def set(self, run: Cancelling) -> bool:
        """Track `run` (replacing what the run had); True if it is now the soonest deadline."""
        current = self._live.get(run.run_id)
        if current is not None and current.run == run:
            return False
        entry = _Entry(deadline_of(run.since, self.timeout_seconds), next(self._seq), run)
        self._live[run.run_id] = entry
        heapq.heappush(self._heap, entry)
        self._compact_if_sparse()
        return self._top() is entry

    def add_if_absent(self, run: Cancelling) -> None:
        if run.run_id not in self._live:
            self.set(run)

    def drop(self, run_id: UUID) -> Cancelling | None:
        entry = self._live.pop(run_id, None)
        self._compact_if_sparse()
        return entry.run if entry is not None else None

    def retain(self, keep: Callable[[UUID], bool]) -> int:
        """Drop every run for which `keep(run_id)` is false; returns how many were dropped."""
        gone = [run_id for run_id in self._live if not keep(run_id)]
        for run_id in gone:
            del self._live[run_id]
        self._compact_if_sparse()
        return len(gone)

    def pop_due(self, now: float, limit: int | None = None) -> list[Cancelling]:
        """Remove and return the runs due at `now` (deadline <= now), soonest first."""
        due: list[Cancelling] = []
        while self._heap and (limit is None or len(due) < limit):
            top = self._heap[0]
            if self._live.get(top.run.run_id) is not top:
                heapq.heappop(self._heap)
                continue
            if top.deadline > now:
                break
            heapq.heappop(self._heap)
            del self._live[top.run.run_id]
            due.append(top.run)
        return due

    def next_deadline(self) -> float | None:
        top = self._top()
        return top.deadline if top is not None else None

    def oldest_since(self) -> datetime | None:
        """When the longest-CANCELLING run entered CANCELLING (same timeout: soonest deadline)."""
        top = self._top()
        return top.run.since if top is not None else None

    def _top(self) -> _Entry | None:
        while self._heap:
            top = self._heap[0]
            if self._live.get(top.run.run_id) is top:
                return top
            heapq.heappop(self._heap)
        return None

    def _compact_if_sparse(self) -> None:
        if len(self._heap) > 2 * len(self._live) + _COMPACT_SLACK:
            self._heap = list(self._live.values())
            heapq.heapify(self._heap)


def merge_snapshot(
    schedule: DeadlineSchedule,
    snapshot: list[Cancelling],
    *,
    covers: Callable[[UUID], bool],
    touched: set[UUID] | frozenset[UUID],
) -> None:
    """Make `schedule` agree with the state service's list of CANCELLING runs, for the runs
    `covers` selects, except those an event `touched` while the list was being fetched.

    The list may predate such an event, so the event wins; and if the event is the stale
    one (a backlog being replayed), the run's later events follow it on the same partition.
    """
    fresh = {c.run_id: c for c in snapshot if covers(c.run_id) and c.run_id not in touched}
    schedule.retain(lambda run_id: run_id in fresh or run_id in touched or not covers(run_id))
    for run in fresh.values():
        schedule.set(run)
