"""The trigger engine: which buckets an event falls in, their windows, and what fires.

Pure and synchronous: the service feeds it events (with their Kafka position) and the time.
Windows are decided by event time only, so a replica replaying a partition from `held_offset`
rebuilds the same windows and firing ids (an event later than its window's end on the wall
clock cannot recall a proactive firing already sent).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from functools import partial
from uuid import UUID

from schemas.automations import Automation, EventTrigger
from schemas.events import Event
from services.automations.engine import max_runtime
from services.automations.engine.composite import ChildFiring, Composites
from services.automations.engine.deadlines import Deadlines, Unit
from services.automations.engine.firing import Firing, Route, in_utc, make_firing
from services.automations.engine.holds import Holds, Partition, Position
from services.automations.engine.index import Leaf
from services.automations.engine.rules import BUILTIN, Rules
from services.automations.engine.windows import (
    Fire,
    Step,
    Window,
    apply_event,
    close,
    first_window,
    same,
    standing,
)


class Evaluator:
    def __init__(self) -> None:
        self._rules = Rules()
        self._windows: dict[Unit, Window] = {}
        self._holds = Holds()
        self._deadlines = Deadlines(self._end_of)
        self._composites = Composites(self._holds, self._deadlines)
        self._standing: dict[Unit, Partition | None] = {}  # armed standing buckets: their partition

    def set_automation(self, automation: Automation) -> None:
        """Add or replace (its windows start afresh); a disabled automation is removed. The
        same automation again (a rule-change topic read anew) changes nothing."""
        if self._rules.automation(automation.id) == automation:
            return
        self.remove_automation(automation.id)
        if automation.enabled and automation.id != BUILTIN:
            self._rules.add(automation)

    def remove_automation(self, automation_id: UUID) -> None:
        if not self._rules.remove(automation_id):
            return
        for unit in [u for u in self._windows if u[0] == automation_id]:
            del self._windows[unit]
            self._standing.pop(unit, None)
            self._holds.release(unit)
        for unit in [u for u in self._composites.units() if u[0] == automation_id]:
            self._composites.forget(unit)

    def automation(self, automation_id: UUID) -> Automation | None:
        """The automation (the built-in max runtime's too), for `commands_for`."""
        return self._rules.automation(automation_id)

    def routes(self, event: Event) -> list[Route]:
        """Every event trigger covering the event, with its bucket and partition key."""
        return self._rules.routes(event)

    def apply(
        self,
        route: Route,
        event: Event,
        *,
        position: Position | None = None,
        now: datetime | None = None,
    ) -> list[Firing]:
        """Evaluate the event in the route's bucket; `position` = (partition, offset) of the
        record it came in, so `held_offset` can say which records the windows still need.

        The partition's windows that ended by the event's time (but not after `now`, the wall
        clock: a producer's clock ahead of it must not fire windows early) are closed first,
        their firings first in the answer: a replayed partition fires what it fired live, in
        the same order, however long after."""
        event = in_utc(event)
        if position is None:
            fired: list[Firing] = []
        else:
            until = event.occurred_at if now is None else min(event.occurred_at, now)
            fired = self._close_until(until, [position[0]])
        unit: Unit = (route.automation_id, route.trigger_id, route.bucket)
        old = self._windows.get(unit)
        leaf = self._rules.leaf(route.automation_id, route.trigger_id)
        if route.automation_id == BUILTIN:
            evaluate = max_runtime.apply_event
        elif leaf is not None:
            evaluate = partial(apply_event, leaf.trigger)
        else:
            return fired  # the rule was changed or removed since the route was made
        step, fresh = evaluate(old, event), evaluate(None, event)
        # a record that ends a window and would do the same to an empty bucket (a run's
        # Completed, an event opening the next window) is not needed to rebuild the old one
        needed = old is None or step[0] is old or not same(fresh[0], step[0])
        return fired + self._settle(unit, leaf, old, step, position, needed)

    def standing_routes(self) -> list[Route]:
        """The buckets that exist before any event: Proactive triggers with neither `after` nor
        `for_each` ("at least N events every `within`"), which Prefect watches from the moment
        the rule is loaded. The owner of a route's key `arm`s it."""
        return self._rules.standing_routes()

    def arm(self, route: Route, now: datetime, *, partition: Partition | None = None) -> None:
        """Watch a standing bucket from the window holding `now` (the next one for a rule
        updated during it), unless it is watched already: after a restart the window in
        progress is rebuilt by the replayed events, or starts empty and fires if it stays so.
        `partition` is the one its key is owned through (revoking it forgets the bucket)."""
        unit: Unit = (route.automation_id, route.trigger_id, route.bucket)
        leaf = self._rules.leaf(route.automation_id, route.trigger_id)
        automation = self._rules.automation(route.automation_id)
        if leaf is None or automation is None or not standing(leaf.trigger):
            return
        if unit in self._windows:
            return
        window = first_window(leaf.trigger, now, automation.updated)
        self._windows[unit] = window
        self._standing[unit] = partition
        assert window.end is not None
        self._deadlines.push(partition, window.end, unit)

    def due(self, now: datetime, *, paused: Collection[Partition] = ()) -> list[Firing]:
        """Close every window whose end is at or before `now`: proactive ones fire (once; never
        before their end). Windows of `paused` partitions (still being replayed after an
        assignment, so an event that prevents a firing may be yet to come) wait: their
        replayed events' times close them."""
        return self._close_until(now, None, paused)

    def next_deadline(self) -> datetime | None:
        """The earliest end of an open window (the service calls `due` then)."""
        return self._deadlines.next()

    def held_offset(self, partition: Partition) -> int | None:
        """The lowest offset of the partition still needed to rebuild the open windows."""
        return self._holds.held(partition)

    def drop_partition(self, partition: Partition) -> None:
        """Forget the windows built from that partition (it was revoked)."""
        self._deadlines.drop(partition)
        for unit in [u for u, p in self._standing.items() if p == partition]:
            del self._standing[unit]
            self._windows.pop(unit, None)
        for held in self._holds.drop_partition(partition):
            self._windows.pop(held, None)  # type: ignore[call-overload]
            self._composites.drop(held)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self._windows) + len(self._composites)

    # -- inside ------------------------------------------------------------------------------
    def _end_of(self, unit: Unit) -> datetime | None:
        if unit[2] is None:
            return self._composites.expiry(unit)
        window = self._windows.get(unit)
        return None if window is None else window.end

    def _close_until(
        self,
        until: datetime,
        partitions: list[Partition] | None,
        paused: Collection[Partition] = (),
    ) -> list[Firing]:
        fired: list[Firing] = []
        for unit, partition in self._deadlines.pop(until, partitions, paused):
            if unit[2] is None:
                self._composites.expire(unit, until, partition)
            else:
                fired += self._close(unit, self._windows[unit], partition)
        return fired

    def _close(self, unit: Unit, window: Window, partition: Partition | None) -> list[Firing]:
        leaf = self._rules.leaf(unit[0], unit[1])
        if unit[0] == BUILTIN:
            step = max_runtime.close(window)
        elif leaf is not None:
            step = close(leaf.trigger, window)
        else:
            return []
        position = None if partition is None or window.since is None else (partition, window.since)
        return self._settle(unit, leaf, window, step, position, record=False)

    def _settle(
        self,
        unit: Unit,
        leaf: Leaf | None,
        old: Window | None,
        step: Step,
        at: Position | None,
        needed: bool = True,
        record: bool = True,
    ) -> list[Firing]:
        """Keep the bucket's new window, track the offsets it holds, hand up what fired.
        `at` is the record applied, or (`record` false) the one a closed window began at."""
        new, fires = step
        partition = at[0] if at is not None else self._holds.partition_of(unit)
        partition = self._standing.get(unit) if partition is None else partition
        offset = at[1] if at is not None else None
        # what fired depended on the records from the old window's start (or this one) on
        since = old.since if old is not None and old.since is not None else offset
        if new is not old:
            if old is not None:
                del self._windows[unit]
                self._holds.release(unit, offset if needed else None)
            if new is not None:
                self._windows[unit] = new
        if new is not None:
            if new is not old and new.end is not None:
                self._deadlines.push(partition, new.end, unit)
            if new.since is None and record:
                new.since = offset
            if partition is not None and new.since is not None:
                last = new.since if offset is None else offset
                self._holds.track(unit, partition, new.since, last)
        touched = offset if offset is not None else since
        return [f for x in fires for f in self._fired(unit, leaf, x, partition, since, touched)]

    def _fired(
        self,
        unit: Unit,
        leaf: Leaf | None,
        fire: Fire,
        partition: Partition | None,
        since: int | None,
        touched: int | None,
    ) -> list[Firing]:
        automation_id, trigger_id, bucket = unit
        assert bucket is not None
        if leaf is None or not leaf.parents:
            trigger = leaf.trigger if leaf else max_runtime.MAX_RUNTIME_AUTOMATION.trigger
            assert isinstance(trigger, EventTrigger)
            labels = dict(zip(sorted(trigger.for_each), bucket, strict=True))
            return [make_firing(automation_id, trigger_id, bucket, fire, labels)]
        child = ChildFiring(trigger_id, fire.fired_at, fire.event, since, fire.key)
        done = self._composites.climb(leaf, child, partition, touched)
        if done is None:
            return []
        top, fired = done
        return [make_firing(automation_id, top, (), fired, {})]
