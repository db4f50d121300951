"""The state service's use cases: create and read runs, orchestrate states, apply results.

Every state change and the events it causes are written in one transaction (the outbox);
the relay publishes them afterwards.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import structlog
from sqlalchemy.engine import Connection

from schemas.flow_runs import (
    BulkCancel,
    BulkCancelResult,
    FlowRun,
    FlowRunCreate,
    FlowRunFilter,
    FlowRunFilterCriteria,
    FlowRunUpdate,
    StateCreate,
)
from schemas.history import CancellationAttempt
from schemas.ids import uuid7
from schemas.infrastructure import InfrastructureId
from schemas.messages import (
    CancelFlowRun,
    CancellationResult,
    CancellationTimedOut,
    Message,
)
from schemas.orchestration import Status
from schemas.states import State, StateType, utcnow
from services.state import store
from services.state.changes import CancelRequest, Changes
from services.state.db.engine import Database
from services.state.history import attempt_from_row
from services.state.metrics import StateMetrics
from services.state.outcomes import effect_of
from services.state.rules import Verdict, decide
from services.state.settings import OrchestrationSettings

log = structlog.get_logger(__name__)

BULK_BATCH = 500


class FlowRunNotFound(LookupError):
    def __init__(self, run_id: UUID) -> None:
        super().__init__(f"Flow run {run_id} not found")
        self.run_id = run_id


class UnknownCancellationRequest(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class OrchestrationResult:
    status: Status
    state: State | None
    reason: str | None = None
    created: bool = False

    def details(self) -> dict[str, Any]:
        kind = {
            Status.ACCEPT: "accept_details",
            Status.REJECT: "reject_details",
            Status.ABORT: "abort_details",
            Status.WAIT: "wait_details",
        }[self.status]
        details: dict[str, Any] = {"type": kind}
        if self.status is not Status.ACCEPT:
            details["reason"] = self.reason
        return details


class StateService:
    """The use cases. Each transaction is a plain function of a connection, handed whole to
    the database (see db/engine.py); the async methods then announce what it wrote."""

    def __init__(
        self,
        database: Database,
        settings: OrchestrationSettings,
        metrics: StateMetrics,
        on_outbox_write: Callable[[Sequence[store.OutboxRow]], None] = lambda _rows: None,
        on_commit: Callable[[Sequence[Message]], None] = lambda _messages: None,
    ) -> None:
        self._db = database
        self._settings = settings
        self._metrics = metrics
        self._on_outbox_write = on_outbox_write
        # after each commit: what it wrote, for in-process live notifications
        self._on_commit = on_commit

    def _changes(self) -> Changes:
        return Changes(utcnow(), self._settings.default_grace_seconds, self._metrics)

    def _committed(self, changes: Changes, consumed: Sequence[Message] = ()) -> None:
        if changes.outbox_rows:
            self._on_outbox_write(changes.outbox_rows)
        if changes.messages or consumed:
            self._on_commit([*consumed, *(m for m, _ in changes.messages)])

    # -- runs -------------------------------------------------------------------------------

    async def create_flow_run(self, body: FlowRunCreate) -> FlowRun:
        if body.infrastructure_pid is not None:
            InfrastructureId.parse(body.infrastructure_pid)
        changes = self._changes()
        row = await self._db.write(functools.partial(self._create_in, body, changes))
        self._committed(changes)
        return store.to_flow_run(row)

    def _create_in(self, body: FlowRunCreate, changes: Changes, conn: Connection) -> store.RunRow:
        now = changes.now
        run_id = uuid7()
        values: dict[str, Any] = {
            "id": run_id,
            "name": body.name or f"run-{run_id.hex[:8]}",
            "flow_id": body.flow_id,
            "deployment_id": body.deployment_id,
            "tags": body.tags,
            "parameters": body.parameters,
            "infrastructure_pid": body.infrastructure_pid,
            "work_pool_name": body.work_pool_name,
            "work_queue_name": body.work_queue_name,
            "created": now,
            "updated": now,
            "expected_start_time": now,
            "run_count": 0,
            "version": 0,
        }
        store.insert_run(conn, values)
        if body.state is not None:
            inserted = store.lock_run(conn, run_id)
            assert inserted is not None
            self._orchestrate(inserted, body.state, False, CancelRequest(), changes)
            changes.flush(conn)
        row = store.read_run(conn, run_id)
        assert row is not None
        return row

    async def read_flow_run(self, run_id: UUID) -> FlowRun:
        row = await self._db.read(functools.partial(store.read_run, run_id=run_id))
        if row is None:
            raise FlowRunNotFound(run_id)
        return store.to_flow_run(row)

    async def update_flow_run(self, run_id: UUID, body: FlowRunUpdate) -> None:
        values = body.model_dump(
            exclude_unset=True,
            include={"name", "infrastructure_pid", "tags", "parameters"},
        )
        if values.get("infrastructure_pid"):
            InfrastructureId.parse(values["infrastructure_pid"])

        def update(conn: Connection) -> None:
            if store.lock_run(conn, run_id) is None:
                raise FlowRunNotFound(run_id)
            if values:
                store.update_run(conn, run_id, {**values, "updated": utcnow()})

        await self._db.write(update)

    async def filter_flow_runs(self, query: FlowRunFilter) -> list[FlowRun]:
        rows = await self._db.read(functools.partial(store.filter_runs, query=query))
        return [store.to_flow_run(row) for row in rows]

    async def count_flow_runs(self, criteria: FlowRunFilterCriteria | None) -> int:
        return await self._db.read(functools.partial(store.count_runs, criteria=criteria))

    async def states(self, run_id: UUID) -> list[State]:
        def read(conn: Connection) -> list[State]:
            if store.read_run(conn, run_id) is None:
                raise FlowRunNotFound(run_id)
            return store.states_of(conn, run_id)

        return await self._db.read(read)

    async def cancellation_history(self, run_id: UUID) -> list[CancellationAttempt]:
        def read(conn: Connection) -> list[store.RunRow]:
            if store.read_run(conn, run_id) is None:
                raise FlowRunNotFound(run_id)
            return store.attempts_of(conn, run_id)

        return [attempt_from_row(row) for row in await self._db.read(read)]

    async def cancelling_runs(self) -> list[tuple[UUID, UUID, datetime]]:
        """(run id, CANCELLING state id, since) of every run now CANCELLING."""
        rows = await self._db.read(store.cancelling_runs)
        return [(r["id"], r["state_id"], r["state_timestamp"]) for r in rows]

    # -- orchestration ----------------------------------------------------------------------

    async def set_state(
        self,
        run_id: UUID,
        proposed: StateCreate,
        *,
        force: bool = False,
        request: CancelRequest | None = None,
    ) -> OrchestrationResult:
        request = request or CancelRequest(reason=proposed.message)
        changes = self._changes()

        def orchestrate(conn: Connection) -> OrchestrationResult:
            row = store.lock_run(conn, run_id)
            if row is None:
                raise FlowRunNotFound(run_id)
            result = self._orchestrate(row, proposed, force, request, changes)
            changes.flush(conn)
            return result

        result = await self._db.write(orchestrate)
        self._committed(changes)
        self._metrics.orchestrations.labels(proposed.type.value, result.status.value).inc()
        return result

    async def cancel(self, command: CancelFlowRun) -> OrchestrationResult:
        return await self.set_state(
            command.flow_run_id,
            StateCreate(type=StateType.CANCELLING, message=command.reason),
            force=command.force,
            request=CancelRequest(
                requested_by=command.requested_by,
                reason=command.reason,
                grace_seconds=command.grace_seconds,
            ),
        )

    async def bulk_cancel(self, body: BulkCancel) -> BulkCancelResult:
        run_ids = await self._db.read(
            functools.partial(store.matching_run_ids, criteria=body.flow_runs, limit=body.limit)
        )
        counts = {"cancelling": 0, "cancelled": 0, "already_terminal": 0, "already_cancelling": 0}
        request = CancelRequest(body.requested_by, body.reason, body.grace_seconds)
        proposal = StateCreate(type=StateType.CANCELLING, message=body.reason)

        def cancel_batch(batch: Sequence[UUID], changes: Changes, conn: Connection) -> None:
            for row in store.lock_runs(conn, batch):
                before = row["state_type"]
                result = self._orchestrate(row, proposal, False, request, changes)
                counts[_bulk_bucket(before, result)] += 1
            changes.flush(conn)

        for start in range(0, len(run_ids), BULK_BATCH):
            changes = self._changes()
            batch = run_ids[start : start + BULK_BATCH]
            await self._db.write(functools.partial(cancel_batch, batch, changes))
            self._committed(changes)
        self._metrics.orchestrations.labels("CANCELLING", "ACCEPT").inc(
            counts["cancelling"] + counts["cancelled"]
        )
        return BulkCancelResult(matched=len(run_ids), **counts)

    def _orchestrate(
        self,
        row: store.RunRow,
        proposed: StateCreate,
        force: bool,
        request: CancelRequest,
        changes: Changes,
    ) -> OrchestrationResult:
        infrastructure = store.infrastructure_of(row)
        verdict = decide(
            store.current_type(row),
            proposed.type,
            has_infrastructure=infrastructure is not None,
            force=force,
        )
        if verdict.new_type is None:
            return OrchestrationResult(verdict.status, store.current_state(row), verdict.reason)
        state = _new_state(proposed, verdict, changes.now)
        changes.transition(row, state)
        if verdict.request_cancellation:
            assert infrastructure is not None
            changes.request_cancellation(row["id"], state.id, infrastructure, request, 1)
        return OrchestrationResult(Status.ACCEPT, state, created=True)

    # -- results and timeouts ---------------------------------------------------------------

    async def apply_result(self, result: CancellationResult) -> None:
        await self.apply_results([result])

    async def apply_results(self, results: Sequence[CancellationResult]) -> None:
        """Record workers' results in one transaction; move each run on if it is still in
        the CANCELLING state the result answers. Duplicates and stale results change nothing.
        """
        changes = self._changes()
        applied = await self._db.write(functools.partial(self._apply_in, results, changes))
        self._committed(changes, applied)

    def _apply_in(
        self, results: Sequence[CancellationResult], changes: Changes, conn: Connection
    ) -> list[Message]:
        attempts = store.lock_attempts(conn, [r.request_id for r in results])
        runs = {
            row["id"]: row for row in store.lock_runs(conn, list({r.flow_run_id for r in results}))
        }
        recorded: list[dict[str, Any]] = []
        applied: list[Message] = []
        outcomes: Counter[str] = Counter()
        for result in results:
            attempt = attempts.get(result.request_id)
            if attempt is None or attempt["flow_run_id"] != result.flow_run_id:
                raise UnknownCancellationRequest(
                    f"no cancellation request {result.request_id} for flow run {result.flow_run_id}"
                )
            if attempt["result_id"] is not None:
                log.info("duplicate_result_ignored", flow_run_id=str(result.flow_run_id))
                continue
            attempt["result_id"] = result.id
            recorded.append(_result_columns(result, changes.now))
            applied.append(result)
            outcomes[result.outcome.value] += 1
            run = runs[result.flow_run_id]
            if (
                run["state_type"] != StateType.CANCELLING.value
                or run["state_id"] != result.state_id
            ):
                log.info("stale_result_recorded_only", flow_run_id=str(run["id"]))
                continue
            self._apply_outcome(run, attempt, result, changes)
        store.record_results(conn, recorded)
        changes.flush(conn)
        for outcome, count in outcomes.items():
            self._metrics.results.labels(outcome).inc(count)
        return applied

    def _apply_outcome(
        self,
        row: dict[str, Any],
        attempt: Mapping[str, Any],
        result: CancellationResult,
        changes: Changes,
    ) -> None:
        settings = self._settings
        effect = effect_of(
            result.outcome,
            detail=result.detail,
            attempt=result.attempt,
            max_attempts=settings.max_cancel_attempts,
            backoff_base_seconds=settings.retry_backoff_seconds,
            backoff_max_seconds=settings.retry_backoff_max_seconds,
        )
        if effect.cancel:
            state = State(type=StateType.CANCELLED, message=effect.message, timestamp=changes.now)
            update = changes.transition(row, state)
            row.update((k, v) for k, v in update.items() if k != "b_id")
        elif effect.retry_after_seconds is not None:
            infrastructure = store.infrastructure_of(row)
            if infrastructure is None:
                return
            request = CancelRequest(
                attempt["requested_by"], attempt["reason"], attempt["grace_seconds"]
            )
            changes.request_cancellation(
                row["id"],
                row["state_id"],
                infrastructure,
                request,
                result.attempt + 1,
                delay_seconds=effect.retry_after_seconds,
            )

    async def apply_timeout(self, event: CancellationTimedOut) -> bool:
        """Force CANCELLED if the run is still in that same CANCELLING state; True if forced."""
        changes = self._changes()
        forced = await self._db.write(functools.partial(self._timeout_in, event, changes))
        if forced:
            self._committed(changes)
            self._metrics.forced.inc()
        return forced

    def _timeout_in(self, event: CancellationTimedOut, changes: Changes, conn: Connection) -> bool:
        row = store.lock_run(conn, event.flow_run_id)
        if row is None:
            raise FlowRunNotFound(event.flow_run_id)
        if row["state_type"] != StateType.CANCELLING.value or row["state_id"] != event.state_id:
            return False
        cancelling_id = row["state_id"]
        message = (
            f"Forced to CANCELLED: still cancelling after the cancelling timeout of "
            f"{event.timeout_seconds:g} s (since {event.cancelling_since.isoformat()})"
        )
        state = State(type=StateType.CANCELLED, message=message, timestamp=changes.now)
        changes.transition(row, state)
        attempt = store.last_attempt_number(conn, row["id"], cancelling_id) + 1
        changes.attempts.append(
            {
                "id": event.id,
                "flow_run_id": row["id"],
                "state_id": cancelling_id,
                "attempt": attempt,
                "requested_by": "timeout",
                "reason": message,
                "requested_at": changes.now,
                "grace_seconds": 0.0,
                "infrastructure": row["infrastructure_pid"],
                "final_teardown": False,
                "outcome": "timed_out",
                "worker": "timeout",
                "finished_at": changes.now,
                "result_id": event.id,
                "result_at": changes.now,
            }
        )
        infrastructure = store.infrastructure_of(row)
        if infrastructure is not None:
            request = CancelRequest("timeout", "final teardown after the cancelling timeout")
            changes.request_cancellation(
                row["id"], state.id, infrastructure, request, 1, final_teardown=True
            )
        changes.flush(conn)
        return True


def _result_columns(result: CancellationResult, now: datetime) -> dict[str, Any]:
    return {
        "b_id": result.request_id,
        "outcome": result.outcome.value,
        "detail": result.detail,
        "worker": result.worker,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "result_id": result.id,
        "result_at": now,
    }


def _new_state(proposed: StateCreate, verdict: Verdict, now: datetime) -> State:
    assert verdict.new_type is not None
    replaced = verdict.new_type is not proposed.type
    return State(
        type=verdict.new_type,
        name=(None if replaced else proposed.name) or verdict.new_type.default_name,
        timestamp=now,
        message=verdict.message or proposed.message,
        state_details=proposed.state_details,
    )


def _bulk_bucket(before: str | None, result: OrchestrationResult) -> str:
    if result.status is Status.ABORT:
        return "already_terminal"
    if before == StateType.CANCELLING.value:
        return "already_cancelling"
    assert result.state is not None
    return "cancelling" if result.state.type is StateType.CANCELLING else "cancelled"
