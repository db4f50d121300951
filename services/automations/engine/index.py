"""The event triggers of the loaded automations, found without scanning them all.

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
    if not trigger.expect or any(p.startswith("!") for p in (*trigger.expect, *trigger.after)):
        return None
    return {*trigger.expect, *trigger.after}


def _exact(values: str | list[str] | None) -> list[str] | None:
    listed = [values] if isinstance(values, str) else values
    if not listed or any(v.startswith("!") or v.endswith("*") for v in listed):
        return None
    return listed


def anchors(trigger: EventTrigger) -> list[str] | None:
    """Resource ids one of which an event must carry (as its resource or a related one) to be
    covered: an exact `prefect.resource.id` of `match` or of a `match_related`; None if none."""
    for spec in (trigger.match, *trigger.match_related_list()):
        exact = _exact(spec.get(RESOURCE_ID))
        if exact is not None:
            return exact
    return None


Ident = tuple[UUID, UUID]


class TriggerIndex:
    """Leaves by an anchoring resource id, else by exact event name, by `prefix*`, or among
    the ones that need a full look: an event is checked against few of a thousand rules."""

    def __init__(self) -> None:
        self._by_id: defaultdict[str, dict[Ident, Leaf]] = defaultdict(dict)
        self._exact: defaultdict[str, dict[Ident, Leaf]] = defaultdict(dict)
        self._prefix: defaultdict[str, dict[Ident, Leaf]] = defaultdict(dict)
        self._any: dict[Ident, Leaf] = {}
        self._places: dict[Ident, list[dict[Ident, Leaf]]] = {}

    def add(self, leaf: Leaf) -> None:
        ident = (leaf.automation_id, leaf.trigger.id)
        ids, patterns = anchors(leaf.trigger), _patterns(leaf.trigger)
        if ids is not None:
            places = [self._by_id[i] for i in ids]
        elif patterns is None:
            places = [self._any]
        else:
            places = [self._prefix[p[:-1]] if p.endswith("*") else self._exact[p] for p in patterns]
        for place in places:
            place[ident] = leaf
        self._places[ident] = places

    def remove(self, leaf: Leaf) -> None:
        for place in self._places.pop((leaf.automation_id, leaf.trigger.id), []):
            place.pop((leaf.automation_id, leaf.trigger.id), None)
        for table in (self._by_id, self._exact, self._prefix):
            for key in [k for k, found in table.items() if not found]:
                del table[key]

    def candidates(self, event: Event) -> list[Leaf]:
        """A superset of the leaves covering the event (each still to be checked)."""
        found = dict(self._any)
        found.update(self._exact.get(event.event, {}))
        for prefix, leaves_ in self._prefix.items():
            if event.event.startswith(prefix):
                found.update(leaves_)
        for labels in (event.resource, *event.related):
            found.update(self._by_id.get(labels.get(RESOURCE_ID, ""), {}))
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
