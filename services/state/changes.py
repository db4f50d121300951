"""What one transaction of the state service writes: new states, run updates, cancellation
attempts and the outbox messages they cause. Collected here, flushed together, so a state
change and its events commit or fail as one (the transactional outbox).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy.engine import Connection

from schemas.ids import uuid7
from schemas.infrastructure import InfrastructureId
from schemas.messages import (
    CancellationRequested,
    CancellationTimedOut,
    FlowRunStateChanged,
    Message,
)
from schemas.states import State, StateType
from services.state import outbox_store, store
from services.state.attempt_rows import AttemptRow
from services.state.metrics import StateMetrics
from services.state.outbox_store import OutboxRow
from services.state.rows import LockedRun, RunTransition, StateRow

TIMEOUT = "timeout"  # who forced a run at its cancelling timeout, as its history shows
TIMED_OUT = "timed_out"  # that attempt's outcome


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
    states: list[StateRow] = field(default_factory=list)
    runs: list[RunTransition] = field(default_factory=list)
    attempts: list[AttemptRow] = field(default_factory=list)
    messages: list[tuple[Message, datetime]] = field(default_factory=list)
    outbox_rows: list[OutboxRow] = field(default_factory=list)  # as written, for the relay
    transitioned: Counter[str] = field(default_factory=Counter)
    # runs cancelled whose children are still to be (run id: the grace its request gave)
    cascading: dict[UUID, float | None] = field(default_factory=dict)

    def flush(self, conn: Connection) -> None:
        # a cancellation's cascade is written in its transaction: Orchestration.settle
        assert not self.cascading, "cancelled runs' children not cancelled: settle, not flush"
        store.insert_states(conn, self.states)
        store.update_runs(conn, self.runs)
        store.insert_attempts(conn, self.attempts)
        self.outbox_rows = outbox_store.enqueue(conn, self.messages)
        for state_type, count in self.transitioned.items():
            self.metrics.transitions.labels(state_type).inc(count)
        self.transitioned.clear()

    def publish(self, message: Message, delay_seconds: float = 0.0) -> None:
        self.messages.append((message, self.now + timedelta(seconds=delay_seconds)))

    def transition(self, run: LockedRun, state: State) -> None:
        """Record `state` as the run's new state; `run` is changed to match."""
        self.publish(
            FlowRunStateChanged(
                id=uuid7(),
                occurred_at=self.now,
                flow_run_id=run.id,
                event=f"prefect.flow-run.{state.name}",
                state=state,
                previous_state_type=run.current_type(),
                infrastructure=run.infrastructure(),
                tags=run.tags,
                flow_run_name=run.name,
                flow_id=run.flow_id,
                deployment_id=run.deployment_id,
                work_pool_name=run.work_pool_name,
                work_queue_name=run.work_queue_name,
                parent_flow_run_id=run.parent_flow_run_id,
                # as Prefect's event says it: the runs counted once this state is taken
                run_count=run.run_count + (state.type is StateType.RUNNING),
            )
        )
        self.states.append(StateRow.of(run.id, state))
        if state.type is StateType.RUNNING:
            run.start_time = run.start_time or state.timestamp
            run.run_count += 1
        if state.type.is_terminal:
            run.end_time = state.timestamp
        run.state_id = state.id
        run.state_type = state.type.value
        run.state_name = state.name
        run.state_timestamp = state.timestamp
        run.state_message = state.message
        run.state_details = state.state_details
        run.version += 1
        self.runs.append(
            RunTransition(
                id=run.id,
                state_id=state.id,
                state_type=state.type.value,
                state_name=state.name,
                state_timestamp=state.timestamp,
                state_message=state.message,
                state_details=state.state_details,
                updated=self.now,
                version=run.version,
                start_time=run.start_time,
                run_count=run.run_count,
                end_time=run.end_time,
            )
        )
        self.transitioned[state.type.value] += 1

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
            self._attempt(
                message.id,
                run_id,
                state_id,
                attempt,
                request,
                grace,
                infrastructure,
                delay_seconds=delay_seconds,
                final_teardown=final_teardown,
            )
        )
        self.publish(message, delay_seconds)

    def record_timeout(
        self,
        event: CancellationTimedOut,
        attempt: int,
        infrastructure: InfrastructureId | None,
        reason: str,
    ) -> None:
        """Keep the timeout's forcing of a CANCELLING state as that state's last attempt,
        answered at once."""
        row = self._attempt(
            event.id,
            event.flow_run_id,
            event.state_id,
            attempt,
            CancelRequest(TIMEOUT, reason),
            0.0,
            infrastructure,
        )
        row.outcome = TIMED_OUT
        row.worker = TIMEOUT
        row.finished_at = row.result_at = self.now
        row.result_id = event.id
        self.attempts.append(row)

    def _attempt(
        self,
        attempt_id: UUID,
        run_id: UUID,
        state_id: UUID,
        attempt: int,
        request: CancelRequest,
        grace_seconds: float,
        infrastructure: InfrastructureId | None,
        *,
        delay_seconds: float = 0.0,
        final_teardown: bool = False,
    ) -> AttemptRow:
        """A cancellation attempt as the run's history keeps it, its result still to come."""
        return AttemptRow(
            id=attempt_id,
            flow_run_id=run_id,
            state_id=state_id,
            attempt=attempt,
            requested_by=request.requested_by,
            reason=request.reason,
            requested_at=self.now + timedelta(seconds=delay_seconds),
            grace_seconds=grace_seconds,
            infrastructure=str(infrastructure) if infrastructure is not None else None,
            final_teardown=final_teardown,
        )
