"""What one transaction of the state service writes: new states, run updates, cancellation
attempts and the outbox messages they cause. Collected here, flushed together, so a state
change and its events commit or fail as one (the transactional outbox).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.engine import Connection

from schemas.ids import uuid7
from schemas.infrastructure import InfrastructureId
from schemas.messages import CancellationRequested, FlowRunStateChanged, Message
from schemas.states import State, StateType
from services.state import store
from services.state.metrics import StateMetrics


@dataclass(frozen=True, slots=True)
class CancelRequest:
    """Who asked to cancel, why, and how long the infrastructure may take to stop."""

    requested_by: str | None = None
    reason: str | None = None
    grace_seconds: float | None = None


@dataclass
class Changes:
    """Rows and messages one transaction writes; flushed together."""

    now: datetime
    default_grace_seconds: float
    metrics: StateMetrics
    states: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    messages: list[tuple[Message, datetime]] = field(default_factory=list)
    outbox_rows: list[store.OutboxRow] = field(default_factory=list)  # as written, for the relay
    transitioned: Counter[str] = field(default_factory=Counter)

    def flush(self, conn: Connection) -> None:
        store.insert_states(conn, self.states)
        store.update_runs(conn, self.runs)
        store.insert_attempts(conn, self.attempts)
        self.outbox_rows = store.enqueue(conn, self.messages)
        for state_type, count in self.transitioned.items():
            self.metrics.transitions.labels(state_type).inc(count)
        self.transitioned.clear()

    def publish(self, message: Message, delay_seconds: float = 0.0) -> None:
        self.messages.append((message, self.now + timedelta(seconds=delay_seconds)))

    def transition(self, row: store.RunRow, state: State) -> dict[str, Any]:
        """Record `state` as the run's new state; returns the run's changed columns."""
        run_id: UUID = row["id"]
        self.states.append(
            {
                "id": state.id,
                "flow_run_id": run_id,
                "type": state.type.value,
                "name": state.name,
                "timestamp": state.timestamp,
                "message": state.message,
                "state_details": state.state_details,
            }
        )
        update: dict[str, Any] = {
            "b_id": run_id,
            "state_id": state.id,
            "state_type": state.type.value,
            "state_name": state.name,
            "state_timestamp": state.timestamp,
            "state_message": state.message,
            "state_details": state.state_details,
            "updated": self.now,
            "version": row["version"] + 1,
        }
        if state.type is StateType.RUNNING:
            update["start_time"] = row["start_time"] or state.timestamp
            update["run_count"] = row["run_count"] + 1
        if state.type.is_terminal:
            update["end_time"] = state.timestamp
        self.runs.append(update)
        self.publish(
            FlowRunStateChanged(
                id=uuid7(),
                occurred_at=self.now,
                flow_run_id=run_id,
                event=f"prefect.flow-run.{state.name}",
                state=state,
                previous_state_type=store.current_type(row),
                infrastructure=store.infrastructure_of(row),
                tags=row["tags"],
            )
        )
        self.transitioned[state.type.value] += 1
        return update

    def request_cancellation(
        self,
        run_id: UUID,
        state_id: UUID,
        infrastructure: InfrastructureId,
        request: CancelRequest,
        attempt: int,
        *,
        delay_seconds: float = 0.0,
        final_teardown: bool = False,
    ) -> None:
        grace = request.grace_seconds or self.default_grace_seconds
        message = CancellationRequested(
            id=uuid7(),
            occurred_at=self.now,
            flow_run_id=run_id,
            state_id=state_id,
            infrastructure=infrastructure,
            grace_seconds=grace,
            attempt=attempt,
            reason=request.reason,
            requested_by=request.requested_by,
            final_teardown=final_teardown,
        )
        self.attempts.append(
            {
                "id": message.id,
                "flow_run_id": run_id,
                "state_id": state_id,
                "attempt": attempt,
                "requested_by": request.requested_by,
                "reason": request.reason,
                "requested_at": self.now + timedelta(seconds=delay_seconds),
                "grace_seconds": grace,
                "infrastructure": str(infrastructure),
                "final_teardown": final_teardown,
            }
        )
        self.publish(message, delay_seconds)
