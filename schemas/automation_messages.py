"""Automation messages: the commands a firing sends, and the rule changes replicas follow."""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from schemas.automations import Automation
from schemas.events import Event
from schemas.messages import FiringRef, Message
from schemas.states import StateType
from schemas.topics import Topics


class ChangeFlowRunState(Message):
    """Command: propose this state for the run (the `change-flow-run-state` action)."""

    TOPIC: ClassVar[Topics] = Topics.COMMANDS
    schema_name: Literal["cancelbus.ChangeFlowRunState"] = "cancelbus.ChangeFlowRunState"
    schema_version: Literal[1] = 1

    flow_run_id: UUID
    state: StateType
    name: str | None = Field(default=None, max_length=64)
    message: str | None = Field(default=None, max_length=2000)
    force: bool = False
    requested_by: str | None = Field(default=None, max_length=256)
    firing: FiringRef | None = None


class AutomationActionFailed(Message):
    """Command: record that a firing's action could not be sent (no run could be inferred)."""

    TOPIC: ClassVar[Topics] = Topics.COMMANDS
    schema_name: Literal["cancelbus.AutomationActionFailed"] = "cancelbus.AutomationActionFailed"
    schema_version: Literal[1] = 1

    firing: FiringRef
    action_type: str = Field(max_length=64)
    reason: str = Field(max_length=2000)

    @property
    def key(self) -> str:
        return str(self.firing.automation_id)


class AutomationChanged(Message):
    """Event: an automation was created, replaced, paused or resumed (`automation` set), or
    deleted (None). On a compacted topic keyed by the automation's id: the latest per rule."""

    TOPIC: ClassVar[Topics] = Topics.AUTOMATIONS
    schema_name: Literal["cancelbus.AutomationChanged"] = "cancelbus.AutomationChanged"
    schema_version: Literal[1] = 1

    automation_id: UUID
    automation: Automation | None

    @property
    def key(self) -> str:
        return str(self.automation_id)


class BucketEvent(Message):
    """Internal event of the automations service: an event re-keyed by the bucket it counts in.

    A bucket keyed by something other than the event's own key (a threshold over a
    deployment's runs) is counted by the replica owning `bucket_key`'s partition of
    `cancelbus.automation-buckets`, the way Kafka Streams repartitions.
    """

    TOPIC: ClassVar[Topics] = Topics.AUTOMATION_BUCKETS
    schema_name: Literal["cancelbus.BucketEvent"] = "cancelbus.BucketEvent"
    schema_version: Literal[1] = 1

    automation_id: UUID
    trigger_id: UUID
    bucket: list[str] = Field(description="the for_each values of the bucket")
    bucket_key: str = Field(min_length=1, description="the partition key the bucket counts under")
    event: Event

    @property
    def key(self) -> str:
        return self.bucket_key
