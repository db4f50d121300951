"""Events in Prefect's shape: a name, a resource, related resources and a payload.

Every state change of a run is also an event (`state_change_event`), and producers may publish
their own to `cancelbus.events` (or `POST /api/events`). Automations match on these.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import Field, field_validator

from schemas.messages import FlowRunStateChanged, Message
from schemas.topics import Topics

RESOURCE_ID = "prefect.resource.id"
RESOURCE_NAME = "prefect.resource.name"
RESOURCE_ROLE = "prefect.resource.role"
FLOW_RUN_PREFIX = "prefect.flow-run."

Labels = dict[str, str]


class Event(Message):
    """Event: something happened to a resource (a run's state change, or a producer's own)."""

    TOPIC: ClassVar[Topics] = Topics.EVENTS
    schema_name: Literal["cancelbus.Event"] = "cancelbus.Event"
    schema_version: Literal[1] = 1

    event: str = Field(min_length=1, max_length=1024, description="e.g. prefect.flow-run.Running")
    resource: Labels = Field(description=f"the resource's labels; `{RESOURCE_ID}` is required")
    related: list[Labels] = Field(
        default_factory=list, max_length=500, description=f"each with `{RESOURCE_ROLE}`"
    )
    payload: dict[str, Any] = Field(default_factory=dict)
    follows: UUID | None = None

    @field_validator("resource")
    @classmethod
    def _resource_has_an_id(cls, labels: Labels) -> Labels:
        if not labels.get(RESOURCE_ID):
            raise ValueError(f"the resource needs a `{RESOURCE_ID}` label")
        return labels

    @field_validator("related")
    @classmethod
    def _related_have_id_and_role(cls, related: list[Labels]) -> list[Labels]:
        for labels in related:
            if not labels.get(RESOURCE_ID) or not labels.get(RESOURCE_ROLE):
                raise ValueError(f"a related resource needs `{RESOURCE_ID}` and `{RESOURCE_ROLE}`")
        return related

    @property
    def key(self) -> str:
        """The run the event is about (so it shares a partition with the run's state changes),
        else the resource's id."""
        run_id = self.flow_run_id()
        return str(run_id) if run_id is not None else self.resource[RESOURCE_ID]

    def flow_run_id(self) -> UUID | None:
        """The first `prefect.flow-run.<uuid>` of the resource, then the related resources
        (how Prefect infers an action's target run)."""
        for labels in (self.resource, *self.related):
            run_id = flow_run_id_of(labels.get(RESOURCE_ID, ""))
            if run_id is not None:
                return run_id
        return None

    def label(self, name: str) -> str | None:
        """A label of the resource, or `related:<role>:<label>` of the first related resource
        in that role (Prefect's `find_resource_label`)."""
        if not name.startswith("related:"):
            return self.resource.get(name)
        _, role, label = [*name.split(":", 2), "", ""][:3]
        for labels in self.related:
            if labels.get(RESOURCE_ROLE) == role:
                return labels.get(label)
        return None


def flow_run_id_of(resource_id: str) -> UUID | None:
    if not resource_id.startswith(FLOW_RUN_PREFIX):
        return None
    try:
        return UUID(resource_id.removeprefix(FLOW_RUN_PREFIX))
    except ValueError:
        return None


def state_change_event(change: FlowRunStateChanged) -> Event:
    """A run's state change as Prefect names and labels it; the id is the new state's id."""
    state = change.state
    resource: Labels = {
        RESOURCE_ID: f"{FLOW_RUN_PREFIX}{change.flow_run_id}",
        "prefect.state-name": state.name,
        "prefect.state-type": state.type.value,
        "prefect.state-timestamp": state.timestamp.isoformat(),
    }
    if change.flow_run_name is not None:
        resource[RESOURCE_NAME] = change.flow_run_name
    if state.message:
        resource["prefect.state-message"] = state.message[:1024]
    if change.run_count is not None:
        resource["prefect.run-count"] = str(change.run_count)
    related: list[Labels] = []
    if change.flow_id is not None:
        related.append(_related("flow", f"prefect.flow.{change.flow_id}"))
    if change.deployment_id is not None:
        related.append(_related("deployment", f"prefect.deployment.{change.deployment_id}"))
    if change.work_queue_name is not None:
        related.append(
            _related("work-queue", f"prefect.work-queue.{change.work_queue_name}")
            | {RESOURCE_NAME: change.work_queue_name}
        )
    if change.work_pool_name is not None:
        related.append(
            _related("work-pool", f"prefect.work-pool.{change.work_pool_name}")
            | {RESOURCE_NAME: change.work_pool_name}
        )
    if change.parent_flow_run_id is not None:
        related.append(_related("parent", f"{FLOW_RUN_PREFIX}{change.parent_flow_run_id}"))
    related.extend(_related("tag", f"prefect.tag.{tag}") for tag in change.tags)
    return Event(
        id=state.id,
        occurred_at=state.timestamp,
        event=change.event,
        resource=resource,
        related=related,
        payload={
            "intended": {
                "from": change.previous_state_type.value if change.previous_state_type else None,
                "to": state.type.value,
            },
        },
    )


def _related(role: str, resource_id: str) -> Labels:
    return {RESOURCE_ID: resource_id, RESOURCE_ROLE: role}
