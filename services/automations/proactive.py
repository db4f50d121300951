"""Proactive windows: fire each one at its end, on time, once.

A loop like the timeout service's sleeps until the evaluator's next deadline (waking at least
once a second to see its stop flag, and at once when a batch of events brought a sooner one),
then publishes the commands of every window now due. The windows of a partition still being
read again after an assignment wait until it has caught up: the event that closes a window
unfired (the run finished in time) may be among the records still to come.

While the commands of due windows are not out yet, the partitions keep their commit points
where they were before the windows closed: a crash then replays the records that opened
them, and the windows fire again with the same ids.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import UTC, datetime

import structlog

from schemas.messages import Message
from services.automations.engine import Evaluator, Firing, Partition
from services.automations.metrics import AutomationsMetrics
from services.automations.publishing import Outgoing

log = structlog.get_logger(__name__)

STOP_CHECK_SECONDS = 1.0


def utcnow() -> datetime:
    return datetime.now(UTC)


class DueWindows:
    def __init__(
        self,
        evaluator: Evaluator,
        outgoing: Outgoing,
        metrics: AutomationsMetrics,
        *,
        commands: Callable[[Sequence[Firing], str], list[Message]],
        slots: Callable[[], Iterable[Partition]],
        paused: Callable[[], Collection[Partition]] = frozenset,
        arm: Callable[[datetime], None] = lambda now: None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._evaluator = evaluator
        self._outgoing = outgoing
        self._metrics = metrics
        self._commands = commands
        self._slots = slots  # the partitions (as evaluator slots) this replica owns
        self._paused = paused  # those still being read again up to where they were
        self._arm = arm  # starts watching the standing buckets this replica owns
        self._clock = clock
        self._held: dict[Partition, int] = {}  # slot -> commit point kept until firings are out
        self._wake = asyncio.Event()
        self._stopping = False

    def held(self, slot: Partition) -> int | None:
        """Where `slot` must stay committed while due firings are being published."""
        return self._held.get(slot)

    def wake(self) -> None:
        """A sooner deadline may have come (events opened windows)."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            await self.run_once()
            await self._wait_for_next()
        log.info("proactive_loop_stopped", open_windows=len(self._evaluator))

    async def run_once(self) -> int:
        """Publish the commands of every window due now; returns how many fired."""
        now = self._clock()
        self._arm(now)
        upcoming = self._evaluator.next_deadline()
        if upcoming is None or upcoming > now:
            return 0
        self._held = {
            slot: offset
            for slot in self._slots()
            if (offset := self._evaluator.held_offset(slot)) is not None
        }
        firings = self._evaluator.due(now, paused=self._paused())
        await self._outgoing.publish(self._commands(firings, "proactive"))
        self._held = {}  # kept on a failure or a stop: the firings were not all out
        published = self._clock()
        latest = 0.0
        for firing in firings:
            late = max(0.0, (published - firing.fired_at).total_seconds())
            self._metrics.lateness.observe(late)
            latest = max(latest, late)
        if firings:
            log.info(
                "proactive_windows_fired",
                firings=len(firings),
                max_lateness_seconds=round(latest, 3),
            )
        return len(firings)

    async def _wait_for_next(self) -> None:
        self._wake.clear()
        delay = STOP_CHECK_SECONDS
        upcoming = self._evaluator.next_deadline()
        if upcoming is not None:
            delay = min(delay, max(0.0, (upcoming - self._clock()).total_seconds()))
        if self._stopping or delay <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), delay)
