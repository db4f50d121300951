"""Commands and events on the bus. Each carries its schema name and version, an id and a time.

Consumers validate at the edge with `parse_message`; a message that fails goes to the
dead-letter topic with the reason.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar, Literal, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.ids import uuid7
from schemas.infrastructure import InfrastructureId, InfrastructureKind
from schemas.states import State, StateType, utcnow
from schemas.topics import Topics

DEFAULT_GRACE_SECONDS = 30.0


class Message(BaseModel):
    # no inf/NaN: JSON cannot carry them, so a consumer would reject what a producer sent
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    TOPIC: ClassVar[Topics]

    id: UUID = Field(default_factory=uuid7)
    occurred_at: datetime = Field(default_factory=utcnow)

    @property
    def key(self) -> str:
        """The partition key; every message about a run is keyed by its flow-run id."""
        return str(getattr(self, "flow_run_id"))  # noqa: B009 - every subclass has it


class FiringRef(BaseModel):
    """Which automation's firing, and which of its actions, a command carries out."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    automation_id: UUID
    firing_id: UUID = Field(description="deterministic: the same firing always has this id")
    action_index: int = Field(ge=0)
    fired_at: datetime


class CancelFlowRun(Message):
    """Command: cancel this run (a producer's or an automation rule's request)."""

    TOPIC: ClassVar[Topics] = Topics.COMMANDS
    schema_name: Literal["cancelbus.CancelFlowRun"] = "cancelbus.CancelFlowRun"
    schema_version: Literal[1] = 1

    flow_run_id: UUID
    reason: str | None = Field(default=None, max_length=2000)
    requested_by: str | None = Field(default=None, max_length=256)
    grace_seconds: float | None = Field(default=None, gt=0, le=86400)
    force: bool = False
    firing: FiringRef | None = Field(default=None, description="set when an automation asks")


class CancellationRequested(Message):
    """Event: the run entered CANCELLING; the worker owning its infrastructure must stop it."""

    TOPIC: ClassVar[Topics] = Topics.CANCEL_REQUESTED
    schema_name: Literal["cancelbus.CancellationRequested"] = "cancelbus.CancellationRequested"
    schema_version: Literal[1] = 1

    flow_run_id: UUID
    state_id: UUID = Field(description="the CANCELLING state this request belongs to")
    infrastructure: InfrastructureId
    grace_seconds: float = Field(default=DEFAULT_GRACE_SECONDS, gt=0, le=86400)
    attempt: int = Field(default=1, ge=1)
    reason: str | None = None
    requested_by: str | None = None
    final_teardown: bool = Field(
        default=False, description="best-effort teardown after the run was forced CANCELLED"
    )


class CancellationOutcome(StrEnum):
    CANCELLED = "cancelled"
    NOT_FOUND = "not_found"
    FAILED = "failed"
    UNSUPPORTED = "unsupported"


class CancellationResult(Message):
    """Event: what a worker did with one `CancellationRequested`."""

    TOPIC: ClassVar[Topics] = Topics.CANCEL_RESULTS
    schema_name: Literal["cancelbus.CancellationResult"] = "cancelbus.CancellationResult"
    schema_version: Literal[1] = 1

    flow_run_id: UUID
    request_id: UUID
    state_id: UUID
    attempt: int = Field(default=1, ge=1)
    outcome: CancellationOutcome
    detail: str | None = Field(default=None, max_length=4000)
    worker: str = Field(min_length=1, max_length=256)
    kind: InfrastructureKind
    started_at: datetime
    finished_at: datetime


class CancellationTimedOut(Message):
    """Event: the run stayed CANCELLING past its deadline and must be forced to CANCELLED."""

    TOPIC: ClassVar[Topics] = Topics.TIMED_OUT
    schema_name: Literal["cancelbus.CancellationTimedOut"] = "cancelbus.CancellationTimedOut"
    schema_version: Literal[1] = 1

    flow_run_id: UUID
    state_id: UUID
    cancelling_since: datetime
    timeout_seconds: float = Field(gt=0)


class FlowRunStateChanged(Message):
    """Event: a run's state changed (named like Prefect's `prefect.flow-run.<State name>`)."""

    TOPIC: ClassVar[Topics] = Topics.STATE_CHANGES
    schema_name: Literal["cancelbus.FlowRunStateChanged"] = "cancelbus.FlowRunStateChanged"
    schema_version: Literal[1] = 1

    flow_run_id: UUID
    event: str
    state: State
    previous_state_type: StateType | None = None
    infrastructure: InfrastructureId | None = None
    tags: list[str] = Field(default_factory=list)
    # what automations match on (Prefect's event labels and related resources)
    flow_run_name: str | None = None
    flow_id: UUID | None = None
    deployment_id: UUID | None = None
    work_pool_name: str | None = None
    work_queue_name: str | None = None
    parent_flow_run_id: UUID | None = None
    run_count: int | None = None


class WorkerHeartbeat(Message):
    """Event: a worker announces that it serves a kind and scope."""

    TOPIC: ClassVar[Topics] = Topics.EVENTS
    schema_name: Literal["cancelbus.WorkerHeartbeat"] = "cancelbus.WorkerHeartbeat"
    schema_version: Literal[1] = 1

    worker: str = Field(min_length=1, max_length=256)
    kind: InfrastructureKind
    scope: str = Field(min_length=1)
    version: str
    interval_seconds: float = Field(gt=0)

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{self.scope}"


M = TypeVar("M", bound=Message)


class MessageRejected(ValueError):
    """A message that can never be processed; `reason` says why in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_message(model: type[M], payload: bytes, *, max_bytes: int = 1024 * 1024) -> M:
    """Validate one wire payload as `model`, or raise MessageRejected with a short reason."""
    if len(payload) > max_bytes:
        raise MessageRejected(f"message too large: {len(payload)} bytes > {max_bytes}")
    try:
        return model.model_validate_json(payload)
    except ValidationError as exc:
        errors = "; ".join(
            f"{_location(err['loc'])}: {_one_line(err['msg'])}"
            for err in exc.errors(include_url=False)[:5]
        )
        raise MessageRejected(f"invalid {model.__name__}: {errors}") from exc


def _location(loc: tuple[int | str, ...]) -> str:
    """A field path for a reason line; keys come from the sender, so each is escaped and cut."""
    return ".".join(_one_line(str(part))[:40] for part in loc) or "<root>"


def _one_line(text: str) -> str:
    """`text` with line breaks and other control characters escaped, as a reason is one line."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)
