"""Request and response bodies that only the REST API uses."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from schemas.flow_runs import StateCreate
from schemas.orchestration import Status
from schemas.states import State


class SetStateBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    state: StateCreate
    force: bool = False
    # cancelbus extensions, ignored by Prefect clients
    grace_seconds: float | None = Field(default=None, gt=0, le=86400)
    requested_by: str | None = Field(default=None, max_length=256)


class OrchestrationResultBody(BaseModel):
    state: State | None
    status: Status
    details: dict[str, Any]


class CountBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    flow_runs: Any = None


class CancellingRun(BaseModel):
    id: UUID
    state_id: UUID
    since: datetime
