"""Compound and sequence triggers: the child firings they wait for, and when they fire.

A compound trigger fires when `require` distinct children fired within `within` of each other
(Prefect keeps one, the latest, firing per child); a sequence when every child fired, in the
order listed, within `within`. Child firings are kept in event time, so a replay decides the
same. After firing, the kept firings are spent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from schemas.automations import CompoundTrigger
from schemas.events import Event
from services.automations.engine.deadlines import Deadlines, Unit
from services.automations.engine.holds import Holds, Partition
from services.automations.engine.index import Composite, Leaf


@dataclass(frozen=True, slots=True)
class ChildFiring:
    trigger_id: UUID
    fired_at: datetime
    event: Event | None
    since: int | None  # the oldest offset the child's firing depended on
    key: str = ""  # the child firing's own discriminator (see `firing_id`)


@dataclass(slots=True)
class Pending:
    firings: dict[UUID, ChildFiring] = field(default_factory=dict)

    def since(self) -> int | None:
        offsets = [f.since for f in self.firings.values() if f.since is not None]
        return min(offsets) if offsets else None


@dataclass(frozen=True, slots=True)
class CompositeFire:
    window_start: datetime  # the earliest child firing it spends
    fired_at: datetime
    event: Event | None
    since: int | None
    key: str = ""


def expire(trigger: Composite, pending: Pending, now: datetime) -> None:
    """Forget child firings more than `within` before `now` (event time)."""
    if trigger.within is None:
        return
    horizon = now - trigger.within
    for child_id in [c for c, f in pending.firings.items() if f.fired_at < horizon]:
        del pending.firings[child_id]


def child_fired(trigger: Composite, pending: Pending, firing: ChildFiring) -> CompositeFire | None:
    """Keep the child's firing; answers the composite's firing when it is complete.

    Which firings are within `within` of each other depends on their times, not on the order
    they arrive in (a proactive child's firing may be handed up after a later one)."""
    if isinstance(trigger, CompoundTrigger) and trigger.required() == 1:
        # Prefect's shortcut: one child is enough, nothing is kept
        key = f"{firing.trigger_id}/{firing.key}"  # one firing per child firing, as Prefect
        return CompositeFire(firing.fired_at, firing.fired_at, firing.event, firing.since, key)
    kept = pending.firings.get(firing.trigger_id)
    if kept is None or kept.fired_at <= firing.fired_at:
        pending.firings[firing.trigger_id] = firing  # the latest firing of each child counts
    expire(trigger, pending, max(f.fired_at for f in pending.firings.values()))
    if not _ready(trigger, pending):
        return None
    spent = sorted(pending.firings.values(), key=lambda f: f.fired_at)
    pending.firings.clear()
    since = [f.since for f in spent if f.since is not None]
    return CompositeFire(
        window_start=spent[0].fired_at,
        fired_at=spent[-1].fired_at,
        event=spent[-1].event,
        since=min(since) if since else None,
    )


def _ready(trigger: Composite, pending: Pending) -> bool:
    if isinstance(trigger, CompoundTrigger):
        return len(pending.firings) >= trigger.required()
    order = [child.id for child in trigger.triggers]
    if set(pending.firings) != set(order):
        return False
    fired = sorted(pending.firings.values(), key=lambda f: (f.fired_at, order.index(f.trigger_id)))
    return [f.trigger_id for f in fired] == order


class Composites:
    """The pending child firings of every composite trigger, and the offsets they hold."""

    def __init__(self, holds: Holds, deadlines: Deadlines) -> None:
        self._pending: dict[Unit, Pending] = {}
        self._triggers: dict[Unit, Composite] = {}
        self._holds = holds
        self._deadlines = deadlines

    def climb(
        self, leaf: Leaf, child: ChildFiring, partition: Partition | None, offset: int | None
    ) -> tuple[UUID, CompositeFire] | None:
        """Hand a leaf's firing up its composite parents; answers the outermost one's firing
        (its trigger id and what fired) when every level up to it completed."""
        fired: CompositeFire | None = None
        for parent in leaf.parents:
            unit: Unit = (leaf.automation_id, parent.id, None)
            pending = self._pending.setdefault(unit, Pending())
            self._triggers[unit] = parent
            fired = child_fired(parent, pending, child)
            self._keep(unit, pending, partition, offset)
            if fired is None:
                return None
            child = ChildFiring(parent.id, fired.fired_at, fired.event, fired.since, fired.key)
        assert fired is not None
        return leaf.parents[-1].id, fired

    def _keep(
        self, unit: Unit, pending: Pending, partition: Partition | None, offset: int | None
    ) -> None:
        if not pending.firings:
            del self._pending[unit]
            del self._triggers[unit]
            self._holds.release(unit, offset)
            return
        since = pending.since()
        if partition is not None and since is not None:
            self._holds.track(unit, partition, since, since if offset is None else offset)
        expiry = self.expiry(unit)
        if expiry is not None:
            self._deadlines.push(partition, expiry, unit)

    def expiry(self, unit: Unit) -> datetime | None:
        """When the oldest kept firing can no longer be within `within` of a new one."""
        pending, trigger = self._pending.get(unit), self._triggers.get(unit)
        if pending is None or trigger is None or trigger.within is None:
            return None
        oldest = min(f.fired_at for f in pending.firings.values())
        return oldest + trigger.within + timedelta(microseconds=1)

    def expire(self, unit: Unit, now: datetime, partition: Partition | None) -> None:
        """The clock reached `now`: forget the firings too old to count."""
        pending, trigger = self._pending.get(unit), self._triggers.get(unit)
        if pending is not None and trigger is not None and trigger.within is not None:
            expire(trigger, pending, now - timedelta(microseconds=1))
            self._keep(unit, pending, partition, None)

    def units(self) -> list[Unit]:
        return list(self._pending)

    def forget(self, unit: Unit) -> None:
        self.drop(unit)
        self._holds.release(unit)

    def drop(self, unit: Unit) -> None:
        self._pending.pop(unit, None)
        self._triggers.pop(unit, None)

    def __len__(self) -> int:
        return len(self._pending)
