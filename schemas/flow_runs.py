"""Flow runs as the REST API shows them: a compatible subset of Prefect 3's models."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.infrastructure import InfrastructureId
from schemas.states import State, StateType


class FlowRun(BaseModel):
    id: UUID
    name: str
    flow_id: UUID
    deployment_id: UUID | None = None
    state: State | None = None
    state_id: UUID | None = None
    state_type: StateType | None = None
    state_name: str | None = None
    infrastructure_pid: str | None = None
    infrastructure: InfrastructureId | None = None
    tags: list[str] = Field(default_factory=list)
    parameters: dict[str, Any] = Field(default_factory=dict)
    created: datetime
    updated: datetime
    start_time: datetime | None = None
    end_time: datetime | None = None
    expected_start_time: datetime | None = None
    run_count: int = 0
    work_pool_name: str | None = None
    work_queue_name: str | None = None
    parent_flow_run_id: UUID | None = Field(
        default=None, description="the run this one was started by; cancelling it cancels this"
    )
    cancellation_worker_alive: bool | None = Field(
        default=None,
        description="while CANCELLING: whether a live worker serves the run's kind and scope",
    )


# A run with this tag does not cancel its children when it is cancelled.
NO_CASCADE_TAG = "cancelbus.no-cascade"


class StateCreate(BaseModel):
    """A proposed state, as a Prefect client sends it (`id`/`timestamp` are the server's)."""

    model_config = ConfigDict(extra="ignore")

    type: StateType
    name: str | None = Field(default=None, max_length=64)  # the column's width
    message: str | None = None
    state_details: dict[str, Any] = Field(default_factory=dict)
    data: Any = None


class FlowRunCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(default=None, max_length=256)
    flow_id: UUID = Field(default_factory=uuid4)
    deployment_id: UUID | None = None
    state: StateCreate | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    infrastructure_pid: str | None = Field(default=None, max_length=2048)
    work_pool_name: str | None = Field(default=None, max_length=256)
    work_queue_name: str | None = Field(default=None, max_length=256)
    parent_flow_run_id: UUID | None = Field(
        default=None, description="an existing run this one belongs to (cascading cancellation)"
    )


class FlowRunUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=256)
    infrastructure_pid: str | None = Field(default=None, max_length=2048)
    tags: list[str] | None = None
    parameters: dict[str, Any] | None = None
    parent_flow_run_id: UUID | None = Field(
        default=None, description="link the run to a parent run (null: detach it)"
    )
    # accepted for Prefect compatibility, not used by cancelbus
    flow_version: str | None = None
    job_variables: dict[str, Any] | None = None
    empirical_policy: dict[str, Any] | None = None


class _AnyOf(BaseModel):
    any_: list[Any] | None = None


class IdFilter(BaseModel):
    any_: list[UUID] | None = None
    not_any_: list[UUID] | None = None


class StateTypeFilter(BaseModel):
    any_: list[StateType] | None = None
    not_any_: list[StateType] | None = None


class StateNameFilter(BaseModel):
    any_: list[str] | None = None
    not_any_: list[str] | None = None


class StateFilter(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: StateTypeFilter | None = None
    name: StateNameFilter | None = None


class TagsFilter(BaseModel):
    all_: list[str] | None = None
    any_: list[str] | None = None
    is_null_: bool | None = None


class NameFilter(BaseModel):
    any_: list[str] | None = None
    like_: str | None = None


class FlowRunFilterCriteria(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: IdFilter | None = None
    name: NameFilter | None = None
    state: StateFilter | None = None
    tags: TagsFilter | None = None


class FlowRunSort(StrEnum):
    ID_DESC = "ID_DESC"
    NAME_ASC = "NAME_ASC"
    NAME_DESC = "NAME_DESC"
    START_TIME_ASC = "START_TIME_ASC"
    START_TIME_DESC = "START_TIME_DESC"
    EXPECTED_START_TIME_ASC = "EXPECTED_START_TIME_ASC"
    EXPECTED_START_TIME_DESC = "EXPECTED_START_TIME_DESC"
    END_TIME_DESC = "END_TIME_DESC"
    CREATED_DESC = "CREATED_DESC"


MAX_FILTER_LIMIT = 200


class FlowRunFilter(BaseModel):
    """The body of `POST /api/flow_runs/filter` (other Prefect sections are ignored)."""

    model_config = ConfigDict(extra="ignore")

    flow_runs: FlowRunFilterCriteria | None = None
    sort: FlowRunSort = FlowRunSort.ID_DESC
    limit: int = Field(default=MAX_FILTER_LIMIT, ge=0, le=MAX_FILTER_LIMIT)
    offset: int = Field(default=0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _null_means_default(cls, data: Any) -> Any:
        """Prefect's client sends `"sort": null, "limit": null` for the server's default."""
        if isinstance(data, dict):
            defaulted = ("sort", "limit", "offset")
            return {k: v for k, v in data.items() if not (k in defaulted and v is None)}
        return data


class BulkCancel(BaseModel):
    """The body of `POST /api/flow_runs/cancel`: which runs, and why."""

    model_config = ConfigDict(extra="forbid")

    flow_runs: FlowRunFilterCriteria = Field(default_factory=FlowRunFilterCriteria)
    reason: str | None = Field(default=None, max_length=2000)
    requested_by: str | None = Field(default=None, max_length=256)
    grace_seconds: float | None = Field(default=None, gt=0, le=86400)
    limit: int | None = Field(default=None, ge=1, description="cancel at most this many runs")


class BulkCancelResult(BaseModel):
    matched: int
    cancelling: int
    cancelled: int
    already_terminal: int
    already_cancelling: int
