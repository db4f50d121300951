"""An automation as its `automations` row holds it: the trigger and actions as JSON."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from pydantic import TypeAdapter

from schemas.automations import Action, Automation, AutomationCore, Trigger
from services.state.rows import names

JsonValue = Any  # a JSON column's value, as the driver gives it

_TRIGGER: TypeAdapter[Trigger] = TypeAdapter(Trigger)
_ACTIONS: TypeAdapter[list[Action]] = TypeAdapter(list[Action])


@dataclasses.dataclass(slots=True)
class AutomationRow:
    """A whole `automations` row, its fields in the table's column order."""

    id: UUID
    name: str
    description: str
    enabled: bool
    tags: list[str]
    trigger: JsonValue
    actions: list[JsonValue]
    actions_on_trigger: list[JsonValue]
    actions_on_resolve: list[JsonValue]
    owner_resource: str | None
    created: datetime
    updated: datetime

    def to_automation(self) -> Automation:
        return Automation(
            id=self.id,
            name=self.name,
            description=self.description,
            enabled=self.enabled,
            tags=self.tags,
            trigger=_TRIGGER.validate_python(self.trigger),
            actions=_ACTIONS.validate_python(self.actions),
            actions_on_trigger=_ACTIONS.validate_python(self.actions_on_trigger),
            actions_on_resolve=_ACTIONS.validate_python(self.actions_on_resolve),
            owner_resource=self.owner_resource,
            created=self.created,
            updated=self.updated,
        )


COLUMNS = names(AutomationRow)
# what a PUT may set: the fields of the body it was given (Prefect's exclude_unset)
REPLACEABLE = frozenset({*AutomationCore.model_fields, "owner_resource"} & set(COLUMNS))


def column_values(body: AutomationCore, fields: set[str]) -> dict[str, JsonValue]:
    """The columns of `fields` of `body`, as they are stored (JSON for trigger and actions)."""
    dumped = body.model_dump(mode="json", include=fields)
    return {name: dumped[name] for name in fields if name in REPLACEABLE and name in dumped}


def with_fresh_ids(trigger: Trigger) -> Trigger:
    """The trigger with new ids, its nested triggers' too: ids are the server's (Prefect's
    `reset_ids`), so a client that sends one cannot collide with another automation's."""
    if trigger.type == "event":
        return trigger.model_copy(update={"id": uuid4()})
    return trigger.model_copy(
        update={"id": uuid4(), "triggers": [with_fresh_ids(t) for t in trigger.triggers]}
    )
