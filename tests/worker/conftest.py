"""Process workers and the state service, against real processes.

`worker_plane` runs a test on both buses: on the in-process bus the state service and the
workers run in the test's process (the API over real TCP for the launcher); on real Kafka each
is its own OS process, as `process_stack` always is. Each test gets its own topic prefix and
SQLite file; each worker serves a scope of the test's own, so runs of other tests never match.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psutil
import pytest

from schemas.infrastructure import InfrastructureId, InfrastructureKind
from schemas.states import StateType
from services.infrastructure.processes import fingerprint_of
from services.launcher.process import LaunchResult, launch_process
from services.localinfra.service_process import ServiceProcess, StateProcess
from services.state.bootstrap import build_state
from services.transport import Bus
from services.worker.bootstrap import build_worker
from services.worker.process import ProcessInfrastructure
from services.worker.settings import WorkerSettings
from tests.state.conftest import fast_settings
from tests.support.buses import BusKit, KafkaKit
from tests.support.serving import serving
from tests.worker.launch_apart import launch_apart

WITHIN = 60.0
HEARTBEAT_SECONDS = 0.5


def alive(pid: int) -> bool:
    """Running and not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, within: float = WITHIN
) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.05)


@dataclass
class Launched:
    run_id: UUID
    target: InfrastructureId
    task: asyncio.Task[LaunchResult]

    @property
    def pid(self) -> int:
        return int(self.target.id)


Launcher = Callable[..., Coroutine[Any, Any, LaunchResult]]


@dataclass
class ProcessStack:
    tmp: Path
    env: dict[str, str]
    api_url: str
    api: httpx.AsyncClient
    scopes: dict[str, str] = field(default_factory=dict)  # worker name -> the scope it serves
    workers: list[ServiceProcess] = field(default_factory=list)
    spawned: list[subprocess.Popen[bytes]] = field(default_factory=list)
    launches: list[asyncio.Task[LaunchResult]] = field(default_factory=list)
    launched_pids: list[int] = field(default_factory=list)

    @property
    def launcher(self) -> Launcher:
        return launch_process

    def new_scope(self) -> str:
        return f"host-{uuid.uuid4().hex[:8]}"

    async def start_worker(self, scope: str, name: str, **settings: str) -> ServiceProcess:
        env = {**self.env, "CANCELBUS_WORKER_NAME": name, **settings}
        log = self.tmp / f"worker-{name}.log"
        worker = ServiceProcess(["worker", "process", "--scope", scope], env, log).start()
        self.workers.append(worker)
        self.scopes[name] = scope
        await self.wait_worker_alive(name)
        return worker

    async def wait_worker_alive(self, name: str) -> None:
        async def seen() -> bool:
            return any(w["worker"] == name and w["alive"] for w in await self.workers_seen())

        await eventually(seen, f"worker {name} alive")

    async def workers_seen(self) -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = (await self.api.get("workers")).json()
        return seen

    async def launch(self, command: Sequence[str], scope: str) -> Launched:
        """Start `command` through the launcher (Python API); return once it is RUNNING."""
        started: asyncio.Future[tuple[UUID, InfrastructureId]] = asyncio.Future()
        task = asyncio.create_task(
            self.launcher(
                command,
                api_url=self.api_url,
                scope=scope,
                on_started=lambda run_id, target: started.set_result((run_id, target)),
            )
        )
        self.launches.append(task)
        async with asyncio.timeout(WITHIN):
            first: list[asyncio.Future[Any]] = [started, task]
            await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            raise AssertionError(f"the launcher ended early: {task.result()}")
        run_id, target = started.result()
        self.launched_pids.append(int(target.id))
        return Launched(run_id, target, task)

    def spawn(self, command: Sequence[str], marker: UUID | None = None) -> psutil.Process:
        env = {k: v for k, v in os.environ.items() if k != "CANCELBUS_FLOW_RUN_ID"}
        if marker is not None:
            env["CANCELBUS_FLOW_RUN_ID"] = str(marker)
        proc = subprocess.Popen(list(command), env=env, start_new_session=True)
        self.spawned.append(proc)
        return psutil.Process(proc.pid)

    async def running_run(self, target: InfrastructureId | None = None) -> UUID:
        body: dict[str, Any] = {"name": "test-run", "state": {"type": "RUNNING"}}
        if target is not None:
            body["infrastructure_pid"] = str(target)
        response = await self.api.post("flow_runs/", json=body)
        response.raise_for_status()
        return UUID(response.json()["id"])

    async def set_target(self, run_id: UUID, target: InfrastructureId) -> None:
        response = await self.api.patch(
            f"flow_runs/{run_id}", json={"infrastructure_pid": str(target)}
        )
        response.raise_for_status()

    @staticmethod
    def target(
        scope: str, proc: psutil.Process, fingerprint: str | None = None
    ) -> InfrastructureId:
        return InfrastructureId(
            kind=InfrastructureKind.PROCESS,
            scope=scope,
            id=str(proc.pid),
            fingerprint=fingerprint or fingerprint_of(proc),
        )

    async def cancel(self, run_id: UUID, grace_seconds: float = 30.0) -> None:
        response = await self.api.post(
            f"flow_runs/{run_id}/set_state",
            json={"state": {"type": "CANCELLING"}, "grace_seconds": grace_seconds},
        )
        response.raise_for_status()
        assert response.json()["status"] == "ACCEPT", response.json()

    async def run(self, run_id: UUID) -> dict[str, Any]:
        body: dict[str, Any] = (await self.api.get(f"flow_runs/{run_id}")).json()
        return body

    async def wait_state(self, run_id: UUID, state: StateType, within: float = WITHIN) -> None:
        async def reached() -> bool:
            return bool((await self.run(run_id))["state_type"] == state.value)

        await eventually(reached, f"run {run_id} {state.value}", within)

    async def history(self, run_id: UUID) -> list[dict[str, Any]]:
        attempts: list[dict[str, Any]] = (
            await self.api.get(f"flow_runs/{run_id}/cancellation")
        ).json()
        return attempts


