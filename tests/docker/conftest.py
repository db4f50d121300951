"""A state service (real HTTP, SQLite) and a Docker worker on the test's bus (in-process, or
real Kafka), next to a real engine."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import docker
import httpx
import pytest

from schemas.infrastructure import InfrastructureId, InfrastructureKind
from schemas.markers import FLOW_RUN_LABEL
from schemas.states import StateType
from services.infrastructure.docker_engine import DockerEngine
from services.infrastructure.settings import DockerConnection
from services.state.bootstrap import build_state
from services.worker.bootstrap import build_worker
from services.worker.docker import DockerInfrastructure
from services.worker.settings import WorkerSettings
from tests.state.conftest import fast_settings
from tests.support.buses import BusKit, start_unless_shared
from tests.support.serving import serving


@dataclass
class DockerStack:
    api_url: str
    api: httpx.AsyncClient
    engine: DockerEngine  # the worker's and launcher's engine: its scope is the engine ID
    client: Any  # docker.DockerClient on the test engine, for arranging containers
    image: str

    def start_container(self, command: list[str], labels: dict[str, str] | None = None) -> str:
        container = self.client.containers.run(
            self.image, command, detach=True, network_mode="none", labels=labels or {}
        )
        return str(container.id)

    def target(self, container_id: str) -> InfrastructureId:
        return InfrastructureId(
            kind=InfrastructureKind.DOCKER, scope=self.engine.scope, id=container_id
        )

    def state_of(self, container_id: str) -> dict[str, Any]:
        state: dict[str, Any] = self.client.api.inspect_container(container_id)["State"]
        return state

    async def running_run(self, target: InfrastructureId | None = None) -> UUID:
        body: dict[str, Any] = {"name": "container-run", "state": {"type": "RUNNING"}}
        if target is not None:
            body["infrastructure_pid"] = str(target)
        response = await self.api.post("flow_runs/", json=body)
        response.raise_for_status()
        return UUID(response.json()["id"])

    async def labelled_container(self, command: list[str]) -> tuple[UUID, str]:
        """A RUNNING run whose container carries its label (the run id is made first)."""
        response = await self.api.post("flow_runs/", json={"name": "container-run"})
        response.raise_for_status()
        run_id = UUID(response.json()["id"])
        container_id = self.start_container(command, {FLOW_RUN_LABEL: str(run_id)})
        patch = await self.api.patch(
            f"flow_runs/{run_id}", json={"infrastructure_pid": str(self.target(container_id))}
        )
        patch.raise_for_status()
        answer = await self.api.post(
            f"flow_runs/{run_id}/set_state", json={"state": {"type": "RUNNING"}}
        )
        assert answer.json()["status"] == "ACCEPT"
        return run_id, container_id

    async def cancel(self, run_id: UUID, grace_seconds: float = 30.0) -> None:
        response = await self.api.post(
            f"flow_runs/{run_id}/set_state",
            json={"state": {"type": "CANCELLING"}, "grace_seconds": grace_seconds},
        )
        response.raise_for_status()
        assert response.json()["status"] == "ACCEPT", response.json()

    async def wait_state(self, run_id: UUID, state: StateType, within: float = 30.0) -> None:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            seen = (await self.api.get(f"flow_runs/{run_id}")).json()["state_type"]
            if seen == state.value:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"run {run_id} is {seen}, not {state.value}")
            await asyncio.sleep(0.05)

    async def history(self, run_id: UUID) -> list[dict[str, Any]]:
        response = await self.api.get(f"flow_runs/{run_id}/cancellation")
        response.raise_for_status()
        attempts: list[dict[str, Any]] = response.json()
        return attempts


@pytest.fixture
async def docker_stack(
    tmp_path: Path, bus_kit: BusKit, docker_url: str, docker_test_image: str
) -> AsyncIterator[DockerStack]:
    state_bus = bus_kit.make_bus("state")
    state = build_state(fast_settings(f"sqlite:///{tmp_path / 'state.db'}"), state_bus)
    engine = await DockerEngine.connect(DockerConnection(host=docker_url))
    worker_bus = bus_kit.make_bus("docker-worker")
    infrastructure = DockerInfrastructure(engine)
    worker = build_worker(WorkerSettings(worker_attempts=2), worker_bus, infrastructure)
    client = docker.DockerClient(base_url=docker_url)
    try:
        async with state.running(), contextlib.AsyncExitStack() as stack:
            base_url = await stack.enter_async_context(serving(state.app()))
            await start_unless_shared(worker_bus, state_bus, stack)
            await stack.enter_async_context(worker.running())
            api_url = f"{base_url}/api"
            async with httpx.AsyncClient(base_url=api_url + "/", timeout=30) as api:
                yield DockerStack(api_url, api, engine, client, docker_test_image)
    finally:  # the worker, its bus and the API are stopped by now
        for container in client.containers.list(all=True):
            container.remove(force=True)
        client.close()
        engine.close()
