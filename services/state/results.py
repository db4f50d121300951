"""Applying what comes back: workers' results, and the timeout service's forcing of a run
still CANCELLING at its deadline."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

import structlog
from sqlalchemy.engine import Connection

from schemas.messages import CancellationResult, CancellationTimedOut, Message
from schemas.states import State, StateType
from services.state import store
from services.state.attempt_rows import AttemptResultRow, LockedAttempt
from services.state.changes import TIMEOUT, CancelRequest, Changes
from services.state.errors import FlowRunNotFound, UnknownCancellationRequest
from services.state.outcomes import effect_of
from services.state.rows import LockedRun
from services.state.transactions import Transactions

log = structlog.get_logger(__name__)


class Results:
    def __init__(self, transactions: Transactions) -> None:
        self._tx = transactions

    async def apply_results(self, results: Sequence[CancellationResult]) -> None:
        """Record workers' results in one transaction; move each run on if it is still in
        the CANCELLING state the result answers. Duplicates and stale results change nothing.
        """
        changes = self._tx.changes()
        applied = await self._tx.db.write(functools.partial(self._apply_in, results, changes))
        self._tx.committed(changes, applied)

    def _apply_in(
        self, results: Sequence[CancellationResult], changes: Changes, conn: Connection
    ) -> list[Message]:
        attempts = store.lock_attempts(conn, [r.request_id for r in results])
        runs = {
            run.id: run for run in store.lock_runs(conn, list({r.flow_run_id for r in results}))
        }
        recorded: list[AttemptResultRow] = []
        applied: list[Message] = []
        outcomes: Counter[str] = Counter()
        for result in results:
            attempt = attempts.get(result.request_id)
            if attempt is None or attempt.flow_run_id != result.flow_run_id:
                raise UnknownCancellationRequest(
                    f"no cancellation request {result.request_id} for flow run {result.flow_run_id}"
                )
            if attempt.result_id is not None:
                log.info("duplicate_result_ignored", flow_run_id=str(result.flow_run_id))
                continue
            attempt.result_id = result.id
            recorded.append(_result_row(result, changes.now))
            applied.append(result)
            outcomes[result.outcome.value] += 1
            run = runs[result.flow_run_id]
            if not run.is_cancelling(result.state_id):
                log.info("stale_result_recorded_only", flow_run_id=str(run.id))
                continue
            self._apply_outcome(run, attempt, result, changes)
        store.record_results(conn, recorded)
        changes.flush(conn)
        for outcome, count in outcomes.items():
            self._tx.metrics.results.labels(outcome).inc(count)
        return applied

    def _apply_outcome(
        self,
        run: LockedRun,
        attempt: LockedAttempt,
        result: CancellationResult,
        changes: Changes,
    ) -> None:
        settings = self._tx.settings
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
            changes.transition(run, state)
        elif effect.retry_after_seconds is not None:
            infrastructure = run.infrastructure()
            if infrastructure is None:
                return
            request = CancelRequest(attempt.requested_by, attempt.reason, attempt.grace_seconds)
            changes.request_cancellation(
                run.id,
                result.state_id,  # the run's CANCELLING state
                infrastructure,
                request,
                result.attempt + 1,
                delay_seconds=effect.retry_after_seconds,
            )

    async def apply_timeout(self, event: CancellationTimedOut) -> bool:
        """Force CANCELLED if the run is still in that same CANCELLING state; True if forced."""
        changes = self._tx.changes()
        forced = await self._tx.db.write(functools.partial(self._timeout_in, event, changes))
        if forced:
            self._tx.committed(changes)
            self._tx.metrics.forced.inc()
        return forced

    def _timeout_in(self, event: CancellationTimedOut, changes: Changes, conn: Connection) -> bool:
        run = store.lock_run(conn, event.flow_run_id)
        if run is None:
            raise FlowRunNotFound(event.flow_run_id)
        if not run.is_cancelling(event.state_id):
            return False
        message = (
            f"Forced to CANCELLED: still cancelling after the cancelling timeout of "
            f"{event.timeout_seconds:g} s (since {event.cancelling_since.isoformat()})"
        )
        state = State(type=StateType.CANCELLED, message=message, timestamp=changes.now)
        infrastructure = run.infrastructure()
        attempt = store.last_attempt_number(conn, run.id, event.state_id) + 1
        changes.transition(run, state)
        changes.record_timeout(event, attempt, infrastructure, message)
        if infrastructure is not None:
            request = CancelRequest(TIMEOUT, "final teardown after the cancelling timeout")
            changes.request_cancellation(
                run.id, state.id, infrastructure, request, 1, final_teardown=True
            )
        changes.flush(conn)
        return True


def _result_row(result: CancellationResult, now: datetime) -> AttemptResultRow:
    return AttemptResultRow(
        id=result.request_id,
        outcome=result.outcome.value,
        detail=result.detail,
        worker=result.worker,
        started_at=result.started_at,
        finished_at=result.finished_at,
        result_id=result.id,
        result_at=now,
    )
