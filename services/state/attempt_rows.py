"""Typed rows of `cancellation_attempts`: a run's cancellation history (see rows.py)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from uuid import UUID

from schemas.history import CancellationAttempt
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

    @property
    def duration_seconds(self) -> float | None:
        """From the request to the worker's result."""
        finished = self.finished_at
        return (finished - self.requested_at).total_seconds() if finished else None

    def to_attempt(self) -> CancellationAttempt:
        """The attempt as the API shows it."""
        return CancellationAttempt.model_validate(self, from_attributes=True)


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
