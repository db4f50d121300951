"""The cancelbus wire contract: states, flow runs, infrastructure ids, commands and events."""

from schemas.catalog import MESSAGE_TYPES
from schemas.flow_runs import FlowRun, FlowRunCreate, FlowRunFilter, FlowRunUpdate
from schemas.history import CancellationAttempt
from schemas.infrastructure import InfrastructureId, InfrastructureKind
from schemas.messages import (
    CancelFlowRun,
    CancellationOutcome,
    CancellationRequested,
    CancellationResult,
    CancellationTimedOut,
    FlowRunStateChanged,
    Message,
    WorkerHeartbeat,
    parse_message,
)
from schemas.orchestration import Status
from schemas.states import TERMINAL_STATES, State, StateType
from schemas.topics import Topics

__all__ = [
    "MESSAGE_TYPES",
    "TERMINAL_STATES",
    "CancelFlowRun",
    "CancellationAttempt",
    "CancellationOutcome",
    "CancellationRequested",
    "CancellationResult",
    "CancellationTimedOut",
    "FlowRun",
    "FlowRunCreate",
    "FlowRunFilter",
    "FlowRunStateChanged",
    "FlowRunUpdate",
    "InfrastructureId",
    "InfrastructureKind",
    "Message",
    "State",
    "StateType",
    "Status",
    "Topics",
    "WorkerHeartbeat",
    "parse_message",
]
