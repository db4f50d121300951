"""The REST calls every benchmark makes: cancel all runs of a tag, wait until all are CANCELLED."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx


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
