"""The cancellation plane around a real API server: the state service and a Kubernetes worker
on the test's bus (in-process, or real Kafka), driven through the REST API as a user would."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from schemas.infrastructure import InfrastructureId, InfrastructureKind
from services.state.bootstrap import build_state
from services.transport import Bus
from services.worker.bootstrap import Worker, build_worker
from services.worker.kubernetes import KubernetesJobs
from services.worker.settings import KubernetesSection, WorkerSettings
from tests.fixtures.kubernetes import KubeKit
from tests.state.conftest import fast_settings
from tests.support.buses import BusKit, start_unless_shared


@dataclass
class Plane:
    api: httpx.AsyncClient
    worker: Worker
    jobs: KubernetesJobs
    kit: BusKit
    bus: Bus  # the state service's

    @property
    def cluster(self) -> str:
        return self.jobs.scope

    def target(self, namespace: str, job: str, uid: str | None = None) -> InfrastructureId:
        return InfrastructureId(
            kind=InfrastructureKind.KUBERNETES,
            scope=self.cluster,
            id=f"{namespace}/{job}",
            fingerprint=uid,
        )

    async def new_run(self) -> UUID:
        created = await self.api.post("/api/flow_runs/", json={"name": "job-run"})
        created.raise_for_status()
        return UUID(created.json()["id"])

    async def start(self, run_id: UUID, infrastructure: InfrastructureId | str) -> None:
        """Record where the run runs and move it to RUNNING, as a launcher does."""
        patched = await self.api.patch(
            f"/api/flow_runs/{run_id}", json={"infrastructure_pid": str(infrastructure)}
        )
        patched.raise_for_status()
        await self.set_state(run_id, "RUNNING")

    async def running_run(self, infrastructure: InfrastructureId | str) -> UUID:
        run_id = await self.new_run()
        await self.start(run_id, infrastructure)
        return run_id

    async def set_state(self, run_id: UUID, state: str) -> Any:
        body: dict[str, Any] = {"state": {"type": state}}
        answer = await self.api.post(f"/api/flow_runs/{run_id}/set_state", json=body)
        answer.raise_for_status()
        assert answer.json()["status"] == "ACCEPT", answer.json()
        return answer.json()

    async def wait_state(self, run_id: UUID, state: str, within: float = 20.0) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            run: dict[str, Any] = (await self.api.get(f"/api/flow_runs/{run_id}")).json()
            if run["state_type"] == state:
                return run
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"run {run_id} is {run['state_type']}, not {state}")
            await asyncio.sleep(0.02)

    async def requests_seen(self, decision: str, count: int, within: float = 20.0) -> None:
        """Wait until the worker has taken `count` requests with `decision` (claimed/mismatched)."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            seen = self.worker.metrics.registry.get_sample_value(
                "cancelbus_worker_requests_total", {"decision": decision}
            )
            if (seen or 0) >= count:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{seen} requests {decision}, not {count}")
            await asyncio.sleep(0.02)

    async def history(self, run_id: UUID, *, until_outcome: bool = True) -> list[dict[str, Any]]:
        for _ in range(500):
            attempts: list[dict[str, Any]] = (
                await self.api.get(f"/api/flow_runs/{run_id}/cancellation")
            ).json()
            if not until_outcome or (attempts and attempts[-1]["outcome"] is not None):
                return attempts
            await asyncio.sleep(0.02)
        raise AssertionError(f"no outcome recorded for run {run_id}")


PlaneFactory = Callable[..., AbstractAsyncContextManager[Plane]]


@pytest.fixture
def cancel_plane(kube: KubeKit, bus_kit: BusKit, tmp_path: Path) -> PlaneFactory:
    """`async with cancel_plane(settings) as plane`: state service + worker for that cluster."""

    @asynccontextmanager
    async def start(
        settings: KubernetesSection | None = None, cluster: str | None = None
    ) -> AsyncIterator[Plane]:
        jobs = await KubernetesJobs.connect(
            cluster or f"cluster-{uuid.uuid4().hex[:8]}", settings or kube.settings()
        )
        try:
            worker_settings = WorkerSettings(
                worker_attempts=2, worker_retry_backoff_seconds=0.01, worker_heartbeat_seconds=60
            )
            state_bus, worker_bus = bus_kit.make_bus("state"), bus_kit.make_bus("kube-worker")
            worker = build_worker(worker_settings, worker_bus, jobs)
            state = build_state(fast_settings(f"sqlite:///{tmp_path / 'state.db'}"), state_bus)
            async with state.running(), AsyncExitStack() as stack:
                await start_unless_shared(worker_bus, state_bus, stack)
                await stack.enter_async_context(worker.running())
                transport = httpx.ASGITransport(app=state.app())
                api = await stack.enter_async_context(
                    httpx.AsyncClient(transport=transport, base_url="http://t")
                )
                yield Plane(api, worker, jobs, bus_kit, state_bus)
        finally:
            await jobs.close()

    return start
