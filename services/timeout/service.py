"""The timeout service: keep each CANCELLING run's deadline, publish `CancellationTimedOut` at it.

Partition ownership: the service runs in one consumer group, so each replica hears the
state changes of the partitions it owns, and keeps the deadlines of the runs keyed to
those partitions only. On start, before the group has assigned anything, it covers every
run from the state service's list (a duplicate timeout changes nothing: the state service
forces a run only while it is in the CANCELLING state the event names). After each
rebalance it drops the runs of partitions it lost and rebuilds those it gained from the
state service (services.timeout.rebuild), so neither a restart nor a failover drops a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence

import structlog

from schemas.messages import (
    CancellationTimedOut,
    FlowRunStateChanged,
    MessageRejected,
    parse_message,
)
from schemas.states import StateType
from schemas.topics import Topics
from services.timeout.deadlines import Cancelling, DeadlineSchedule, deadline_of
from services.timeout.metrics import TimeoutMetrics
from services.timeout.rebuild import DeadlineRebuild
from services.timeout.sources import CancellingRunsSource
from services.transport import Bus, InvalidMessage, Record
from services.transport.base import Assignment

log = structlog.get_logger(__name__)

GROUP = "cancelbus.timeout"
STOP_CHECK_SECONDS = 1.0
PUBLISH_RETRY_SECONDS = 0.5


class TimeoutService:
    def __init__(
        self,
        schedule: DeadlineSchedule,
        bus: Bus,
        source: CancellingRunsSource,
        metrics: TimeoutMetrics,
        *,
        publish_batch: int = 1000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.schedule = schedule
        self._bus = bus
        self._metrics = metrics
        self._batch = publish_batch
        self._clock = clock
        self._owned: Assignment | None = None  # None: not assigned yet, so cover every run
        self._wake = asyncio.Event()
        self._rebuild = DeadlineRebuild(
            schedule, source, metrics, owned=lambda: self._owned, on_rebuilt=self._wake.set
        )
        self._stopping = False
        metrics.watch(schedule, clock)

    @property
    def owned(self) -> Assignment | None:
        """The partitions this replica owns (None until the group first assigned some)."""
        return self._owned

    def subscribe(self) -> None:
        self._bus.subscribe_batch(
            [Topics.STATE_CHANGES], GROUP, self.on_state_changes, on_assigned=self.on_assigned
        )

    # -- entry points on the bus ------------------------------------------------------------

    async def on_state_changes(self, records: Sequence[Record]) -> None:
        events = [_parse(record) for record in records]
        for event in events:
            self.apply(event)

    def apply(self, event: FlowRunStateChanged) -> None:
        run_id = event.flow_run_id
        self._rebuild.touched(run_id)
        if event.state.type is StateType.CANCELLING:
            if self.schedule.set(Cancelling(run_id, event.state.id, event.state.timestamp)):
                self._wake.set()
        else:
            self.schedule.drop(run_id)

    async def on_assigned(self, assignment: Assignment) -> None:
        if assignment.topic != Topics.STATE_CHANGES:
            return
        previous, self._owned = self._owned, assignment
        dropped = self.schedule.retain(lambda run_id: assignment.owns(str(run_id)))
        gained = assignment.partitions
        if previous is not None and previous.partition_count == assignment.partition_count:
            gained = gained - previous.partitions
        if gained:
            self._rebuild.request(gained)
        log.info(
            "partitions_owned",
            partitions=sorted(assignment.partitions),
            dropped_runs=dropped,
            rebuilding=sorted(gained),
        )

    # -- the loop ---------------------------------------------------------------------------

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def start(self, loops: int | None = None) -> None:
        """Fire deadlines until `stop()` (or `loops` rounds); rebuild alongside when asked."""
        rebuilder = asyncio.create_task(self._rebuild.run(), name="timeout-rebuild")
        try:
            done = 0
            while not self._stopping:
                await self.run_once()
                done += 1
                if loops is not None and done >= loops:
                    break
                await self._wait_for_next()
        finally:
            rebuilder.cancel()
            await asyncio.gather(rebuilder, return_exceptions=True)
            log.info("timeout_service_stopped", cancelling=len(self.schedule))

    async def run_once(self) -> int:
        """Publish a `CancellationTimedOut` for every run now due; returns how many."""
        published = 0
        while True:
            now = self._clock()
            due = self.schedule.pop_due(now, self._batch)
            if not due:
                return published
            try:
                await self._publish(due, now)
            except Exception as exc:
                for run in due:
                    self.schedule.add_if_absent(run)
                log.warning("timeout_publish_failed", runs=len(due), error=repr(exc))
                await asyncio.sleep(PUBLISH_RETRY_SECONDS)
                return published
            published += len(due)

    async def _publish(self, due: list[Cancelling], now: float) -> None:
        timeout = self.schedule.timeout_seconds
        events = [
            CancellationTimedOut(
                flow_run_id=run.run_id,
                state_id=run.state_id,
                cancelling_since=run.since,
                timeout_seconds=timeout,
            )
            for run in due
        ]
        await self._bus.publish_many(
            [(e.TOPIC, e.key, e.model_dump_json().encode(), ()) for e in events]
        )
        latest = 0.0
        for run in due:
            late = max(0.0, now - deadline_of(run.since, timeout))
            self._metrics.lateness.observe(late)
            latest = max(latest, late)
        self._metrics.forced.inc(len(due))
        log.info("cancellations_timed_out", runs=len(due), max_lateness_seconds=round(latest, 3))
        for run in due[:5]:
            log.debug("cancellation_timed_out", flow_run_id=str(run.run_id))

    async def _wait_for_next(self) -> None:
        self._wake.clear()
        delay = STOP_CHECK_SECONDS
        upcoming = self.schedule.next_deadline()
        if upcoming is not None:
            delay = min(delay, max(0.0, upcoming - self._clock()))
        if self._stopping or delay <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), delay)


def _parse(record: Record) -> FlowRunStateChanged:
    try:
        return parse_message(FlowRunStateChanged, record.value)
    except MessageRejected as exc:
        raise InvalidMessage(exc.reason) from exc
