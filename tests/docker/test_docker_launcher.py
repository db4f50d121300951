"""`launch_container`: a container as a tracked run, reported COMPLETED/FAILED/CANCELLED."""

from __future__ import annotations

import asyncio
from uuid import UUID

import pytest

from schemas.infrastructure import InfrastructureId
from schemas.markers import FLOW_RUN_LABEL
from schemas.states import StateType
from services.infrastructure.settings import DockerConnection
from services.launcher.api import RunsApi
from services.launcher.docker import StartedContainer, launch_container
from services.launcher.process import CANCELLED_EXIT
from services.launcher.tracked import follow
from services.localinfra.docker_image import EXITS_ON_SIGTERM, SLEEP
from tests.docker.conftest import DockerStack


@pytest.mark.parametrize(("code", "final"), [(0, StateType.COMPLETED), (3, StateType.FAILED)])
async def test_container_exit_is_reported_with_its_code(
    docker_stack: DockerStack, docker_url: str, code: int, final: StateType
) -> None:
    result = await launch_container(
        docker_stack.image,
        ["sh", "-c", f'test "$CANCELBUS_FLOW_RUN_ID" != "" && exit {code}'],
        api_url=docker_stack.api_url,
        docker=DockerConnection(host=docker_url),
        forward_signals=False,
    )

    assert (result.state, result.exit_code) == (final, code)
    run = (await docker_stack.api.get(f"flow_runs/{result.flow_run_id}")).json()
    assert run["state_type"] == final.value
    assert run["state"]["message"] == f"exited with code {code}"
    target = InfrastructureId.parse(run["infrastructure_pid"])
    assert target.scope == docker_stack.engine.scope
    assert docker_stack.client.containers.list(all=True, filters={"id": target.id}) == []


async def test_launched_container_is_cancelled_through_the_api(
    docker_stack: DockerStack, docker_url: str
) -> None:
    started: asyncio.Queue[tuple[UUID, InfrastructureId]] = asyncio.Queue()
    launch = asyncio.create_task(
        launch_container(
            docker_stack.image,
            EXITS_ON_SIGTERM,
            api_url=docker_stack.api_url,
            docker=DockerConnection(host=docker_url),
            forward_signals=False,
            remove=False,
            on_started=lambda run_id, target: started.put_nowait((run_id, target)),
        )
    )
    run_id, target = await asyncio.wait_for(started.get(), 30)
    attrs = docker_stack.client.api.inspect_container(target.id)
    assert attrs["Config"]["Labels"][FLOW_RUN_LABEL] == str(run_id)
    assert f"CANCELBUS_FLOW_RUN_ID={run_id}" in attrs["Config"]["Env"]
    assert attrs["HostConfig"]["NetworkMode"] == "none"

    await docker_stack.cancel(run_id, grace_seconds=30)
    result = await asyncio.wait_for(launch, 30)

    assert (result.state, result.exit_code) == (StateType.CANCELLED, CANCELLED_EXIT)
    await docker_stack.wait_state(run_id, StateType.CANCELLED)
    assert docker_stack.state_of(target.id)["ExitCode"] == 0  # stopped by SIGTERM


async def test_container_of_a_run_cancelled_before_running_is_stopped(
    docker_stack: DockerStack,
) -> None:
    async with RunsApi(docker_stack.api_url) as api:
        run = await api.create_run("cancelled-early", [])
        await docker_stack.cancel(run.id)  # no infrastructure yet: CANCELLED at once
        container = docker_stack.start_container(SLEEP, {FLOW_RUN_LABEL: str(run.id)})
        started = StartedContainer(docker_stack.engine, container)

        result = await follow(api, run.id, started, stop_grace_seconds=1)

    assert result.exit_code == CANCELLED_EXIT
    assert docker_stack.state_of(container)["Running"] is False
    await docker_stack.wait_state(run.id, StateType.CANCELLED)