class InProcessStack(ProcessStack):
    """The workers were built with the stack: the in-process bus takes no later subscription.
    The launcher runs apart: the worker reaps what it killed when it is its parent."""

    @property
    def launcher(self) -> Launcher:
        return launch_apart

    async def start_worker(self, scope: str, name: str, **settings: str) -> ServiceProcess:
        raise TypeError("in process, name the workers when the stack starts: worker_plane(...)")


WorkerPlane = Callable[..., AbstractAsyncContextManager[ProcessStack]]


@pytest.fixture
def worker_plane(tmp_path: Path, bus_kit: BusKit) -> WorkerPlane:
    """`async with worker_plane("w1", "w2") as stack`: the state service and a process worker
    of each name, each serving a new scope of its own (`stack.scopes[name]`)."""

    @asynccontextmanager
    async def start(*names: str) -> AsyncIterator[ProcessStack]:
        if isinstance(bus_kit, KafkaKit):
            async with os_processes(tmp_path, bus_kit) as stack:
                for name in names:
                    await stack.start_worker(stack.new_scope(), name)
                yield stack
        else:
            async with in_process(tmp_path, bus_kit.make_bus("plane"), names) as stack:
                yield stack

    return start


@pytest.fixture
async def process_stack(tmp_path: Path, kafka_kit: KafkaKit) -> AsyncIterator[ProcessStack]:
    """Every service its own OS process on real Kafka; workers start as the test goes."""
    async with os_processes(tmp_path, kafka_kit) as stack:
        yield stack


@asynccontextmanager
async def os_processes(tmp_path: Path, kit: KafkaKit) -> AsyncIterator[ProcessStack]:
    env = {
        "CANCELBUS_DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
        "CANCELBUS_KAFKA_BOOTSTRAP_SERVERS": kit.bootstrap,
        "CANCELBUS_TOPIC_PREFIX": kit.prefix,
        "CANCELBUS_TOPIC_PARTITIONS": "3",
        "CANCELBUS_OUTBOX_POLL_SECONDS": "0.1",
        "CANCELBUS_WORKER_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
        "CANCELBUS_WORKER_RETRY_BACKOFF_SECONDS": "0.05",
    }
    state = StateProcess(env, tmp_path / "state.log").start()
    stack: ProcessStack | None = None
    try:
        await asyncio.to_thread(state.wait_healthy)
        async with httpx.AsyncClient(base_url=state.api_url + "/", timeout=30) as api:
            stack = ProcessStack(tmp_path, env, state.api_url, api)
            yield stack
    finally:
        if stack is not None:
            await _clean_up(stack)
        await asyncio.to_thread(state.terminate)


@asynccontextmanager
async def in_process(tmp_path: Path, bus: Bus, names: Sequence[str]) -> AsyncIterator[ProcessStack]:
    state = build_state(fast_settings(f"sqlite:///{tmp_path / 'state.db'}"), bus)
    scopes = {name: f"host-{uuid.uuid4().hex[:8]}" for name in names}
    workers = [
        build_worker(
            WorkerSettings(
                worker_name=name,
                worker_heartbeat_seconds=HEARTBEAT_SECONDS,
                worker_retry_backoff_seconds=0.05,
            ),
            bus,
            ProcessInfrastructure(scope),
        )
        for name, scope in scopes.items()
    ]
    stack: ProcessStack | None = None
    try:
        async with state.running(), AsyncExitStack() as running:
            api_url = await running.enter_async_context(serving(state.app())) + "/api"
            for worker in workers:
                await running.enter_async_context(worker.running())
            async with httpx.AsyncClient(base_url=api_url + "/", timeout=30) as api:
                stack = InProcessStack(tmp_path, {}, api_url, api, scopes)
                for name in names:
                    await stack.wait_worker_alive(name)
                yield stack
    finally:
        if stack is not None:
            await _clean_up(stack)


async def _clean_up(stack: ProcessStack) -> None:
    for worker in stack.workers:
        await asyncio.to_thread(worker.terminate)
    for proc in stack.spawned:
        if proc.poll() is None:
            proc.kill()
        await asyncio.to_thread(proc.wait)
    for pid in stack.launched_pids:  # e.g. a run no worker served: nobody stopped it
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    if stack.launches:
        await asyncio.wait(stack.launches, timeout=10)
    for task in stack.launches:
        task.cancel()
    await asyncio.gather(*stack.launches, return_exceptions=True)
