"""Automations as Prefect 3.9.1 defines them: a trigger over events and the actions it fires.

The REST API takes and answers these shapes; the automations service evaluates them. Unknown
keys at the top level of an automation are refused (422), inside triggers and actions ignored.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, model_validator

from schemas.states import StateType

# label -> expected value(s); labels AND, values OR; `*` globs, a leading `!` negates
ResourceSpecification = dict[str, str | list[str]]

PROACTIVE_MIN_WITHIN = timedelta(seconds=10)

# a duration read as seconds or ISO-8601 and answered as float seconds, as Prefect answers it
Seconds = Annotated[
    timedelta, PlainSerializer(lambda within: within.total_seconds(), return_type=float)
]


class Posture(StrEnum):
    REACTIVE = "Reactive"
    PROACTIVE = "Proactive"


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore")


class EventTrigger(_Part):
    type: Literal["event"] = "event"
    id: UUID = Field(default_factory=uuid4)
    match: ResourceSpecification = Field(default_factory=dict)
    match_related: ResourceSpecification | list[ResourceSpecification] = Field(default_factory=dict)
    after: set[str] = Field(default_factory=set, description="events that open a window")
    expect: set[str] = Field(default_factory=set, description="events counted; empty = any")
    for_each: set[str] = Field(default_factory=set, description="labels forming the bucket")
    posture: Posture
    threshold: int = Field(default=1, ge=0)
    within: Seconds = Field(default=timedelta(0), ge=timedelta(0))

    @model_validator(mode="after")
    def _proactive_within(self) -> EventTrigger:
        if self.posture is Posture.PROACTIVE:
            if self.within == timedelta(0):
                self.within = PROACTIVE_MIN_WITHIN
            elif self.within < PROACTIVE_MIN_WITHIN:
                raise ValueError("`within` for Proactive triggers must be at least 10 seconds")
        return self

    def match_related_list(self) -> list[ResourceSpecification]:
        if isinstance(self.match_related, list):
            return self.match_related
        return [self.match_related] if self.match_related else []


class CompoundTrigger(_Part):
    type: Literal["compound"] = "compound"
    id: UUID = Field(default_factory=uuid4)
    triggers: list[Trigger] = Field(min_length=1)
    require: int | Literal["any", "all"]
    within: Seconds | None = None

    @model_validator(mode="after")
    def _require_fits(self) -> CompoundTrigger:
        if isinstance(self.require, int) and not 1 <= self.require <= len(self.triggers):
            raise ValueError("require must be between 1 and the number of triggers")
        return self

    def required(self) -> int:
        if self.require == "any":
            return 1
        if self.require == "all":
            return len(self.triggers)
        return self.require


class SequenceTrigger(_Part):
    type: Literal["sequence"] = "sequence"
    id: UUID = Field(default_factory=uuid4)
    triggers: list[Trigger] = Field(min_length=1)
    within: Seconds | None = None


Trigger = Annotated[EventTrigger | CompoundTrigger | SequenceTrigger, Field(discriminator="type")]


class CancelFlowRunAction(_Part):
    """Propose CANCELLING for the inferred run; message "Cancelled by Automation <id>"."""

    type: Literal["cancel-flow-run"] = "cancel-flow-run"


class ChangeFlowRunStateAction(_Part):
    type: Literal["change-flow-run-state"] = "change-flow-run-state"
    state: StateType
    name: str | None = Field(default=None, max_length=64)
    message: str | None = Field(default=None, max_length=2000)
    force: bool = False


Action = Annotated[CancelFlowRunAction | ChangeFlowRunStateAction, Field(discriminator="type")]


class AutomationCore(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=256)
    description: str = Field(default="", max_length=4000)
    enabled: bool = True
    tags: list[str] = Field(default_factory=list)
    trigger: Trigger
    actions: list[Action] = Field(min_length=1)
    actions_on_trigger: list[Action] = Field(default_factory=list)
    actions_on_resolve: list[Action] = Field(default_factory=list)


class AutomationCreate(AutomationCore):
    owner_resource: str | None = Field(default=None, max_length=2048)


class AutomationUpdate(AutomationCore):
    """The body of `PUT /api/automations/{id}`: the whole automation."""

    owner_resource: str | None = Field(default=None, max_length=2048)


class AutomationPartialUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True


class Automation(AutomationCore):
    model_config = ConfigDict(extra="ignore")

    id: UUID
    created: datetime
    updated: datetime
    owner_resource: str | None = None


class AutomationSort(StrEnum):
    CREATED_DESC = "CREATED_DESC"
    UPDATED_DESC = "UPDATED_DESC"
    NAME_ASC = "NAME_ASC"
    NAME_DESC = "NAME_DESC"


class _Operators(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AutomationIdFilter(_Operators):
    any_: list[UUID] | None = None


class AutomationNameFilter(_Operators):
    any_: list[str] | None = None


class AutomationCreatedFilter(_Operators):
    before_: datetime | None = None


class AutomationTagsFilter(_Operators):
    operator: Literal["and_", "or_"] = "and_"  # how its criteria combine, as in Prefect
    all_: list[str] | None = None
    any_: list[str] | None = None
    is_null_: bool | None = None


class AutomationFilterCriteria(_Operators):
    operator: Literal["and_", "or_"] = "and_"
    id: AutomationIdFilter | None = None
    name: AutomationNameFilter | None = None
    created: AutomationCreatedFilter | None = None
    tags: AutomationTagsFilter | None = None


class AutomationFilter(BaseModel):
    """The body of `POST /api/automations/filter` (and, with `automations` only, `/count`)."""

    model_config = ConfigDict(extra="ignore")

    sort: AutomationSort = AutomationSort.NAME_ASC
    limit: int = Field(default=200, ge=0, le=200)
    offset: int = Field(default=0, ge=0)
    automations: AutomationFilterCriteria | None = None

    @model_validator(mode="before")
    @classmethod
    def _null_means_default(cls, data: Any) -> Any:
        """Prefect's CLI sends nulls for the server's defaults."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None}
        return data


class FiringOutcome(StrEnum):
    ACTED = "acted"  # the run's state was changed
    NOTHING_TO_DO = "nothing_to_do"  # already cancelling or terminal: nothing was changed
    FAILED = "failed"  # no run could be inferred, the run is unknown, or the change was refused


class AutomationFiring(BaseModel):
    """One action of one firing, as `GET /api/automations/{id}/firings` lists it."""

    firing_id: UUID
    automation_id: UUID
    action_index: int
    action_type: str
    flow_run_id: UUID | None
    fired_at: datetime
    recorded_at: datetime
    outcome: FiringOutcome
    detail: str | None = None


class AutomationPreview(BaseModel):
    """What `POST /api/automations/preview` answers: the runs the rule would act on now."""

    flow_run_ids: list[UUID]
    matched: int
    truncated: bool = False


EventTrigger.model_rebuild()
CompoundTrigger.model_rebuild()
SequenceTrigger.model_rebuild()
