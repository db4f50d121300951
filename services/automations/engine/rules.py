"""The loaded automations and the event triggers of each, and which of them cover an event."""

from __future__ import annotations

from uuid import UUID

from schemas.automations import Automation
from schemas.events import Event
from schemas.matching import bucket_key, covers
from services.automations.engine import max_runtime
from services.automations.engine.firing import Route
from services.automations.engine.index import Leaf, TriggerIndex, leaves, route_key
from services.automations.engine.windows import standing

BUILTIN = max_runtime.MAX_RUNTIME_AUTOMATION_ID


def _order(route: Route) -> tuple[str, str]:
    return (str(route.automation_id), str(route.trigger_id))


class Rules:
    def __init__(self) -> None:
        self._automations: dict[UUID, Automation] = {}
        self._leaves: dict[tuple[UUID, UUID], Leaf] = {}
        self._index = TriggerIndex()

    def add(self, automation: Automation) -> None:
        self._automations[automation.id] = automation
        for leaf in leaves(automation):
            self._leaves[(automation.id, leaf.trigger.id)] = leaf
            self._index.add(leaf)

    def remove(self, automation_id: UUID) -> bool:
        if self._automations.pop(automation_id, None) is None:
            return False
        for ident in [i for i in self._leaves if i[0] == automation_id]:
            self._index.remove(self._leaves.pop(ident))
        return True

    def automation(self, automation_id: UUID) -> Automation | None:
        if automation_id == BUILTIN:
            return max_runtime.MAX_RUNTIME_AUTOMATION
        return self._automations.get(automation_id)

    def leaf(self, automation_id: UUID, trigger_id: UUID) -> Leaf | None:
        return self._leaves.get((automation_id, trigger_id))

    def routes(self, event: Event) -> list[Route]:
        found: list[Route] = []
        for leaf in self._index.candidates(event):
            if covers(leaf.trigger, event):
                bucket = bucket_key(leaf.trigger, event)
                key = route_key(leaf, bucket, event)
                found.append(Route(leaf.automation_id, leaf.trigger.id, bucket, key))
        builtin = max_runtime.route(event)
        if builtin is not None:
            found.append(builtin)
        return sorted(found, key=_order)

    def standing_routes(self) -> list[Route]:
        return sorted(
            (
                Route(leaf.automation_id, leaf.trigger.id, (), route_key(leaf, (), None))
                for leaf in self._leaves.values()
                if standing(leaf.trigger)
            ),
            key=_order,
        )
