"""Rows of runs and their states as they travel between the state service's modules: a class
per table and shape (attempts' in attempt_rows.py, the outbox's in outbox_store.py).

Each class's fields are columns of its table, in the order its statements select them, so a
row is built straight from a result tuple (`LockedRun(*row)`), and a bulk write reads the
columns it writes by field name (see db/bulk.py). Rows are plain and mutable: a transaction
keeps the runs it locked in step with what it has changed.
"""

from __future__ import annotations

import dataclasses
import functools
from datetime import datetime
from typing import Any, TypedDict
from uuid import UUID

from schemas.flow_runs import FlowRun
from schemas.infrastructure import InfrastructureId
from schemas.states import State, StateType

JsonObject = dict[str, Any]  # a JSON column's value


def names(row_type: type[Any]) -> tuple[str, ...]:
    """The columns a row class holds, in order."""
    return tuple(field.name for field in dataclasses.fields(row_type))


@dataclasses.dataclass(slots=True)
class LockedRun:
    """What orchestration reads of a run (`flow_runs`), and what its state changes tell of
    it (name, flow, deployment, pool, queue, parent); the rest is for showing it."""

    id: UUID
    name: str
    flow_id: UUID
    deployment_id: UUID | None
    work_pool_name: str | None
    work_queue_name: str | None
    parent_flow_run_id: UUID | None
    tags: list[str]
    infrastructure_pid: str | None
    state_id: UUID | None
    state_type: str | None
    state_name: str | None
    state_timestamp: datetime | None
    state_message: str | None
    state_details: JsonObject | None
    start_time: datetime | None
    end_time: datetime | None
    run_count: int
    version: int

    def current_type(self) -> StateType | None:
        return StateType(self.state_type) if self.state_type is not None else None

    def current_state(self) -> State | None:
        if self.state_type is None:
            return None
        return State(
            id=self.state_id,
            type=StateType(self.state_type),
            name=self.state_name,
            timestamp=self.state_timestamp,
            message=self.state_message,
            state_details=self.state_details or {},
        )

    def infrastructure(self) -> InfrastructureId | None:
        pid = self.infrastructure_pid
        return _parse_infrastructure(pid) if pid else None

    def is_cancelling(self, state_id: UUID) -> bool:
        """Whether the run is still in that CANCELLING state."""
        return self.state_type == StateType.CANCELLING.value and self.state_id == state_id


@dataclasses.dataclass(slots=True)
class RunRow(LockedRun):
    """A whole `flow_runs` row."""

    parameters: JsonObject
    created: datetime
    updated: datetime
    expected_start_time: datetime | None

    def to_flow_run(self) -> FlowRun:
        state = self.current_state()
        return FlowRun(
            id=self.id,
            name=self.name,
            flow_id=self.flow_id,
            deployment_id=self.deployment_id,
            state=state,
            state_id=self.state_id,
            state_type=state.type if state else None,
            state_name=state.name if state else None,
            infrastructure_pid=self.infrastructure_pid,
            infrastructure=self.infrastructure(),
            tags=self.tags,
            parameters=self.parameters,
            created=self.created,
            updated=self.updated,
            start_time=self.start_time,
            end_time=self.end_time,
            expected_start_time=self.expected_start_time,
            run_count=self.run_count,
            work_pool_name=self.work_pool_name,
            work_queue_name=self.work_queue_name,
            parent_flow_run_id=self.parent_flow_run_id,
        )


@functools.lru_cache(maxsize=32768)
def _parse_infrastructure(text: str) -> InfrastructureId:
    # ids are frozen, and every state change of a run reads its id again
    return InfrastructureId.parse(text)


class RunEdit(TypedDict, total=False):
    """The columns of a run its owner may change (`PATCH`), those given only."""

    name: str | None
    infrastructure_pid: str | None
    tags: list[str] | None
    parameters: JsonObject | None
    parent_flow_run_id: UUID | None
    updated: datetime


@dataclasses.dataclass(slots=True)
class RunTransition:
    """A run's columns after a state change (`flow_runs`, by `id`)."""

    id: UUID
    state_id: UUID
    state_type: str
    state_name: str | None
    state_timestamp: datetime
    state_message: str | None
    state_details: JsonObject
    updated: datetime
    version: int
    start_time: datetime | None
    run_count: int
    end_time: datetime | None

    def changed(self) -> tuple[str, ...]:
        """The columns this change writes: start time and run count on RUNNING, the end
        time on a terminal state."""
        state_type = StateType(self.state_type)
        if state_type is StateType.RUNNING:
            return _STARTED
        return _ENDED if state_type.is_terminal else _MOVED


# by the order of RunTransition's fields: start_time, run_count, end_time come last
_MOVED = names(RunTransition)[:-3]
_STARTED = names(RunTransition)[:-1]
_ENDED = (*_MOVED, names(RunTransition)[-1])


@dataclasses.dataclass(slots=True)
class StateRow:
    """One `flow_run_states` row: a state a run has been in."""

    id: UUID
    flow_run_id: UUID
    type: str
    name: str
    timestamp: datetime
    message: str | None
    state_details: JsonObject

    @classmethod
    def of(cls, run_id: UUID, state: State) -> StateRow:
        return cls(
            state.id,
            run_id,
            state.type.value,
            state.name,
            state.timestamp,
            state.message,
            state.state_details,
        )

    def to_state(self) -> State:
        return State(
            id=self.id,
            type=StateType(self.type),
            name=self.name,
            timestamp=self.timestamp,
            message=self.message,
            state_details=self.state_details or {},
        )
