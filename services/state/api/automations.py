"""Automation endpoints under /api, as Prefect 3.9.1 serves them (`prefect automation …`)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from schemas.automations import (
    Automation,
    AutomationCreate,
    AutomationFilter,
    AutomationPartialUpdate,
    AutomationUpdate,
)
from schemas.states import utcnow
from services.state.automations.use_cases import Automations
from services.state.service import StateService

_ACTION_LISTS = {"actions", "actions_on_trigger", "actions_on_resolve"}


def _explained(errors: Sequence[Any]) -> list[Any]:
    """The validation errors, an unknown action or trigger type named as unsupported."""
    explained = []
    for error in errors:
        loc, ctx = tuple(error.get("loc", ())), error.get("ctx") or {}
        if error.get("type") == "union_tag_invalid" and "tag" in ctx:
            kind = "action" if len(loc) >= 2 and loc[-2] in _ACTION_LISTS else "trigger"
            supported = ctx.get("expected_tags", "")
            error = {
                **error,
                "msg": f"unsupported {kind} type {ctx['tag']!r}: supported are {supported}",
            }
        explained.append(error)
    return explained


class _AutomationRoute(APIRoute):
    """Says which action and trigger types are supported when a body names another."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                raise RequestValidationError(_explained(exc.errors()), body=exc.body) from exc

        return handle


router = APIRouter(prefix="/api/automations", tags=["automations"], route_class=_AutomationRoute)


def _automations(request: Request) -> Automations:
    service: StateService = request.app.state.service
    return service.automations


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_automation(body: AutomationCreate, request: Request) -> Automation:
    """Create an automation; its trigger ids are the server's."""
    return await _automations(request).create(body)


@router.put("/{automation_id:uuid}", status_code=status.HTTP_204_NO_CONTENT)
async def update_automation(automation_id: UUID, body: AutomationUpdate, request: Request) -> None:
    """Replace the fields given (new trigger ids)."""
    await _automations(request).replace(automation_id, body)


@router.patch("/{automation_id:uuid}", status_code=status.HTTP_204_NO_CONTENT)
async def patch_automation(
    automation_id: UUID, body: AutomationPartialUpdate, request: Request
) -> None:
    """Pause (`{"enabled": false}`) or resume an automation."""
    await _automations(request).set_enabled(automation_id, body)


@router.delete("/{automation_id:uuid}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_automation(automation_id: UUID, request: Request) -> None:
    await _automations(request).delete(automation_id)


@router.post("/filter")
async def read_automations(
    request: Request, body: AutomationFilter | None = None
) -> list[Automation]:
    """Sorted (NAME_ASC unless told), at most `limit` (200 when null) from `offset`."""
    return await _automations(request).filter(body or AutomationFilter())


@router.post("/count")
async def count_automations(request: Request, body: AutomationFilter | None = None) -> int:
    """How many automations match `{"automations": …}` (all without a body)."""
    return await _automations(request).count(body.automations if body else None)


@router.get("/{automation_id:uuid}")
async def read_automation(automation_id: UUID, request: Request) -> Automation:
    return await _automations(request).read(automation_id)


@router.get("/related-to/{resource_id}")
async def read_automations_related_to_resource(
    resource_id: str, request: Request
) -> list[Automation]:
    """The automations related to a resource: those it owns (`owner_resource`)."""
    return await _automations(request).related_to(resource_id)


@router.delete("/owned-by/{resource_id}", status_code=status.HTTP_202_ACCEPTED)
async def delete_automations_owned_by_resource(resource_id: str, request: Request) -> None:
    """Delete the automations the resource owns, those created until now."""
    criteria = AutomationFilter.model_validate(
        {"automations": {"created": {"before_": utcnow()}}}
    ).automations
    await _automations(request).delete_owned_by(resource_id, criteria)
