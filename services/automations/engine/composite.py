"""Compound and sequence triggers: the child firings they wait for, and when they fire.

A compound trigger fires when `require` distinct children fired within `within` of each other
(Prefect keeps one, the latest, firing per child); a sequence when every child fired, in the
order listed, within `within`. Child firings are kept in event time, so a replay decides the
same. After firing, the kept firings are spent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from schemas.automations import CompoundTrigger
from schemas.events import Event
from services.automations.engine.holds import Holds
from services.automations.engine.index import Composite, Leaf

# a bucket's window: (automation, event trigger, bucket); a composite's pending: (.., .., None)
Unit = tuple[UUID, UUID, tuple[str, ...] | None]


@dataclass(frozen=True, slots=True)
class ChildFiring:
    trigger_id: UUID
    fired_at: datetime
    event: Event | None
    since: int | None  # the oldest offset the child's firing depended on


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


def expire(trigger: Composite, pending: Pending, now: datetime) -> None:
    """Forget child firings older than `within` before `now` (event time)."""
    if trigger.within is None:
        return
    horizon = now - trigger.within
    for child_id in [c for c, f in pending.firings.items() if f.fired_at < horizon]:
        del pending.firings[child_id]


def child_fired(trigger: Composite, pending: Pending, firing: ChildFiring) -> CompositeFire | None:
    """Keep the child's firing; answers the composite's firing when it is complete."""
    expire(trigger, pending, firing.fired_at)
    if isinstance(trigger, CompoundTrigger) and trigger.required() == 1:
        # Prefect's shortcut: one child is enough, nothing is kept
        return CompositeFire(firing.fired_at, firing.fired_at, firing.event, firing.since)
    pending.firings[firing.trigger_id] = firing
    if not _ready(trigger, pending):
        return None
    spent = list(pending.firings.values())
    pending.firings.clear()
    since = [f.since for f in spent if f.since is not None]
    return CompositeFire(
        window_start=min(f.fired_at for f in spent),
        fired_at=firing.fired_at,
        event=firing.event,
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

    def __init__(self, holds: Holds) -> None:
        self._pending: dict[Unit, Pending] = {}
        self._holds = holds

    def climb(
        self, leaf: Leaf, child: ChildFiring, partition: int | None, offset: int | None
    ) -> tuple[UUID, CompositeFire] | None:
        """Hand a leaf's firing up its composite parents; answers the outermost one's firing
        (its trigger id and what fired) when every level up to it completed."""
        fired: CompositeFire | None = None
        for parent in leaf.parents:
            unit: Unit = (leaf.automation_id, parent.id, None)
            pending = self._pending.setdefault(unit, Pending())
            fired = child_fired(parent, pending, child)
            self._keep(unit, pending, partition, offset)
            if fired is None:
                return None
            child = ChildFiring(parent.id, fired.fired_at, fired.event, fired.since)
        assert fired is not None
        return leaf.parents[-1].id, fired

    def _keep(
        self, unit: Unit, pending: Pending, partition: int | None, offset: int | None
    ) -> None:
        if not pending.firings:
            del self._pending[unit]
            self._holds.release(unit, offset)
            return
        since = pending.since()
        if partition is not None and since is not None:
            self._holds.track(unit, partition, since, since if offset is None else offset)

    def units(self) -> list[Unit]:
        return list(self._pending)

    def forget(self, unit: Unit) -> None:
        if self._pending.pop(unit, None) is not None:
            self._holds.release(unit)

    def drop(self, unit: Unit) -> None:
        self._pending.pop(unit, None)

    def __len__(self) -> int:
        return len(self._pending)
