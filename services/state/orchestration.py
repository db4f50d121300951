"""Orchestration: a proposed state is accepted, replaced, rejected or aborted by the rules
(rules.py); an accepted CANCELLING requests the cancellation in the same transaction."""

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
from services.state import store
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
            result = self.orchestrate(run, proposed, force, request, changes)
            changes.flush(conn)
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
                result = self.orchestrate(run, proposal, False, request, changes)
                counts[_bulk_bucket(before, result)] += 1
            changes.flush(conn)

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
        run: LockedRun,
        proposed: StateCreate,
        force: bool,
        request: CancelRequest,
        changes: Changes,
    ) -> OrchestrationResult:
        """Apply the rules to a locked run, in the caller's transaction."""
        infrastructure = run.infrastructure()
        verdict = decide(
            run.current_type(),
            proposed.type,
            has_infrastructure=infrastructure is not None,
            force=force,
        )
        if verdict.new_type is None:
            return OrchestrationResult(verdict.status, run.current_state(), verdict.reason)
        state = _new_state(proposed, verdict, changes.now)
        changes.transition(run, state)
        if verdict.request_cancellation:
            assert infrastructure is not None
            changes.request_cancellation(run.id, state.id, infrastructure, request, 1)
        return OrchestrationResult(Status.ACCEPT, state, created=True)


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
