"""The event triggers of the loaded automations, found by event name without scanning them all.

A compound or sequence trigger is a tree; its leaves are event triggers. Each leaf knows its
chain of composite parents, so a leaf's firing can be handed up the tree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID

from schemas.automations import Automation, CompoundTrigger, EventTrigger, SequenceTrigger, Trigger
from schemas.events import RESOURCE_ID, Event, flow_run_id_of

Composite = CompoundTrigger | SequenceTrigger


@dataclass(frozen=True, slots=True)
class Leaf:
    automation_id: UUID
    trigger: EventTrigger
    parents: tuple[Composite, ...]  # innermost first; empty for the automation's own trigger


def leaves(automation: Automation) -> list[Leaf]:
    return list(_walk(automation.id, automation.trigger, ()))


def _walk(automation_id: UUID, trigger: Trigger, parents: tuple[Composite, ...]) -> Iterator[Leaf]:
    if isinstance(trigger, EventTrigger):
        yield Leaf(automation_id, trigger, parents)
        return
    for child in trigger.triggers:
        yield from _walk(automation_id, child, (trigger, *parents))


def _patterns(trigger: EventTrigger) -> set[str] | None:
    """The event names the leaf may care about; None when it may care about any."""
    if not trigger.expect:
        return None
    return {*trigger.expect, *trigger.after}


class NameIndex:
    """Leaves by exact event name, by `prefix*`, and the ones that need a full look."""

    def __init__(self) -> None:
        self._exact: defaultdict[str, dict[tuple[UUID, UUID], Leaf]] = defaultdict(dict)
        self._prefix: defaultdict[str, dict[tuple[UUID, UUID], Leaf]] = defaultdict(dict)
        self._any: dict[tuple[UUID, UUID], Leaf] = {}

    def add(self, leaf: Leaf) -> None:
        ident = (leaf.automation_id, leaf.trigger.id)
        patterns = _patterns(leaf.trigger)
        if patterns is None or any(p.startswith("!") for p in patterns):
            self._any[ident] = leaf
            return
        for pattern in patterns:
            if pattern.endswith("*"):
                self._prefix[pattern[:-1]][ident] = leaf
            else:
                self._exact[pattern][ident] = leaf

    def remove(self, leaf: Leaf) -> None:
        ident = (leaf.automation_id, leaf.trigger.id)
        self._any.pop(ident, None)
        for table in (self._exact, self._prefix):
            for name in [n for n, found in table.items() if found.pop(ident, None) and not found]:
                del table[name]

    def candidates(self, name: str) -> list[Leaf]:
        found = dict(self._any)
        found.update(self._exact.get(name, {}))
        for prefix, leaves_ in self._prefix.items():
            if name.startswith(prefix):
                found.update(leaves_)
        return list(found.values())


def route_key(leaf: Leaf, bucket: tuple[str, ...], event: Event | None) -> str:
    """The run's own key when the bucket is the event's run (no re-keying needed); one key per
    composite automation, so one owner sees all its children; else one per bucket."""
    if leaf.parents:
        return str(leaf.automation_id)
    run_bucket = leaf.trigger.for_each == {RESOURCE_ID}
    if event is not None and run_bucket and flow_run_id_of(event.resource[RESOURCE_ID]):
        return event.key
    return f"{leaf.automation_id}:{leaf.trigger.id}:{'/'.join(bucket)}"
