"""A run's cancellation history as the API returns it: one entry per attempt."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
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


def attempt_from_row(row: Mapping[str, Any]) -> CancellationAttempt:
    finished = row["finished_at"]
    duration = (finished - row["requested_at"]).total_seconds() if finished else None
    return CancellationAttempt(
        id=row["id"],
        flow_run_id=row["flow_run_id"],
        state_id=row["state_id"],
        attempt=row["attempt"],
        requested_by=row["requested_by"],
        reason=row["reason"],
        requested_at=row["requested_at"],
        grace_seconds=row["grace_seconds"],
        infrastructure=row["infrastructure"],
        final_teardown=row["final_teardown"],
        outcome=row["outcome"],
        detail=row["detail"],
        worker=row["worker"],
        started_at=row["started_at"],
        finished_at=finished,
        result_at=row["result_at"],
        duration_seconds=duration,
    )
