"""What every benchmark does: cancel all runs of a tag, wait until all are CANCELLED, and
answer a cancellation request as a worker would once the process is gone."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from schemas.infrastructure import InfrastructureKind
from schemas.messages import CancellationOutcome, CancellationRequested, CancellationResult
from schemas.states import utcnow


async def bulk_cancel(api: httpx.AsyncClient, tag: str) -> dict[str, Any]:
    """`POST /flow_runs/cancel` for every run tagged `tag`; the counts it answers."""
    response = await api.post(
        "/flow_runs/cancel", json={"flow_runs": {"tags": {"all_": [tag]}}}, timeout=300
    )
    response.raise_for_status()
    counts: dict[str, Any] = response.json()
    return counts


async def wait_all_cancelled(
    api: httpx.AsyncClient, tag: str, count: int, within: float = 300.0, every: float = 0.05
) -> None:
    """Poll every `every` s until `count` runs tagged `tag` are CANCELLED (TimeoutError after
    `within` s)."""
    query = {"flow_runs": {"tags": {"all_": [tag]}, "state": {"type": {"any_": ["CANCELLED"]}}}}
    deadline = time.monotonic() + within
    while True:
        if (await api.post("/flow_runs/count", json=query)).json() >= count:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"not all {count} runs tagged {tag} CANCELLED within {within} s")
        await asyncio.sleep(every)


def cancelled(request: bytes, worker: str) -> CancellationResult:
    """The `cancelled` result for a `CancellationRequested` (its JSON)."""
    parsed = CancellationRequested.model_validate_json(request)
    now = utcnow()
    return CancellationResult(
        flow_run_id=parsed.flow_run_id,
        request_id=parsed.id,
        state_id=parsed.state_id,
        attempt=parsed.attempt,
        outcome=CancellationOutcome.CANCELLED,
        worker=worker,
        kind=InfrastructureKind.PROCESS,
        started_at=now,
        finished_at=now,
    )
