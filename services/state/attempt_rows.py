"""Typed rows of `cancellation_attempts`: a run's cancellation history (see rows.py)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from uuid import UUID

from services.state.history import CancellationAttempt
from services.state.rows import names


@dataclasses.dataclass(slots=True)
class AttemptRow:
    """A whole `cancellation_attempts` row: one request to cancel a run, and its result."""

    id: UUID  # the CancellationRequested event's (or the timeout event's)
    flow_run_id: UUID
    state_id: UUID
    attempt: int
    requested_by: str | None
    reason: str | None
    requested_at: datetime
    grace_seconds: float
    infrastructure: str | None
    final_teardown: bool
    outcome: str | None = None  # None while no result has come
    detail: str | None = None
    worker: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result_id: UUID | None = None
    result_at: datetime | None = None

    def to_attempt(self) -> CancellationAttempt:
        finished = self.finished_at
        return CancellationAttempt(
            id=self.id,
            flow_run_id=self.flow_run_id,
            state_id=self.state_id,
            attempt=self.attempt,
            requested_by=self.requested_by,
            reason=self.reason,
            requested_at=self.requested_at,
            grace_seconds=self.grace_seconds,
            infrastructure=self.infrastructure,
            final_teardown=self.final_teardown,
            outcome=self.outcome,
            detail=self.detail,
            worker=self.worker,
            started_at=self.started_at,
            finished_at=finished,
            result_at=self.result_at,
            duration_seconds=(finished - self.requested_at).total_seconds() if finished else None,
        )


@dataclasses.dataclass(slots=True)
class AttemptResultRow:
    """What a worker's result sets on its attempt (`cancellation_attempts`, by `id`)."""

    id: UUID  # the attempt's
    outcome: str
    detail: str | None
    worker: str | None
    started_at: datetime | None
    finished_at: datetime | None
    result_id: UUID
    result_at: datetime


# the columns an attempt waiting for its result writes: all but the result's (after its id)
REQUEST_COLUMNS = tuple(
    name for name in names(AttemptRow) if name not in names(AttemptResultRow)[1:]
)


@dataclasses.dataclass(slots=True)
class LockedAttempt:
    """What applying a result reads of the attempt it answers (`cancellation_attempts`)."""

    id: UUID
    flow_run_id: UUID
    result_id: UUID | None
    requested_by: str | None
    reason: str | None
    grace_seconds: float
