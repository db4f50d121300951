"""What automations did and would do: their firings, and a dry run of a rule."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request

from schemas.automations import AutomationCreate, AutomationFiring, AutomationPreview
from services.state.service import StateService

router = APIRouter(prefix="/api/automations", tags=["automations"])

MAX_PAGE = 200


def _service(request: Request) -> StateService:
    service: StateService = request.app.state.service
    return service


@router.post("/preview")
async def preview_automation(body: AutomationCreate, request: Request) -> AutomationPreview:
    """The non-terminal runs the rule would act on now, before it is enabled (a dry run):
    the first 200 found, and how many in all."""
    return await _service(request).preview_automation(body)


@router.get("/{automation_id}/firings")
async def automation_firings(
    automation_id: UUID,
    request: Request,
    limit: Annotated[int, Query(ge=0, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[AutomationFiring]:
    """Each action of each firing, newest first, with its run and outcome: acted,
    nothing_to_do (the run was cancelling or terminal already) or failed (with the reason)."""
    return await _service(request).automation_firings(automation_id, limit=limit, offset=offset)
