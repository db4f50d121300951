"""The automation and event calls, described once (see `calls`): Prefect 3.9.1's routes, plus
the firings of an automation, a dry run of a rule and sending an event."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import TypeAdapter

from schemas.automations import (
    Automation,
    AutomationCore,
    AutomationCreate,
    AutomationFilter,
    AutomationFilterCriteria,
    AutomationFiring,
    AutomationNameFilter,
    AutomationPartialUpdate,
    AutomationPreview,
    AutomationSort,
)
from schemas.events import Event
from services.client.calls import Call

_AUTOMATIONS = TypeAdapter(list[Automation])
_FIRINGS = TypeAdapter(list[AutomationFiring])


def _none(_body: Any) -> None:
    return None


def _body(automation: AutomationCore) -> dict[str, Any]:
    """What the routes take: a stored `Automation` may be sent, without its id and times."""
    return automation.model_dump(mode="json", include=set(AutomationCreate.model_fields))


def create(automation: AutomationCore) -> Call[Automation]:
    return Call("POST", "automations/", Automation.model_validate, _body(automation))


def read(automation_id: UUID) -> Call[Automation]:
    return Call(
        "GET",
        f"automations/{automation_id}",
        Automation.model_validate,
        automation_id=automation_id,
    )


def read_many(query: AutomationFilter | None) -> Call[list[Automation]]:
    body = (query or AutomationFilter()).model_dump(mode="json", exclude_none=True)
    return Call("POST", "automations/filter", _AUTOMATIONS.validate_python, body)


def by_name(name: str) -> AutomationFilter:
    """Every automation called `name`, the last updated first (as Prefect's CLI looks them up)."""
    return AutomationFilter(
        sort=AutomationSort.UPDATED_DESC,
        automations=AutomationFilterCriteria(name=AutomationNameFilter(any_=[name])),
    )


def count(criteria: AutomationFilterCriteria | None) -> Call[int]:
    body = {"automations": criteria.model_dump(mode="json", exclude_none=True)} if criteria else {}
    return Call("POST", "automations/count", int, body)


def replace(automation_id: UUID, automation: AutomationCore) -> Call[None]:
    return Call(
        "PUT", f"automations/{automation_id}", _none, _body(automation), automation_id=automation_id
    )


def set_enabled(automation_id: UUID, enabled: bool) -> Call[None]:
    body = AutomationPartialUpdate(enabled=enabled).model_dump(mode="json")
    return Call("PATCH", f"automations/{automation_id}", _none, body, automation_id=automation_id)


def delete(automation_id: UUID) -> Call[None]:
    return Call("DELETE", f"automations/{automation_id}", _none, automation_id=automation_id)


def firings(automation_id: UUID, limit: int | None) -> Call[list[AutomationFiring]]:
    query = f"?limit={limit}" if limit is not None else ""
    return Call(
        "GET",
        f"automations/{automation_id}/firings{query}",
        _FIRINGS.validate_python,
        automation_id=automation_id,
    )


def preview(automation: AutomationCore) -> Call[AutomationPreview]:
    return Call("POST", "automations/preview", AutomationPreview.model_validate, _body(automation))


def send_event(event: Event) -> Call[None]:
    return Call("POST", "events", _none, event.model_dump(mode="json"))
