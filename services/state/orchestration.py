"""Orchestration: a proposed state is accepted, replaced, rejected or aborted by the rules
(rules.py); an accepted CANCELLING requests the cancellation in the same transaction, and a
cancellation cascades to the run's descendants in it too (cascade.py)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.engine import Connection

from schemas.flow_runs import BulkCancel, BulkCancelResult, StateCreate
from schemas.messages import CancelFlowRun
from schemas.orchestration import Status
from schemas.states import State, StateType
from services.state import cascade_rules, store
from services.state.cascade import Cascade, policy_of
from services.state.changes import CancelRequest, Changes
from services.state.errors import FlowRunNotFound
from services.state.rows import LockedRun
from services.state.rules import Verdict, decide
from services.state.transactions import Transactions

BULK_BATCH = 500


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


class Orchestration:
    def __init__(self, transactions: Transactions) -> None:
        self._tx = transactions
        self.cascade = Cascade(policy_of(transactions.settings))

    async def set_state(
        self,
        run_id: UUID,
        proposed: StateCreate,
        *,
        force: bool = False,
        request: CancelRequest | None = None,
    ) -> OrchestrationResult:
        request = request or CancelRequest(reason=proposed.message)
        changes = self._tx.changes()

        def orchestrate(conn: Connection) -> OrchestrationResult:
            run = store.lock_run(conn, run_id)
            if run is None:
                raise FlowRunNotFound(run_id)
            result = self.orchestrate(conn, run, proposed, force, request, changes)
            self.settle(conn, changes)
            return result

        result = await self._tx.db.write(orchestrate)
        self._tx.committed(changes)
        self._tx.metrics.orchestrations.labels(proposed.type.value, result.status.value).inc()
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
        run_ids = await self._tx.db.read(
            functools.partial(store.matching_run_ids, criteria=body.flow_runs, limit=body.limit)
        )
        counts = {"cancelling": 0, "cancelled": 0, "already_terminal": 0, "already_cancelling": 0}
        request = CancelRequest(body.requested_by, body.reason, body.grace_seconds)
        proposal = StateCreate(type=StateType.CANCELLING, message=body.reason)

        def cancel_batch(batch: Sequence[UUID], changes: Changes, conn: Connection) -> None:
            for run in store.lock_runs(conn, batch):
                before = run.state_type
                result = self.orchestrate(conn, run, proposal, False, request, changes)
                counts[_bulk_bucket(before, result)] += 1
            self.settle(conn, changes)

        for start in range(0, len(run_ids), BULK_BATCH):
            changes = self._tx.changes()
            batch = run_ids[start : start + BULK_BATCH]
            await self._tx.db.write(functools.partial(cancel_batch, batch, changes))
            self._tx.committed(changes)
        self._tx.metrics.orchestrations.labels("CANCELLING", "ACCEPT").inc(
            counts["cancelling"] + counts["cancelled"]
        )
        return BulkCancelResult(matched=len(run_ids), **counts)

    def orchestrate(
        self,
        conn: Connection,
        run: LockedRun,
        proposed: StateCreate,
        force: bool,
        request: CancelRequest,
        changes: Changes,
    ) -> OrchestrationResult:
        """Apply the rules to a locked run, in the caller's transaction (which ends with
        `settle`). A run starting under a cancelled parent is cancelled instead, unless forced.
        """
        parent_id = run.parent_flow_run_id
        if (
            parent_id is not None
            and not force
            and proposed.type in cascade_rules.STARTING_TYPES
            and cascade_rules.is_open(run.current_type())
        ):
            parent = store.peek_run(conn, parent_id)  # unlocked: see cascade.py
            if parent is not None and self.cascade.stops(parent):
                cancelled = self.cancel_for_parent(run, parent_id, None, changes)
                reason = cascade_rules.reason(parent_id)
                return OrchestrationResult(Status.REJECT, cancelled.state, reason, created=True)
        return self._apply(run, proposed, force, request, changes)

    def cancel_for_parent(
        self, run: LockedRun, parent_id: UUID, grace_seconds: float | None, changes: Changes
    ) -> OrchestrationResult:
        """Cancel `run` because its parent was cancelled, as the run's history will say."""
        reason = cascade_rules.reason(parent_id)
        request = CancelRequest(cascade_rules.requested_by(parent_id), reason, grace_seconds)
        proposal = StateCreate(type=StateType.CANCELLING, message=reason)
        return self._apply(run, proposal, False, request, changes, parent_id=parent_id)

    def settle(self, conn: Connection, changes: Changes) -> None:
        """End a transaction's orchestration: cascade its cancellations, then write it all."""
        self.cascade.cancel_descendants(
            conn,
            changes,
            lambda child, parent_id, grace: self.cancel_for_parent(
                child, parent_id, grace, changes
            ),
        )
        changes.flush(conn)

    def _apply(
        self,
        run: LockedRun,
        proposed: StateCreate,
        force: bool,
        request: CancelRequest,
        changes: Changes,
        *,
        parent_id: UUID | None = None,
    ) -> OrchestrationResult:
        infrastructure = run.infrastructure()
        previous = run.current_type()
        verdict = decide(
            previous,
            proposed.type,
            has_infrastructure=infrastructure is not None,
            force=force,
        )
        if verdict.new_type is None:
            return OrchestrationResult(verdict.status, run.current_state(), verdict.reason)
        state = _new_state(proposed, verdict, changes.now, parent_id)
        changes.transition(run, state)
        if verdict.request_cancellation:
            assert infrastructure is not None
            changes.request_cancellation(run.id, state.id, infrastructure, request, 1)
        if cascade_rules.enters_cancellation(previous, state.type):
            self.cascade.cancelled(run, request.grace_seconds, changes)
        return OrchestrationResult(Status.ACCEPT, state, created=True)


def _new_state(
    proposed: StateCreate, verdict: Verdict, now: datetime, parent_id: UUID | None
) -> State:
    """The state to record; one a parent's cancellation caused names the parent first."""
    assert verdict.new_type is not None
    replaced = verdict.new_type is not proposed.type
    message: str | None
    if parent_id is not None:
        message = cascade_rules.state_message(parent_id, verdict.message)
    else:
        message = verdict.message or proposed.message
    return State(
        type=verdict.new_type,
        name=(None if replaced else proposed.name) or verdict.new_type.default_name,
        timestamp=now,
        message=message,
        state_details=proposed.state_details,
    )


def _bulk_bucket(before: str | None, result: OrchestrationResult) -> str:
    if result.status is Status.ABORT:
        return "already_terminal"
    if before == StateType.CANCELLING.value:
        return "already_cancelling"
    assert result.state is not None
    return "cancelling" if result.state.type is StateType.CANCELLING else "cancelled"
