"""The state service and timeout service replicas on one real bus, as deployed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import httpx

from schemas.infrastructure import InfrastructureKind
from schemas.messages import (
    CancellationOutcome,
    CancellationRequested,
    CancellationResult,
    CancellationTimedOut,
)
from schemas.topics import Topics
from services.state.bootstrap import build_state
from services.timeout.bootstrap import TimeoutRuntime, build_timeout
from services.timeout.settings import TimeoutSettings
from services.timeout.sources import InProcessCancellingRuns
from services.transport import Bus, Record
from tests.state.conftest import StateHarness, fast_settings
from tests.support.buses import BusKit


def timeout_settings(seconds: float) -> TimeoutSettings:
    return TimeoutSettings(cancelling_timeout_seconds=seconds, metrics_port=0)


@dataclass
class Deployment:
    state: StateHarness
    kit: BusKit
    replicas: list[TimeoutRuntime]

    async def timed_out(self, run_id: UUID, *, at_least: int = 1) -> list[CancellationTimedOut]:
        def mine(records: list[Record]) -> list[CancellationTimedOut]:
            # barrier markers share the topic; they are not events
            ours = [r for r in records if r.key == str(run_id).encode() and r.value[:1] == b"{"]
            return [CancellationTimedOut.model_validate_json(r.value) for r in ours]

        records = await self.state.records(
            Topics.TIMED_OUT, until=lambda rs: len(mine(rs)) >= at_least
        )
        return mine(records)

    async def requests(self, run_id: UUID) -> list[CancellationRequested]:
        records = await self.kit.read(Topics.CANCEL_REQUESTED, until=lambda _: False, within=1.0)
        events = [CancellationRequested.model_validate_json(r.value) for r in records]
        return [e for e in events if e.flow_run_id == run_id]


@contextlib.asynccontextmanager
async def deploy(
    kit: BusKit,
    database_url: str,
    timeout_seconds: float,
    *,
    replicas: int = 1,
    worker: Callable[[CancellationRequested], CancellationOutcome | None] | None = None,
) -> AsyncIterator[Deployment]:
    """State service, `replicas` timeout services and optionally a stand-in worker that
    answers each request with `worker(request)` (None: no answer)."""
    state_bus = kit.make_bus("state")
    state = build_state(fast_settings(database_url, max_cancel_attempts=3), state_bus)
    timeouts = [
        build_timeout(
            timeout_settings(timeout_seconds),
            kit.make_bus(f"timeout-{i}"),
            InProcessCancellingRuns(state.service),
        )
        for i in range(replicas)
    ]
    worker_bus = kit.make_bus("worker") if worker is not None else None
    if worker is not None and worker_bus is not None:
        _subscribe_worker(worker_bus, worker)
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(state.running())
        for runtime in timeouts:
            shared = runtime.bus is state_bus
            await stack.enter_async_context(runtime.running(start_bus=not shared))
        if worker_bus is not None and worker_bus is not state_bus:
            await worker_bus.start()
            stack.push_async_callback(worker_bus.stop)
        transport = httpx.ASGITransport(app=state.app())
        api = await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://cancelbus")
        )
        yield Deployment(StateHarness(state, state_bus, kit, api), kit, timeouts)


def _subscribe_worker(
    bus: Bus, decide: Callable[[CancellationRequested], CancellationOutcome | None]
) -> None:
    async def on_request(record: Record) -> None:
        request = CancellationRequested.model_validate_json(record.value)
        outcome = decide(request)
        if outcome is None:
            return
        now = datetime.now(UTC)
        result = CancellationResult(
            flow_run_id=request.flow_run_id,
            request_id=request.id,
            state_id=request.state_id,
            attempt=request.attempt,
            outcome=outcome,
            detail="permission denied" if outcome is CancellationOutcome.FAILED else None,
            worker="stand-in-worker",
            kind=InfrastructureKind.PROCESS,
            started_at=now,
            finished_at=now,
        )
        await bus.publish(result.TOPIC, result.key, result.model_dump_json().encode())

    bus.subscribe([Topics.CANCEL_REQUESTED], "stand-in-worker", on_request)


async def eventually(check: Callable[[], bool], within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)
