"""The few REST calls a launcher makes to the state service (`CANCELBUS_API_URL`)."""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from uuid import UUID

import httpx
import structlog

from schemas.flow_runs import FlowRun
from schemas.infrastructure import InfrastructureId
from schemas.states import StateType

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Parent:
    """The run a new run belongs to: named on the command line, or inherited from the run the
    launcher itself runs in (its environment), which may be one this API does not know."""

    id: UUID
    inherited: bool = False


class RunsApi:
    """An async client of `/api/flow_runs`, retrying connection faults a few times."""

    def __init__(self, api_url: str, *, token: str | None = None, timeout: float = 30.0) -> None:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        transport = httpx.AsyncHTTPTransport(retries=3)
        self._http = httpx.AsyncClient(
            base_url=api_url.rstrip("/") + "/",
            headers=headers,
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._http.aclose()

    async def create_run(
        self, name: str | None, tags: list[str], parent: Parent | None = None
    ) -> FlowRun:
        """A PENDING run; under a cancelled parent it is cancelled already."""
        body: dict[str, Any] = {"name": name, "tags": tags, "state": {"type": "PENDING"}}
        if parent is not None and await self._linkable(parent):
            body["parent_flow_run_id"] = str(parent.id)
        response = await self._http.post("flow_runs/", json=body)
        response.raise_for_status()
        return FlowRun.model_validate(response.json())

    async def set_infrastructure(self, run_id: UUID, infrastructure: InfrastructureId) -> None:
        response = await self._http.patch(
            f"flow_runs/{run_id}", json={"infrastructure_pid": str(infrastructure)}
        )
        response.raise_for_status()

    async def propose(
        self, run_id: UUID, state_type: StateType, message: str | None = None
    ) -> tuple[str, StateType | None]:
        """Propose a state; (ACCEPT|REJECT|ABORT|WAIT, the run's state type afterwards)."""
        body = {"state": {"type": state_type.value, "message": message}, "force": False}
        response = await self._http.post(f"flow_runs/{run_id}/set_state", json=body)
        response.raise_for_status()
        answer = response.json()
        state = answer.get("state")
        return answer["status"], StateType(state["type"]) if state else None

    async def read_run(self, run_id: UUID) -> FlowRun:
        response = await self._http.get(f"flow_runs/{run_id}")
        response.raise_for_status()
        return FlowRun.model_validate(response.json())

    async def _linkable(self, parent: Parent) -> bool:
        """A parent named on the command line is linked (the API refuses an unknown one); an
        inherited one only if this API knows it (a Prefect run of another server: not)."""
        if not parent.inherited:
            return True
        response = await self._http.get(f"flow_runs/{parent.id}")
        if response.status_code == httpx.codes.NOT_FOUND:
            log.warning("parent_run_unknown_not_linked", parent_flow_run_id=str(parent.id))
            return False
        response.raise_for_status()
        return True
