"""The few `flows` endpoints Prefect's CLI calls while listing runs.

cancelbus keeps flow runs, not flows: a flow is known only by the `flow_id` its runs carry,
so these answers name each asked-for flow after its id (`flow-1a2b3c4d`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

router = APIRouter(prefix="/api", tags=["prefect compatibility"])

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Flow(BaseModel):
    id: UUID
    name: str
    created: datetime
    updated: datetime
    tags: list[str]
    labels: dict[str, Any]


class _Ids(BaseModel):
    any_: list[UUID] | None = None


class _FlowCriteria(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: _Ids | None = None


class FlowFilterBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    flows: _FlowCriteria | None = None


def flow_named_by_id(flow_id: UUID) -> Flow:
    return Flow(
        id=flow_id,
        name=f"flow-{flow_id.hex[:8]}",
        created=_EPOCH,
        updated=_EPOCH,
        tags=[],
        labels={},
    )


@router.post("/flows/filter")
async def filter_flows(body: FlowFilterBody | None = None) -> list[Flow]:
    """The flows whose ids are asked for (`flows.id.any_`); nothing else is known."""
    ids = body.flows.id.any_ if body and body.flows and body.flows.id else None
    return [flow_named_by_id(flow_id) for flow_id in dict.fromkeys(ids or [])]


@router.get("/flows/{flow_id}")
async def read_flow(flow_id: UUID) -> Flow:
    return flow_named_by_id(flow_id)
