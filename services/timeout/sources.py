"""Where the timeout service learns, on start, which runs are CANCELLING: the state service."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

import httpx
from pydantic import BaseModel, TypeAdapter

from services.timeout.deadlines import Cancelling

if TYPE_CHECKING:
    from services.state.service import StateService


class CancellingRunsSource(Protocol):
    async def cancelling_runs(self) -> list[Cancelling]:
        """Every run now CANCELLING; raises when the state service cannot answer."""

    async def aclose(self) -> None: ...


class _CancellingRun(BaseModel):
    id: UUID
    state_id: UUID
    since: datetime


_RUNS = TypeAdapter(list[_CancellingRun])


class HttpCancellingRuns:
    """`GET {api_url}/flow_runs/cancelling` on the state service's API."""

    def __init__(
        self,
        api_url: str,
        *,
        token: str | None,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.AsyncClient(
            base_url=api_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )

    async def cancelling_runs(self) -> list[Cancelling]:
        response = await self._client.get("/flow_runs/cancelling")
        response.raise_for_status()
        runs = _RUNS.validate_json(response.content)
        return [Cancelling(r.id, r.state_id, r.since) for r in runs]

    async def aclose(self) -> None:
        await self._client.aclose()


class InProcessCancellingRuns:
    """The state service in the same process (`cancelbus dev`)."""

    def __init__(self, service: StateService) -> None:
        self._service = service

    async def cancelling_runs(self) -> list[Cancelling]:
        return [Cancelling(*run) for run in await self._service.cancelling_runs()]

    async def aclose(self) -> None:
        return None
