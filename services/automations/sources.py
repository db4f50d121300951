"""Where the automations service reads every rule on start: the state service's API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

import httpx
from pydantic import TypeAdapter

from schemas.automations import (
    Automation,
    AutomationCreatedFilter,
    AutomationFilter,
    AutomationFilterCriteria,
    AutomationSort,
)

if TYPE_CHECKING:
    from services.state.service import StateService

PAGE = 200  # the API's largest page (Prefect's limit)
_AUTOMATIONS = TypeAdapter(list[Automation])


async def every_automation(
    read_page: Callable[[AutomationFilter], Awaitable[list[Automation]]],
) -> list[Automation]:
    """Every automation, newest first, a page at a time. Each page starts where the last one
    ended (created at or before its last rule, past the rules of that instant already read),
    so rules created or deleted meanwhile never shift a page over a rule not yet read."""
    found: list[Automation] = []
    query = AutomationFilter(sort=AutomationSort.CREATED_DESC, limit=PAGE)
    while True:
        page = await read_page(query)
        found.extend(page)
        if len(page) < PAGE:
            return found
        last = page[-1].created
        seen_at_last = sum(1 for a in found if a.created == last)
        query = AutomationFilter(
            sort=AutomationSort.CREATED_DESC,
            limit=PAGE,
            offset=seen_at_last,
            automations=AutomationFilterCriteria(created=AutomationCreatedFilter(before_=last)),
        )


class AutomationsSource(Protocol):
    async def automations(self) -> list[Automation]:
        """Every stored automation; raises when the state service cannot answer."""

    async def aclose(self) -> None: ...


class HttpAutomations:
    """`POST {api_url}/automations/filter`, page by page."""

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

    async def automations(self) -> list[Automation]:
        return await every_automation(self._page)

    async def _page(self, query: AutomationFilter) -> list[Automation]:
        body = query.model_dump(mode="json", exclude_none=True)
        response = await self._client.post("/automations/filter", json=body)
        response.raise_for_status()
        return _AUTOMATIONS.validate_json(response.content)

    async def aclose(self) -> None:
        await self._client.aclose()


class InProcessAutomations:
    """The state service in the same process (`cancelbus dev`)."""

    def __init__(self, service: StateService) -> None:
        self._service = service

    async def automations(self) -> list[Automation]:
        return await every_automation(self._service.automations.filter)

    async def aclose(self) -> None:
        return None
