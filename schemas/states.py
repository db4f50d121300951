"""Run states, named and typed as Prefect 3 names them."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from schemas.ids import uuid7


class StateType(StrEnum):
    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    CRASHED = "CRASHED"
    PAUSED = "PAUSED"
    CANCELLING = "CANCELLING"

    @property
    def default_name(self) -> str:
        return self.value.capitalize()

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(
    {StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED}
)


def utcnow() -> datetime:
    return datetime.now(UTC)


class State(BaseModel):
    """One state of a run. `state_details` is kept as given (Prefect clients send their own)."""

    model_config = ConfigDict(extra="ignore")

    id: UUID = Field(default_factory=uuid7)
    type: StateType
    name: str = ""
    timestamp: datetime = Field(default_factory=utcnow)
    message: str | None = None
    state_details: dict[str, Any] = Field(default_factory=dict)
    data: Any = None

    def model_post_init(self, __context: Any) -> None:
        if not self.name:
            self.name = self.type.default_name
