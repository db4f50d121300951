"""End to end with every piece as its own OS process, on real Kafka and a real Docker engine:
`cancelbus state`, `cancelbus worker docker` and `cancelbus worker process`, ten
`cancelbus run docker` and five `cancelbus run process` launchers, all cancelled through the
REST API; each kind's worker stops only its own runs. (tests/worker/test_process_e2e.py
covers 50 processes and the bulk cancel.)"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from schemas.infrastructure import InfrastructureId
from schemas.markers import FLOW_RUN_LABEL
from services.launcher.process import CANCELLED_EXIT
from services.localinfra.docker_image import EXITS_ON_SIGTERM
from services.localinfra.service_process import ServiceProcess, StateProcess

pytestmark = pytest.mark.kafka

CONTAINERS = 10
PROCESSES = 5
WITHIN = 60.0


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + WITHIN
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {WITHIN} s: {what}")
        await asyncio.sleep(0.2)


@pytest.mark.timeout(240)  # 17 cancelbus processes start on a small shared machine
async def test_launched_containers_and_processes_are_cancelled_through_the_api(
    tmp_path: Path, kafka_bootstrap: str, docker_url: str, docker_test_image: str
) -> None:
    env = {
        "CANCELBUS_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "CANCELBUS_DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
        "DOCKER_HOST": docker_url,
        "CANCELBUS_WORKER_HEARTBEAT_SECONDS": "1",
    }
    state = StateProcess(env, tmp_path / "state.log").start()
    env["CANCELBUS_API_URL"] = state.api_url
    suffix = uuid.uuid4().hex[:6]
    names = {"docker": f"docker-e2e-{suffix}", "process": f"process-e2e-{suffix}"}
    process_env = {**env, "CANCELBUS_WORKER_SCOPE": f"host-{suffix}"}
    workers = [
        ServiceProcess(
            ["worker", "docker"], {**env, "CANCELBUS_WORKER_NAME": names["docker"]}, tmp_path / "wd"
        ),
        ServiceProcess(
            ["worker", "process"],
            {**process_env, "CANCELBUS_WORKER_NAME": names["process"]},
            tmp_path / "wp",
        ),
    ]
    tag = f"e2e-{suffix}"
    container = ["run", "docker", docker_test_image, "--tag", tag, "--", *EXITS_ON_SIGTERM]
    process = ["run", "process", "--tag", tag, "--", "sleep", "600"]
    launchers = [
        ServiceProcess(container, env, tmp_path / f"launcher-d{i}.log") for i in range(CONTAINERS)
    ] + [
        ServiceProcess(process, process_env, tmp_path / f"launcher-p{i}.log")
        for i in range(PROCESSES)
    ]
    client = docker.DockerClient(base_url=docker_url)
    try:
        await asyncio.to_thread(state.wait_healthy)
        for worker in workers:
            worker.start()
        async with httpx.AsyncClient(base_url=state.api_url + "/", timeout=30) as api:

            async def workers_alive() -> bool:
                seen = (await api.get("workers")).json()
                return {w["worker"] for w in seen if w["alive"]} >= set(names.values())

            await eventually(workers_alive, "both workers announce themselves")
            for launcher in launchers:
                launcher.start()

            async def runs_of_tag() -> list[dict[str, Any]]:
                body = {"flow_runs": {"tags": {"all_": [tag]}}}
                runs: list[dict[str, Any]] = (await api.post("flow_runs/filter", json=body)).json()
                return runs

            async def all_running() -> bool:
                runs = await runs_of_tag()
                return len(runs) == CONTAINERS + PROCESSES and all(
                    r["state_type"] == "RUNNING" for r in runs
                )

            await eventually(all_running, "every launched run RUNNING")
            runs = await runs_of_tag()
            for run in runs:
                answer = await api.post(
                    f"flow_runs/{run['id']}/set_state",
                    json={"state": {"type": "CANCELLING", "message": "e2e"}},
                )
                assert answer.json()["status"] == "ACCEPT"

            async def all_cancelled() -> bool:
                return all(r["state_type"] == "CANCELLED" for r in await runs_of_tag())

            await eventually(all_cancelled, "every launched run CANCELLED")
            for run in runs:
                kind = InfrastructureId.parse(run["infrastructure_pid"]).kind.value
                [attempt] = (await api.get(f"flow_runs/{run['id']}/cancellation")).json()
                assert attempt["outcome"] == "cancelled", attempt
                assert attempt["worker"] == names[kind]

        codes = [await asyncio.to_thread(_wait, launcher) for launcher in launchers]
        assert codes == [CANCELLED_EXIT] * (CONTAINERS + PROCESSES)
        leftovers = client.containers.list(all=True, filters={"label": FLOW_RUN_LABEL})
        assert leftovers == [], "every launcher removed its container"
    finally:
        for launcher in launchers:
            if launcher.proc is not None:
                launcher.terminate(timeout=10)
        for worker in workers:
            if worker.proc is not None:
                worker.terminate()
        state.terminate()
        client.close()


def _wait(launcher: ServiceProcess) -> int:
    assert launcher.proc is not None
    try:
        return launcher.proc.wait(WITHIN)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"launcher still running:\n{launcher.log()}") from None
