"""A run's cancellation history as the API returns it: one entry per attempt."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field


class CancellationAttempt(BaseModel):
    id: UUID = Field(description="the CancellationRequested event id (or the timeout event's)")
    flow_run_id: UUID
    state_id: UUID
    attempt: int
    requested_by: str | None
    reason: str | None
    requested_at: datetime
    grace_seconds: float
    infrastructure: str | None
    final_teardown: bool
    outcome: str | None = Field(
        description="cancelled, not_found, failed, unsupported, timed_out; null while pending"
    )
    detail: str | None
    worker: str | None
    started_at: datetime | None
    finished_at: datetime | None
    result_at: datetime | None
    duration_seconds: float | None = Field(description="from the request to the worker's result")
