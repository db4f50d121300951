"""A state service wired on a real bus and database, with helpers to read topics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from uuid import UUID, uuid4

import httpx
import pytest

from schemas.flow_runs import FlowRun, FlowRunCreate, StateCreate
from schemas.messages import Message
from schemas.states import StateType
from schemas.topics import Topics
from services.state.bootstrap import StateRuntime, build_state
from services.state.settings import OrchestrationSettings, StateSettings
from services.transport import Bus, Record
from tests.support.buses import BusKit


@dataclass
class StateHarness:
    runtime: StateRuntime
    bus: Bus
    kit: BusKit
    api: httpx.AsyncClient

    async def publish(self, message: Message) -> None:
        await self.bus.publish(message.TOPIC, message.key, message.model_dump_json().encode())

    async def records(
        self, topic: str, *, until: Callable[[list[Record]], bool], within: float = 15.0
    ) -> list[Record]:
        records = await self.kit.read(topic, until=until, within=within)
        assert until(records), f"timed out waiting on {topic}: {len(records)} records"
        return records

    async def barrier(self, topic: str, run_id: UUID) -> None:
        """Wait until everything published so far on `topic` for this run has been handled.

        A keyed marker lands on the run's partition behind the earlier messages; it is not a
        valid message, so its dead-letter entry shows that the consumer got past them.
        """
        marker = f"barrier-{uuid4()}".encode()
        await self.bus.publish(topic, str(run_id), marker)
        await self.records(Topics.DEAD_LETTERS, until=lambda rs: any(r.value == marker for r in rs))

    async def running_run(self, infrastructure_pid: str | None = "myhost:4242") -> FlowRun:
        run = await self.runtime.service.create_flow_run(
            FlowRunCreate(
                name="nightly-etl", tags=["nightly"], infrastructure_pid=infrastructure_pid
            )
        )
        result = await self.runtime.service.set_state(run.id, StateCreate(type=StateType.RUNNING))
        assert result.state is not None
        return await self.runtime.service.read_flow_run(run.id)

    async def wait_state(
        self, run_id: UUID, state_type: StateType, within: float = 15.0
    ) -> FlowRun:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            run = await self.runtime.service.read_flow_run(run_id)
            if run.state_type is state_type:
                return run
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"run {run_id} is {run.state_type}, not {state_type}")
            await asyncio.sleep(0.02)


def fast_settings(database_url: str, **overrides: object) -> StateSettings:
    """Quick retries and relay polls; `overrides` name fields of any section."""
    orchestration: dict[str, object] = {
        "retry_backoff_seconds": 0.05,
        "retry_backoff_max_seconds": 0.2,
    }
    values: dict[str, object] = {"database_url": database_url, "outbox_poll_seconds": 0.1}
    for name, value in overrides.items():
        (orchestration if name in OrchestrationSettings.model_fields else values)[name] = value
    values["orchestration"] = OrchestrationSettings.model_validate(orchestration)
    return StateSettings.model_validate(values)


@pytest.fixture
async def state(database_url: str, bus_kit: BusKit) -> AsyncIterator[StateHarness]:
    bus = bus_kit.make_bus("state")
    runtime = build_state(fast_settings(database_url), bus)
    async with runtime.running():
        transport = httpx.ASGITransport(app=runtime.app())
        async with httpx.AsyncClient(transport=transport, base_url="http://cancelbus") as api:
            yield StateHarness(runtime, bus, bus_kit, api)
