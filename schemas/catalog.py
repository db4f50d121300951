"""Every message type on the bus, and their JSON Schemas."""

from __future__ import annotations

from schemas.automation_messages import (
    AutomationActionFailed,
    AutomationChanged,
    BucketEvent,
    ChangeFlowRunState,
)
from schemas.events import Event
from schemas.messages import (
    CancelFlowRun,
    CancellationRequested,
    CancellationResult,
    CancellationTimedOut,
    FlowRunStateChanged,
    Message,
    WorkerHeartbeat,
)

MESSAGE_TYPES: tuple[type[Message], ...] = (
    CancelFlowRun,
    CancellationRequested,
    CancellationResult,
    CancellationTimedOut,
    FlowRunStateChanged,
    WorkerHeartbeat,
    Event,
    ChangeFlowRunState,
    AutomationActionFailed,
    AutomationChanged,
    BucketEvent,
)


def json_schemas() -> dict[str, dict[str, object]]:
    """JSON Schema of every message, by schema name."""
    return {
        str(m.model_fields["schema_name"].default): m.model_json_schema() for m in MESSAGE_TYPES
    }
