"""The async Python client: `async with CancelbusClient() as client: await client.cancel(id)`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterable, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar
from uuid import UUID

import httpx

from schemas.flow_runs import (
    BulkCancelResult,
    FlowRun,
    FlowRunCreate,
    FlowRunFilter,
    FlowRunFilterCriteria,
    StateCreate,
)
from schemas.history import CancellationAttempt
from schemas.messages import FlowRunStateChanged
from schemas.orchestration import Status
from schemas.states import State, StateType
from services.client import calls
from services.client.automation_methods import AsyncAutomations
from services.client.calls import Call, OrchestrationResult
from services.client.errors import Aborted, Unavailable
from services.client.settings import ClientSettings
from services.client.sse import LiveEvent, SseParser, decode
from services.client.states import Cancelling
from services.runtime.version import VERSION

T = TypeVar("T")

RECONNECT_SECONDS = 0.5
STREAM_READ_SECONDS = 30.0  # the server pings every 10 s


class CancelbusClient(AsyncAutomations):
    """Async client of the state service. Settings default to CANCELBUS_API_URL/_TOKEN."""

    def __init__(
        self,
        api_url: str | None = None,
        *,
        api_token: str | None = None,
        timeout: float | None = None,
        settings: ClientSettings | None = None,
        user_agent: str = f"cancelbus-client/{VERSION}",
    ) -> None:
        settings = settings or ClientSettings()
        self.api_url = (api_url or settings.api_url).rstrip("/")
        self.timeout = timeout or settings.api_timeout
        self._http = httpx.AsyncClient(
            base_url=self.api_url + "/",
            headers=calls.headers(api_token or settings.api_token, user_agent),
            timeout=self.timeout,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, call: Call[T]) -> T:
        try:
            response = await self._http.request(call.method, call.path, json=call.json)
        except httpx.TransportError as exc:
            raise calls.transport_error(self.api_url, exc, self.timeout) from None
        return calls.check(call, response)

    # -- runs -------------------------------------------------------------------------------

    async def create_flow_run(
        self,
        name: str | None = None,
        *,
        tags: Iterable[str] = (),
        state: StateCreate | None = None,
        infrastructure_pid: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        parent_flow_run_id: UUID | None = None,
    ) -> FlowRun:
        """A new run; a child of `parent_flow_run_id`, cancelled when it is."""
        body = FlowRunCreate(
            name=name,
            tags=list(tags),
            state=state,
            infrastructure_pid=infrastructure_pid,
            parameters=dict(parameters or {}),
            parent_flow_run_id=parent_flow_run_id,
        )
        return await self._send(calls.create_flow_run(body))

    async def read_flow_run(self, run_id: UUID) -> FlowRun:
        return await self._send(calls.read_flow_run(run_id))

    async def read_flow_runs(self, query: FlowRunFilter | None = None) -> list[FlowRun]:
        """Runs matching `query` (see `flow_run_filter`); at most 200 per call, newest first."""
        return await self._send(calls.read_flow_runs(query))

    async def states(self, run_id: UUID) -> list[State]:
        return await self._send(calls.states(run_id))

    async def cancellation_history(self, run_id: UUID) -> list[CancellationAttempt]:
        return await self._send(calls.cancellation_history(run_id))

    # -- cancelling -------------------------------------------------------------------------

    async def set_flow_run_state(
        self, run_id: UUID, state: StateCreate, force: bool = False
    ) -> OrchestrationResult:
        """Propose a state, as Prefect's client does; the answer's status says what happened."""
        return await self._send(calls.set_flow_run_state(run_id, state, force=force))

    async def cancel(
        self,
        run_id: UUID,
        *,
        reason: str | None = None,
        grace_seconds: float | None = None,
        requested_by: str | None = None,
    ) -> OrchestrationResult:
        """Move the run to CANCELLING (or CANCELLED at once); raises `Aborted` if terminal."""
        result = await self._send(
            calls.set_flow_run_state(
                run_id,
                Cancelling(reason),
                grace_seconds=grace_seconds,
                requested_by=requested_by or "cancelbus-client",
            )
        )
        if result.status is Status.ABORT:
            raise Aborted(run_id, result.reason or "aborted")
        return result

    async def bulk_cancel(
        self,
        which: FlowRunFilter | FlowRunFilterCriteria,
        *,
        reason: str | None = None,
        grace_seconds: float | None = None,
        requested_by: str | None = None,
        limit: int | None = None,
    ) -> BulkCancelResult:
        """Cancel every run matching the filter (all of them: the filter's limit is ignored)."""
        body = calls.bulk_body(
            which,
            reason=reason,
            grace_seconds=grace_seconds,
            requested_by=requested_by or "cancelbus-client",
            limit=limit,
        )
        return await self._send(calls.bulk_cancel(body))

    # -- live -------------------------------------------------------------------------------

    async def events(self, run_id: UUID | None = None) -> AsyncGenerator[LiveEvent, None]:
        """Live changes: of one run (starting with the run as it is now) or of every run.

        Ends when the server closes the stream; raises `Unavailable` if it cannot connect.
        """
        timeout = httpx.Timeout(self.timeout, read=STREAM_READ_SECONDS)
        path = calls.stream_path(run_id)
        check_call: Call[None] = Call("GET", path, lambda _body: None, run_id=run_id)
        try:
            async with self._http.stream("GET", path, timeout=timeout) as response:
                if response.status_code != 200:
                    await response.aread()
                    calls.check(check_call, response)
                parser = SseParser()
                async for line in response.aiter_lines():
                    raw = parser.feed(line)
                    event = decode(raw) if raw is not None else None
                    if event is not None:
                        yield event
        except httpx.TransportError as exc:
            raise calls.transport_error(self.api_url, exc, STREAM_READ_SECONDS) from None

    async def wait_for_state(
        self,
        run_id: UUID,
        states: Iterable[StateType | str],
        timeout: float | None = None,  # noqa: ASYNC109 - the sync client's signature
    ) -> FlowRun:
        """The run once it is in one of `states`; raises TimeoutError after `timeout` s."""
        wanted = calls.targets(states)
        async with asyncio.timeout(timeout):
            while True:
                try:
                    async for event in self.events(run_id):
                        if isinstance(event, FlowRun) and event.state_type in wanted:
                            return event
                        if isinstance(event, FlowRunStateChanged) and event.state.type in wanted:
                            return await self.read_flow_run(run_id)
                except Unavailable:
                    pass  # the service restarts: reconnect and read the run afresh
                await asyncio.sleep(RECONNECT_SECONDS)
