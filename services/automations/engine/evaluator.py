"""The trigger engine: which buckets an event falls in, their windows, and what fires.

Pure and synchronous: the service feeds it events (with their Kafka position) and the time,
and sends what it answers. Windows are decided by event time only, so a replica that replays a
partition from `held_offset` rebuilds the same windows and the same firing ids.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from uuid import UUID

from schemas.automations import Automation, EventTrigger
from schemas.events import RESOURCE_ID, Event, flow_run_id_of
from schemas.matching import bucket_key, covers
from services.automations.engine import max_runtime
from services.automations.engine.composite import ChildFiring, Composites
from services.automations.engine.deadlines import Deadlines, Unit
from services.automations.engine.firing import Firing, Route, firing_id
from services.automations.engine.holds import Holds, Position
from services.automations.engine.index import Leaf, NameIndex, leaves
from services.automations.engine.windows import Fire, Step, Window, apply_event, close

BUILTIN = max_runtime.MAX_RUNTIME_AUTOMATION_ID


class Evaluator:
    def __init__(self) -> None:
        self._automations: dict[UUID, Automation] = {}
        self._leaves: dict[tuple[UUID, UUID], Leaf] = {}
        self._index = NameIndex()
        self._windows: dict[Unit, Window] = {}
        self._holds = Holds()
        self._deadlines = Deadlines(self._end_of)
        self._composites = Composites(self._holds, self._deadlines)

    # -- the rules ---------------------------------------------------------------------------
    def set_automation(self, automation: Automation) -> None:
        """Add or replace (its windows start afresh); a disabled automation is removed."""
        self.remove_automation(automation.id)
        if not automation.enabled or automation.id == BUILTIN:
            return
        self._automations[automation.id] = automation
        for leaf in leaves(automation):
            self._leaves[(automation.id, leaf.trigger.id)] = leaf
            self._index.add(leaf)

    def remove_automation(self, automation_id: UUID) -> None:
        if self._automations.pop(automation_id, None) is None:
            return
        for ident in [i for i in self._leaves if i[0] == automation_id]:
            self._index.remove(self._leaves.pop(ident))
        for unit in [u for u in self._windows if u[0] == automation_id]:
            del self._windows[unit]
            self._holds.release(unit)
        for unit in [u for u in self._composites.units() if u[0] == automation_id]:
            self._composites.forget(unit)

    def automation(self, automation_id: UUID) -> Automation | None:
        if automation_id == BUILTIN:
            return max_runtime.MAX_RUNTIME_AUTOMATION
        return self._automations.get(automation_id)

    # -- events ------------------------------------------------------------------------------
    def routes(self, event: Event) -> list[Route]:
        """Every event trigger covering the event, with its bucket and partition key."""
        found: list[Route] = []
        for leaf in self._index.candidates(event.event):
            if covers(leaf.trigger, event):
                bucket = bucket_key(leaf.trigger, event)
                key = _key(leaf, bucket, event)
                found.append(Route(leaf.automation_id, leaf.trigger.id, bucket, key))
        builtin = max_runtime.route(event)
        if builtin is not None:
            found.append(builtin)
        return sorted(found, key=lambda r: (str(r.automation_id), str(r.trigger_id)))

    def apply(
        self, route: Route, event: Event, *, position: Position | None = None
    ) -> list[Firing]:
        """Evaluate the event in the route's bucket; `position` = (partition, offset) of the
        record it came in, so `held_offset` can say which records the windows still need.

        The partition's windows that ended by the event's time are closed first (their
        firings come first in the answer): a replayed partition fires what it fired live, in
        the same order, however long after."""
        fired = [] if position is None else self._close_until(event.occurred_at, [position[0]])
        unit: Unit = (route.automation_id, route.trigger_id, route.bucket)
        old = self._windows.get(unit)
        leaf = self._leaves.get((route.automation_id, route.trigger_id))
        if route.automation_id == BUILTIN:
            step, fresh = max_runtime.apply_event(old, event), max_runtime.apply_event(None, event)
        elif leaf is not None:
            step, fresh = (
                apply_event(leaf.trigger, old, event),
                apply_event(leaf.trigger, None, event),
            )
        else:
            return fired  # the rule was changed or removed since the route was made
        # a record that ends a window and would do the same to an empty bucket (a run's
        # Completed, an event opening the next window) is not needed to rebuild the old one
        needed = old is None or step[0] is old or not _same(fresh[0], step[0])
        return fired + self._settle(unit, leaf, old, step, position, needed)

    # -- time --------------------------------------------------------------------------------
    def due(self, now: datetime, *, paused: Collection[int] = ()) -> list[Firing]:
        """Close every window whose end is at or before `now`: proactive ones fire (once; never
        before their end). Windows of `paused` partitions (still being replayed after an
        assignment, so an event that prevents a firing may be yet to come) wait: their
        replayed events' times close them."""
        return self._close_until(now, None, paused)

    def next_deadline(self) -> datetime | None:
        """The earliest end of an open window (the service calls `due` then)."""
        return self._deadlines.next()

    # -- partitions --------------------------------------------------------------------------
    def held_offset(self, partition: int) -> int | None:
        """The lowest offset of the partition still needed to rebuild the open windows."""
        return self._holds.held(partition)

    def drop_partition(self, partition: int) -> None:
        """Forget the windows built from that partition (it was revoked)."""
        self._deadlines.drop(partition)
        for unit in self._holds.drop_partition(partition):
            self._windows.pop(unit, None)  # type: ignore[call-overload]
            self._composites.drop(unit)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self._windows) + len(self._composites)

    # -- inside ------------------------------------------------------------------------------
    def _end_of(self, unit: Unit) -> datetime | None:
        if unit[2] is None:
            return self._composites.expiry(unit)
        window = self._windows.get(unit)
        return None if window is None else window.end

    def _close_until(
        self, until: datetime, partitions: list[int] | None, paused: Collection[int] = ()
    ) -> list[Firing]:
        fired: list[Firing] = []
        for unit, partition in self._deadlines.pop(until, partitions, paused):
            if unit[2] is None:
                self._composites.expire(unit, until, partition)
            else:
                fired += self._close(unit, self._windows[unit], partition)
        return fired

    def _close(self, unit: Unit, window: Window, partition: int | None) -> list[Firing]:
        leaf = self._leaves.get((unit[0], unit[1]))
        if unit[0] == BUILTIN:
            step = max_runtime.close(window)
        elif leaf is not None:
            step = close(leaf.trigger, window)
        else:
            return []
        position = None if partition is None or window.since is None else (partition, window.since)
        return self._settle(unit, leaf, window, step, position)

    def _settle(
        self,
        unit: Unit,
        leaf: Leaf | None,
        old: Window | None,
        step: Step,
        at: Position | None,
        needed: bool = True,
    ) -> list[Firing]:
        """Keep the bucket's new window, track the offsets it holds, hand up what fired."""
        new, fires = step
        partition = at[0] if at is not None else self._holds.partition_of(unit)
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
            if new.since is None:
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
        partition: int | None,
        since: int | None,
        touched: int | None,
    ) -> list[Firing]:
        automation_id, trigger_id, bucket = unit
        assert bucket is not None
        if leaf is None or not leaf.parents:
            trigger = leaf.trigger if leaf else max_runtime.MAX_RUNTIME_AUTOMATION.trigger
            assert isinstance(trigger, EventTrigger)
            labels = dict(zip(sorted(trigger.for_each), bucket, strict=True))
            ident = firing_id(automation_id, trigger_id, bucket, fire.window_start)
            return [Firing(ident, automation_id, trigger_id, fire.fired_at, labels, fire.event)]
        child = ChildFiring(trigger_id, fire.fired_at, fire.event, since)
        done = self._composites.climb(leaf, child, partition, touched)
        if done is None:
            return []
        top, fired = done
        ident = firing_id(automation_id, top, (), fired.window_start)
        return [Firing(ident, automation_id, top, fired.fired_at, {}, fired.event)]


def _same(one: Window | None, other: Window | None) -> bool:
    if one is None or other is None:
        return one is other
    return (one.start, one.end, one.count, one.fired) == (
        other.start,
        other.end,
        other.count,
        other.fired,
    )


def _key(leaf: Leaf, bucket: tuple[str, ...], event: Event) -> str:
    """The run's own key when the bucket is the event's run (no re-keying needed); one key per
    composite automation, so one owner sees all its children; else one per bucket."""
    if leaf.parents:
        return str(leaf.automation_id)
    resource = event.resource[RESOURCE_ID]
    if leaf.trigger.for_each == {RESOURCE_ID} and flow_run_id_of(resource) is not None:
        return event.key
    return f"{leaf.automation_id}:{leaf.trigger.id}:{'/'.join(bucket)}"
