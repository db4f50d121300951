"""The Python client, async and sync, against the live state service and a process worker."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.flow_runs import FlowRun
from schemas.messages import CancellationRequested, FlowRunStateChanged
from schemas.orchestration import Status
from schemas.states import StateType
from services.client import (
    Aborted,
    CancelbusClient,
    Cancelling,
    Completed,
    FlowRunNotFound,
    Running,
    SyncCancelbusClient,
    Unauthorized,
    Unavailable,
    flow_run_filter,
)
from services.localinfra.processes import free_port
from services.localinfra.service_process import StateProcess
from tests.clients.launched import launched
from tests.clients.stack import LiveStack


async def test_async_client_cancels_and_reports_history(stack: LiveStack) -> None:
    tag = uuid.uuid4().hex
    async with CancelbusClient(stack.api_url) as client:
        # no worker serves scope "elsewhere": the run stays CANCELLING
        run = await client.create_flow_run(
            "nightly-etl", tags=[tag], state=Running(), infrastructure_pid="elsewhere:4242"
        )
        assert run.state_type is StateType.RUNNING

        answer = await client.set_flow_run_state(run.id, Cancelling("wrong input"))
        assert (answer.status, answer.state and answer.state.type) == (
            Status.ACCEPT,
            StateType.CANCELLING,
        )
        again = await client.cancel(run.id, reason="again")
        assert again.state is not None
        assert answer.state is not None
        assert again.state.id == answer.state.id  # a repeated request changes nothing

        found = await client.read_flow_runs(
            flow_run_filter(states=["cancelling"], tags=[tag], limit=5)
        )
        assert [r.id for r in found] == [run.id]
        history = await client.cancellation_history(run.id)
        assert [(a.attempt, a.reason, a.outcome) for a in history] == [(1, "wrong input", None)]
        assert [s.type for s in await client.states(run.id)] == [
            StateType.RUNNING,
            StateType.CANCELLING,
        ]

        done = await client.create_flow_run("done", tags=[tag], state=Completed())
        with pytest.raises(Aborted, match="already in terminal state COMPLETED"):
            await client.cancel(done.id)
        with pytest.raises(FlowRunNotFound):
            await client.read_flow_run(uuid.uuid4())
        with pytest.raises(FlowRunNotFound):
            await anext(client.events(uuid.uuid4()))

        result = await client.bulk_cancel(flow_run_filter(tags=[tag]), reason="bulk")
        assert (result.matched, result.already_cancelling, result.already_terminal) == (2, 1, 1)


async def test_async_events_and_wait_for_state_follow_a_real_kill(
    stack: LiveStack, tmp_path: Path
) -> None:
    with launched(stack, uuid.uuid4().hex, tmp_path) as launch:
        async with CancelbusClient(stack.api_url) as client:
            events = client.events(launch.run.id)
            first = await anext(events)
            assert isinstance(first, FlowRun)
            assert first.state_type is StateType.RUNNING
            await client.cancel(launch.run.id, reason="from python", grace_seconds=5)
            seen = [await anext(events), await anext(events)]
            await events.aclose()
            assert isinstance(seen[0], FlowRunStateChanged)
            assert seen[0].state.type is StateType.CANCELLING
            assert isinstance(seen[1], CancellationRequested)
            assert seen[1].reason == "from python"

            run = await client.wait_for_state(launch.run.id, {StateType.CANCELLED}, timeout=60)
            assert run.state_type is StateType.CANCELLED
            history = await client.cancellation_history(launch.run.id)
        assert [(a.outcome, a.worker) for a in history] == [("cancelled", "process-worker-1")]
        assert launch.launcher.wait(30) == 130
        assert launch.process_gone()


def test_sync_client_has_the_same_methods(stack: LiveStack, tmp_path: Path) -> None:
    async_methods = {m for m in dir(CancelbusClient) if not m.startswith("_")} - {"aclose"}
    sync_methods = {m for m in dir(SyncCancelbusClient) if not m.startswith("_")} - {"close"}
    assert async_methods == sync_methods

    with (
        launched(stack, uuid.uuid4().hex, tmp_path) as launch,
        SyncCancelbusClient(stack.api_url) as client,
    ):
        answer = client.cancel(launch.run.id, reason="from a script", grace_seconds=5)
        assert answer.state is not None
        assert answer.state.type is StateType.CANCELLING
        run = client.wait_for_state(launch.run.id, ["CANCELLED"], timeout=60)
        assert run.state is not None
        assert run.state.type is StateType.CANCELLED
        assert client.cancellation_history(launch.run.id)[0].outcome == "cancelled"
        with pytest.raises(TimeoutError):
            client.wait_for_state(launch.run.id, ["COMPLETED"], timeout=0.5)
        assert launch.process_gone()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def test_client_errors_are_typed(tmp_path: Path, silent_port: int) -> None:
    guarded = LiveStack(tmp_path, api_token="s3cret").start()
    try:
        with (
            SyncCancelbusClient(guarded.api_url, api_token="wrong") as client,
            pytest.raises(Unauthorized),
        ):
            client.read_flow_runs()
        with SyncCancelbusClient(guarded.api_url, api_token="s3cret") as client:
            assert client.read_flow_runs() == []
    finally:
        guarded.stop()
    with (
        SyncCancelbusClient(f"http://127.0.0.1:{free_port()}/api") as client,
        pytest.raises(Unavailable, match="cannot connect"),
    ):
        client.read_flow_runs()
    silent = f"http://127.0.0.1:{silent_port}/api"
    with (
        SyncCancelbusClient(silent, timeout=0.5) as client,
        pytest.raises(Unavailable, match=r"no answer from .* within 0\.5 s"),
    ):
        client.read_flow_runs()


def test_state_service_stops_cleanly_while_watchers_follow_it(tmp_path: Path) -> None:
    env = {
        "CANCELBUS_DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
        "CANCELBUS_KAFKA_BOOTSTRAP_SERVERS": "",
        "CANCELBUS_API_TOKEN": "",
    }
    process = StateProcess(env, tmp_path / "state.log")
    process.start()
    try:
        process.wait_healthy()
        with SyncCancelbusClient(process.api_url) as client:
            run = client.create_flow_run("etl", state=Running())
            watcher = client.events(run.id)
            first = next(watcher)
            assert isinstance(first, FlowRun)
            assert process.terminate(timeout=20) == 0  # SIGTERM with a stream open
            assert list(watcher) == []  # the stream ended, no error
    finally:
        process.kill()
    assert "ERROR" not in process.log()
