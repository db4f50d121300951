"""Bringing a replica's deadlines in line with the state service's list of CANCELLING runs.

A rebuild covers every run on start, before the group has assigned anything, and after
each rebalance the partitions this replica gained (another replica may have handled their
events since this one last listed them). A state change heard while the list is being read
wins over the list, which may be older.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Set
from uuid import UUID

import structlog

from services.runtime.backoff import backoff
from services.timeout.deadlines import DeadlineSchedule, merge_snapshot
from services.timeout.metrics import TimeoutMetrics
from services.timeout.sources import CancellingRunsSource
from services.transport.base import Assignment

log = structlog.get_logger(__name__)

REBUILD_RETRY_SECONDS = (0.5, 10.0)  # first and longest wait between failed rebuilds


class DeadlineRebuild:
    """The rebuilds asked for, and the loop that runs them (retrying with backoff)."""

    def __init__(
        self,
        schedule: DeadlineSchedule,
        source: CancellingRunsSource,
        metrics: TimeoutMetrics,
        *,
        owned: Callable[[], Assignment | None],
        on_rebuilt: Callable[[], None],
    ) -> None:
        self._schedule = schedule
        self._source = source
        self._metrics = metrics
        self._owned = owned  # None: not assigned yet, so a rebuild covers every run
        self._on_rebuilt = on_rebuilt
        self._everything = True
        self._partitions: set[int] = set()
        self._wanted = asyncio.Event()
        self._wanted.set()
        self._touched: set[UUID] | None = None  # runs events changed during a rebuild

    def request(self, partitions: Set[int]) -> None:
        """Rebuild these partitions' runs next (they were just gained)."""
        self._partitions |= partitions
        self._wanted.set()

    def touched(self, run_id: UUID) -> None:
        """An event changed this run: a list read before it must not undo it."""
        if self._touched is not None:
            self._touched.add(run_id)

    async def run(self) -> None:
        first, longest = REBUILD_RETRY_SECONDS
        failures = 0
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            try:
                await self.rebuild()
                failures = 0
            except Exception as exc:
                failures += 1
                retry = backoff(failures, base=first, ceiling=longest)
                log.warning("deadline_rebuild_failed", error=repr(exc), retry_in_seconds=retry)
                self._wanted.set()
                await asyncio.sleep(retry)

    async def rebuild(self) -> int:
        """One rebuild of what was asked for; returns how many runs the state service listed."""
        everything, partitions = self._everything, set(self._partitions)
        self._everything, self._partitions = False, set()
        touched: set[UUID] = set()
        self._touched = touched
        try:
            snapshot = await self._source.cancelling_runs()
        except BaseException:
            self._everything |= everything
            self._partitions |= partitions
            raise
        finally:
            self._touched = None
        merge_snapshot(
            self._schedule, snapshot, covers=self._covers(everything, partitions), touched=touched
        )
        self._metrics.rebuilds.inc()
        self._on_rebuilt()
        log.info(
            "deadlines_rebuilt",
            cancelling_in_state_service=len(snapshot),
            kept=len(self._schedule),
            partitions="all" if everything else sorted(partitions),
        )
        return len(snapshot)

    def _covers(self, everything: bool, partitions: set[int]) -> Callable[[UUID], bool]:
        def covers(run_id: UUID) -> bool:
            owned = self._owned()
            if owned is None:
                return everything
            key = str(run_id)
            if not owned.owns(key):
                return False
            return everything or owned.partitioner(key.encode(), owned.partition_count) in (
                partitions
            )

        return covers
