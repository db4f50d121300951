"""The state service and automations replicas on one real bus, as deployed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx

from schemas.events import Event
from schemas.flow_runs import FlowRun
from schemas.messages import CancelFlowRun
from schemas.topics import Topics
from services.automations.bootstrap import AutomationsRuntime, build_automations
from services.automations.settings import AutomationsSettings
from services.automations.sources import InProcessAutomations
from services.state.bootstrap import build_state
from tests.state.conftest import StateHarness, fast_settings
from tests.support.buses import BusKit, start_unless_shared

WITHIN = 30.0


def automations_settings() -> AutomationsSettings:
    return AutomationsSettings(
        metrics_port=0,
        automations_publish_retry_seconds=0.01,
        automations_publish_retry_max_seconds=0.1,
    )


def cancel_on(
    event: str | list[str], *, name: str = "cancel on event", **trigger: Any
) -> dict[str, Any]:
    """An automation (as the API takes it) cancelling the run an event names."""
    expect = [event] if isinstance(event, str) else event
    return {
        "name": name,
        "trigger": {
            "type": "event",
            "posture": "Reactive",
            "match": {"prefect.resource.id": "prefect.flow-run.*"},
            "expect": expect,
            **trigger,
        },
        "actions": [{"type": "cancel-flow-run"}],
    }


@dataclass
class Deployment:
    state: StateHarness
    kit: BusKit
    replicas: list[AutomationsRuntime]

    @property
    def api(self) -> httpx.AsyncClient:
        return self.state.api

    async def automation(self, body: dict[str, Any]) -> UUID:
        """Create it through the API, then wait until every replica evaluates it."""
        answer = await self.api.post("/automations/", json=body)
        assert answer.status_code == 201, answer.text
        automation_id = UUID(answer.json()["id"])
        await self.until(
            lambda: all(r.service.evaluator.automation(automation_id) for r in self.replicas),
            f"automation {automation_id} reached every replica",
        )
        return automation_id

    async def publish(self, event: Event) -> None:
        await self.state.bus.publish(event.TOPIC, event.key, event.model_dump_json().encode())

    async def running_run(self, **fields: Any) -> FlowRun:
        body = {"name": "nightly-etl", "tags": ["nightly"], "state": {"type": "RUNNING"}, **fields}
        answer = await self.api.post("/flow_runs/", json=body)
        assert answer.status_code == 201, answer.text
        return await self.state.runtime.service.read_flow_run(UUID(answer.json()["id"]))

    async def commands(self, run_id: UUID, *, at_least: int = 0) -> list[CancelFlowRun]:
        """The commands about the run: those published so far, or once there are `at_least`."""

        def mine(records: list[Any]) -> list[CancelFlowRun]:
            key = str(run_id).encode()
            return [CancelFlowRun.model_validate_json(r.value) for r in records if r.key == key]

        if not at_least:
            return mine(await self.kit.published(Topics.COMMANDS))
        records = await self.kit.read(
            Topics.COMMANDS, until=lambda rs: len(mine(rs)) >= at_least, within=WITHIN
        )
        return mine(records)

    async def until(self, check: Any, what: str, within: float = WITHIN) -> None:
        deadline = asyncio.get_running_loop().time() + within
        while not check():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"not in time: {what}")
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def deploy(kit: BusKit, database_url: str, *, replicas: int = 1) -> AsyncIterator[Deployment]:
    """The state service and `replicas` automations services, each on a bus of its own on
    Kafka (one shared bus in memory)."""
    state_bus = kit.make_bus("state")
    state = build_state(fast_settings(database_url), state_bus)
    runtimes = [
        build_automations(
            automations_settings(),
            kit.make_bus(f"automations-{i}"),
            InProcessAutomations(state.service),
        )
        for i in range(replicas)
    ]
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(state.running())
        for runtime in runtimes:
            await stack.enter_async_context(runtime.running(start_bus=False))
            await start_unless_shared(runtime.bus, state_bus, stack)
        transport = httpx.ASGITransport(app=state.app())
        api = await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://cancelbus/api")
        )
        harness = StateHarness(state, state_bus, kit, api)
        deployment = Deployment(harness, kit, runtimes)
        await deployment.until(
            lambda: all(r.service.rules.ready.is_set() for r in runtimes), "rules loaded"
        )
        yield deployment
