"""A stored cancellation attempt as the API returns it (`schemas.history.CancellationAttempt`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas.history import CancellationAttempt


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
