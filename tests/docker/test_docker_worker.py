"""Cancelling container runs through the REST API: the real worker runtime, on the in-process
bus and on real Kafka, stops real containers on a real Docker engine, and never one that is not
the run's."""

from __future__ import annotations

import pytest

from schemas.markers import FLOW_RUN_LABEL
from schemas.states import StateType
from services.localinfra.docker_image import EXITS_ON_SIGTERM, IGNORES_SIGTERM, SLEEP
from tests.docker.conftest import DockerStack


async def test_container_that_exits_on_sigterm_is_stopped_gracefully(
    docker_stack: DockerStack,
) -> None:
    run_id, container = await docker_stack.labelled_container(EXITS_ON_SIGTERM)

    await docker_stack.cancel(run_id, grace_seconds=60)
    await docker_stack.wait_state(run_id, StateType.CANCELLED, within=30)

    state = docker_stack.state_of(container)
    assert state["Running"] is False
    assert state["ExitCode"] == 0, "it stopped on SIGTERM, not by a kill after the grace"
    [attempt] = await docker_stack.history(run_id)
    assert attempt["outcome"] == "cancelled"
    assert attempt["worker"].startswith("docker@")


@pytest.mark.parametrize("command", [IGNORES_SIGTERM, SLEEP], ids=["trap-ignore", "sleep-pid1"])
async def test_container_that_ignores_sigterm_is_killed_after_the_grace(
    docker_stack: DockerStack, command: list[str]
) -> None:
    run_id, container = await docker_stack.labelled_container(command)

    await docker_stack.cancel(run_id, grace_seconds=1)
    await docker_stack.wait_state(run_id, StateType.CANCELLED, within=30)

    state = docker_stack.state_of(container)
    assert state["Running"] is False
    assert state["ExitCode"] == 137, "SIGKILL after the grace period"
    [attempt] = await docker_stack.history(run_id)
    assert attempt["outcome"] == "cancelled"


@pytest.mark.parametrize("label", [None, "another-run"], ids=["no-label", "other-runs-label"])
async def test_container_that_is_not_the_runs_is_left_running(
    docker_stack: DockerStack, label: str | None
) -> None:
    labels = {} if label is None else {FLOW_RUN_LABEL: "5f0c1a55-0000-4000-8000-000000000000"}
    container = docker_stack.start_container(SLEEP, labels)
    run_id = await docker_stack.running_run(docker_stack.target(container))

    await docker_stack.cancel(run_id, grace_seconds=1)
    await docker_stack.wait_state(run_id, StateType.CANCELLED, within=30)

    [attempt] = await docker_stack.history(run_id)
    assert attempt["outcome"] == "not_found"
    assert "left untouched" in attempt["detail"]
    assert docker_stack.state_of(container)["Running"] is True


async def test_removed_container_is_reported_not_found(docker_stack: DockerStack) -> None:
    run_id, container = await docker_stack.labelled_container(SLEEP)
    docker_stack.client.api.remove_container(container, force=True)

    await docker_stack.cancel(run_id)
    await docker_stack.wait_state(run_id, StateType.CANCELLED, within=30)

    [attempt] = await docker_stack.history(run_id)
    assert attempt["outcome"] == "not_found"
    assert "no such container" in attempt["detail"]
