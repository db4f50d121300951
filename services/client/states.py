"""Proposed states, named like Prefect's constructors: `set_flow_run_state(id, Cancelling())`."""

from __future__ import annotations

from typing import Any

from schemas.flow_runs import StateCreate
from schemas.states import StateType


def _state(
    state_type: StateType, message: str | None, name: str | None, details: dict[str, Any] | None
) -> StateCreate:
    return StateCreate(type=state_type, name=name, message=message, state_details=details or {})


def Cancelling(
    message: str | None = None, *, name: str | None = None, details: dict[str, Any] | None = None
) -> StateCreate:
    return _state(StateType.CANCELLING, message, name, details)


def Cancelled(
    message: str | None = None, *, name: str | None = None, details: dict[str, Any] | None = None
) -> StateCreate:
    return _state(StateType.CANCELLED, message, name, details)


def Scheduled(
    message: str | None = None, *, name: str | None = None, details: dict[str, Any] | None = None
) -> StateCreate:
    return _state(StateType.SCHEDULED, message, name, details)


def Pending(
    message: str | None = None, *, name: str | None = None, details: dict[str, Any] | None = None
) -> StateCreate:
    return _state(StateType.PENDING, message, name, details)


def Running(
    message: str | None = None, *, name: str | None = None, details: dict[str, Any] | None = None
) -> StateCreate:
    return _state(StateType.RUNNING, message, name, details)


def Completed(
    message: str | None = None, *, name: str | None = None, details: dict[str, Any] | None = None
) -> StateCreate:
    return _state(StateType.COMPLETED, message, name, details)


def Failed(
    message: str | None = None, *, name: str | None = None, details: dict[str, Any] | None = None
) -> StateCreate:
    return _state(StateType.FAILED, message, name, details)


def Crashed(
    message: str | None = None, *, name: str | None = None, details: dict[str, Any] | None = None
) -> StateCreate:
    return _state(StateType.CRASHED, message, name, details)
